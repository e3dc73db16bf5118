import { describe, expect, it } from 'vitest';
import { BudgetLimits, formatDuration } from './limits.js';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('BudgetLimits', () => {
  it('admits a burst of the budget, then one request per refill, never a minute at once', () => {
    const c = clock();
    const limits = new BudgetLimits({ rpm: 600, now: c.now }); // 10 per second, a budget of 10
    let admitted = 0;
    for (let i = 0; i < 50; i++) if (limits.tryAdmit(1).ok) admitted++;
    expect(admitted).toBe(10);
    const rejected = limits.tryAdmit(1);
    expect(rejected).toMatchObject({ ok: false, kind: 'requests', waitMs: 100 });
    // Over a minute of steady demand: the limit, plus the first burst, and no more.
    let total = admitted;
    for (let ms = 0; ms < 60_000; ms += 10) {
      c.advance(10);
      if (limits.tryAdmit(1).ok) total++;
    }
    expect(total).toBeGreaterThanOrEqual(600);
    expect(total).toBeLessThanOrEqual(610);
  });

  it("sends the three header families with a reset in OpenAI's format", () => {
    const c = clock();
    const limits = new BudgetLimits({ rpm: 60, tpm: 600_000, burstMs: 60_000, now: c.now });
    const first = limits.tryAdmit(1000);
    expect(first.ok && first.headers).toEqual({
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '59',
      'x-ratelimit-reset-requests': '1s',
      'x-ratelimit-limit-tokens': '600000',
      'x-ratelimit-remaining-tokens': '599000',
      'x-ratelimit-reset-tokens': '100ms',
    });
    for (let i = 0; i < 59; i++) limits.tryAdmit(1000);
    const spent = limits.tryAdmit(1);
    expect(spent.ok).toBe(false);
    expect(spent.headers['x-ratelimit-reset-requests']).toBe('1m0s');
  });

  it('limits tokens, gives a large request a full budget, and refuses one above the whole limit', () => {
    const c = clock();
    const limits = new BudgetLimits({ tpm: 6000, now: c.now }); // 100 per second, budget 100
    expect(limits.tryAdmit(60).ok).toBe(true);
    expect(limits.tryAdmit(60)).toMatchObject({ ok: false, kind: 'tokens', waitMs: 200 });
    c.advance(600);
    expect(limits.tryAdmit(500).ok).toBe(true); // larger than the budget: admitted once it is full
    expect(limits.tryAdmit(1).ok).toBe(false); // and the debt is paid back first
    const tooLarge = limits.tryAdmit(6001);
    expect(!tooLarge.ok && tooLarge.message).toMatch(/Request too large/u);
  });

  it('gives capacity back on refund, and admits everything without limits', () => {
    const limits = new BudgetLimits({ rpm: 60, now: clock().now });
    const first = limits.tryAdmit(1);
    expect(limits.tryAdmit(1).ok).toBe(false);
    if (first.ok) first.refund();
    expect(limits.tryAdmit(1).ok).toBe(true);
    const none = new BudgetLimits({});
    for (let i = 0; i < 1000; i++) expect(none.tryAdmit(1_000_000).ok).toBe(true);
  });

  it('formats durations as OpenAI does', () => {
    expect([0, 120, 1000, 8640, 60_000, 360_000, 3_723_500].map(formatDuration)).toEqual([
      '0ms',
      '120ms',
      '1s',
      '8.64s',
      '1m0s',
      '6m0s',
      '1h2m3.5s',
    ]);
  });
});
