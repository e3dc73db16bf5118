import { describe, expect, it } from 'vitest';
import { admissionOver } from './admission.test-support.js';
import { LearntLimits, parseResetDuration, readRateLimitHeaders } from './learnt-limits.js';

const headers = (values: Record<string, string>) => new Headers(values);

function target() {
  const calls: { limits: { requestsPerMinute?: number; tokensPerMinute?: number }[]; holds: number[] } = {
    limits: [],
    holds: [],
  };
  return {
    calls,
    setLimits: (limits: { requestsPerMinute?: number; tokensPerMinute?: number }) => calls.limits.push(limits),
    holdUntil: (until: number) => calls.holds.push(until),
  };
}

describe('rate-limit headers', () => {
  it("reads OpenAI's reset durations and plain seconds", () => {
    expect(parseResetDuration('1s')).toBe(1000);
    expect(parseResetDuration('6m0s')).toBe(360_000);
    expect(parseResetDuration('8.64s')).toBe(8640);
    expect(parseResetDuration('120ms')).toBe(120);
    expect(parseResetDuration('1h2m3.5s')).toBe(3_723_500);
    expect(parseResetDuration('20')).toBe(20_000);
    expect(parseResetDuration('soon')).toBeNull();
    expect(parseResetDuration('1x')).toBeNull();
    expect(parseResetDuration(null)).toBeNull();
  });

  it('reads the three families of both budgets, and nothing from an answer without them', () => {
    expect(
      readRateLimitHeaders(
        headers({
          'x-ratelimit-limit-requests': '1200',
          'x-ratelimit-remaining-requests': '1187',
          'x-ratelimit-reset-requests': '650ms',
          'x-ratelimit-limit-tokens': '240000',
          'x-ratelimit-remaining-tokens': '239500',
          'x-ratelimit-reset-tokens': '6m0s',
        }),
      ),
    ).toEqual({
      requests: { limit: 1200, remaining: 1187, resetMs: 650 },
      tokens: { limit: 240000, remaining: 239500, resetMs: 360_000 },
    });
    expect(readRateLimitHeaders(headers({ 'content-type': 'application/json' }))).toBeNull();
  });
});

describe('LearntLimits', () => {
  it('lets four probes out until the first answer, then sets the limiter from its headers', async () => {
    const to = target();
    const learnt = new LearntLimits({
      requests: true,
      tokens: true,
      target: to,
      now: () => 1000,
      onKnown: () => admission.pump(),
    });
    const { admission, acquire } = admissionOver({ learnt });
    const probes = await Promise.all(Array.from({ length: 4 }, () => acquire(0)));
    expect(probes).toHaveLength(4);
    let second = false;
    const waiting = acquire(0).then(() => (second = true));
    await Promise.resolve();
    expect(second).toBe(false); // held while the probes are out
    learnt.observe(headers({ 'x-ratelimit-limit-requests': '1200', 'x-ratelimit-remaining-requests': '1199' }));
    await waiting;
    expect(second).toBe(true);
    expect(to.calls.limits).toEqual([{ requestsPerMinute: 1200 }]);
    expect(learnt.learnt).toEqual({ requestsPerMinute: 1200, tokensPerMinute: null });
    // The same limit again changes nothing; a spent budget holds everyone until one request is
    // back at the learnt rate (50 ms at 1200 a minute), sooner than its full reset.
    learnt.observe(
      headers({
        'x-ratelimit-limit-requests': '1200',
        'x-ratelimit-remaining-requests': '0',
        'x-ratelimit-reset-requests': '2s',
      }),
    );
    expect(to.calls.limits).toHaveLength(1);
    expect(to.calls.holds).toEqual([1050]);
    learnt.observe(headers({ 'x-ratelimit-remaining-tokens': '0', 'x-ratelimit-reset-tokens': '20ms' }));
    expect(to.calls.holds).toEqual([1050, 1020]); // a spent token budget: its reset, at most a second
  });

  it('passes the next call on as a probe when one got no answer', async () => {
    const learnt = new LearntLimits({ requests: true, tokens: false, target: target() });
    const { acquire } = admissionOver({ learnt });
    const probes = await Promise.all(Array.from({ length: 4 }, () => acquire(0)));
    const next = acquire(0);
    probes[0]?.finish('ignore', 0);
    await expect(next).resolves.toBeDefined();
  });

  it('limits nothing when the upstream sends no headers, and learns only the budgets not configured', () => {
    const to = target();
    const learnt = new LearntLimits({ requests: false, tokens: true, target: to });
    learnt.observe(headers({ 'x-ratelimit-limit-requests': '500', 'x-ratelimit-limit-tokens': '90000' }));
    expect(to.calls.limits).toEqual([{ tokensPerMinute: 90000 }]);
    const silent = new LearntLimits({ requests: true, tokens: true, target: to });
    expect(silent.callCap).toBe(4);
    silent.observe(headers({}));
    expect(silent.callCap).toBe(Infinity);
    const configured = new LearntLimits({ requests: false, tokens: false, target: to });
    expect(configured.callCap).toBe(Infinity);
  });
});
