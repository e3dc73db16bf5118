import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';
import { DEFAULT_TIER_FACTORS, TierFactors, type Tier } from './tiers.js';

/** USD per million tokens of one model, at the realtime tier. */
export const ModelPrice = z.strictObject({
  input_per_million_usd: z.number().nonnegative(),
  output_per_million_usd: z.number().nonnegative(),
  /**
   * Input tokens read from the provider's prompt cache (`usage.prompt_tokens_details.cached_tokens`).
   * @defaultValue half of `input_per_million_usd` (see CACHED_INPUT_SHARE)
   */
  cached_input_per_million_usd: z.number().nonnegative().optional(),
});
export type ModelPrice = z.infer<typeof ModelPrice>;

/** Model name → price. A name ending in `*` is a prefix (`gpt-4o-mini-*`); the exact name wins. */
export const PriceTable = z.record(z.string().min(1), ModelPrice);
export type PriceTable = z.infer<typeof PriceTable>;

/** Everything a cost is computed from: the model prices and what each tier costs as a share of them. */
export interface Prices {
  models: PriceTable;
  tierFactors: TierFactors;
}

/**
 * A cached input token's price as a share of an input token's when a model's entry gives none.
 * OpenAI's published cached-input prices are half the input price for the gpt-4o and o1/o3-mini
 * generation, a quarter for gpt-4.1, o3 and o4-mini, a tenth for gpt-5: half is the smallest
 * discount, so an unlisted model's savings are never overstated.
 */
export const CACHED_INPUT_SHARE = 0.5;

/**
 * The prices Sluice ships, for dry-run estimates and costs: OpenAI's standard (realtime) list
 * prices with their cached-input prices; flex and batch are the tier factors of these. Prices
 * change: an operator sets their own with SLUICE_PRICES_FILE (docs/retry-and-estimates.md).
 */
export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o-mini': { input_per_million_usd: 0.15, output_per_million_usd: 0.6, cached_input_per_million_usd: 0.075 },
  'gpt-4o-mini-*': { input_per_million_usd: 0.15, output_per_million_usd: 0.6, cached_input_per_million_usd: 0.075 },
  'gpt-4o': { input_per_million_usd: 2.5, output_per_million_usd: 10, cached_input_per_million_usd: 1.25 },
  'gpt-4o-*': { input_per_million_usd: 2.5, output_per_million_usd: 10, cached_input_per_million_usd: 1.25 },
  'gpt-4.1': { input_per_million_usd: 2, output_per_million_usd: 8, cached_input_per_million_usd: 0.5 },
  'gpt-4.1-mini': { input_per_million_usd: 0.4, output_per_million_usd: 1.6, cached_input_per_million_usd: 0.1 },
  'gpt-4.1-nano': { input_per_million_usd: 0.1, output_per_million_usd: 0.4, cached_input_per_million_usd: 0.025 },
  'gpt-3.5-turbo': { input_per_million_usd: 0.5, output_per_million_usd: 1.5 },
  'o3-mini': { input_per_million_usd: 1.1, output_per_million_usd: 4.4, cached_input_per_million_usd: 0.55 },
  'o4-mini': { input_per_million_usd: 1.1, output_per_million_usd: 4.4, cached_input_per_million_usd: 0.275 },
  'text-embedding-3-small': { input_per_million_usd: 0.02, output_per_million_usd: 0 },
  'text-embedding-3-large': { input_per_million_usd: 0.13, output_per_million_usd: 0 },
  'omni-moderation-latest': { input_per_million_usd: 0, output_per_million_usd: 0 },
};

export const DEFAULT_PRICE_BOOK: Prices = { models: DEFAULT_PRICES, tierFactors: DEFAULT_TIER_FACTORS };

/** The price of `model`: its exact entry, else the longest matching prefix entry; null when none. */
export function priceOf(table: PriceTable, model: string): ModelPrice | null {
  const exact = table[model];
  if (exact) return exact;
  let best: { length: number; price: ModelPrice } | null = null;
  for (const [name, price] of Object.entries(table)) {
    if (!name.endsWith('*')) continue;
    const prefix = name.slice(0, -1);
    if (model.startsWith(prefix) && (!best || prefix.length > best.length)) best = { length: prefix.length, price };
  }
  return best?.price ?? null;
}

