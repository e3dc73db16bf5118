import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { admissionOver } from '../upstream/admission.test-support.js';
import { RateLimiter } from '../upstream/rate-limiter.js';
import { FairQueue, type Lane } from './fair-queue.js';

const lane = (tenant: string, batch = 'b', interactive = false): Lane => ({ interactive, tenant, batch });

/** Serves every waiter of `queue` in policy order and returns their names. */
function drain(queue: FairQueue<{ lane: Lane; name: string }>): string[] {
  const order: string[] = [];
  for (let next = queue.shift(); next; next = queue.shift()) order.push(next.name);
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
    expect((queue as unknown as { tenants: Map<string, unknown> }).tenants.size).toBe(0);
  });

  it('skips a waiter that stopped waiting, in any position', () => {
    const queue = new FairQueue<{ lane: Lane; name: string }>();
    const waiters = ['a', 'b', 'c'].map((name) => ({ lane: lane('t', 'x'), name }));
    for (const waiter of waiters) queue.push(waiter);
    const sync = { lane: lane('s', 'y', true), name: 'sync' };
    queue.push(sync);
    queue.remove(waiters[1] as (typeof waiters)[number]);
    queue.remove(sync);
    expect(queue.length).toBe(2);
    expect(drain(queue)).toEqual(['a', 'c']);
    expect(queue.length).toBe(0);
  });
});

describe('fair waits', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('one queue for the upstream: a synchronous call jumps a long batch queue, and a second tenant gets half the rate', async () => {
    const { acquire } = admissionOver({ rate: new RateLimiter({ requestsPerMinute: 1200, tokensPerMinute: 0 }) }); // 20/s, burst 10
    const start = Date.now();
    const granted: { who: string; at: number }[] = [];
    const wait = (who: string, l: Lane) =>
      void acquire(1, l).then((admitted) => {
        granted.push({ who, at: Date.now() - start });
        admitted.finish('answer', 1);
      });
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

  it('concurrency slots freed go to the waiting lanes in turn, interactive first', async () => {
    const { acquire } = admissionOver({ max: 2 });
    const got: string[] = [];
    const held: { finish: (o: 'answer', t: number) => void }[] = [];
    const take = (who: string, l: Lane) =>
      void acquire(0, l).then((admitted) => {
        got.push(who);
        held.push(admitted);
      });
    take('p0', lane('p0', ''));
    take('p0', lane('p0', ''));
    await vi.advanceTimersByTimeAsync(0);
    expect(got).toEqual(['p0', 'p0']);
    for (let i = 0; i < 5; i++) take('p0', lane('p0', ''));
    take('p1', lane('p1', ''));
    take('p1', lane('p1', ''));
    take('sync', lane('p2', '', true));
    for (let i = 0; i < 5; i++) {
      held.shift()?.finish('answer', 0);
      await vi.advanceTimersByTimeAsync(0);
    }
    expect(got.slice(2)).toEqual(['sync', 'p0', 'p1', 'p0', 'p1']);
  });
});
