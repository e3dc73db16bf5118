import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { parseStructuredOutputSetting } from './structured-output.js';

const int = (min: number, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max);
const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');
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
  SLUICE_TOPIC_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, underscore and dash only')
    .default('sluice'),
  SLUICE_PARTITIONS: int(1, 1000).default(8),
  SLUICE_DATA_DIR: z.string().min(1).default('./.sluice'),
  HOST: z.string().default('0.0.0.0'),
  PORT: int(0, 65535).default(8080),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

  OPENAI_BASE_URL: z.url().optional(),
  OPENAI_API_KEY: z.string().optional(),
  /** Upstream model used when a request names none. */
  SLUICE_MODEL: z.string().min(1).default('gpt-4o-mini'),
  SLUICE_MODEL_EXTRACT: z.string().min(1).optional(),
  SLUICE_MODEL_SUMMARIZE: z.string().min(1).optional(),
  SLUICE_MODEL_CLASSIFY: z.string().min(1).optional(),
  SLUICE_UPSTREAM_TIMEOUT_MS: int(100).default(60_000),
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

  /** `key1=tenantA,key2=tenantB`; with keys set, every route but /healthz requires one. */
  SLUICE_API_KEYS: z.string().optional(),
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
 * Parses the environment. A bad value throws a ConfigError that names the variable, e.g.
 * `SLUICE_PARTITIONS: Too small: expected number to be >=1`.
 */
export function parseEnv(env: Record<string, string | undefined>): Env {
  const relevant: Record<string, string> = {};
  for (const key of Object.keys(EnvSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value !== '') relevant[key] = value;
  }
  const result = EnvSchema.safeParse(relevant);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const variable = issue?.path[0] !== undefined ? String(issue.path[0]) : 'environment';
  throw new ConfigError(variable, `${issue?.message ?? 'invalid'} (got ${JSON.stringify(relevant[variable] ?? null)})`);
}

export const ENV_VARIABLES = Object.keys(EnvSchema.shape);
