import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseStructuredOutputSetting } from './structured-output.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
/** Kafka's own spellings are upper case; `sasl_ssl` or `scram-sha-512` are accepted too. */
const upperEnum = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.preprocess((value) => (typeof value === 'string' ? value.toUpperCase() : value), z.enum(values));
const list = z.string().transform((value) =>
  value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0),
);

/**
 * Every environment variable Sluice reads, in one place. Parsed once at the entry point;
 * libraries receive the typed result and never read `process.env`.
 */
const EnvSchema = z.object({
  /** Comma-separated `host:port` list. Unset: embedded mode (no Kafka). */
  KAFKA_BROKERS: list.optional(),
  /** Confluent-compatible registry URL, e.g. `http://127.0.0.1:8081/apis/ccompat/v7`. Unset: plain JSON messages. */
  SCHEMA_REGISTRY_URL: z.url().optional(),

  // Connection security, named after Kafka's and librdkafka's own settings (security.protocol,
  // sasl.mechanism, ssl.ca.location, ...). Compiled and checked in kafka-security.ts.
  KAFKA_SECURITY_PROTOCOL: upperEnum(['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL']).default('PLAINTEXT'),
  KAFKA_SASL_MECHANISM: upperEnum(['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER']).optional(),
  KAFKA_SASL_USERNAME: z.string().optional(),
  KAFKA_SASL_PASSWORD: z.string().optional(),
  /** An ES module whose default export returns `{ value: token }` (kafkajs' oauthBearerProvider). */
  KAFKA_SASL_OAUTHBEARER_PROVIDER: z.string().optional(),
  /** PEM file of the CA(s) the broker's certificate must chain to. Unset: the system's CAs. */
  KAFKA_SSL_CA_LOCATION: z.string().optional(),
  /** PEM client certificate (and chain) for mutual TLS. */
  KAFKA_SSL_CERTIFICATE_LOCATION: z.string().optional(),
  /** PEM private key of the client certificate. */
  KAFKA_SSL_KEY_LOCATION: z.string().optional(),
  KAFKA_SSL_KEY_PASSWORD: z.string().optional(),
  /** `https` (verify the broker's host name, the default) or `none` (test clusters only). */
  KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM: z
    .preprocess((value) => (typeof value === 'string' ? value.toLowerCase() : value), z.enum(['https', 'none']))
    .default('https'),
  /** `user:password` for the registry's HTTP basic authentication (the Confluent convention). */
  SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO: z.string().regex(/:/, 'expected user:password').optional(),
  /** PEM file of the CA(s) the registry's certificate must chain to (https URLs). */
  SCHEMA_REGISTRY_SSL_CA_LOCATION: z.string().optional(),
  SLUICE_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore and dash only')
    .default('sluice'),
  SLUICE_PARTITIONS: int(1, 1000).default(8),
  SLUICE_DATA_DIR: z.string().min(1).default('./.sluice'),
  /** Where inputs, results, outputs and File records are kept: a directory, or `s3://bucket/prefix`. Unset: SLUICE_DATA_DIR. */
  SLUICE_STORAGE_URL: z.string().min(1).optional(),
  /** An S3-compatible endpoint (MinIO, S3Proxy, ...); path-style addressing is used with it. */
  AWS_ENDPOINT_URL: z.url().optional(),
  AWS_REGION: z.string().min(1).default('us-east-1'),
  AWS_ACCESS_KEY_ID: z.string().min(1).optional(),
  AWS_SECRET_ACCESS_KEY: z.string().min(1).optional(),
  AWS_SESSION_TOKEN: z.string().min(1).optional(),
  /** Days a finished batch (its status, input copy, results, output and error files) is kept. */
  SLUICE_BATCH_RETENTION_DAYS: int(1, 3650).default(30),
  /** Days an uploaded file without `expires_after` is kept. */
  SLUICE_FILE_RETENTION_DAYS: int(1, 3650).default(30),
  /** Seconds the data of a synchronous call is kept when its caller did not collect it (a timeout). */
  SLUICE_SYNC_RETENTION_S: int(10, 86_400).default(300),
  /** Seconds an `Idempotency-Key` is honoured from its first use (docs/http-api.md); Stripe's 24 hours. */
  SLUICE_IDEMPOTENCY_TTL_S: int(1, 30 * 86_400).default(86_400),
  /**
   * Seconds an upstream answer is reused for an identical request of the same tenant (docs/deduplication.md);
   * 0 turns the shared answer cache off (identical requests in flight at once are still sent once).
   */
  SLUICE_DEDUP_TTL_SECONDS: int(0, 30 * 86_400).default(86_400),
  /** Megabytes of kept answers each processor holds in memory (the rest are read from its local copy of the answers topic). */
  SLUICE_DEDUP_MEMORY_MB: int(1, 65_536).default(64),
  /** How often ingest deletes what has expired. */
  SLUICE_SWEEP_INTERVAL_MS: int(1000).default(60_000),
  /** The sink's result segments: flushed when a batch has this many bytes buffered... */
  SLUICE_SINK_SEGMENT_BYTES: int(64 * 1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024),
  /** ...or when the oldest buffered result is this old; offsets are committed after each flush. */
  SLUICE_SINK_FLUSH_MS: int(10, 60_000).default(1000),
  /**
   * Seconds the sink keeps results of a batch it has no seal for (an outside writer's batch, or a
   * lost seal); then it dead-letters them and forgets the batch.
   */
  SLUICE_ORPHAN_TTL_S: int(1, 30 * 86_400).default(86_400),
  /** Embedded log: hours a record of a non-compacted topic is kept (Kafka's `log.retention.hours`). */
  SLUICE_LOG_RETENTION_HOURS: int(1).default(168),
  /** Embedded log: bytes per segment file (Kafka's `log.segment.bytes`). */
  SLUICE_LOG_SEGMENT_BYTES: int(1024 * 1024).default(64 * 1024 * 1024),
  /**
   * The interface the HTTP server listens on. Unset: `0.0.0.0` when API keys are configured, else
   * `127.0.0.1` (without keys every caller is the one tenant, so only this machine may call).
   */
  HOST: z.string().min(1).optional(),
  PORT: int(0, 65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  /** A JSON or YAML file listing the upstreams (docs/upstreams.md). Unset: OPENAI_BASE_URL, one upstream. */
  SLUICE_UPSTREAMS_FILE: z.string().min(1).optional(),
  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  /** Upstream model used when a request names none. */
  SLUICE_MODEL: z.string().min(1).default('gpt-4o-mini'),
  SLUICE_MODEL_EXTRACT: z.string().min(1).optional(),
  SLUICE_MODEL_SUMMARIZE: z.string().min(1).optional(),
  SLUICE_MODEL_CLASSIFY: z.string().min(1).optional(),
  SLUICE_UPSTREAM_TIMEOUT_MS: int(100).default(60_000),
  /**
   * Most time one flex call may take (`service_tier: "flex"` answers slowly; OpenAI advises 15
   * minutes), cut to the batch's deadline.
   */
  SLUICE_FLEX_TIMEOUT_MS: int(100).default(900_000),
  /** A JSON price table (model → USD per million input and output tokens) over the shipped one, for dry runs. */
  SLUICE_PRICES_FILE: z.string().min(1).optional(),
  /** Attempts per item, the first included. */
  SLUICE_MAX_ATTEMPTS: int(1, 100).default(5),
  SLUICE_RETRY_BASE_MS: int(1).default(500),
  SLUICE_RETRY_MAX_MS: int(1).default(30_000),
  /** Requests and tokens per minute the upstream allows; 0 = no limit. */
  SLUICE_UPSTREAM_RPM: int(0).default(0),
  SLUICE_UPSTREAM_TPM: int(0).default(0),
  /** Most upstream calls in flight per processor, adapted down when the upstream queues; 0 = the processor's concurrency. */
  SLUICE_UPSTREAM_CONCURRENCY: int(0, 100_000).default(0),
  /** `auto` | `json_schema` | `json_object` | `prompt`, optionally per model: `auto,model-a=json_object`. */
  SLUICE_STRUCTURED_OUTPUT: z
    .string()
    .default('auto')
    .transform((value, context) => {
      try {
        return parseStructuredOutputSetting(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  /** Upstream calls in flight per processor. */
  SLUICE_PROCESSOR_CONCURRENCY: int(1, 100_000).default(256),
  /** Partitions one processor works on at once. */
  SLUICE_PROCESSOR_PARTITIONS_CONCURRENCY: int(1, 1000).default(4),
  SLUICE_COMMIT_INTERVAL_MS: int(10).default(1000),
  /** Minimum interval between progress records of one batch. */
  SLUICE_STATUS_INTERVAL_MS: int(0).default(500),

  /**
   * Worker threads that parse and validate a submitted JSONL's lines beside the thread serving
   * the request; 0 does it all in that thread. Default: one per core but one.
   */
  SLUICE_INGEST_WORKERS: int(0, 256).optional(),

  SLUICE_MAX_FILE_BYTES: int(1).default(200 * 1024 * 1024),
  SLUICE_MAX_LINE_BYTES: int(1).default(4 * 1024 * 1024),
  /** Requests per OpenAI batch (OpenAI's own limit is 50,000). */
  SLUICE_MAX_BATCH_REQUESTS: int(1).default(50_000),
  /** Items per domain batch or operations job. */
  SLUICE_MAX_BATCH_ITEMS: int(1).default(1_000_000),
  /** Largest streamed JSONL request body (domain submits). */
  SLUICE_MAX_BODY_BYTES: int(1).default(1024 * 1024 * 1024),
  SLUICE_MAX_SYNC_ITEMS: int(1).default(100),
  SLUICE_SYNC_TIMEOUT_MS: int(100).default(120_000),
  /** How many bad lines a validation error lists. */
  SLUICE_MAX_REPORTED_ERRORS: int(1, 10_000).default(100),

  /**
   * `key1=tenantA,key2=tenantB`; with keys set, every route but /healthz requires one. A key may be
   * given as `sha256:<hex>` of the key.
   */
  SLUICE_API_KEYS: z.string().optional(),
  /** One `key=tenant` (or `sha256:<hex>=tenant`) per line; read again when it changes and on SIGHUP. */
  SLUICE_API_KEYS_FILE: z.string().optional(),
  SLUICE_WEBHOOK_URL: z.url().optional(),
  SLUICE_WEBHOOK_SECRET: z.string().optional(),
  SLUICE_SHUTDOWN_TIMEOUT_MS: int(0).default(30_000),
  /** Kafka consumer session timeout: how soon a dead processor or sink loses its partitions. */
  SLUICE_SESSION_TIMEOUT_MS: int(6000, 300_000).default(30_000),
  /** HTTP: the whole request head must arrive within this (else 408). */
  SLUICE_HEADERS_TIMEOUT_MS: int(100).default(30_000),
  /** HTTP: a whole request, body included, must arrive within this (else 408); 0 = no limit. */
  SLUICE_REQUEST_TIMEOUT_MS: int(0).default(600_000),
  /** HTTP: a connection with a request in progress may stay silent this long (else 408). */
  SLUICE_IDLE_TIMEOUT_MS: int(100).default(60_000),
  SLUICE_METRICS: bool.default(true),
});

export type Env = z.infer<typeof EnvSchema>;

/**
 * Secrets that may also come from a file (`<NAME>_FILE`), as mounted by Kubernetes or Docker
 * secrets: the file's content, without a trailing newline, is the value.
 */
export const FILE_VARIABLES = [
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
  'KAFKA_SSL_KEY_PASSWORD',
  'SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO',
] as const;

function readFileVariable(name: string, env: Record<string, string | undefined>): string | undefined {
  const file = env[`${name}_FILE`];
  if (file === undefined || file === '') return env[name];
  if (env[name] !== undefined && env[name] !== '') {
    throw new ConfigError(`${name}_FILE`, `set ${name} or ${name}_FILE, not both`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`${name}_FILE`, `cannot read ${file}: ${(error as Error).message}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(`${name}_FILE`, `${file} is empty`);
  return value;
}

/**
 * Parses the environment. A bad value throws a ConfigError that names the variable, e.g.
 * `SLUICE_PARTITIONS: Too small: expected number to be >=1`.
 */
export function parseEnv(env: Record<string, string | undefined>): Env {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const value = (FILE_VARIABLES as readonly string[]).includes(key) ? readFileVariable(key, env) : env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const result = EnvSchema.safeParse(relevant);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = issue?.path[0] !== undefined ? String(issue.path[0]) : 'environment';
  // Never echo a secret's value back into an error (and so into a log line).
  const shown = (FILE_VARIABLES as readonly string[]).includes(variable)
    ? '[secret]'
    : JSON.stringify(relevant[variable] ?? null);
  throw new ConfigError(variable, `${issue?.message ?? 'invalid'} (got ${shown})`);
}
