import { z } from 'zod';
import { ApiKind, BatchStatus } from './common.js';

/**
 * Fields several APIs share, declared once: metadata and its limits, the completion window,
 * `expires_after`, list queries. HTTP validation, the CLI's checks and the SDK's types all derive
 * from these.
 */

/** OpenAI's metadata limits, applied by every API that takes metadata. */
export const METADATA_LIMITS = { maxKeys: 16, maxKeyLength: 64, maxValueLength: 512 } as const;

/**
 * Metadata keys Sluice writes itself: a retry's `retry_of` (the id of the batch it retries, which
 * the dashboard links to). A client may not set them (a tenant could otherwise point at another
 * tenant's batch), and they do not use one of the caller's 16 keys.
 */
export const SLUICE_METADATA_KEYS: ReadonlySet<string> = new Set(['retry_of']);

const callerKeyCount = (metadata: Record<string, string>): number =>
  Object.keys(metadata).filter((key) => !SLUICE_METADATA_KEYS.has(key)).length;

/**
 * `metadata` as stored and shown: at most 16 string keys of at most 64 characters, each with a
 * string value of at most 512 characters (OpenAI's limits), plus Sluice's own keys. Without a
 * bound, one request could make every later list call carry megabytes.
 */
export const Metadata = z
  .record(
    z
      .string()
      .max(METADATA_LIMITS.maxKeyLength, `metadata keys are at most ${METADATA_LIMITS.maxKeyLength} characters`),
    z
      .string({ error: 'metadata values must be strings' })
      .max(METADATA_LIMITS.maxValueLength, `metadata values are at most ${METADATA_LIMITS.maxValueLength} characters`),
    {
      // Only for a value that is not an object at all: a bad key or value says its own limit.
      error: (issue) =>
        issue.code === 'invalid_type' ? 'metadata must be an object of string keys and string values' : undefined,
    },
  )
  .refine((value) => callerKeyCount(value) <= METADATA_LIMITS.maxKeys, {
    message: `metadata has at most ${METADATA_LIMITS.maxKeys} keys`,
  });

/** `metadata` as a client sends it: without Sluice's own keys. */
export const ClientMetadata = Metadata.superRefine((value, context) => {
  for (const key of Object.keys(value)) {
    if (SLUICE_METADATA_KEYS.has(key)) {
      context.addIssue({
        code: 'custom',
        path: [key],
        message: `metadata.${key} is set by Sluice (a retry's ${key} is the batch it retries); use another key`,
      });
    }
  }
});

/**
 * Bounds of the free-text fields the APIs take, declared once. Each value is kept with its batch,
 * shown back by every read of it, and most reach the upstream's prompt: unbounded, one request
 * could make every later read carry megabytes. Items' own text (`content`, `text`) is bounded by
 * the line and body limits instead (SLUICE_MAX_LINE_BYTES, SLUICE_MAX_BODY_BYTES).
 */
export const TEXT_LIMITS = {
  /** An upstream model name. */
  model: 256,
  /** A category, label, valid value or entity name. */
  label: 256,
  /** A field's, entity's or schema's description. */
  description: 4096,
  /** Instructions, system prompts and prompt templates. */
  prompt: 65_536,
  /** A reference to a stored object (`input_file_id`). */
  reference: 256,
  /** An uploaded file's name. */
  filename: 255,
} as const;

/** The message of a text bound: `must be at most 256 characters`. */
export const atMostCharacters = (limit: number): string => `must be at most ${limit} characters`;
export type Metadata = z.infer<typeof Metadata>;

const HOUR_SECONDS = 3600;

/** `"24h"`, `"1h"` … `"168h"`, `"1d"` … `"7d"` → seconds; null when not a duration in that range. */
export function completionWindowSeconds(window: string): number | null {
  const match = /^(\d{1,4})(h|d)$/.exec(window.trim());
  if (!match) return null;
  const seconds = Number(match[1]) * (match[2] === 'd' ? 24 * HOUR_SECONDS : HOUR_SECONDS);
  return seconds >= HOUR_SECONDS && seconds <= 7 * 24 * HOUR_SECONDS ? seconds : null;
}

/** How long a batch or job may run: a duration from 1h to 7d (`"24h"`, `"7d"`). */
export const CompletionWindow = z
  .string({ error: 'completion_window must be a string such as "24h"' })
  .refine((value) => completionWindowSeconds(value) !== null, {
    message: 'completion_window must be a duration from 1h to 7d such as "24h", "1h" or "7d"',
  });
export const DEFAULT_COMPLETION_WINDOW = '24h';

/** OpenAI's `expires_after` (files) and `output_expires_after` (batches): 1 hour to 30 days after creation. */
export const ExpiresAfter = z.strictObject({
  anchor: z.literal('created_at', { error: "anchor must be 'created_at'" }),
  seconds: z.coerce
    .number()
    .int('seconds must be an integer')
    .min(3600, 'seconds must be from 3600 (1 hour) to 2592000 (30 days)')
    .max(2_592_000, 'seconds must be from 3600 (1 hour) to 2592000 (30 days)'),
});
export type ExpiresAfter = z.infer<typeof ExpiresAfter>;

/** `?after=<id>&limit=<n>&status=<status>` of the batch and job lists. */
export const ListQuery = z.object({
  after: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
  /** Only batches in this status (read from an index, not by filtering a page). */
  status: BatchStatus.optional(),
});
export type ListQuery = z.input<typeof ListQuery>;

/** `GET /v1/batches`: a listing, optionally of one API's batches only (the dashboard's filter). */
export const BatchListQuery = ListQuery.extend({ api: ApiKind.optional() });
export type BatchListQuery = z.input<typeof BatchListQuery>;

/** `?purpose=&limit=&order=&after=` of the file list (OpenAI's). */
export const FileListQuery = z.object({
  purpose: z.enum(['batch', 'batch_output']).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).default(10_000),
  order: z.enum(['asc', 'desc']).default('desc'),
  after: z.string().optional(),
});
export type FileListQuery = z.input<typeof FileListQuery>;

/** `GET /v1/jobs/{id}/output`: the format and, for `json`, the page. */
export const OutputQuery = z.object({
  format: z.enum(['json', 'jsonl', 'csv']).default('json'),
  offset: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).max(10_000).default(1000),
});
export type OutputQuery = z.input<typeof OutputQuery>;
