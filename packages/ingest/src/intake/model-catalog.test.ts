import { type UpstreamEntry, upstreamEntry } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { ModelCatalog } from './model-catalog.js';

const DEFAULTS = { default: 'gpt-4o-mini', extract: 'gpt-4o-mini', summarize: 'qwen-7b', classify: 'gpt-4o-mini' };

function upstream(name: string, models: string[], limits: Partial<Omit<UpstreamEntry, 'models'>> = {}): UpstreamEntry {
  return upstreamEntry({ name, baseUrl: `http://${name}.test/v1`, models, concurrency: 8, ...limits });
}

const fleet = [
  upstream('openai', ['gpt-4o-mini', 'gpt-4.1*'], {
    requestsPerMinute: 500,
    tokensPerMinute: 200_000,
    concurrency: 64,
  }),
  upstream('vllm-a', ['qwen-7b'], { requestsPerMinute: 600, concurrency: 4 }),
  upstream('vllm-b', ['qwen-7b'], { requestsPerMinute: 300, concurrency: 2 }),
];

describe('ModelCatalog', () => {
  it('serves exact names and prefixes, and refuses the rest naming the model and what is served', () => {
    const catalog = new ModelCatalog(fleet, DEFAULTS);
    expect(catalog.serves('gpt-4o-mini')).toBe(true);
    expect(catalog.serves('gpt-4.1-nano')).toBe(true);
    expect(catalog.serves('qwen-7b')).toBe(true);
    expect(catalog.serves('gpt-4o')).toBe(false);
    expect(catalog.refusal('gpt-4o-mini', { line: null, param: 'model' })).toBeNull();
    expect(catalog.refusal('claude-3', { line: 4, param: 'body.model' })).toEqual({
      line: 4,
      param: 'body.model',
      code: 'model_not_found',
      message: 'model "claude-3" is served by no upstream; served: gpt-4o-mini, gpt-4.1*, qwen-7b',
    });
  });

  it('refuses a tier no upstream of the model offers, naming the tier, the model and the tiers offered; batch always', () => {
    const catalog = new ModelCatalog(
      [...fleet, upstream('openai-flex', ['gpt-4o-mini'], { tiers: ['flex'] }), upstream('local', ['m'])],
      DEFAULTS,
    );
    expect(catalog.tierRefusal('gpt-4o-mini', 'flex', { line: null })).toBeNull();
    expect(catalog.tierRefusal('gpt-4o-mini', 'realtime', { line: null })).toBeNull();
    expect(catalog.tierRefusal('qwen-7b', 'auto', { line: null })).toBeNull();
    expect(catalog.tierRefusal('qwen-7b', 'flex', { line: 3, param: 'tier' })).toEqual({
      line: 3,
      param: 'tier',
      code: 'tier_unavailable',
      message: 'tier "flex" is offered by no upstream of model "qwen-7b"; its upstreams offer: realtime',
    });
    // Not known yet (an OpenAI batch's lines name it): some upstream offers flex.
    expect(catalog.tierRefusal(null, 'flex', { line: null })).toBeNull();
    expect(catalog.tierRefusal('gpt-4o-mini', 'batch', { line: null })?.message).toMatch(
      /^tier "batch" is not available yet/,
    );
    expect(
      new ModelCatalog([upstream('local', ['m'])], DEFAULTS).tierRefusal(null, 'flex', { line: null })?.message,
    ).toBe('tier "flex" is offered by no upstream; the upstreams offer: realtime');
    // No upstream configured (an ingest-only role): only batch is refused.
    expect(new ModelCatalog([], DEFAULTS).tierRefusal('x', 'flex', { line: null })).toBeNull();
    expect(new ModelCatalog([], DEFAULTS).tierRefusal('x', 'batch', { line: null })).not.toBeNull();
  });

  it('accepts every model when no upstream is configured (an ingest-only role): the processors decide', () => {
    const catalog = new ModelCatalog([], DEFAULTS);
    expect(catalog.serves('anything-at-all')).toBe(true);
    expect(catalog.refusal('anything-at-all', { line: null, param: 'model' })).toBeNull();
    expect(catalog.pace('anything-at-all')).toBeNull();
  });

  it("checks an operation's own model, else its configured default, and says where a default came from", () => {
    const catalog = new ModelCatalog([upstream('openai', ['gpt-4o-mini'])], DEFAULTS);
    expect(catalog.operationRefusal('classify', null, { line: null, param: 'model' })).toBeNull();
    expect(catalog.operationRefusal('classify', 'gpt-4o', { line: null, param: 'model' })?.message).toBe(
      'model "gpt-4o" is served by no upstream; served: gpt-4o-mini',
    );
    // summarize defaults to SLUICE_MODEL_SUMMARIZE (qwen-7b), which this catalog does not serve.
    expect(catalog.operationRefusal('summarize', null, { line: 2, param: 'body.model' })?.message).toBe(
      'model "qwen-7b" (the configured default for summarize: SLUICE_MODEL_SUMMARIZE, else SLUICE_MODEL) is served by no upstream; served: gpt-4o-mini',
    );
    expect(catalog.modelOf('enrich', null)).toBe('gpt-4o-mini');
    // `label` (the jobs API's name for classify) runs on classify's default.
    expect(catalog.modelOf('label', null)).toBe(DEFAULTS.classify);
    expect(new ModelCatalog([], { ...DEFAULTS, classify: 'small' }).modelOf('label', null)).toBe('small');
    expect(catalog.modelOf('summarize', undefined)).toBe('qwen-7b');
  });

  it("paces a model by the sum of its replicas' limits; one unlimited replica makes that budget unlimited", () => {
    const catalog = new ModelCatalog(fleet, DEFAULTS);
    expect(catalog.pace('qwen-7b')).toEqual({ requestsPerMinute: 900, tokensPerMinute: 0, concurrency: 6 });
    expect(catalog.pace('gpt-4.1-mini')).toEqual({ requestsPerMinute: 500, tokensPerMinute: 200_000, concurrency: 64 });
    expect(catalog.pace('unknown')).toBeNull();
    expect(catalog.pace(null)).toBeNull();
  });

  it('lists at most 20 served names in a refusal, and says how many more', () => {
    const many = Array.from({ length: 25 }, (_, index) => `model-${index}`);
    const message = new ModelCatalog([upstream('big', many)], DEFAULTS).refusal('x', {
      line: null,
      param: null,
    })?.message;
    expect(message).toContain('model-19 and 5 more');
    expect(message).not.toContain('model-20');
  });
});
