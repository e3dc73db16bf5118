import { describe, expect, it } from 'vitest';
import { SlidingWindowLimits } from './limits.js';

function clock(): { now: () => number; advance(ms: number): void } {
  let t = 1_000;
  return { now: () => t, advance: (ms) => void (t += ms) };
}

describe('SlidingWindowLimits', () => {
  it('admits up to rpm requests per window and tells when the oldest frees up', () => {
    const c = clock();
    const limits = new SlidingWindowLimits({ rpm: 3, windowMs: 60_000, now: c.now });
    expect(limits.tryAdmit(1).ok).toBe(true);
    c.advance(10_000);
    expect(limits.tryAdmit(1).ok).toBe(true);
    const third = limits.tryAdmit(1);
    expect(third.ok && third.headers['x-ratelimit-remaining-requests']).toBe('0');
    const rejected = limits.tryAdmit(1);
    expect(rejected).toMatchObject({ ok: false, kind: 'requests', waitMs: 50_000 });
    // Rejections consume nothing: still exactly one slot frees after 50 s.
    for (let i = 0; i < 10; i++) limits.tryAdmit(1);
    c.advance(50_000);
    expect(limits.tryAdmit(1).ok).toBe(true);
    expect(limits.tryAdmit(1).ok).toBe(false);
  });

  it('limits tokens, and rejects a request larger than the whole limit', () => {
    const c = clock();
    const limits = new SlidingWindowLimits({ tpm: 100, windowMs: 60_000, now: c.now });
    expect(limits.tryAdmit(60).ok).toBe(true);
    c.advance(1_000);
    expect(limits.tryAdmit(30).ok).toBe(true);
    expect(limits.tryAdmit(20)).toMatchObject({ ok: false, kind: 'tokens', waitMs: 59_000 });
    expect(limits.tryAdmit(10).ok).toBe(true);
    const tooLarge = limits.tryAdmit(101);
    expect(tooLarge.ok).toBe(false);
    expect(!tooLarge.ok && tooLarge.message).toMatch(/Request too large/u);
  });

  it('gives capacity back on refund', () => {
    const limits = new SlidingWindowLimits({ rpm: 1, windowMs: 60_000, now: clock().now });
    const first = limits.tryAdmit(1);
    expect(limits.tryAdmit(1).ok).toBe(false);
    if (first.ok) first.refund();
    expect(limits.tryAdmit(1).ok).toBe(true);
  });

  it('admits everything without limits', () => {
    const limits = new SlidingWindowLimits({ windowMs: 60_000 });
    for (let i = 0; i < 1000; i++) expect(limits.tryAdmit(1_000_000).ok).toBe(true);
  });
});
