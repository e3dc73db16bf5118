import { z } from 'zod';

/**
 * Identifiers that end up in file paths (batch ids) are restricted to a safe alphabet, so a
 * producer writing straight to the requests topic cannot escape the data directory.
 */
export const BatchId = z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'must be 1-128 characters of A-Z, a-z, 0-9, _ or -');
export type BatchId = z.infer<typeof BatchId>;

export const FileId = z.string().regex(/^file-[A-Za-z0-9_-]{1,120}$/, 'must look like file-<id>');
export type FileId = z.infer<typeof FileId>;

/** `custom_id` as OpenAI accepts it: any non-empty string; we cap its length. */
export const CustomId = z.string().min(1, 'must not be empty').max(512, 'must be at most 512 characters');

/** Which public API a batch was submitted through. One batch model serves all three. */
export const ApiKind = z.enum(['openai', 'domain', 'operations']);
export type ApiKind = z.infer<typeof ApiKind>;

/** Unix time in seconds, as the OpenAI Batch object uses. */
export const UnixSeconds = z.number().int().nonnegative();

/**
 * How an upstream may be called (issue 24): `realtime`, its ordinary endpoint; `flex`, the same
 * endpoint with `service_tier: "flex"` (OpenAI, Azure OpenAI, Gemini, Groq); `batch`, the
 * provider's OpenAI-compatible Files + Batches API (OpenAI, Azure OpenAI, Groq, Together, Sluice).
 */
export const TIERS = ['realtime', 'flex', 'batch'] as const;
export const Tier = z.enum(TIERS);
export type Tier = z.infer<typeof Tier>;

/**
 * How a batch or job asks its items to be sent: a tier (see Tier), or `auto` (the default): flex
 * when an upstream of the model offers it and the deadline leaves room, else realtime
 * (docs/upstreams.md, Tiers). Synchronous calls are always `realtime`.
 */
export const JOB_TIERS = ['auto', ...TIERS] as const;
export const JobTier = z.enum(JOB_TIERS, { error: `tier must be one of ${JOB_TIERS.join(', ')}` });
export type JobTier = z.infer<typeof JobTier>;

/** `?tier=` on a domain JSONL submit (its body has no room for batch-level fields). */
export const TierQuery = z.object({ tier: JobTier.optional() });

/** Token usage of one item's upstream calls. */
export const TokenUsage = z.object({
  input_tokens: z.number().int().nonnegative(),
  output_tokens: z.number().int().nonnegative(),
  /**
   * The part of `input_tokens` the provider read from its prompt cache
   * (`usage.prompt_tokens_details.cached_tokens`), billed at the cached-input price. Optional:
   * results written before it, and upstreams that do not report it, have none.
   */
  cached_input_tokens: z.number().int().nonnegative().optional(),
});
export type TokenUsage = z.infer<typeof TokenUsage>;

/** The error object carried by failed items and by API error responses. */
export const ItemError = z.object({
  code: z.string(),
  message: z.string(),
  param: z.string().nullable().optional(),
  line: z.number().int().nullable().optional(),
});
export type ItemError = z.infer<typeof ItemError>;

export const JsonObject = z.record(z.string(), z.unknown());
export type JsonObject = z.infer<typeof JsonObject>;

/**
 * A batch's or job's upstream timeout per call, in seconds. The server's own
 * (`SLUICE_UPSTREAM_TIMEOUT_MS`) is the upper bound, checked where the request is accepted.
 */
export const RequestTimeoutSeconds = z
  .number({ error: 'request_timeout_seconds must be a number of seconds' })
  .positive('request_timeout_seconds must be more than 0')
  .max(86_400, 'request_timeout_seconds must be at most 86400');

/**
 * Whether identical upstream requests of a batch or job are answered once (docs/deduplication.md):
 * `true` — requests that do not sample (no `temperature` above 0); `"all"` — sampling ones too;
 * `false` — none. Unset (null): `true` for the domain and operations APIs, `false` for OpenAI batches.
 */
export const DedupSetting = z
  .union([z.boolean(), z.literal('all')], { error: 'dedup must be true, false or "all"' })
  .nullable()
  .default(null);
export type DedupSetting = z.infer<typeof DedupSetting>;

/** `?dedup=true|false|all` on a domain JSONL submit (its body has no room for batch-level fields). */
export const DedupQuery = z.object({
  dedup: z
    .enum(['true', 'false', 'all'], { error: "dedup must be 'true', 'false' or 'all'" })
    .transform((value) => (value === 'all' ? value : value === 'true'))
    .optional(),
});

/** A batch's (or job's) status, as OpenAI names them. */
export const BatchStatus = z.enum([
  'validating',
  'failed',
  'in_progress',
  'finalizing',
  'completed',
  'expired',
  'cancelling',
  'cancelled',
]);
export type BatchStatus = z.infer<typeof BatchStatus>;
