import type { FastifyInstance } from 'fastify';
import type { IngestContext } from '../context.js';

async function probe(name: string, check: () => Promise<void>): Promise<{ name: string; ok: boolean; error?: string }> {
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timed out after 3 s')), 3000)),
    ]);
    return { name, ok: true };
  } catch (error) {
    return { name, ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

async function httpReachable(url: string): Promise<void> {
  // Any HTTP answer means the service is there; only a network failure is "unreachable".
  await fetch(url, { signal: AbortSignal.timeout(3000) });
}

/** Liveness (`/healthz`: the process answers), readiness (`/readyz`: its dependencies answer), metrics. */
export function registerHealthRoutes(app: FastifyInstance, context: IngestContext) {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const checks = await Promise.all([
      probe('log', () => context.transport.ping()),
      ...(context.readiness.registryUrl
        ? [probe('schema_registry', () => httpReachable(`${context.readiness.registryUrl}/subjects`))]
        : []),
      ...(context.readiness.upstreamUrl
        ? [probe('upstream', () => httpReachable(`${context.readiness.upstreamUrl}/models`))]
        : []),
    ]);
    const ready = checks.every((c) => c.ok);
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks });
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(context.metrics.contentType).send(await context.metrics.metrics());
  });
}
