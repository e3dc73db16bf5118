import { z } from 'zod';

/**
 * The answer of a dry run (`?dry_run=true` on a create): the input was validated exactly as a
 * submit would validate it (same errors), and nothing was stored, produced or sent upstream.
 */
export const DryRun = z.object({
  object: z.literal('dry_run'),
  /** Items (requests) the batch or job would hold. */
  items: z.number().int().nonnegative(),
  /** Prompt tokens over all items: counted with the model's tokenizer for OpenAI models, estimated otherwise (`input_tokens_method`). */
  input_tokens: z.number().int().nonnegative(),
  /** `tokenizer:<encoding>` or `estimate:chars/4`. */
  input_tokens_method: z.string(),
  /** The most output tokens the items may produce: each item's limit (`max_tokens` and the like) or the operation's. */
  max_output_tokens: z.number().int().nonnegative(),
  /**
   * At the price table's rates for the model, input plus max output tokens, at the tier the items
   * would be called at (realtime until `auto` chooses; docs/costs.md); null when the model has no price.
   */
  estimated_cost_usd: z.number().nonnegative().nullable(),
  /** The same tokens at the realtime price: what the savings of a cheaper tier are measured against. */
  estimated_realtime_cost_usd: z.number().nonnegative().nullable(),
  /** At the configured rate limits and upstream concurrency, if nothing else shares them. */
  estimated_seconds: z.number().nonnegative(),
  model: z.string().nullable(),
});
export type DryRun = z.infer<typeof DryRun>;
