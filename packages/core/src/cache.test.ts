import { describe, expect, it } from 'vitest';
import { BoundedCache } from './cache.js';

describe('BoundedCache', () => {
  it('evicts the least recently used entry beyond maxEntries', () => {
    const evicted: string[] = [];
    const cache = new BoundedCache<number>({ maxEntries: 2, onEvict: (_v, key) => evicted.push(key) });
    cache.set('a', 1);
    cache.set('b', 2);
    expect(cache.get('a')).toBe(1); // a is now the most recent
    cache.set('c', 3);
    expect(cache.has('b')).toBe(false);
    expect(cache.has('a')).toBe(true);
    expect(evicted).toEqual(['b']);
  });

  it('bounds the total size and refuses an entry larger than the bound', () => {
    const cache = new BoundedCache<string>({ maxEntries: 100, maxSize: 10, sizeOf: (v) => v.length });
    cache.set('a', 'xxxx');
    cache.set('b', 'yyyy');
    cache.set('c', 'zzzz');
    expect(cache.totalSize).toBeLessThanOrEqual(10);
    expect(cache.has('a')).toBe(false);
    cache.set('huge', 'x'.repeat(11));
    expect(cache.has('huge')).toBe(false);
  });

  it('computes a missing entry once', () => {
    const cache = new BoundedCache<{ n: number }>({ maxEntries: 4 });
    let made = 0;
    const make = () => ({ n: ++made });
    expect(cache.getOrSet('k', make)).toBe(cache.getOrSet('k', make));
    expect(made).toBe(1);
  });
});
