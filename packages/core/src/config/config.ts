import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import { topicNames, type TopicNames } from '../topics.js';
import type { Env } from './env.js';
import type { StructuredOutputSetting } from './structured-output.js';

/** The compiled configuration every role is built from: defaults filled, units in the names. */
export interface SluiceConfig {
  /** Kafka when brokers are configured; embedded (in-process log) otherwise. */
  mode: 'kafka' | 'embedded';
  kafka: { brokers: string[] } | null;
  registryUrl: string | null;
  topics: TopicNames;
  partitions: number;
  dataDir: string;
  http: { host: string; port: number; headersTimeoutMs: number; requestTimeoutMs: number; idleTimeoutMs: number };
  logLevel: string;
  upstream: UpstreamConfig;
  processor: { concurrency: number; partitionsConcurrently: number; commitIntervalMs: number };
  sink: { statusIntervalMs: number };
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
  /** API key → tenant; null when authentication is off. */
  apiKeys: Map<string, string> | null;
  webhook: { url: string; secret: string } | null;
  shutdownTimeoutMs: number;
  metrics: boolean;
}

export interface UpstreamConfig {
  /** OpenAI-compatible base URL (ending in /v1); null: none configured (the CLI may start the simulator). */
  baseUrl: string | null;
  apiKey: string;
  timeoutMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /** 0 = no limit. */
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Most calls in flight to the upstream; 0 = the processor's concurrency. Adapted down when the upstream queues. */
  concurrency: number;
  /** Which structured-output dialects may be used, per model. */
  structuredOutput: StructuredOutputSetting;
  models: { default: string; extract: string; summarize: string; classify: string };
}

export function compileConfig(env: Env): SluiceConfig {
  return {
    mode: env.KAFKA_BROKERS && env.KAFKA_BROKERS.length > 0 ? 'kafka' : 'embedded',
    kafka: env.KAFKA_BROKERS && env.KAFKA_BROKERS.length > 0 ? { brokers: env.KAFKA_BROKERS } : null,
    registryUrl: env.SCHEMA_REGISTRY_URL ?? null,
    topics: topicNames(env.SLUICE_TOPIC_PREFIX),
    partitions: env.SLUICE_PARTITIONS,
    dataDir: env.SLUICE_DATA_DIR,
    http: {
      host: env.HOST,
      port: env.PORT,
      headersTimeoutMs: env.SLUICE_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: env.SLUICE_REQUEST_TIMEOUT_MS,
      idleTimeoutMs: env.SLUICE_IDLE_TIMEOUT_MS,
    },
    logLevel: env.LOG_LEVEL,
    upstream: {
      baseUrl: env.OPENAI_BASE_URL ?? null,
      apiKey: env.OPENAI_API_KEY ?? 'sluice-no-key',
      timeoutMs: env.SLUICE_UPSTREAM_TIMEOUT_MS,
      maxAttempts: env.SLUICE_MAX_ATTEMPTS,
      retryBaseMs: env.SLUICE_RETRY_BASE_MS,
      retryMaxMs: env.SLUICE_RETRY_MAX_MS,
      requestsPerMinute: env.SLUICE_UPSTREAM_RPM,
      tokensPerMinute: env.SLUICE_UPSTREAM_TPM,
      concurrency: env.SLUICE_UPSTREAM_CONCURRENCY,
      structuredOutput: env.SLUICE_STRUCTURED_OUTPUT,
      models: {
        default: env.SLUICE_MODEL,
        extract: env.SLUICE_MODEL_EXTRACT ?? env.SLUICE_MODEL,
        summarize: env.SLUICE_MODEL_SUMMARIZE ?? env.SLUICE_MODEL,
        classify: env.SLUICE_MODEL_CLASSIFY ?? env.SLUICE_MODEL,
      },
    },
    processor: {
      concurrency: env.SLUICE_PROCESSOR_CONCURRENCY,
      partitionsConcurrently: env.SLUICE_PROCESSOR_PARTITIONS_CONCURRENCY,
      commitIntervalMs: env.SLUICE_COMMIT_INTERVAL_MS,
    },
    sink: { statusIntervalMs: env.SLUICE_STATUS_INTERVAL_MS },
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
    apiKeys: parseApiKeys(env.SLUICE_API_KEYS, env.SLUICE_API_KEYS_FILE),
    webhook: env.SLUICE_WEBHOOK_URL ? { url: env.SLUICE_WEBHOOK_URL, secret: env.SLUICE_WEBHOOK_SECRET ?? '' } : null,
    shutdownTimeoutMs: env.SLUICE_SHUTDOWN_TIMEOUT_MS,
    metrics: env.SLUICE_METRICS,
  };
}

/**
 * `key1=tenantA,key2=tenantB`, and/or a file with one `key=tenant` per line (`#` comments).
 * Returns null when neither is set: authentication off, every request is tenant `default`.
 */
export function parseApiKeys(inline: string | undefined, file: string | undefined): Map<string, string> | null {
  if (!inline && !file) return null;
  const keys = new Map<string, string>();
  const add = (entry: string, variable: string, where: string) => {
    const trimmed = entry.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const at = trimmed.indexOf('=');
    const key = at === -1 ? '' : trimmed.slice(0, at).trim();
    const tenant = at === -1 ? '' : trimmed.slice(at + 1).trim();
    if (!key || !tenant || !/^[A-Za-z0-9._-]{1,64}$/.test(tenant)) {
      throw new ConfigError(
        variable,
        `${where}: expected key=tenant with a tenant of letters, digits, '.', '_' or '-'`,
      );
    }
    keys.set(key, tenant);
  };
  if (inline) inline.split(',').forEach((entry, i) => add(entry, 'SLUICE_API_KEYS', `entry ${i + 1}`));
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError('SLUICE_API_KEYS_FILE', `cannot read ${file}: ${(error as Error).message}`);
    }
    text.split('\n').forEach((line, i) => add(line, 'SLUICE_API_KEYS_FILE', `line ${i + 1}`));
  }
  if (keys.size === 0) throw new ConfigError(inline ? 'SLUICE_API_KEYS' : 'SLUICE_API_KEYS_FILE', 'no keys given');
  return keys;
}
