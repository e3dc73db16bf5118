import {
  DataLayout,
  FileStore,
  type Logger,
  type Serde,
  SluiceError,
  type TopicNames,
  type Transport,
} from '@sluice/core';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { OpenAIBatches } from './batches/openai-batches.js';
import { BatchSubmitter } from './batches/submitter.js';
import { SyncRunner } from './batches/sync-runner.js';
import type { IngestContext, IngestLimits } from './context.js';
import { errorBody, handleError } from './http/errors.js';
import { JSONL_TYPES, registerBatchRoutes } from './routes/batches.js';
import { registerFileRoutes } from './routes/files.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerOperationRoutes } from './routes/operations.js';
import { registerRealtimeRoutes } from './routes/realtime.js';
import { StatusView } from './view/status-view.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's tenant: from its API key, or `default` when authentication is off. */
    tenant: string;
  }
}

export interface IngestOptions {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  dataDir: string;
  host: string;
  port: number;
  limits: IngestLimits;
  /** API key → tenant; null: no authentication, every caller is tenant `default`. */
  apiKeys: Map<string, string> | null;
  readiness: { registryUrl: string | null; upstreamUrl: string | null };
  logger: Logger;
  metricsRegistry?: Registry;
}

export interface Ingest {
  readonly app: FastifyInstance;
  /** Starts the status view and the HTTP server; resolves with the base URL. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

export const DEFAULT_TENANT = 'default';

export async function createIngest(options: IngestOptions): Promise<Ingest> {
  const logger = options.logger;
  const layout = new DataLayout(options.dataDir);
  const producer = await options.transport.producer();
  const view = new StatusView(options.transport, options.serde, options.topics, logger);
  const submitter = new BatchSubmitter({
    producer,
    serde: options.serde,
    topics: options.topics,
    layout,
    view,
    logger,
  });
  const context: IngestContext = {
    transport: options.transport,
    producer,
    serde: options.serde,
    topics: options.topics,
    layout,
    files: new FileStore(layout),
    view,
    submitter,
    sync: new SyncRunner({ submitter, view, layout, timeoutMs: options.limits.syncTimeoutMs }),
    limits: options.limits,
    logger,
    metrics: options.metricsRegistry ?? new Registry(),
    readiness: options.readiness,
  };

  const app = Fastify({
    // Per-request lines only at warn and above: a batch system's access log is its metrics.
    loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: 16 * 1024 * 1024,
    keepAliveTimeout: 65_000,
  });
  app.decorateRequest('tenant', DEFAULT_TENANT);
  // JSONL bodies are streamed to the intake, never buffered.
  app.addContentTypeParser(JSONL_TYPES, (_request, payload, done) => done(null, payload));
  // OpenAI's clients send POSTs without a body (cancel) with Content-Type application/json.
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        Object.assign(new Error(`the request body is not valid JSON: ${(error as Error).message}`), {
          statusCode: 400,
        }),
        undefined,
      );
    }
  });
  app.setErrorHandler(handleError);
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(404, 'unknown_route', `No route ${request.method} ${request.url.split('?')[0]}.`)),
  );
  app.addHook('onRequest', async (request) => {
    if (!options.apiKeys || request.url === '/healthz') return;
    const header = request.headers.authorization ?? '';
    const key = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const tenant = key ? options.apiKeys.get(key) : undefined;
    if (!tenant) {
      throw new SluiceError(
        'unauthorized',
        key ? 'Incorrect API key provided.' : 'Missing API key: send it as "Authorization: Bearer <key>".',
      );
    }
    request.tenant = tenant;
  });

  const openai = new OpenAIBatches(context);
  registerHealthRoutes(app, context);
  await registerFileRoutes(app, context);
  registerBatchRoutes(app, context, {
    createFromJson: (request, body) => openai.create(request, body),
    cancelOwned: (record) => openai.cancelOwned(record),
  });
  registerRealtimeRoutes(app, context);
  registerOperationRoutes(app, context);
  registerJobRoutes(app, context);

  return {
    app,
    async start() {
      await view.start();
      const resumed = await submitter.resume();
      if (resumed > 0) logger.info({ resumed }, 'resumed interrupted submissions');
      openai.resume(view.all());
      const url = await app.listen({ host: options.host, port: options.port });
      logger.info({ url }, 'ingest listening');
      return url;
    },
    async stop() {
      await app.close();
      await view.stop();
      await producer.disconnect();
    },
  };
}
