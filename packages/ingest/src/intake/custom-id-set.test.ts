import { describe, expect, it } from 'vitest';
import { CustomIdSet } from './custom-id-set.js';

describe('CustomIdSet', () => {
  it('finds the first item that used a custom_id, across growth', () => {
    const set = new CustomIdSet(4);
    for (let i = 0; i < 10_000; i++) expect(set.add(`req-${i}`, i, i + 2)).toBeNull();
    expect(set.add('req-42', 10_000, 20_000)).toEqual({ item: 42, line: 44 });
    expect(set.add('req-9999', 10_001, 20_001)).toEqual({ item: 9999, line: 10_001 });
    expect(set.size).toBe(10_000);
  });
});
