import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import {
  createKafkaTransport,
  createMemoryTransport,
  createLogger,
  createSerde,
  type Logger,
  type SluiceConfig,
  SluiceError,
  topicSpecs,
  type Transport,
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
  metrics: Registry;
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
  const transport =
    options.transport ??
    (config.kafka
      ? createKafkaTransport({ brokers: config.kafka.brokers, clientId: `sluice-${[...roles].join('-')}`, logger })
      : createMemoryTransport({ directory: join(config.dataDir, 'log'), logger }));
  if (roles.has('processor') && !config.upstream.baseUrl) {
    throw new SluiceError(
      'invalid_config',
      'OPENAI_BASE_URL is not set: the processor needs an OpenAI-compatible upstream (or start one with `sluice simulate`).',
    );
  }
  await transport.ensureTopics(topicSpecs(config.topics, config.partitions));
  // The embedded log needs no registry: its messages never leave the process.
  const serde = await createSerde({ topics: config.topics, registryUrl: config.kafka ? config.registryUrl : null });
  const metrics = new Registry();
  if (config.metrics) collectDefaultMetrics({ register: metrics });

  let sink: Sink | null = null;
  let webhooks: ReturnType<typeof createWebhookNotifier> | null = null;
  let processor: Processor | null = null;
  let ingest: Ingest | null = null;
  let healthServer: Server | null = null;
  let url: string;

  if (roles.has('sink')) {
    sink = createSink({
      transport,
      serde,
      topics: config.topics,
      dataDir: config.dataDir,
      statusIntervalMs: config.sink.statusIntervalMs,
      sessionTimeoutMs: config.sessionTimeoutMs,
      logger: logger.child({ role: 'sink' }),
      metricsRegistry: metrics,
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
    processor = createProcessor({
      transport,
      serde,
      topics: config.topics,
      upstream: {
        baseUrl: config.upstream.baseUrl as string,
        apiKey: config.upstream.apiKey,
        timeoutMs: config.upstream.timeoutMs,
        maxAttempts: config.upstream.maxAttempts,
        retryBaseMs: config.upstream.retryBaseMs,
        retryMaxMs: config.upstream.retryMaxMs,
        requestsPerMinute: config.upstream.requestsPerMinute,
        tokensPerMinute: config.upstream.tokensPerMinute,
        concurrency: config.upstream.concurrency || config.processor.concurrency,
        structuredOutput: config.upstream.structuredOutput,
      },
      models: config.upstream.models,
      concurrency: config.processor.concurrency,
      partitionsConcurrently: config.processor.partitionsConcurrently,
      commitIntervalMs: config.processor.commitIntervalMs,
      sessionTimeoutMs: config.sessionTimeoutMs,
      logger: logger.child({ role: 'processor' }),
      metricsRegistry: metrics,
    });
    await processor.start();
  }
  if (roles.has('ingest')) {
    ingest = await createIngest({
      transport,
      serde,
      topics: config.topics,
      dataDir: config.dataDir,
      host: config.http.host,
      port: config.http.port,
      timeouts: {
        headersMs: config.http.headersTimeoutMs,
        requestMs: config.http.requestTimeoutMs,
        idleMs: config.http.idleTimeoutMs,
      },
      limits: { ...config.limits, maxDepth: 64 },
      apiKeys: config.apiKeys,
      readiness: { registryUrl: config.kafka ? config.registryUrl : null, upstreamUrl: config.upstream.baseUrl },
      logger: logger.child({ role: 'ingest' }),
      metricsRegistry: metrics,
    });
    url = await ingest.start();
  } else {
    ({ server: healthServer, url } = await startHealthServer(config, metrics, transport));
  }

  return {
    url,
    ingest,
    processor,
    sink,
    transport,
    metrics,
    async stop() {
      await ingest?.stop();
      if (healthServer) await new Promise((resolve) => healthServer?.close(resolve));
      await processor?.stop(config.shutdownTimeoutMs);
      await sink?.stop();
      await webhooks?.stop();
      await transport.close();
    },
  };
}

/** `/healthz` and `/metrics` for a process without the HTTP API (a processor or sink on its own). */
async function startHealthServer(
  config: SluiceConfig,
  metrics: Registry,
  transport: Transport,
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
        const ok = await transport.ping().then(
          () => true,
          () => false,
        );
        response.writeHead(ok ? 200 : 503, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ status: ok ? 'ready' : 'not_ready' }));
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
