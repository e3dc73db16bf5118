import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { costOf, DEFAULT_PRICE_BOOK, loadPrices, loadPriceTable, tierFactor, type Prices } from './prices.js';

const prices: Prices = {
  models: {
    cheap: { input_per_million_usd: 1, output_per_million_usd: 4, cached_input_per_million_usd: 0.25 },
    'plain-*': { input_per_million_usd: 2, output_per_million_usd: 8 },
  },
  tierFactors: { realtime: 1, flex: 0.5, batch: 0.5 },
};
const million = (prompt: number, completion: number, cached?: number) => ({
  prompt_tokens: prompt * 1_000_000,
  completion_tokens: completion * 1_000_000,
  ...(cached === undefined ? {} : { prompt_tokens_details: { cached_tokens: cached * 1_000_000 } }),
});

describe('costOf', () => {
  it('prices uncached input, cached input and output separately; cached tokens are part of the prompt', () => {
    // 3M uncached × $1 + 1M cached × $0.25 + 2M output × $4
    expect(costOf(million(4, 2, 1), 'cheap', 'realtime', prices)).toBeCloseTo(3 + 0.25 + 8);
    expect(costOf(million(4, 2), 'cheap', 'realtime', prices)).toBeCloseTo(4 + 8);
    // The Responses / Sluice shape gives the same answer.
    const responses = { input_tokens: 4e6, output_tokens: 2e6, input_tokens_details: { cached_tokens: 1e6 } };
    expect(costOf(responses, 'cheap', 'realtime', prices)).toBeCloseTo(11.25);
  });

  it('prices cached input at half the input price when the model gives no cached price', () => {
    expect(costOf(million(2, 0, 2), 'plain-model', 'realtime', prices)).toBeCloseTo(2);
    expect(costOf(million(2, 0, 0), 'plain-model', 'realtime', prices)).toBeCloseTo(4);
  });

  it("applies the tier's factor to every token: the upstream's own first, then the price table's", () => {
    expect(costOf(million(4, 2, 1), 'cheap', 'flex', prices)).toBeCloseTo(11.25 / 2);
    expect(costOf(million(4, 2, 1), 'cheap', 'batch', prices)).toBeCloseTo(11.25 / 2);
    const groq = { tierFactors: { flex: 1 } };
    expect(costOf(million(4, 2, 1), 'cheap', 'flex', prices, groq)).toBeCloseTo(11.25);
    expect(costOf(million(4, 2, 1), 'cheap', 'batch', prices, groq)).toBeCloseTo(11.25 / 2);
    expect(tierFactor('batch', { models: {}, tierFactors: {} })).toBe(0.5);
    expect(tierFactor('realtime', { models: {}, tierFactors: {} })).toBe(1);
  });

  it('is null for a model without a price, and never counts more cached tokens than prompt tokens', () => {
    expect(costOf(million(1, 1), 'unknown-model', 'realtime', prices)).toBeNull();
    const odd = { prompt_tokens: 1e6, completion_tokens: 0, prompt_tokens_details: { cached_tokens: 5e6 } };
    expect(costOf(odd, 'cheap', 'realtime', prices)).toBeCloseTo(0.25);
  });

  it("ships OpenAI's cached-input prices: gpt-4o-mini half off, gpt-4.1-mini three quarters off", () => {
    expect(costOf(million(1, 0, 1), 'gpt-4o-mini', 'realtime', DEFAULT_PRICE_BOOK)).toBeCloseTo(0.075);
    expect(costOf(million(1, 0, 1), 'gpt-4.1-mini', 'batch', DEFAULT_PRICE_BOOK)).toBeCloseTo(0.05);
  });
});

describe('SLUICE_PRICES_FILE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-prices-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const file = async (content: unknown) => {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, JSON.stringify(content));
    return path;
  };

  it('adds models with cached prices and overrides tier factors; the model table alone stays as it was', async () => {
    const path = await file({
      mine: { input_per_million_usd: 1, output_per_million_usd: 2, cached_input_per_million_usd: 0.1 },
      tier_factors: { flex: 0.6 },
    });
    const loaded = loadPrices(path);
    expect(loaded.models.mine?.cached_input_per_million_usd).toBe(0.1);
    expect(loaded.models['gpt-4o']).toBeDefined();
    expect(loaded.tierFactors).toEqual({ realtime: 1, flex: 0.6, batch: 0.5 });
    expect(loadPriceTable(path)).not.toHaveProperty('tier_factors');
    expect(loadPrices(undefined)).toBe(DEFAULT_PRICE_BOOK);
  });

  it('refuses a bad entry or a bad tier factor, naming it', async () => {
    await expect(async () => loadPrices(await file({ m: { input_per_million_usd: -1 } }))).rejects.toThrow(
      /SLUICE_PRICES_FILE: .*m\.input_per_million_usd/,
    );
    await expect(async () => loadPrices(await file({ tier_factors: { flex: 'half' } }))).rejects.toThrow(
      /tier_factors\.flex/,
    );
    await expect(async () => loadPrices(await file({ tier_factors: { spot: 0.1 } }))).rejects.toThrow(
      /tier_factors: .*Unrecognized key/,
    );
  });
});
