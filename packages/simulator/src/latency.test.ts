import { describe, expect, it } from 'vitest';
import { latencySampler, mulberry32, parseLatencySpec } from './latency.js';

describe('parseLatencySpec', () => {
  it('reads a median, defaulting the p99 to three times the median', () => {
    expect(parseLatencySpec('400')).toEqual({ medianMs: 400, p99Ms: 1200 });
    expect(parseLatencySpec(' 400 , 2000 ')).toEqual({ medianMs: 400, p99Ms: 2000 });
    expect(parseLatencySpec('0')).toEqual({ medianMs: 0, p99Ms: 0 });
  });

  it('rejects bad input with a clear message', () => {
    for (const bad of ['', 'abc', '-5', '400,', '400,100', '1,2,3', '10ms']) {
      expect(() => parseLatencySpec(bad), bad).toThrow(/Invalid latency/u);
    }
  });
});

describe('latencySampler', () => {
  it('samples a lognormal with the requested median and p99, clamped at 20× the median', () => {
    const sample = latencySampler({ medianMs: 100, p99Ms: 1000 }, mulberry32(7));
    const draws = Array.from({ length: 20_000 }, sample).sort((a, b) => a - b);
    const quantile = (q: number): number => draws[Math.floor(q * draws.length)] ?? NaN;
    expect(quantile(0.5)).toBeGreaterThan(90);
    expect(quantile(0.5)).toBeLessThan(110);
    expect(quantile(0.99)).toBeGreaterThan(800);
    expect(quantile(0.99)).toBeLessThan(1250);
    expect(draws[draws.length - 1]).toBeLessThanOrEqual(2000);
  });

  it('is instant for a zero median and reproducible for a seed', () => {
    expect(latencySampler({ medianMs: 0, p99Ms: 0 }, mulberry32(1))()).toBe(0);
    const a = latencySampler({ medianMs: 50, p99Ms: 150 }, mulberry32(3));
    const b = latencySampler({ medianMs: 50, p99Ms: 150 }, mulberry32(3));
    expect([a(), a(), a()]).toEqual([b(), b(), b()]);
  });
});
