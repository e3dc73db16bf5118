import { describe, expect, it } from 'vitest';
import { retryDelayMs } from './backoff.js';

describe('retryDelayMs', () => {
  const options = { baseMs: 500, maxMs: 30_000 };

  it('waits what the upstream asked for, plus a little jitter', () => {
    expect(retryDelayMs(1, 2000, { ...options, random: () => 0 })).toBe(2000);
    expect(retryDelayMs(1, 2000, { ...options, random: () => 0.999 })).toBeLessThan(2500);
  });

  it('backs off exponentially with jitter, capped', () => {
    const low = (attempt: number) => retryDelayMs(attempt, null, { ...options, random: () => 0 });
    const high = (attempt: number) => retryDelayMs(attempt, null, { ...options, random: () => 0.999 });
    expect([1, 2, 3, 4].map(low)).toEqual([250, 500, 1000, 2000]);
    expect(high(3)).toBeGreaterThan(1990);
    expect(high(3)).toBeLessThanOrEqual(2000);
    expect(high(20)).toBeLessThanOrEqual(30_000);
    expect(low(20)).toBe(15_000);
  });

  it('ignores an absurd retry-after and backs off instead', () => {
    expect(retryDelayMs(1, 3_600_000, { ...options, random: () => 0 })).toBe(250);
  });
});
