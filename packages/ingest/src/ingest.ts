import {
  AuthenticationError,
  type ApiKeys,
  BadRequestError,
  decodeUtf8,
  DEFAULT_PRICE_BOOK,
  invalidUtf8Offset,
  jsonDepthExceeds,
  interactiveGroupId,
  processorGroupId,
  FileStore,
  type Logger,
  type RegistryAccess,
  type DependencyHealth,
  type RetentionConfig,
  type Serde,
  type Store,
  type TopicNames,
  type Transport,
} from '@sluice/core';
import { loadDashboardFiles } from '@sluice/dashboard';
import { randomBytes } from 'node:crypto';
import { createServer, type RequestListener, type Server } from 'node:http';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { OpenAIBatches } from './batches/openai-batches.js';
import { PartitionPlacer } from './batches/placement.js';
import { BatchSubmitter } from './batches/submitter.js';
import { SyncResultsFollower } from './batches/sync-results.js';
import { SyncRunner } from './batches/sync-runner.js';
import type { UpstreamFacts } from './estimate/dry-run.js';
import type { IngestContext, IngestLimits } from './context.js';
import { ModelCatalog } from './intake/model-catalog.js';
import { errorBody, handleClientError, handleError, JSON_BODY_LIMIT_BYTES } from './http/errors.js';
import { registerIdempotency } from './http/idempotency.js';
import { mediaType } from './http/media.js';
import { refuseUnknownQueryParameters } from './http/query-parameters.js';
import { DashboardFiles, registerDashboardRoutes } from './routes/dashboard.js';
import { JSONL_TYPES, registerBatchRoutes } from './routes/batches.js';
import { registerFileRoutes } from './routes/files.js';
import { registerHealthRoutes } from './routes/health.js';
import { registerJobRoutes } from './routes/jobs.js';
import { registerOperationRoutes } from './routes/operations.js';
import { registerRealtimeRoutes } from './routes/realtime.js';
import { IntakePool } from './intake/intake-pool.js';
import { createIngestMetrics } from './metrics.js';
import { Sweeper } from './retention/sweeper.js';
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
  /** Where inputs, File records and uploads are written and outputs read. */
  store: Store;
  /** What is kept how long, and how often expired things are swept. */
  retention: RetentionConfig;
  /** This ingest's own scratch directory for its status view (never shared). */
  viewDirectory: string;
  host: string;
  port: number;
  /** HTTP timeouts; a request that outlives one gets a 408. */
  timeouts?: { headersMs: number; requestMs: number; idleMs: number };
  limits: IngestLimits;
  /**
   * Worker threads that parse and validate a domain batch's lines while the request's thread reads
   * and stores them (SLUICE_INGEST_WORKERS); 0: all in the request's thread.
   * @defaultValue 0
   */
  intakeWorkers?: number;
  /**
   * The upstream's timeout, limits and prices (dry runs, `request_timeout_seconds`'s bound), and
   * the configured upstreams (which models are served).
   * @defaultValue 60 s timeout, no limits, 256 calls in flight, the shipped prices, model gpt-4o-mini, no upstreams (every model accepted)
   */
  upstream?: UpstreamFacts;
  /** API key → tenant, read at each request (a reload takes effect at once); null: no authentication, every caller is tenant `default`. */
  apiKeys: Pick<ApiKeys, 'tenantOf'> | null;
  readiness: {
    registryUrl: string | null;
    registryAccess?: RegistryAccess;
    /** The configured upstreams, probed by `/readyz` and named there when one does not answer. */
    upstreams: readonly { name: string; baseUrl: string }[];
    /** The dependencies this process's calls watch (`store`, `broker`, `upstream`), as `/readyz` checks. */
    dependencies?: DependencyHealth;
  };
  logger: Logger;
  metricsRegistry?: Registry;
  /**
   * The built dashboard served at `/`; null serves none.
   * @defaultValue the `@sluice/dashboard` package's build (`packages/dashboard/dist/web`)
   */
  dashboardDirectory?: string | null;
}

