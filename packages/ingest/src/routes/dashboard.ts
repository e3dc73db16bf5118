import type { DashboardFile as BuiltFile } from '@sluice/dashboard';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { errorBody } from '../http/errors.js';

interface DashboardFile {
  type: string;
  body: Buffer;
  gzipped: Buffer | null;
  /** Hashed asset names never change content: browsers may keep them for good. */
  immutable: boolean;
}

/**
 * The dashboard's built files, read once at start-up into a map from URL path to bytes. Only paths
 * in the map are ever answered, so no request path reaches the file system (nothing to traverse).
 */
export class DashboardFiles {
  private constructor(private readonly files: Map<string, DashboardFile>) {}

  /** The built files (`loadDashboardFiles()` of @sluice/dashboard); none: no dashboard. */
  static from(built: BuiltFile[]): DashboardFiles {
    const files = new Map<string, DashboardFile>();
    for (const file of built) {
      const type = file.contentType;
      const compressible = type.startsWith('text/') || type === 'image/svg+xml' || type === 'application/json';
      files.set(file.path, {
        type,
        body: file.body,
        gzipped: compressible ? gzipSync(file.body) : null,
        immutable: file.path.startsWith('/assets/'),
      });
    }
    return new DashboardFiles(files);
  }

  get built(): boolean {
    return this.files.has('/');
  }

  /** Whether this request is for a dashboard file: those are public (the page asks for the key). */
  serves(request: FastifyRequest): boolean {
    return (request.method === 'GET' || request.method === 'HEAD') && this.files.has(pathOf(request.url));
  }

  send(request: FastifyRequest, reply: FastifyReply) {
    const file = this.files.get(pathOf(request.url));
    if (!file) return reply.code(404).send(errorBody(404, 'unknown_route', `No route GET ${pathOf(request.url)}.`));
    reply
      .type(file.type)
      .header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache')
      .header('x-content-type-options', 'nosniff')
      .header('vary', 'accept-encoding');
    if (file.type.startsWith('text/html')) {
      // The page talks to this origin only; no inline script, no third-party anything.
      reply.header(
        'content-security-policy',
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
      );
    }
    const acceptsGzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    if (file.gzipped && acceptsGzip) return reply.header('content-encoding', 'gzip').send(file.gzipped);
    return reply.send(file.body);
  }
}

function pathOf(url: string): string {
  return url.split('?')[0] ?? url;
}

/**
 * The dashboard at `/` and its assets under `/assets/`. Without a built dashboard `/` says how to
 * build it rather than answering a bare 404.
 */
export function registerDashboardRoutes(app: FastifyInstance, dashboard: DashboardFiles) {
  // A page's address may carry whatever a browser, a link or a tracker adds (`?utm_source=`): the
  // files read no query, so none changes what they are.
  const anyQuery = { config: { queryParameters: 'any' as const } };
  app.get('/', anyQuery, async (request, reply) => {
    if (!dashboard.built) {
      return reply
        .code(404)
        .send(
          errorBody(
            404,
            'dashboard_not_built',
            'The dashboard was not built: run `pnpm -r build` (or `pnpm build`) and restart ingest.',
          ),
        );
    }
    return dashboard.send(request, reply);
  });
  app.get('/assets/*', anyQuery, async (request, reply) => dashboard.send(request, reply));
}
