import { DEFAULT_PRICE_BOOK, type UpstreamEntry, upstreamEntry } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { ModelCatalog } from '../intake/model-catalog.js';
import { DryRunMeter, type UpstreamFacts } from './dry-run.js';

const MODELS = { default: 'gpt-4o-mini', extract: 'gpt-4o-mini', summarize: 'gpt-4o-mini', classify: 'gpt-4o-mini' };
/** The single configured figures: what a model no listed upstream paces is estimated with. */
const FACTS: UpstreamFacts = {
  timeoutMs: 60_000,
  requestsPerMinute: 60,
  tokensPerMinute: 0,
  concurrency: 1000,
  prices: DEFAULT_PRICE_BOOK,
  models: MODELS,
};
const charsOver4 = () => ({ count: (text: string) => Math.ceil(text.length / 4), method: 'estimate:chars/4' });

function upstream(name: string, model: string, requestsPerMinute: number): UpstreamEntry {
  return upstreamEntry({
    name,
    baseUrl: `http://${name}.test/v1`,
    models: [model],
    requestsPerMinute,
    concurrency: 1000,
  });
}

/** 120 OpenAI lines for `model`, estimated against `catalog`. */
function estimate(model: string, catalog: ModelCatalog): number {
  const meter = new DryRunMeter('openai', charsOver4, null);
  for (let i = 0; i < 120; i++) {
    meter.add({
      custom_id: String(i),
      discriminator: '/v1/chat/completions',
      body: { model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 },
    });
  }
  return meter.result(FACTS, catalog).estimated_seconds;
}

describe('dry-run estimates per model', () => {
  it("pace a batch by its model's upstreams, summed over replicas, not by the single figure", () => {
    const catalog = new ModelCatalog(
      [upstream('openai', 'gpt-4o-mini', 600), upstream('vllm-a', 'qwen', 30), upstream('vllm-b', 'qwen', 90)],
      MODELS,
    );
    // 120 items at 600 rpm: 12 s; at 30 + 90 rpm: 60 s; unlisted, the single 60 rpm: 120 s.
    expect(estimate('gpt-4o-mini', catalog)).toBe(12);
    expect(estimate('qwen', catalog)).toBe(60);
    expect(estimate('qwen', new ModelCatalog([], MODELS))).toBe(120);
  });

  it('one replica without a limit makes the model unlimited by that budget', () => {
    const catalog = new ModelCatalog([upstream('vllm-a', 'qwen', 30), upstream('vllm-b', 'qwen', 0)], MODELS);
    // No request limit left: 120 calls at 1 s each over 2,000 in flight.
    expect(estimate('qwen', catalog)).toBe(0.1);
  });
});

describe('dry-run cost', () => {
  it('prices input and the output bound at realtime, and says so in both figures (auto picks no cheaper tier yet)', () => {
    const meter = new DryRunMeter('openai', charsOver4, null);
    // 4 characters a token: 1,000,000 input tokens per item, 500,000 output at most.
    const content = 'x'.repeat(4 * (1_000_000 - 6));
    meter.add({
      custom_id: '0',
      discriminator: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 500_000 },
    });
    const result = meter.result(
      { ...FACTS, prices: { ...FACTS.prices, tierFactors: { realtime: 1, flex: 0.5, batch: 0.5 } } },
      new ModelCatalog([], MODELS),
    );
    expect(result.input_tokens).toBe(1_000_000);
    // gpt-4o-mini: $0.15 per million input, $0.60 per million output.
    expect(result.estimated_realtime_cost_usd).toBe(0.45);
    expect(result.estimated_cost_usd).toBe(0.45);
  });

  it('has no cost for a model without a price', () => {
    const meter = new DryRunMeter('openai', charsOver4, null);
    meter.add({ custom_id: '0', discriminator: '/v1/chat/completions', body: { model: 'mystery', messages: [] } });
    const result = meter.result(FACTS, new ModelCatalog([], MODELS));
    expect(result).toMatchObject({ estimated_cost_usd: null, estimated_realtime_cost_usd: null });
  });
});
