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
    const upstreams = context.readiness.upstreams;
    const checks = await Promise.all([
      ...logDependencyChecks({
        transport: context.transport,
        registryUrl: context.readiness.registryUrl,
        registryAccess: context.readiness.registryAccess,
      }),
      // One check per upstream, named by its configured name (never its URL).
      ...upstreams.map(({ name, baseUrl }) => probe(`upstream:${name}`, () => httpReachable(`${baseUrl}/models`))),
    ]);
    // What this process's own calls found: the store, and (with other roles here) the broker and
    // the upstreams (down only when every one is).
    const dependencyChecks = context.readiness.dependencies?.checks() ?? [];
    // One upstream down among several is shown, not fatal: the processor routes around it. Every
    // upstream down is.
    const upstreamChecks = checks.slice(checks.length - upstreams.length);
    const ready =
      checks.slice(0, checks.length - upstreams.length).every((c) => c.ok) &&
      (upstreams.length === 0 || upstreamChecks.some((c) => c.ok)) &&
      dependencyChecks.every((c) => c.ok);
    checks.push(...dependencyChecks);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(context.metrics.contentType).send(await context.metrics.metrics());
  });
}
