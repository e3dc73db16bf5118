import { z } from 'zod';

export { Tier, TIERS } from '../contracts/common.js';

/**
 * What a tier costs as a share of the realtime price, per tier. OpenAI, Azure OpenAI and Gemini
 * price flex and batch at half the realtime price, and so do Anthropic, Mistral and Fireworks for
 * batch; Groq's flex is full price (set `tier_factors: {flex: 1}` on such an upstream).
 */
export const TierFactors = z.strictObject({
  realtime: z.number().nonnegative().optional(),
  flex: z.number().nonnegative().optional(),
  batch: z.number().nonnegative().optional(),
});
export type TierFactors = z.infer<typeof TierFactors>;

export const DEFAULT_TIER_FACTORS: Readonly<Required<TierFactors>> = { realtime: 1, flex: 0.5, batch: 0.5 };