export interface Ingest {
  readonly app: FastifyInstance;
  /** Deletes what has expired now (it also runs every SLUICE_SWEEP_INTERVAL_MS). */
  sweep(nowSeconds?: number): Promise<number>;
  /** Starts the status view and the HTTP server; resolves with the base URL. */
  start(): Promise<string>;
  stop(): Promise<void>;
}

export const DEFAULT_TENANT = 'default';

const DEFAULT_UPSTREAM_FACTS: UpstreamFacts = {
  timeoutMs: 60_000,
  requestsPerMinute: 0,
  tokensPerMinute: 0,
  concurrency: 256,
  prices: DEFAULT_PRICE_BOOK,
  models: { default: 'gpt-4o-mini', extract: 'gpt-4o-mini', summarize: 'gpt-4o-mini', classify: 'gpt-4o-mini' },
};

export async function createIngest(options: IngestOptions): Promise<Ingest> {
  const logger = options.logger;
  const store = options.store;
  const producer = await options.transport.producer();
  const view = new StatusView({
    transport: options.transport,
    serde: options.serde,
    topics: options.topics,
    logger,
    directory: options.viewDirectory,
  });
  const registry = options.metricsRegistry ?? new Registry();
  const counters = createIngestMetrics(registry);
  const placers = {
    requests: new PartitionPlacer({
      transport: options.transport,
      topic: options.topics.requests,
      groupId: processorGroupId(options.topics),
      logger,
    }),
    interactive: new PartitionPlacer({
      transport: options.transport,
      topic: options.topics.interactive,
      groupId: interactiveGroupId(options.topics),
      logger,
    }),
  };
  const submitter = new BatchSubmitter({
    counters,
    placers,
    producer,
    serde: options.serde,
    topics: options.topics,
    store,
    view,
    logger,
  });
  const files = new FileStore(store, { uploadRetentionSeconds: options.retention.fileSeconds });
  const syncResults = new SyncResultsFollower({
    transport: options.transport,
    serde: options.serde,
    topics: options.topics,
    logger,
  });
  const sync = new SyncRunner({
    producer,
    serde: options.serde,
    topics: options.topics,
    submitter,
    results: syncResults,
    placer: placers.interactive,
    timeoutMs: options.limits.syncTimeoutMs,
    retentionSeconds: options.retention.syncSeconds,
    logger,
    counters,
  });
  const context: IngestContext = {
    transport: options.transport,
    producer,
    serde: options.serde,
    topics: options.topics,
    store,
    files,
    retention: options.retention,
    view,
    submitter,
    sync,
    limits: options.limits,
    // Each worker's heap: room for a few of the longest lines, parsed (96 MB at the default 4 MB).
    intakePool: options.intakeWorkers
      ? new IntakePool(
          options.intakeWorkers,
          undefined,
          Math.max(96, Math.ceil((24 * options.limits.maxLineBytes) / 2 ** 20)),
        )
      : null,
    upstream: options.upstream ?? DEFAULT_UPSTREAM_FACTS,
    catalog: new ModelCatalog(options.upstream?.upstreams ?? [], (options.upstream ?? DEFAULT_UPSTREAM_FACTS).models),
    logger,
    metrics: registry,
    counters,
    readiness: options.readiness,
  };
  const sweeper = new Sweeper(context, options.retention.sweepIntervalMs);

  const dashboard = DashboardFiles.from(
    options.dashboardDirectory === null ? [] : await loadDashboardFiles(options.dashboardDirectory),
  );
  const timeouts = options.timeouts ?? { headersMs: 30_000, requestMs: 600_000, idleMs: 60_000 };
  const app = Fastify({
    // Per-request lines only at warn and above: a batch system's access log is its metrics.
    loggerInstance: logger.child({ component: 'http' }, { level: 'warn' }) as FastifyBaseLogger,
    bodyLimit: JSON_BODY_LIMIT_BYTES,
    keepAliveTimeout: 65_000,
    // On shutdown, idle keep-alive connections are closed at once; requests in flight finish.
    forceCloseConnections: 'idle',
    genReqId: () => `req_${randomBytes(12).toString('hex')}`,
    serverFactory: (handler) => createHttpServer(handler, timeouts),
    // Errors raised before a route runs (a malformed URL, a too-long path parameter) and before a
    // request exists at all (headers over the limit) answer in the same OpenAI shape as the rest.
    frameworkErrors: (error, request, reply) => {
      handleError(error, request, reply);
    },
    clientErrorHandler: handleClientError,
  });
  app.decorateRequest('tenant', DEFAULT_TENANT);
  // JSONL bodies are streamed to the intake, never buffered.
  app.addContentTypeParser(JSONL_TYPES, (_request, payload, done) => done(null, payload));
  // OpenAI's clients send POSTs without a body (cancel) with Content-Type application/json.
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    const bytes = body as Buffer;
    // The same rule as a JSONL line: bytes that are not UTF-8 are refused, never replaced by U+FFFD.
    const text = decodeUtf8(bytes);
    if (text === null) {
      return done(
        new BadRequestError(
          'invalid_encoding',
          `The request body is not valid UTF-8 (at byte offset ${invalidUtf8Offset(bytes) ?? 0}); send JSON encoded as UTF-8.`,
        ),
        undefined,
      );
    }
    if (text.trim() === '') return done(null, {});
    if (jsonDepthExceeds(text, options.limits.maxDepth)) {
      return done(
        new BadRequestError(
          'too_deeply_nested',
          `The request body is JSON nested deeper than ${options.limits.maxDepth} levels.`,
        ),
        undefined,
      );
    }
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      done(
        new BadRequestError('invalid_json', `The request body is not valid JSON: ${(error as Error).message}`),
        undefined,
      );
    }
  });
  app.setErrorHandler(handleError);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // The multipart parser fails late and without a code on a Content-Type with no boundary; say
  // what is wrong before any route reads the body.
  app.addHook('preValidation', async (request) => {
    const type = request.headers['content-type'] ?? '';
    if (mediaType(request) === 'multipart/form-data' && !/;\s*boundary=\S/i.test(type)) {
      throw new BadRequestError(
        'invalid_multipart',
        'multipart/form-data needs a boundary parameter (Content-Type: multipart/form-data; boundary=...).',
        'content-type',
      );
    }
  });
  app.addHook('onResponse', async (request, reply) => {
    counters.httpRequests.inc({
      method: request.method,
      route: request.routeOptions.url ?? 'unknown',
      status: String(reply.statusCode),
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(errorBody(404, 'unknown_route', `No route ${request.method} ${request.url.split('?')[0]}.`)),
  );
  app.addHook('onRequest', async (request) => {
    // The dashboard's own files are public: the page itself asks for the key and sends it with every call.
    if (!options.apiKeys || request.url === '/healthz' || dashboard.serves(request)) return;
    const key = bearerToken(request.headers.authorization);
    const tenant = key ? options.apiKeys.tenantOf(key) : undefined;
    if (!tenant) {
      throw new AuthenticationError(
        key ? 'Incorrect API key provided.' : 'Missing API key: send it as "Authorization: Bearer <key>".',
      );
    }
    request.tenant = tenant;
  });
  // After authentication (a wrong key is a 401 whatever the query), before the body is read.
  app.addHook('onRequest', async (request) => refuseUnknownQueryParameters(request));

  registerIdempotency(app, {
    store,
    ttlSeconds: options.retention.idempotencySeconds,
    // A request may run this long (SLUICE_REQUEST_TIMEOUT_MS); a claim older than that is abandoned.
    abandonedAfterMs: timeouts.requestMs > 0 ? timeouts.requestMs + 60_000 : 3_600_000,
    logger,
  });

  const openai = new OpenAIBatches(context);
  let takeOverTimer: NodeJS.Timeout | null = null;
  registerHealthRoutes(app, context);
  registerDashboardRoutes(app, dashboard);
  await registerFileRoutes(app, context);
  registerBatchRoutes(app, context, {
    createFromJson: (request, body, dryRun) => (dryRun ? openai.dryRun(request, body) : openai.create(request, body)),
    cancelOwned: (record) => openai.cancelOwned(record),
  });
  registerRealtimeRoutes(app, context);
  registerOperationRoutes(app, context);
  registerJobRoutes(app, context);

  return {
    app,
    sweep: (now) => sweeper.sweep(now),
    async start() {
      await view.start();
      await syncResults.start();
      submitter.startLeases();
      // Work another ingest (or this one, before a restart) left half-done: taken over once its
      // lease lapses; looked for now and then, since any ingest may die at any time.
      const takeOver = async () => {
        const taken = await submitter.takeOverAbandoned((batchId, spec) => openai.resume(batchId, spec));
        if (taken > 0) logger.info({ taken }, 'took over interrupted work');
      };
      void takeOver().catch((error: unknown) => logger.warn({ err: error }, 'looking for abandoned work failed'));
      takeOverTimer = setInterval(
        () =>
          void takeOver().catch((error: unknown) => logger.warn({ err: error }, 'looking for abandoned work failed')),
        15_000,
      );
      takeOverTimer.unref();
      sweeper.start();
      const url = await app.listen({ host: options.host, port: options.port });
      logger.info({ url }, 'ingest listening');
      return url;
    },
    async stop() {
      if (takeOverTimer) clearInterval(takeOverTimer);
      await app.close();
      await sweeper.stop();
      submitter.stopLeases();
      await syncResults.stop();
      await view.stop();
      await context.intakePool?.close();
      await producer.disconnect();
    },
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header. The scheme is case-insensitive
 * (RFC 9110 §11.1: `bearer` and `BEARER` are the same scheme); null without one.
 */
export function bearerToken(header: string | undefined): string | null {
  const match = /^bearer[ \t]+(\S.*)$/i.exec(header ?? '');
  const token = match?.[1]?.trim();
  return token ? token : null;
}

/**
 * The HTTP server with its timeouts: the request head within `headersMs`, the whole request within
 * `requestMs` (Node answers 408 for both), and no silence longer than `idleMs` while a request is
 * being received (answered 408 here; an idle keep-alive connection is just closed, and a request
 * waiting for a long synchronous answer is left alone).
 */
function createHttpServer(
  handler: RequestListener,
  timeouts: { headersMs: number; requestMs: number; idleMs: number },
): Server {
  const server = createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs === 0 ? 0 : Math.max(timeouts.requestMs, timeouts.headersMs + 1),
      // How often Node checks the two limits above; the default (30 s) would make them coarse.
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headersMs / 2))),
    },
    handler,
  );
  // A client that half-closes its side after sending a request (socket.end()) still waits for the
  // answer (RFC 9112 §9.6: a half-closed connection does not delimit a request, nor mean the client
  // has lost interest). Node's default ends our side at once, so a body the client ended early (a
  // multipart form without its closing boundary) got no answer at all; with this, it gets its 400,
  // and the connection closes after the answer.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  // Sockets receiving a request (head or body) and sockets waiting for our answer: only the first
  // kind is the client's silence; the second is a long synchronous call, which is ours.
  const receiving = new WeakSet<object>();
  const answering = new WeakSet<object>();
  server.on('request', (request, response) => {
    const socket = request.socket;
    receiving.add(socket);
    answering.add(socket);
    request.once('end', () => receiving.delete(socket));
    response.once('close', () => {
      receiving.delete(socket);
      answering.delete(socket);
    });
  });
  server.setTimeout(timeouts.idleMs, (socket) => {
    if (receiving.has(socket) && socket.writable) {
      const body = JSON.stringify({
        error: {
          message: `The connection was idle for ${timeouts.idleMs} ms in the middle of a request (SLUICE_IDLE_TIMEOUT_MS).`,
          type: 'invalid_request_error',
          param: null,
          code: 'request_timeout',
        },
      });
      socket.end(
        `HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    } else if (!answering.has(socket)) {
      socket.destroy();
    }
  });
  return server;
}
