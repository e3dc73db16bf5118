import { describe, expect, it } from 'vitest';
import { PartitionTracker } from './partition-tracker.js';

describe('PartitionTracker', () => {
  it('commits only the contiguous low watermark when completions come out of order', () => {
    const t = new PartitionTracker();
    for (const o of [10, 11, 12, 13]) t.dispatch(o);
    expect(t.watermark()).toBe(10);
    t.complete(12);
    t.complete(11);
    expect(t.watermark()).toBe(10); // 10 still in flight
    t.complete(10);
    expect(t.watermark()).toBe(13);
    t.complete(13);
    expect(t.watermark()).toBe(14);
    expect(t.inFlight).toBe(0);
    expect(t.peakInFlight).toBe(4);
  });

  it('handles gaps in offsets and recognises redeliveries', () => {
    const t = new PartitionTracker();
    t.dispatch(5);
    t.dispatch(9); // 6-8 were compacted away
    t.complete(9);
    expect(t.isKnown(9)).toBe(true);
    expect(t.isKnown(5)).toBe(true);
    expect(t.isKnown(7)).toBe(false);
    expect(t.isKnown(10)).toBe(false);
    t.complete(5);
    expect(t.watermark()).toBe(10);
    expect(t.isKnown(3)).toBe(true);
  });

  it('reports a commit candidate once per movement', () => {
    const t = new PartitionTracker();
    expect(t.commitCandidate()).toBeNull();
    t.dispatch(0);
    t.complete(0);
    expect(t.commitCandidate()).toBe(1);
    t.markCommitted(1);
    expect(t.commitCandidate()).toBeNull();
  });

  it('keeps its window bounded by what is outstanding over long runs', () => {
    const t = new PartitionTracker();
    for (let o = 0; o < 100_000; o++) {
      t.dispatch(o);
      if (o >= 50) t.complete(o - 50);
    }
    expect(t.window).toBe(50);
    expect(t.watermark()).toBe(100_000 - 50);
  });

  it('rejects out-of-order dispatch, which would corrupt the books', () => {
    const t = new PartitionTracker();
    t.dispatch(3);
    expect(() => t.dispatch(2)).toThrow(/out of order/);
  });
});
