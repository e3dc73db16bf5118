import { z } from 'zod';
import {
  ApiKind,
  BatchId,
  BatchStatus,
  DedupSetting,
  ItemError,
  JobTier,
  JsonObject,
  RequestTimeoutSeconds,
  UnixSeconds,
} from './common.js';
import { Metadata } from './fields.js';

/** Statuses a batch never leaves. */
export const TERMINAL_STATUSES: readonly BatchStatus[] = ['completed', 'failed', 'expired', 'cancelled'];
export const isTerminal = (status: BatchStatus): boolean => TERMINAL_STATUSES.includes(status);

/**
 * OpenAI's three counts keep their meaning (`failed`: the request was tried, or refused, and
 * failed); items never sent because their batch was cancelled or expired are counted apart, so
 * `completed + failed + cancelled + expired = total` once the batch is final. The two extra fields
 * default to 0: records written before they existed counted those items as failed.
 */
export const RequestCounts = z.object({
  total: z.number().int().nonnegative(),
  completed: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  cancelled: z.number().int().nonnegative().default(0),
  expired: z.number().int().nonnegative().default(0),
});
export type RequestCounts = z.infer<typeof RequestCounts>;

/** Token usage summed over a batch, in the shape of the OpenAI Batch object's `usage`. */
export const BatchUsage = z.object({
  input_tokens: z.number().int().nonnegative(),
  input_tokens_details: z.object({ cached_tokens: z.number().int().nonnegative() }),
  output_tokens: z.number().int().nonnegative(),
  output_tokens_details: z.object({ reasoning_tokens: z.number().int().nonnegative() }),
  total_tokens: z.number().int().nonnegative(),
  /**
   * Items answered from an identical request's answer instead of the upstream (deduplication);
   * their input tokens are counted in `input_tokens_details.cached_tokens`. Not an OpenAI field.
   */
  cached_items: z.number().int().nonnegative().default(0),
});
export type BatchUsage = z.infer<typeof BatchUsage>;

export const emptyUsage = (): BatchUsage => ({
  input_tokens: 0,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 0,
  output_tokens_details: { reasoning_tokens: 0 },
  total_tokens: 0,
  cached_items: 0,
});

export const BatchErrors = z.object({
  object: z.literal('list'),
  data: z.array(ItemError),
});
export type BatchErrors = z.infer<typeof BatchErrors>;

/**
 * What a batch is, fixed when it is sealed: carried on the seal message so that a sink can build
 * the batch's status without any other source (outside producers have no HTTP request).
 */
export const BatchSpec = z.object({
  api: ApiKind.default('domain'),
  tenant: z.string().min(1).default('default'),
  /**
   * OpenAI: the batch endpoint. Domain: the realtime endpoint of its lines' model (`/classify`;
   * several, comma-separated, when the lines mix models). Operations: `/v1/jobs`.
   */
  endpoint: z.string().default('/v1/batches'),
  /** Operations: the operation name (`label`, `extract`, ...). */
  operation: z.string().nullable().default(null),
  model: z.string().nullable().default(null),
  input_file_id: z.string().nullable().default(null),
  completion_window: z.string().default('24h'),
  created_at: UnixSeconds,
  /** When the batch's items started to be produced; null: the seal's arrival time is used. */
  in_progress_at: UnixSeconds.nullable().default(null),
  expires_at: UnixSeconds.nullable().default(null),
  metadata: Metadata.nullable().default(null),
  /** Output files expire this many seconds after they are created (OpenAI `output_expires_after`). */
  output_expires_after_seconds: z.number().int().positive().nullable().default(null),
  /** Operations: the names of the item fields, in first-seen order (CSV columns). */
  item_fields: z.array(z.string()).nullable().default(null),
  /** Operations: the result's columns when the parameters fix them (CSV); null when the model chooses. */
  result_fields: z.array(z.string()).nullable().default(null),
  /** Operations `run`: the run's free name. */
  name: z.string().nullable().default(null),
  /** A batch created by a synchronous endpoint; hidden from listings. */
  sync: z.boolean().default(false),
  /** Operations: the operation's parameters as validated (a retry reuses them; the job object shows them). */
  parameters: JsonObject.nullable().default(null),
  /** Upstream timeout of one call for an item, at most the server's; null: the server's. */
  request_timeout_seconds: RequestTimeoutSeconds.nullable().default(null),
  /** Whether identical requests are answered once (docs/deduplication.md). */
  dedup: DedupSetting,
  /** How its items ask to be sent (docs/upstreams.md, Tiers); synchronous calls: `realtime`. */
  tier: JobTier.default('auto'),
});
export type BatchSpec = z.infer<typeof BatchSpec>;
export type BatchSpecInput = z.input<typeof BatchSpec>;

/**
 * Who wrote a status record. `intake`: ingest, while the batch is in intake (validating, refused,
 * cancelled before it was sealed, and the hand-over `in_progress` record written just before the
 * seal). `sink`: the sink that owns the batch, from its seal on. A reader drops an intake record
 * once it has seen a sink record of the batch (`admitStatusRecord`).
 */
