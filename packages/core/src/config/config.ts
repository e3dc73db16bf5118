import { availableParallelism } from 'node:os';
import { ConfigError } from '../errors.js';
import { topicNames, type TopicNames } from '../topics.js';
import type { RegistryAccess } from '../serde/registry-access.js';
import type { KafkaSecurity } from '../transport/kafka-connection.js';
import type { Env } from './env.js';
import { ApiKeys } from './api-keys.js';
import { compileKafkaSecurity, compileRegistryAccess } from './kafka-security.js';
import { compileUpstreams, type UpstreamDefaults, type UpstreamEntry } from './upstreams.js';

/** Where Sluice keeps what it keeps outside Kafka (see storage/types.ts). */
export type StorageConfig =
  | { kind: 'local'; directory: string }
  | {
      kind: 's3';
      bucket: string;
      /** `''` or ending in `/`. */
      prefix: string;
      endpoint: string | null;
      region: string;
      credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
    };

/** What is kept how long, and how often expired things are deleted. */
export interface RetentionConfig {
  batchSeconds: number;
  fileSeconds: number;
  syncSeconds: number;
  /** How long an `Idempotency-Key` is honoured (the first answer replayed), from its first use. */
  idempotencySeconds: number;
  sweepIntervalMs: number;
}
import { loadPrices, type Prices } from './prices.js';

/** The compiled configuration every role is built from: defaults filled, units in the names. */
export interface SluiceConfig {
  /** Kafka when brokers are configured; embedded (in-process log) otherwise. */
  mode: 'kafka' | 'embedded';
  /** The brokers and how to talk to them (protocol, TLS, SASL); null in embedded mode. */
  kafka: { brokers: string[]; security: KafkaSecurity } | null;
  registryUrl: string | null;
  /** Credentials and CA for the registry. */
  registryAccess: RegistryAccess;
  topics: TopicNames;
  partitions: number;
  /** Local scratch: the embedded log, ingest's status view. */
  dataDir: string;
  storage: StorageConfig;
  retention: RetentionConfig;
  /** The embedded log's segment size and retention. */
  embeddedLog: { segmentBytes: number; retentionMs: number };
  http: {
    host: string;
    /** Why `host` is what it is: set by `HOST`, or chosen from whether API keys are configured. */
    hostChosenBy: 'HOST' | 'api_keys' | 'no_api_keys';
    port: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    idleTimeoutMs: number;
  };
  logLevel: string;
  upstream: UpstreamConfig;
  processor: { concurrency: number; partitionsConcurrently: number; commitIntervalMs: number };
  /** Worker threads checking submitted lines beside the request's thread (0: none). */
  ingest: { intakeWorkers: number };
  /** Deduplication of identical upstream requests: how long an answer is reused (0: not across batches). */
  dedup: { ttlSeconds: number; memoryBytes: number };
  sink: { statusIntervalMs: number; segmentBytes: number; flushIntervalMs: number; orphanTtlMs: number };
  /** Kafka consumer session timeout of the processor and sink groups. */
  sessionTimeoutMs: number;
  limits: {
    maxFileBytes: number;
    maxLineBytes: number;
    maxBatchRequests: number;
    maxBatchItems: number;
    maxBodyBytes: number;
    maxSyncItems: number;
    syncTimeoutMs: number;
    maxReportedErrors: number;
  };
  /** API key → tenant (reloadable from SLUICE_API_KEYS_FILE); null when authentication is off. */
  apiKeys: ApiKeys | null;
  webhook: { url: string; secret: string } | null;
  shutdownTimeoutMs: number;
  metrics: boolean;
}

export interface UpstreamConfig {
  /**
   * The upstreams Sluice calls (SLUICE_UPSTREAMS_FILE, or OPENAI_BASE_URL as one upstream serving
   * every model); empty: none configured (the CLI may start the simulator).
   */
  list: UpstreamEntry[];
  /** What an upstream gets for a setting it does not give (today's single variables). */
  defaults: UpstreamDefaults;
  timeoutMs: number;
  /** Most time one flex call may take (SLUICE_FLEX_TIMEOUT_MS). */
  flexTimeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * Model prices and tier factors, for dry-run estimates and what batches cost: the shipped table
   * with SLUICE_PRICES_FILE over it.
   */
  prices: Prices;
  models: { default: string; extract: string; summarize: string; classify: string };
}

