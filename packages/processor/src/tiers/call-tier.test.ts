import { UpstreamError, upstreamErrorFromResponse } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  AUTO_FLEX_MIN_LEFT_MS,
  autoFlexMarginMs,
  chooseCallTier,
  FlexSupport,
  isFlexCapacityRefusal,
  isFlexUnsupported,
} from './call-tier.js';

const HOUR = 3_600_000;
const BOTH = { realtime: true, flex: true };
const REALTIME = { realtime: true, flex: false };
const FLEX = { realtime: false, flex: true };
const margin = autoFlexMarginMs(15 * 60_000, 60_000);

const answer = (status: number, error: Record<string, unknown>) =>
  upstreamErrorFromResponse(status, { error }, { get: () => null });

describe('chooseCallTier', () => {
  it('auto: flex when an upstream offers it and the deadline leaves room, else realtime', () => {
    expect(chooseCallTier('auto', BOTH, 24 * HOUR, margin)).toBe('flex');
    expect(chooseCallTier('auto', BOTH, null, margin)).toBe('flex');
    expect(chooseCallTier('auto', BOTH, HOUR - 1, margin)).toBe('realtime');
    expect(chooseCallTier('auto', REALTIME, 24 * HOUR, margin)).toBe('realtime');
    // Served on flex alone: flex whatever the time left.
    expect(chooseCallTier('auto', FLEX, 1000, margin)).toBe('flex');
  });

  it('an explicit tier is kept whatever the time left, or null when the model offers none of it; batch is not wired', () => {
    expect(chooseCallTier('flex', BOTH, 1000, margin)).toBe('flex');
    expect(chooseCallTier('realtime', BOTH, 24 * HOUR, margin)).toBe('realtime');
    expect(chooseCallTier('flex', REALTIME, 24 * HOUR, margin)).toBeNull();
    expect(chooseCallTier('realtime', FLEX, 24 * HOUR, margin)).toBeNull();
    expect(chooseCallTier('batch', BOTH, 24 * HOUR, margin)).toBeNull();
  });

  it("auto's margin is an hour, and never less than a whole flex call then a realtime one", () => {
    expect(autoFlexMarginMs(15 * 60_000, 60_000)).toBe(AUTO_FLEX_MIN_LEFT_MS);
    expect(autoFlexMarginMs(2 * HOUR, 60_000)).toBe(2 * HOUR + 60_000);
  });
});

describe('flex refusals', () => {
  it("tells a refusal for lack of capacity (OpenAI's 429 flex_unavailable, Groq's 498) from a rate limit", () => {
    expect(isFlexCapacityRefusal(answer(429, { code: 'flex_unavailable', message: 'Resource Unavailable' }))).toBe(
      true,
    );
    expect(isFlexCapacityRefusal(answer(429, { code: null, message: 'Resource unavailable: try later' }))).toBe(true);
    expect(isFlexCapacityRefusal(answer(498, { code: 'capacity_exceeded', message: 'Flex capacity exceeded' }))).toBe(
      true,
    );
    expect(isFlexCapacityRefusal(answer(429, { code: 'rate_limit_exceeded', message: 'Rate limit reached' }))).toBe(
      false,
    );
    expect(
      isFlexCapacityRefusal(new UpstreamError('upstream_timeout', 'no answer', null, null, { retriable: true })),
    ).toBe(false);
  });

  it('tells a model not served on flex (a 400 naming service_tier) from any other 400', () => {
    expect(isFlexUnsupported(answer(400, { param: 'service_tier', message: 'Unsupported value' }))).toBe(true);
    expect(isFlexUnsupported(answer(400, { message: 'This model does not support flex processing.' }))).toBe(true);
    expect(isFlexUnsupported(answer(400, { param: 'messages', message: 'Invalid messages' }))).toBe(false);
    expect(isFlexUnsupported(answer(404, { param: 'service_tier', message: 'x' }))).toBe(false);
  });

  it('remembers upstream + model pairs refused on flex, within a bound', () => {
    const support = new FlexSupport();
    expect(support.refuses('azure', 'gpt-4o')).toBe(false);
    expect(support.remember('azure', 'gpt-4o')).toBe(true);
    expect(support.remember('azure', 'gpt-4o')).toBe(false);
    expect(support.refuses('azure', 'gpt-4o')).toBe(true);
    expect(support.refuses('openai', 'gpt-4o')).toBe(false);
    for (let i = 0; i < 1024; i++) support.remember('azure', `model-${i}`);
    // Past the bound the memory starts afresh.
    expect(support.refuses('azure', 'gpt-4o')).toBe(false);
  });
});
