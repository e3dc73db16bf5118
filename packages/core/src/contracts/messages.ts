import { z } from 'zod';
import { BatchSpec } from './batch.js';
import {
  ApiKind,
  BatchId,
  CustomId,
  DedupSetting,
  ItemError,
  JobTier,
  JsonObject,
  Tier,
  TokenUsage,
  UnixSeconds,
} from './common.js';

/**
 * One unit of work on the requests topic (key = batch id). `discriminator` selects the handler:
 * the `model` of a domain line (extract | summarize | classify), the `url` of an OpenAI line, or
 * the operation of an operations job.
 */
export const RequestItemMessage = z.object({
  type: z.literal('item'),
  batch_id: BatchId,
  index: z.number().int().nonnegative(),
  custom_id: CustomId,
  api: ApiKind,
  discriminator: z.string().min(1),
  body: JsonObject,
  /** Unix seconds after which the item is not sent upstream but fails with `batch_expired`. */
  expires_at: UnixSeconds.nullable().default(null),
  /** Upstream timeout of one call for this item (the batch's `request_timeout_seconds`); null: the processor's own. */
  timeout_ms: z.number().int().positive().nullable().default(null),
  /**
   * The batch's tenant: answers are shared only within a tenant (deduplication). Null (an outside
   * producer that did not say): the item is never deduplicated, so it cannot get another tenant's answer.
   */
  tenant: z.string().min(1).nullable().default(null),
  /** The batch's deduplication setting (see DedupSetting). */
  dedup: DedupSetting,
  /**
   * How the item asks to be sent (the batch's `tier`, see JobTier): the processor resolves `auto`
   * per item, from the model's upstreams and the time left before `expires_at`.
   */
  tier: JobTier.default('auto'),
});
export type RequestItemMessage = z.infer<typeof RequestItemMessage>;
export type RequestItemMessageInput = z.input<typeof RequestItemMessage>;

/**
 * Closes a batch: no item with an index >= `total` belongs to it. Written straight to the results
 * topic (key = batch id, so in the batch's results partition), by ingest before the batch's items,
 * so the sink learns the batch's size and description before its first result. It never goes
 * through the processor: a seal on a requests topic is dead-lettered.
 */
export const SealMessage = z.object({
  type: z.literal('seal'),
  batch_id: BatchId,
  total: z.number().int().nonnegative(),
  spec: BatchSpec,
});
export type SealMessage = z.infer<typeof SealMessage>;
export type SealMessageInput = z.input<typeof SealMessage>;

/** What the requests and interactive topics carry: items only (seals go to the results topic). */
export const RequestMessage = RequestItemMessage;
export type RequestMessage = z.infer<typeof RequestMessage>;
export type RequestMessageInput = z.input<typeof RequestMessage>;

/** The upstream's answer to one item, as it is written to the output (OpenAI's `response`). */
export const ItemResponse = z.object({
  status_code: z.number().int(),
  request_id: z.string().nullable(),
  body: z.unknown(),
});
export type ItemResponse = z.infer<typeof ItemResponse>;

/**
 * The outcome of one item on the results topic (key = batch id). `ok` decides whether the line
 * belongs to the output file or the error file.
 */
export const ItemResultMessage = z.object({
  type: z.literal('item'),
  batch_id: BatchId,
  index: z.number().int().nonnegative(),
  custom_id: CustomId,
  /** `batch_req_...`: the line's id in OpenAI output files. */
  id: z.string(),
  api: ApiKind,
  discriminator: z.string(),
  ok: z.boolean(),
  response: ItemResponse.nullable(),
  error: ItemError.nullable(),
  usage: TokenUsage.nullable(),
  attempts: z.number().int().nonnegative(),
  /** Of those attempts, how many the upstream answered 429 (rate limited). */
  rate_limited: z.number().int().nonnegative().default(0),
  /** Milliseconds since the epoch. */
  finished_at: z.number().int().nonnegative(),
  /** Operations: the input item, echoed so JSON pages and CSV rows carry its fields. */
  item: JsonObject.nullable().default(null),
  /** The model the upstream answered with (its `model`, else the one asked for); null when no call succeeded. */
  model: z.string().nullable().default(null),
  /** The answer was not asked of the upstream: it is an identical request's (deduplication). */
  cached: z.boolean().default(false),
  /**
   * The configured name of the upstream of the item's last call (SLUICE_UPSTREAMS_FILE's `name`;
   * `default` for OPENAI_BASE_URL): the one that answered when `ok`. Null when no call was made (a
   * cached answer, a model no upstream serves), and in results written before it existed.
   */
  upstream: z.string().nullable().default(null),
  /**
   * How the item's last call went to its upstream (`realtime`, `flex`, `batch`): the price it is
   * billed at. Null when no call was made, and in results written before it existed (realtime).
   */
  tier: Tier.nullable().default(null),
});
export type ItemResultMessage = z.infer<typeof ItemResultMessage>;

export const ResultMessage = z.discriminatedUnion('type', [ItemResultMessage, SealMessage]);
export type ResultMessage = z.infer<typeof ResultMessage>;
export type ResultMessageInput = z.input<typeof ResultMessage>;
