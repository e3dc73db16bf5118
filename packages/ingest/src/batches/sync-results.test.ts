import type { ItemResultMessage } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { SyncWaiter } from './sync-results.js';

const result = (index: number, ok = true) => ({ type: 'item', batch_id: 'batch_s', index, ok }) as ItemResultMessage;

describe('SyncWaiter', () => {
  it('completes once every item has a result, keeping the first of a repeated index, in item order', async () => {
    const waiter = new SyncWaiter('batch_s', 3);
    let complete = false;
    void waiter.complete.then(() => (complete = true));
    waiter.take(result(2));
    waiter.take(result(0));
    waiter.take(result(0, false));
    await Promise.resolve();
    expect(complete).toBe(false);
    waiter.take(result(1));
    await waiter.complete;
    expect(waiter.ordered().map((r) => [r.index, r.ok])).toEqual([
      [0, true],
      [1, true],
      [2, true],
    ]);
  });

  it('tells whoever handed the call over when its seal is read', () => {
    const waiter = new SyncWaiter('batch_s', 1);
    let sealed = 0;
    waiter.sealed(); // before anyone listens: nothing
    waiter.whenSealed(() => sealed++);
    waiter.sealed();
    expect(sealed).toBe(1);
  });
});
