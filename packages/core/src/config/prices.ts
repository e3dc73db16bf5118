import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '../errors.js';

/** USD per million tokens of one model. */
export const ModelPrice = z.strictObject({
  input_per_million_usd: z.number().nonnegative(),
  output_per_million_usd: z.number().nonnegative(),
});
export type ModelPrice = z.infer<typeof ModelPrice>;

/** Model name → price. A name ending in `*` is a prefix (`gpt-4o-mini-*`); the exact name wins. */
export const PriceTable = z.record(z.string().min(1), ModelPrice);
export type PriceTable = z.infer<typeof PriceTable>;

/**
 * The prices Sluice ships, for dry-run estimates: OpenAI's standard (synchronous) list prices,
 * because Sluice calls the upstream's ordinary endpoints, not OpenAI's Batch API (whose prices are
 * half). Prices change: an operator sets their own with SLUICE_PRICES_FILE (docs/estimates.md).
 */
export const DEFAULT_PRICES: PriceTable = {
  'gpt-4o-mini': { input_per_million_usd: 0.15, output_per_million_usd: 0.6 },
  'gpt-4o-mini-*': { input_per_million_usd: 0.15, output_per_million_usd: 0.6 },
  'gpt-4o': { input_per_million_usd: 2.5, output_per_million_usd: 10 },
  'gpt-4o-*': { input_per_million_usd: 2.5, output_per_million_usd: 10 },
  'gpt-4.1': { input_per_million_usd: 2, output_per_million_usd: 8 },
  'gpt-4.1-mini': { input_per_million_usd: 0.4, output_per_million_usd: 1.6 },
  'gpt-4.1-nano': { input_per_million_usd: 0.1, output_per_million_usd: 0.4 },
  'gpt-3.5-turbo': { input_per_million_usd: 0.5, output_per_million_usd: 1.5 },
  'o3-mini': { input_per_million_usd: 1.1, output_per_million_usd: 4.4 },
  'o4-mini': { input_per_million_usd: 1.1, output_per_million_usd: 4.4 },
  'text-embedding-3-small': { input_per_million_usd: 0.02, output_per_million_usd: 0 },
  'text-embedding-3-large': { input_per_million_usd: 0.13, output_per_million_usd: 0 },
  'omni-moderation-latest': { input_per_million_usd: 0, output_per_million_usd: 0 },
};

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
 * The price table: the shipped one, with the entries of `path` (SLUICE_PRICES_FILE, a JSON object
 * of the same shape) over it. A bad file stops start-up with a message naming the entry.
 */
export function loadPriceTable(path: string | undefined): PriceTable {
  if (!path) return DEFAULT_PRICES;
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new ConfigError('SLUICE_PRICES_FILE', `cannot read ${path} as JSON: ${(error as Error).message}`);
  }
  const parsed = PriceTable.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(
      'SLUICE_PRICES_FILE',
      `${path}: ${issue?.path.join('.') || '(top)'}: ${issue?.message}; expected {"model": {"input_per_million_usd": n, "output_per_million_usd": n}}`,
    );
  }
  return { ...DEFAULT_PRICES, ...parsed.data };
}