/**
 * The model an operation runs on when its request names none: SLUICE_MODEL_EXTRACT, _SUMMARIZE and
 * _CLASSIFY for their operations (domain lines and realtime calls included), SLUICE_MODEL for the
 * rest (enrich, run). One place, so ingest refuses at submit exactly the model the processor calls.
 */
export function defaultModelFor(operation: string, models: UpstreamConfig['models']): string {
  // `label` is the jobs API's name for classify.
  const named = operation === 'label' ? 'classify' : operation;
  if (named === 'extract' || named === 'summarize' || named === 'classify') return models[named];
  return models.default;
}

/**
 * The configuration from the parsed environment. `variables` is the whole environment, read only
 * for the variables an upstreams file names (`api_key_env`, `${VAR}` in headers).
 */
export function compileConfig(env: Env, variables: Readonly<Record<string, string | undefined>> = {}): SluiceConfig {
  const upstreamDefaults: UpstreamDefaults = {
    requestsPerMinute: env.SLUICE_UPSTREAM_RPM,
    tokensPerMinute: env.SLUICE_UPSTREAM_TPM,
    concurrency: env.SLUICE_UPSTREAM_CONCURRENCY || env.SLUICE_PROCESSOR_CONCURRENCY,
    structuredOutput: env.SLUICE_STRUCTURED_OUTPUT,
  };
  const apiKeys = ApiKeys.load({ inline: env.SLUICE_API_KEYS, file: env.SLUICE_API_KEYS_FILE });
  // Safe by default: without API keys anyone who reaches the port is the `default` tenant, so
  // Sluice listens on loopback only unless HOST says otherwise (the Docker image sets HOST).
  const hostChosenBy = env.HOST !== undefined ? 'HOST' : apiKeys ? 'api_keys' : 'no_api_keys';
  return {
    mode: env.KAFKA_BROKERS && env.KAFKA_BROKERS.length > 0 ? 'kafka' : 'embedded',
    kafka:
      env.KAFKA_BROKERS && env.KAFKA_BROKERS.length > 0
        ? { brokers: env.KAFKA_BROKERS, security: compileKafkaSecurity(env) }
        : null,
    registryUrl: env.SCHEMA_REGISTRY_URL ?? null,
    registryAccess: compileRegistryAccess(env),
    topics: topicNames(env.SLUICE_TOPIC_PREFIX),
    partitions: env.SLUICE_PARTITIONS,
    dataDir: env.SLUICE_DATA_DIR,
    storage: parseStorage(env),
    retention: {
      batchSeconds: env.SLUICE_BATCH_RETENTION_DAYS * DAY_SECONDS,
      fileSeconds: env.SLUICE_FILE_RETENTION_DAYS * DAY_SECONDS,
      syncSeconds: env.SLUICE_SYNC_RETENTION_S,
      idempotencySeconds: env.SLUICE_IDEMPOTENCY_TTL_S,
      sweepIntervalMs: env.SLUICE_SWEEP_INTERVAL_MS,
    },
    dedup: { ttlSeconds: env.SLUICE_DEDUP_TTL_SECONDS, memoryBytes: env.SLUICE_DEDUP_MEMORY_MB * 1024 * 1024 },
    embeddedLog: {
      segmentBytes: env.SLUICE_LOG_SEGMENT_BYTES,
      retentionMs: env.SLUICE_LOG_RETENTION_HOURS * 3_600_000,
    },
    http: {
      host: env.HOST ?? (apiKeys ? '0.0.0.0' : '127.0.0.1'),
      hostChosenBy,
      port: env.PORT,
      headersTimeoutMs: env.SLUICE_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.SLUICE_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: env.SLUICE_IDLE_TIMEOUT_MS,
    },
    logLevel: env.LOG_LEVEL,
    upstream: {
      list: compileUpstreams(
        { file: env.SLUICE_UPSTREAMS_FILE, baseUrl: env.OPENAI_BASE_URL, apiKey: env.OPENAI_API_KEY },
        upstreamDefaults,
        variables,
      ),
      defaults: upstreamDefaults,
      timeoutMs: env.SLUICE_UPSTREAM_TIMEOUT_MS,
      flexTimeoutMs: env.SLUICE_FLEX_TIMEOUT_MS,
      maxAttempts: env.SLUICE_MAX_ATTEMPTS,
      retryBaseMs: env.SLUICE_RETRY_BASE_MS,
      retryMaxMs: env.SLUICE_RETRY_MAX_MS,
      prices: loadPrices(env.SLUICE_PRICES_FILE),
      models: {
        default: env.SLUICE_MODEL,
        extract: env.SLUICE_MODEL_EXTRACT ?? env.SLUICE_MODEL,
        summarize: env.SLUICE_MODEL_SUMMARIZE ?? env.SLUICE_MODEL,
        classify: env.SLUICE_MODEL_CLASSIFY ?? env.SLUICE_MODEL,
      },
    },
    ingest: { intakeWorkers: env.SLUICE_INGEST_WORKERS ?? Math.max(0, availableParallelism() - 1) },
    processor: {
      concurrency: env.SLUICE_PROCESSOR_CONCURRENCY,
      partitionsConcurrently: env.SLUICE_PROCESSOR_PARTITIONS_CONCURRENCY,
      commitIntervalMs: env.SLUICE_COMMIT_INTERVAL_MS,
    },
    sink: {
      statusIntervalMs: env.SLUICE_STATUS_INTERVAL_MS,
      segmentBytes: env.SLUICE_SINK_SEGMENT_BYTES,
      flushIntervalMs: env.SLUICE_SINK_FLUSH_MS,
      orphanTtlMs: env.SLUICE_ORPHAN_TTL_S * 1000,
    },
    sessionTimeoutMs: env.SLUICE_SESSION_TIMEOUT_MS,
    limits: {
      maxFileBytes: env.SLUICE_MAX_FILE_BYTES,
      maxLineBytes: env.SLUICE_MAX_LINE_BYTES,
      maxBatchRequests: env.SLUICE_MAX_BATCH_REQUESTS,
      maxBatchItems: env.SLUICE_MAX_BATCH_ITEMS,
      maxBodyBytes: env.SLUICE_MAX_BODY_BYTES,
      maxSyncItems: env.SLUICE_MAX_SYNC_ITEMS,
      syncTimeoutMs: env.SLUICE_SYNC_TIMEOUT_MS,
      maxReportedErrors: env.SLUICE_MAX_REPORTED_ERRORS,
    },
    apiKeys,
    webhook: env.SLUICE_WEBHOOK_URL ? { url: env.SLUICE_WEBHOOK_URL, secret: env.SLUICE_WEBHOOK_SECRET ?? '' } : null,
    shutdownTimeoutMs: env.SLUICE_SHUTDOWN_TIMEOUT_MS,
    metrics: env.SLUICE_METRICS,
  };
}