export const StatusWriter = z.enum(['intake', 'sink']);
export type StatusWriter = z.infer<typeof StatusWriter>;

/**
 * The batch record: one per batch, the value of the compacted status topic (key = batch id).
 * Public views (OpenAI Batch object, domain status, operations job) are rendered from it.
 */
export const BatchRecord = z.object({
  id: BatchId,
  object: z.literal('batch'),
  api: ApiKind,
  tenant: z.string(),
  endpoint: z.string(),
  operation: z.string().nullable(),
  model: z.string().nullable(),
  input_file_id: z.string().nullable(),
  completion_window: z.string(),
  status: BatchStatus,
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  created_at: UnixSeconds,
  in_progress_at: UnixSeconds.nullable(),
  expires_at: UnixSeconds.nullable(),
  finalizing_at: UnixSeconds.nullable(),
  completed_at: UnixSeconds.nullable(),
  failed_at: UnixSeconds.nullable(),
  expired_at: UnixSeconds.nullable(),
  cancelling_at: UnixSeconds.nullable(),
  cancelled_at: UnixSeconds.nullable(),
  errors: BatchErrors.nullable(),
  request_counts: RequestCounts,
  usage: BatchUsage,
  metadata: Metadata.nullable(),
  output_expires_after_seconds: z.number().int().positive().nullable(),
  item_fields: z.array(z.string()).nullable(),
  // Fields added after the first release default, so older records still decode.
  result_fields: z.array(z.string()).nullable().default(null),
  name: z.string().nullable().default(null),
  sync: z.boolean(),
  parameters: JsonObject.nullable().default(null),
  request_timeout_seconds: RequestTimeoutSeconds.nullable().default(null),
  /** The tier its items ask for (BatchSpec's `tier`); records from before the field: `auto`. */
  tier: JobTier.default('auto'),
  /**
   * Items finished per minute over the sink's recent window (null until two observations); and
   * the seconds left at that pace (null until known, 0 once final).
   */
  throughput_per_minute: z.number().nonnegative().nullable().default(null),
  eta_seconds: z.number().int().nonnegative().nullable().default(null),
  /**
   * Over the items finished so far: upstream attempts beyond each item's first (retries), and
   * attempts the upstream answered 429 (rate limited). Not OpenAI fields.
   */
  retries: z.number().int().nonnegative().default(0),
  rate_limited: z.number().int().nonnegative().default(0),
  /**
   * What the items finished so far cost in USD, each at the price of the tier it was called at
   * (`cost_usd`), and the same tokens at the realtime price (`realtime_cost_usd`): see
   * docs/costs.md. Null while unknown: a model without a price, or a record from before the sink
   * counted it. Not OpenAI fields.
   */
  cost_usd: z.number().nonnegative().nullable().default(null),
  realtime_cost_usd: z.number().nonnegative().nullable().default(null),
  /** Milliseconds since the epoch when this record was written; later records win. */
  updated_at_ms: z.number().int().nonnegative(),
  /** Who wrote it (see StatusWriter); records from before the field are the sink's. */
  written_by: StatusWriter.default('sink'),
});
export type BatchRecord = z.infer<typeof BatchRecord>;

/** A batch record for a batch that has a spec and a size, before any result: the starting point for ingest and sink. */
export function newBatchRecord(
  id: string,
  spec: BatchSpec,
  total: number,
  status: BatchStatus,
  writtenBy: StatusWriter,
  nowMs: number = Date.now(),
): BatchRecord {
  return {
    id,
    object: 'batch',
    api: spec.api,
    tenant: spec.tenant,
    endpoint: spec.endpoint,
    operation: spec.operation,
    model: spec.model,
    input_file_id: spec.input_file_id,
    completion_window: spec.completion_window,
    status,
    output_file_id: null,
    error_file_id: null,
    created_at: spec.created_at,
    in_progress_at: status === 'in_progress' ? (spec.in_progress_at ?? Math.floor(nowMs / 1000)) : null,
    expires_at: spec.expires_at,
    finalizing_at: null,
    completed_at: null,
    failed_at: null,
    expired_at: null,
    cancelling_at: null,
    cancelled_at: null,
    errors: null,
    request_counts: { total, completed: 0, failed: 0, cancelled: 0, expired: 0 },
    usage: emptyUsage(),
    metadata: spec.metadata,
    output_expires_after_seconds: spec.output_expires_after_seconds,
    item_fields: spec.item_fields,
    result_fields: spec.result_fields,
    name: spec.name,
    sync: spec.sync,
    parameters: spec.parameters,
    request_timeout_seconds: spec.request_timeout_seconds,
    tier: spec.tier,
    throughput_per_minute: null,
    eta_seconds: null,
    retries: 0,
    rate_limited: 0,
    cost_usd: null,
    realtime_cost_usd: null,
    updated_at_ms: nowMs,
    written_by: writtenBy,
  };
}