/**
 * The token counts of one call as the providers report them: chat completions'
 * `prompt_tokens` / `completion_tokens` / `prompt_tokens_details.cached_tokens`, or Sluice's and
 * the Responses API's `input_tokens` / `output_tokens` / `input_tokens_details.cached_tokens`.
 * Either way the cached tokens are a part of the input tokens, not added to them.
 */
export type BilledUsage =
  | {
      prompt_tokens: number;
      completion_tokens: number;
      prompt_tokens_details?: { cached_tokens?: number | null } | null;
    }
  | {
      input_tokens: number;
      output_tokens: number;
      input_tokens_details?: { cached_tokens?: number | null } | null;
    };

/**
 * What one call cost in USD: uncached input, cached input and output tokens each at the model's
 * price, times the tier's factor (the upstream's own `tier_factors` first, then the price file's,
 * then DEFAULT_TIER_FACTORS). The factor applies to cached input too: OpenAI's flex and batch
 * discounts stack with prompt caching. Null when no price is known for `model`.
 */
export function costOf(
  usage: BilledUsage,
  model: string,
  tier: Tier,
  prices: Prices,
  upstream?: { tierFactors?: TierFactors },
): number | null {
  const price = priceOf(prices.models, model);
  if (!price) return null;
  const [input, output, cachedReported] =
    'prompt_tokens' in usage
      ? [usage.prompt_tokens, usage.completion_tokens, usage.prompt_tokens_details?.cached_tokens]
      : [usage.input_tokens, usage.output_tokens, usage.input_tokens_details?.cached_tokens];
  const cached = Math.min(Math.max(0, cachedReported ?? 0), input);
  const cachedPrice = price.cached_input_per_million_usd ?? price.input_per_million_usd * CACHED_INPUT_SHARE;
  const realtime =
    ((input - cached) * price.input_per_million_usd + cached * cachedPrice + output * price.output_per_million_usd) /
    1_000_000;
  return realtime * tierFactor(tier, prices, upstream);
}

/** The share of the realtime price `tier` costs on `upstream`. */
export function tierFactor(tier: Tier, prices: Prices, upstream?: { tierFactors?: TierFactors }): number {
  return upstream?.tierFactors?.[tier] ?? prices.tierFactors[tier] ?? DEFAULT_TIER_FACTORS[tier];
}

/** The model prices of SLUICE_PRICES_FILE over the shipped ones (see loadPrices). */
export function loadPriceTable(path: string | undefined): PriceTable {
  return loadPrices(path).models;
}

/**
 * The prices: the shipped table, with the entries of `path` (SLUICE_PRICES_FILE, a JSON object of
 * the same shape, plus an optional `tier_factors` object) over it. A bad file stops start-up with a
 * message naming the entry.
 */
export function loadPrices(path: string | undefined): Prices {
  if (!path) return DEFAULT_PRICE_BOOK;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('SLUICE_PRICES_FILE', `cannot read ${path} as JSON: ${(error as Error).message}`);
  }
  const { tier_factors: factors, ...models } =
    typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? (raw as Record<string, unknown>) : { '': raw };
  const parsed = PriceTable.safeParse(models);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      'SLUICE_PRICES_FILE',
      `${path}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}; expected {"model": {"input_per_million_usd": n, "output_per_million_usd": n, "cached_input_per_million_usd"?: n}}`,
    );
  }
  const tierFactors = TierFactors.safeParse(factors ?? {});
  if (!tierFactors.success) {
    const issue = tierFactors.error.issues[0];
    throw new ConfigError(
      'SLUICE_PRICES_FILE',
      `${path}: tier_factors${issue?.path.length ? `.${issue.path.join('.')}` : ''}: ${issue?.message}; expected {"flex"?: n, "batch"?: n, "realtime"?: n}`,
    );
  }
  return {
    models: { ...DEFAULT_PRICES, ...parsed.data },
    tierFactors: { ...DEFAULT_TIER_FACTORS, ...tierFactors.data },
  };
}
