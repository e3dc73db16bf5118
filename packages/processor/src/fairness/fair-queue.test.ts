import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkPool } from '../consume/work-pool.js';
import { RateLimiter } from '../upstream/rate-limiter.js';
import { FairQueue, type Lane } from './fair-queue.js';

const lane = (tenant: string, batch = 'b', interactive = false): Lane => ({ interactive, tenant, batch });

/** Serves every waiter of `queue` in policy order and returns their names. */
function drain(queue: FairQueue<{ lane: Lane; name: string }>): string[] {
  const order: string[] = [];
  for (let next = queue.next(); next; next = queue.next()) {
    queue.take(next);
    order.push(next.name);
  }
  return order;
}

describe('FairQueue', () => {
  it('serves interactive waiters first, then tenants in turn, then a tenant’s batches in turn', () => {
    const queue = new FairQueue<{ lane: Lane; name: string }>();
    for (let i = 0; i < 4; i++) queue.push({ lane: lane('big', 'job'), name: `big${i}` });
    queue.push({ lane: lane('small', 'x'), name: 'smallx0' });
    queue.push({ lane: lane('small', 'y'), name: 'smally0' });
    queue.push({ lane: lane('small', 'x'), name: 'smallx1' });
    queue.push({ lane: lane('other', 'sync', true), name: 'sync' });
    expect(drain(queue)).toEqual(['sync', 'big0', 'smallx0', 'big1', 'smally0', 'big2', 'smallx1', 'big3']);
  });

  it('keeps no history for lanes with nothing waiting', () => {
    const queue = new FairQueue<{ lane: Lane; name: string }>();
    for (let i = 0; i < 1000; i++) queue.push({ lane: lane(`t${i}`, `b${i}`), name: String(i) });
    expect(drain(queue)).toHaveLength(1000);
    expect((queue as unknown as { servedAt: Map<string, number> }).servedAt.size).toBe(0);
  });
});

describe('fair waits', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('rate limiter: a synchronous call jumps a long batch queue, and a second tenant gets half the rate', async () => {
    const limiter = new RateLimiter({ requestsPerMinute: 1200, tokensPerMinute: 0 }); // 20/s, burst 10
    const start = Date.now();
    const granted: { who: string; at: number }[] = [];
    const wait = (who: string, l: Lane) =>
      void limiter.acquire(1, undefined, l).then(() => granted.push({ who, at: Date.now() - start }));
    for (let i = 0; i < 400; i++) wait('A', lane('a', 'big'));
    await vi.advanceTimersByTimeAsync(2000);
    for (let i = 0; i < 100; i++) wait('B', lane('b', 'job'));
    wait('sync', lane('c', 'call', true));
    const before = granted.length;
    await vi.advanceTimersByTimeAsync(10_000);
    const after = granted.slice(before);
    // The interactive request is the very next one granted, within one request's spacing.
    expect(after[0]?.who).toBe('sync');
    expect((after[0]?.at ?? Infinity) - 2000).toBeLessThan(100);
    // Then A and B alternate: B gets half of the ~200 grants of those 10 s.
    const b = after.filter((g) => g.who === 'B').length;
    const a = after.filter((g) => g.who === 'A').length;
    expect(b).toBeGreaterThan(90);
    expect(Math.abs(a - b)).toBeLessThanOrEqual(2);
  });

  it('work pool: slots freed go to the waiting lanes in turn, interactive first', async () => {
    const pool = new WorkPool(2);
    const isRunning = () => true;
    const heartbeat = async () => undefined;
    const got: string[] = [];
    const take = (who: string, l: Lane) =>
      void pool.acquire({ heartbeat, isRunning, lane: l }).then((ok) => ok && got.push(who));
    take('p0', lane('p0', ''));
    take('p0', lane('p0', ''));
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(['p0', 'p0']);
    // Partition 0 queues many more; partition 1 one at a time; then a synchronous item arrives.
    for (let i = 0; i < 5; i++) take('p0', lane('p0', ''));
    take('p1', lane('p1', ''));
    take('p1', lane('p1', ''));
    take('sync', lane('p2', '', true));
    for (let i = 0; i < 5; i++) {
      pool.release();
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(got.slice(2)).toEqual(['sync', 'p0', 'p1', 'p0', 'p1']);
  });

  it('work pool: a waiter whose condition is not met is passed over, not waited on', async () => {
    const pool = new WorkPool(1);
    const heartbeat = async () => undefined;
    expect(await pool.acquire({ heartbeat, isRunning: () => true })).toBe(true);
    const got: string[] = [];
    void pool
      .acquire({ heartbeat, isRunning: () => true, ready: () => false, lane: lane('full', '', true) })
      .then(() => got.push('full'));
    void pool.acquire({ heartbeat, isRunning: () => true, lane: lane('free', '') }).then(() => got.push('free'));
    pool.release();
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(['free']);
    expect(pool.inUse).toBe(1);
  });
});
