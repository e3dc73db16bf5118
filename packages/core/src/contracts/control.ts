import { z } from 'zod';
import { BatchId, UnixSeconds } from './common.js';

/** A batch was cancelled: its items are no longer sent upstream, and its sink finalizes it `cancelled`. */
export const CancelControl = z.object({
  type: z.literal('cancel'),
  batch_id: BatchId,
  requested_at: UnixSeconds,
});
export type CancelControl = z.infer<typeof CancelControl>;

/**
 * A fact about a batch on the control topic (compacted; written by ingest only; read whole by
 * every processor and sink). A union on `type`, so later facts (a budget, a deadline) are new
 * members; readers take the batch from `batch_id`, not from the key, so such a fact may use a key
 * of its own (`<batch id>.<type>`) and survive compaction beside a cancel, whose key is the batch id.
 */
export const ControlMessage = z.discriminatedUnion('type', [CancelControl]);
export type ControlMessage = z.infer<typeof ControlMessage>;
export type ControlMessageInput = z.input<typeof ControlMessage>;
