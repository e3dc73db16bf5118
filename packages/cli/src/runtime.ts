import { mkdir } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  type ApiKeysReloader,
  createKafkaTransport,
  createEmbeddedTransport,
  createLogger,
  createSerde,
  DependencyHealth,
  logDependencyChecks,
  type Logger,
  openStore,
  type Store,
  type SluiceConfig,
  SluiceError,
  topicSpecs,
  type Transport,
  watchApiKeysFile,
  watchStore,
} from '@sluice/core';
import { createIngest, type Ingest } from '@sluice/ingest';
import { createProcessor, type Processor } from '@sluice/processor';
import { createSink, createWebhookNotifier, type Sink } from '@sluice/sink';
import { collectDefaultMetrics, Registry } from 'prom-client';

export const ROLES = ['ingest', 'processor', 'sink'] as const;
export type Role = (typeof ROLES)[number];

export interface StartOptions {
  roles: readonly Role[];
  logger?: Logger;
  /** Creates the transport; defaults to Kafka from the config. */
  transport?: Transport;
}

export interface RunningSluice {
  /** Base URL of the HTTP server (ingest's API, or the health/metrics endpoint of other roles). */
  url: string;
  ingest: Ingest | null;
  processor: Processor | null;
  sink: Sink | null;
  transport: Transport;
  store: Store;
  metrics: Registry;
  /**
   * Reads SLUICE_API_KEYS_FILE again now (the CLI calls it on SIGHUP; the file is also watched);
   * false when the new file was refused and the keys in force stay. True when there is nothing to reload.
   */
  reloadApiKeys(reason: string): boolean;
  /** Graceful stop: HTTP first, then the processor drains, then the sink. */
  stop(): Promise<void>;
}

/**
 * Builds and starts the requested roles from a compiled config: one process can run all three
 * (`serve`) or one (`serve --role processor`), and they meet only through the topics.
 */
export async function startSluice(config: SluiceConfig, options: StartOptions): Promise<RunningSluice> {
  const logger = options.logger ?? createLogger({ name: 'sluice', level: config.logLevel });
  const roles = new Set(options.roles);
  if (roles.has('processor') && config.upstream.list.length === 0) {
    throw new SluiceError(
      'invalid_config',
      'no upstream: set OPENAI_BASE_URL or SLUICE_UPSTREAMS_FILE; the processor needs an OpenAI-compatible upstream (or start one with `sluice simulate`).',
    );
  }
  // Ingest's estimates still read one upstream's limits: the first (issue 23's dry-run per upstream is not built).
  const upstream = config.upstream.list[0];
  if (config.http.hostChosenBy === 'no_api_keys') {
    logger.warn(
      { host: config.http.host },
      'no API keys configured (SLUICE_API_KEYS): listening on 127.0.0.1 only, so only this machine can call; set HOST=0.0.0.0 to listen on every interface',
    );
  }
  const metrics = new Registry();
  if (config.metrics) collectDefaultMetrics({ register: metrics });
  // One view per process of whether the store, the broker and the upstream answer: each outage is
  // logged once, shown by `sluice_dependency_up` and `/readyz`, and probed until it is over.
  const health = new DependencyHealth({ logger: logger.child({ component: 'dependencies' }), registry: metrics });
  const transport = options.transport ?? createTransport(config, `sluice-${[...roles].join('-')}`, logger, health);
  // Settings the broker or registry refuse stop start-up here, before any role starts.
  await transport.connect();
  await transport.ensureTopics(
    topicSpecs(config.topics, config.partitions, { answersRetentionMs: config.dedup.ttlSeconds * 1000 }),
  );
  const store = watchStore(await openStore(config.storage, logger.child({ component: 'store' })), health);
  logger.info({ store: store.location }, 'store');
  // The embedded log needs no registry: its messages never leave the process.
  const registryUrl = config.kafka ? config.registryUrl : null;
  const serde = await createSerde({ topics: config.topics, registryUrl, registryAccess: config.registryAccess });

  let sink: Sink | null = null;
  let webhooks: ReturnType<typeof createWebhookNotifier> | null = null;
  let processor: Processor | null = null;
  let ingest: Ingest | null = null;
  let healthServer: Server | null = null;
  let apiKeysReloader: ApiKeysReloader | null = null;
  let url: string;

  if (roles.has('sink')) {
    sink = createSink({
      transport,
      serde,
      topics: config.topics,
      store,
      retention: { batchSeconds: config.retention.batchSeconds, syncSeconds: config.retention.syncSeconds },
      segmentBytes: config.sink.segmentBytes,
      flushIntervalMs: config.sink.flushIntervalMs,
      statusIntervalMs: config.sink.statusIntervalMs,
      orphanTtlMs: config.sink.orphanTtlMs,
      // A result names its upstream by its configured name: that entry's `tier_factors` price it.
      bill: { prices: config.upstream.prices, upstreams: config.upstream.list },
      sessionTimeoutMs: config.sessionTimeoutMs,
      logger: logger.child({ role: 'sink' }),
      metricsRegistry: metrics,
      health,
    });
    await sink.start();
    if (config.webhook) {
      webhooks = createWebhookNotifier({
        url: config.webhook.url,
        secret: config.webhook.secret,
        transport,
        serde,
        topics: config.topics,
        logger: logger.child({ role: 'webhooks' }),
      });
      await webhooks.start();
    }
  }
  if (roles.has('processor')) {
    // The processor keeps the answers topic in a database of its own under the data directory.
    await mkdir(config.dataDir, { recursive: true });
    processor = createProcessor({
      transport,
      serde,
      topics: config.topics,
      upstream: {
        list: config.upstream.list,
        timeoutMs: config.upstream.timeoutMs,
        flexTimeoutMs: config.upstream.flexTimeoutMs,
        maxAttempts: config.upstream.maxAttempts,
        retryBaseMs: config.upstream.retryBaseMs,
        retryMaxMs: config.upstream.retryMaxMs,
        learntState: store,
      },
      models: config.upstream.models,
      concurrency: config.processor.concurrency,
      partitionsConcurrently: config.processor.partitionsConcurrently,
      commitIntervalMs: config.processor.commitIntervalMs,
      sessionTimeoutMs: config.sessionTimeoutMs,
      dedup: { ttlSeconds: config.dedup.ttlSeconds, directory: config.dataDir, memoryBytes: config.dedup.memoryBytes },
      logger: logger.child({ role: 'processor' }),
      metricsRegistry: metrics,
      health,
    });
    await processor.start();
  }
  if (roles.has('ingest')) {
    await mkdir(config.dataDir, { recursive: true });
    // Ingest is the role that checks keys; the file is read again when it changes, no restart.
    if (config.apiKeys?.sources.file) {
      apiKeysReloader = watchApiKeysFile(config.apiKeys, logger.child({ component: 'api-keys' }));
    }
    ingest = await createIngest({
      transport,
      serde,
      topics: config.topics,
      store,
      retention: config.retention,
      viewDirectory: join(config.dataDir, 'view'),
      host: config.http.host,
      port: config.http.port,
      timeouts: {
        headersMs: config.http.headersTimeoutMs,
        requestMs: config.http.requestTimeoutMs,
        idleMs: config.http.idleTimeoutMs,
      },
      limits: { ...config.limits, maxDepth: 64 },
      intakeWorkers: config.ingest.intakeWorkers,
      upstream: {
        timeoutMs: config.upstream.timeoutMs,
        requestsPerMinute: upstream?.requestsPerMinute ?? config.upstream.defaults.requestsPerMinute,
        tokensPerMinute: upstream?.tokensPerMinute ?? config.upstream.defaults.tokensPerMinute,
        concurrency: upstream?.concurrency ?? config.upstream.defaults.concurrency,
        prices: config.upstream.prices,
        models: config.upstream.models,
        upstreams: config.upstream.list,
      },
      apiKeys: config.apiKeys,
      readiness: {
        registryUrl,
        registryAccess: config.registryAccess,
        upstreams: config.upstream.list.map(({ name, baseUrl }) => ({ name, baseUrl })),
        dependencies: health,
      },
      logger: logger.child({ role: 'ingest' }),
      metricsRegistry: metrics,
    });
    url = await ingest.start();
  } else {
    ({ server: healthServer, url } = await startHealthServer(config, metrics, transport, registryUrl, health));
  }

  return {
    url,
    ingest,
    processor,
    sink,
    transport,
    store,
    metrics,
    reloadApiKeys: (reason) => apiKeysReloader?.reload(reason) ?? true,
    async stop() {
      apiKeysReloader?.close();
      await ingest?.stop();
      if (healthServer) await new Promise((resolve) => healthServer?.close(resolve));
      await processor?.stop(config.shutdownTimeoutMs);
      await sink?.stop();
      await webhooks?.stop();
      await transport.close();
      await store.close();
      health.close();
    },
  };
}

