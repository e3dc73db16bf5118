import { describe, expect, it } from 'vitest';
import { stringHash53, stringHashPair } from './hash.js';

describe('stringHashPair / stringHash53', () => {
  it('is cyrb53: the published values', () => {
    // cyrb53's reference outputs (seed 0), as bryc's README gives them.
    expect(stringHash53('a')).toBe(7929297801672961);
    expect(stringHash53('b')).toBe(8684336938537663);
    expect(stringHash53('revenge')).toBe(4051478007546757);
    expect(stringHash53('revenue')).toBe(8309097637345594);
  });

  it('gives two unsigned 32-bit halves, and 53 bits that are exact as a double', () => {
    for (const text of ['', 'a', 'req-1', 'ünïcödé ✓', 'x'.repeat(10_000)]) {
      const [low, high] = stringHashPair(text);
      for (const half of [low, high]) {
        expect(Number.isInteger(half) && half >= 0 && half < 2 ** 32).toBe(true);
      }
      const hash = stringHash53(text);
      expect(Number.isSafeInteger(hash) && hash >= 0).toBe(true);
      expect(hash % 2 ** 32).toBe(low);
      expect(new Float64Array([hash])[0]).toBe(hash);
    }
  });

  it('spreads near-identical keys: no collisions over 200,000 ids, and each half evenly over 16 buckets', () => {
    const seen = new Set<number>();
    const lowBuckets = new Uint32Array(16);
    const highBuckets = new Uint32Array(16);
    const n = 200_000;
    for (let i = 0; i < n; i++) {
      const text = `req-${i}`;
      seen.add(stringHash53(text));
      const [low, high] = stringHashPair(text);
      lowBuckets[low & 15] = (lowBuckets[low & 15] ?? 0) + 1;
      highBuckets[high >>> 28] = (highBuckets[high >>> 28] ?? 0) + 1;
    }
    expect(seen.size).toBe(n);
    for (const counts of [lowBuckets, highBuckets]) {
      for (const count of counts) expect(Math.abs(count - n / 16)).toBeLessThan(n / 16 / 10);
    }
  });

  it('differs in both halves when one character differs', () => {
    const [a1, a2] = stringHashPair('key-0001');
    const [b1, b2] = stringHashPair('key-0002');
    expect(a1).not.toBe(b1);
    expect(a2).not.toBe(b2);
  });
});
