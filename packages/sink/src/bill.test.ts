import { DEFAULT_TIER_FACTORS, type ItemResultMessage, type Prices } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { Bill, publishedCost } from './bill.js';

const prices: Prices = {
  models: {
    'm-test': { input_per_million_usd: 1, output_per_million_usd: 2, cached_input_per_million_usd: 0.25 },
  },
  tierFactors: DEFAULT_TIER_FACTORS,
};

/** 1,000 input tokens (400 of them read from the provider's cache) and 500 output tokens. */
function result(fields: Partial<ItemResultMessage>): ItemResultMessage {
  return {
    type: 'item',
    batch_id: 'batch_bill',
    index: 0,
    custom_id: 'c0',
    id: 'batch_req_0',
    api: 'operations',
    discriminator: 'classify',
    ok: true,
    response: null,
    error: null,
    usage: { input_tokens: 1000, output_tokens: 500, cached_input_tokens: 400 },
    attempts: 1,
    rate_limited: 0,
    finished_at: 1,
    item: null,
    model: 'm-test',
    cached: false,
    upstream: 'openai',
    tier: 'realtime',
    ...fields,
  };
}

/** (600 × $1 + 400 × $0.25 + 500 × $2) per million tokens. */
const REALTIME_USD = 0.0017;

describe('Bill', () => {
  it('prices uncached input, cached input and output at the realtime price for a realtime item', () => {
    const charge = new Bill({ prices }).chargeOf(result({}));
    expect(charge?.costUsd).toBeCloseTo(REALTIME_USD, 12);
    expect(charge?.realtimeCostUsd).toBeCloseTo(REALTIME_USD, 12);
  });

  it('without cached tokens, every input token is at the input price', () => {
    const charge = new Bill({ prices }).chargeOf(result({ usage: { input_tokens: 1000, output_tokens: 500 } }));
    expect(charge?.costUsd).toBeCloseTo(0.002, 12);
  });

  it('prices a flex or batch item at the tier factor (half by default), its realtime cost at full price', () => {
    const bill = new Bill({ prices });
    for (const tier of ['flex', 'batch'] as const) {
      const charge = bill.chargeOf(result({ tier }));
      expect(charge?.costUsd).toBeCloseTo(REALTIME_USD / 2, 12);
      expect(charge?.realtimeCostUsd).toBeCloseTo(REALTIME_USD, 12);
    }
  });

  it("takes the upstream's own tier factors over the price table's (Groq's flex is full price)", () => {
    const bill = new Bill({ prices, upstreams: [{ name: 'groq', tierFactors: { flex: 1 } }, { name: 'openai' }] });
    expect(bill.chargeOf(result({ tier: 'flex', upstream: 'groq' }))?.costUsd).toBeCloseTo(REALTIME_USD, 12);
    expect(bill.chargeOf(result({ tier: 'flex', upstream: 'openai' }))?.costUsd).toBeCloseTo(REALTIME_USD / 2, 12);
    expect(bill.chargeOf(result({ tier: 'batch', upstream: 'groq' }))?.costUsd).toBeCloseTo(REALTIME_USD / 2, 12);
  });

  it('a model without a price is charged null (unknown), not zero', () => {
    expect(new Bill({ prices }).chargeOf(result({ model: 'no-such-model' }))).toEqual({
      costUsd: null,
      realtimeCostUsd: null,
    });
  });

  it('bills nothing for a result without a call: no tier (a deduplicated answer) or no usage', () => {
    const bill = new Bill({ prices });
    expect(bill.chargeOf(result({ tier: null, cached: true }))).toBeNull();
    expect(bill.chargeOf(result({ usage: null, ok: false }))).toBeNull();
  });

  it('publishes a sum to the nano-dollar, and null while any billed item had no price', () => {
    expect(publishedCost(0.1 + 0.2, 0)).toBe(0.3);
    expect(publishedCost(0.3, 1)).toBeNull();
  });
});