/**
 * The transport a config asks for: Kafka with its security settings, or the embedded log. Every
 * Kafka client of the process (producers, consumers, admin, the status follower, the dead-letter
 * producer) comes from this one transport, so they all connect the same way.
 */
export function createTransport(
  config: SluiceConfig,
  clientId: string,
  logger: Logger,
  health?: DependencyHealth,
): Transport {
  if (!config.kafka) {
    return createEmbeddedTransport({
      directory: join(config.dataDir, 'log'),
      segmentBytes: config.embeddedLog.segmentBytes,
      retentionMs: config.embeddedLog.retentionMs,
      logger,
    });
  }
  if (config.kafka.security.tls && !config.kafka.security.tls.verifyHostname) {
    logger.warn(
      { setting: 'KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none' },
      "TLS HOSTNAME VERIFICATION IS OFF: the brokers' certificates are checked against the CA but not against their names (KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM=none). For test clusters only: anyone with a certificate from that CA can pose as a broker.",
    );
  }
  return createKafkaTransport({
    brokers: config.kafka.brokers,
    security: config.kafka.security,
    clientId,
    logger,
    health,
  });
}

/** `/healthz` and `/metrics` for a process without the HTTP API (a processor or sink on its own). */
async function startHealthServer(
  config: SluiceConfig,
  metrics: Registry,
  transport: Transport,
  registryUrl: string | null,
  health: DependencyHealth,
): Promise<{ server: Server; url: string }> {
  const server = createServer((request, response) => {
    void (async () => {
      if (request.url === '/metrics') {
        response.writeHead(200, { 'content-type': metrics.contentType });
        response.end(await metrics.metrics());
      } else if (request.url === '/healthz') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end('{"status":"ok"}');
      } else if (request.url === '/readyz') {
        const checks = [
          ...(await Promise.all(
            logDependencyChecks({ transport, registryUrl, registryAccess: config.registryAccess }),
          )),
          ...health.checks(),
        ];
        const ok = checks.every((check) => check.ok);
        response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ status: ok ? 'ready' : 'not_ready', checks }));
      } else {
        response.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(config.http.port, config.http.host, resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : config.http.port;
  return { server, url: `http://${config.http.host === '0.0.0.0' ? '127.0.0.1' : config.http.host}:${port}` };
}