const DAY_SECONDS = 86_400;

/**
 * `SLUICE_STORAGE_URL`: a directory (default SLUICE_DATA_DIR; `file://` URLs too) or
 * `s3://bucket[/prefix]`, with the standard AWS variables for the endpoint, region and credentials.
 */
export function parseStorage(env: Env): StorageConfig {
  const url = env.SLUICE_STORAGE_URL ?? env.SLUICE_DATA_DIR;
  if (url.startsWith('file://')) return { kind: 'local', directory: decodeURIComponent(new URL(url).pathname) };
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return { kind: 'local', directory: url };
  const match = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!match) {
    throw new ConfigError(
      'SLUICE_STORAGE_URL',
      `expected a directory or s3://bucket/prefix (got ${JSON.stringify(url)})`,
    );
  }
  const bucket = match[1] as string;
  if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new ConfigError(
      'SLUICE_STORAGE_URL',
      `bucket names are 3-63 characters of a-z, 0-9, '.' and '-' (got ${JSON.stringify(bucket)})`,
    );
  }
  let prefix = (match[2] ?? '').replace(/\/+$/, '');
  if (prefix !== '' && !prefix.split('/').every((segment) => /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$/.test(segment))) {
    throw new ConfigError(
      'SLUICE_STORAGE_URL',
      `the key prefix must be /-separated names of letters, digits, '.', '_', '=' or '-' (got ${JSON.stringify(prefix)})`,
    );
  }
  if (prefix !== '') prefix += '/';
  if (Boolean(env.AWS_ACCESS_KEY_ID) !== Boolean(env.AWS_SECRET_ACCESS_KEY)) {
    throw new ConfigError(
      env.AWS_ACCESS_KEY_ID ? 'AWS_SECRET_ACCESS_KEY' : 'AWS_ACCESS_KEY_ID',
      'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set together or not at all',
    );
  }
  return {
    kind: 's3',
    bucket,
    prefix,
    endpoint: env.AWS_ENDPOINT_URL ?? null,
    region: env.AWS_REGION,
    credentials:
      env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY
        ? {
            accessKeyId: env.AWS_ACCESS_KEY_ID,
            secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
            ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
          }
        : null,
  };
}
