import { logDependencyChecks, probe } from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import type { IngestContext } from '../context.js';

async function httpReachable(url: string): Promise<void> {
  // Any HTTP answer means the service is there; only a network failure is "unreachable".
  await fetch(url, { signal: AbortSignal.timeout(3000) });
}

/** Liveness (`/healthz`: the process answers), readiness (`/readyz`: its dependencies answer), metrics. */
export function registerHealthRoutes(app: FastifyInstance, context: IngestContext) {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks = await Promise.all([
      ...logDependencyChecks({
        transport: context.transport,
        registryUrl: context.readiness.registryUrl,
        registryAccess: context.readiness.registryAccess,
      }),
      ...(context.readiness.upstreamUrl
        ? [probe('upstream', () => httpReachable(`${context.readiness.upstreamUrl}/models`))]
        : []),
    ]);
    // What this process's own calls found: the store, and (with other roles here) the broker and upstream.
    checks.push(...(context.readiness.dependencies?.checks() ?? []));
    const ready = checks.every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(context.metrics.contentType).send(await context.metrics.metrics());
  });
}
