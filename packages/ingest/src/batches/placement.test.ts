import { describe, expect, it } from 'vitest';
import { choosePartition, type PartitionState } from './placement.js';

const state = (backlog: number, committed = 0): PartitionState => ({ backlog, committed, end: committed + backlog });
const first = () => 0;

describe('choosePartition', () => {
  it('takes the partition with the least backlog', () => {
    expect(choosePartition([state(50), state(3), state(9)], undefined, first)).toBe(1);
  });

  it('breaks ties at random among the least backlogged', () => {
    const partitions = [state(0), state(7), state(0), state(0)];
    const seen = new Set([0, 0.3, 0.5, 0.99].map((r) => choosePartition(partitions, undefined, () => r)));
    expect([...seen].sort()).toEqual([0, 2, 3]);
  });

  it('queues a tenant behind its own work once its backlog takes all partitions but one', () => {
    // Tenant A's batches end at offsets 900 (p0) and 400 (p2), not yet committed; p1 is free.
    const partitions = [state(800, 100), state(900, 0), state(300, 100)];
    const a = new Map([
      [0, 900],
      [2, 400],
    ]);
    expect(choosePartition(partitions, a, first)).toBe(2);
    // Another tenant, with nothing anywhere, still gets the least backlogged partition of all.
    expect(choosePartition(partitions, undefined, first)).toBe(2);
    // Once the processor has committed past A's batch on p2, A may spread again.
    const later = [state(800, 100), state(900, 0), state(0, 400)];
    expect(choosePartition(later, a, first)).toBe(2);
    expect(choosePartition([state(800, 100), state(5, 0), state(10, 400)], a, first)).toBe(1);
  });

  it('leaves every other tenant a partition free of one tenant’s backlog, whatever its number of batches', () => {
    const partitions = Array.from({ length: 4 }, () => state(0));
    const until = new Map<number, number>();
    for (let batch = 0; batch < 50; batch++) {
      const p = choosePartition(partitions, until, Math.random);
      const chosen = partitions[p] as PartitionState;
      chosen.backlog += 1000;
      chosen.end += 1000;
      until.set(p, chosen.end);
    }
    expect(until.size).toBe(3);
    const free = partitions.findIndex((_, p) => !until.has(p));
    expect(partitions[free]?.backlog).toBe(0);
    expect(choosePartition(partitions, undefined, first)).toBe(free);
  });

  it('with one partition, places there', () => {
    expect(choosePartition([state(5000)], new Map([[0, 5000]]), first)).toBe(0);
  });
});
