import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { admissionOver } from './admission.test-support.js';
import { RateLimiter } from './rate-limiter.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 1_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** Acquires `count` slots and records when each was granted (fake ms since start). */
async function grantTimes(limiter: RateLimiter, count: number, tokens = 0, untilMs = 120_000): Promise<number[]> {
  const { acquire } = admissionOver({ rate: limiter });
  const start = Date.now();
  const times: number[] = [];
  for (let i = 0; i < count; i++) void acquire(tokens).then(() => times.push(Date.now() - start));
  await vi.advanceTimersByTimeAsync(untilMs);
  return times;
}

describe('RateLimiter', () => {
  it('lets a half-second burst through, then paces requests just under the per-minute limit', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 600, tokensPerMinute: 0 });
    const times = await grantTimes(limiter, 65);
    expect(times).toHaveLength(65);
    expect(times.filter((t) => t === 0)).toHaveLength(5); // half a second's worth
    // 60 more at 600 × 0.99 per minute: about 6.06 s.
    expect(times.at(-1)).toBeGreaterThan(6000);
    expect(times.at(-1)).toBeLessThan(6200);
    // No 60-second window ever holds more than the limit.
    for (const t of times) expect(times.filter((u) => u >= t && u < t + 60_000).length).toBeLessThanOrEqual(600);
  });

  it('reserves estimated tokens and gives back what the answer did not use', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 0, tokensPerMinute: 12000 }); // 200 tokens/s, bucket 100
    const first = await admissionOver({ rate: limiter }).acquire(100);
    first.finish('answer', 20); // used 20 of the 100 reserved: 80 come back at once
    const times = await grantTimes(limiter, 1, 80, 10);
    expect(times).toEqual([0]);
    const blocked = await grantTimes(limiter, 1, 100, 300);
    expect(blocked).toEqual([]); // the bucket is empty, 100 tokens take about half a second
  });

  it('holds every caller until retry-after after a 429, slows down, and recovers over quiet time', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 600, tokensPerMinute: 0 });
    limiter.onRateLimited(2000);
    expect(limiter.rateFactor).toBeLessThan(1);
    const times = await grantTimes(limiter, 3, 0, 5000);
    expect(Math.min(...times)).toBeGreaterThanOrEqual(2000);
    const slowed = limiter.rateFactor;
    await vi.advanceTimersByTimeAsync(60_000);
    await grantTimes(limiter, 1, 0, 100);
    expect(limiter.rateFactor).toBeGreaterThan(slowed);
  });

  it('honours retry-after even with no limits configured', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 0, tokensPerMinute: 0 });
    expect(await grantTimes(limiter, 2, 0, 10)).toEqual([0, 0]);
    limiter.onRateLimited(1500);
    const times = await grantTimes(limiter, 2, 0, 3000);
    expect(times.every((t) => t >= 1500)).toBe(true);
  });
});
