import { describe, expect, it } from 'vitest';
import { admissionOver } from './admission.test-support.js';
import { AdaptiveConcurrency } from './concurrency.js';

/**
 * A simulated upstream on a simulated clock: `slots` requests served at once, each taking
 * `serviceMs` (plus `extraPerCallMs` × the calls in service, for servers that slow down as they
 * batch), the rest queued inside it. Callers keep `demand` calls waiting on the limiter.
 */
function simulate(options: { slots: number; serviceMs: number; demand: number; max: number; durationMs: number }) {
  let now = 0;
  const limiter = new AdaptiveConcurrency({ max: options.max, now: () => now, onChange: () => admission.pump() });
  const { admission, acquire } = admissionOver({ concurrency: limiter });
  const inService: { endsAt: number; release: () => void }[] = [];
  const queue: (() => void)[] = [];
  let answers = 0;
  const latencies: number[] = [];
  const limits: number[] = [];
  let pending = 0;

  const startService = () => {
    while (inService.length < options.slots && queue.length > 0) (queue.shift() as () => void)();
  };
  const call = () => {
    pending++;
    void acquire(0).then((permit) => {
      const sentAt = now;
      queue.push(() =>
        inService.push({
          endsAt: now + options.serviceMs,
          release: () => {
            answers++;
            latencies.push(now - sentAt);
            permit.finish('answer', 0);
            pending--;
          },
        }),
      );
      startService();
    });
  };
  return {
    limiter,
    async run() {
      for (; now < options.durationMs; now += 10) {
        while (pending < options.demand) call();
        await Promise.resolve();
        await Promise.resolve();
        for (const job of inService.filter((j) => j.endsAt <= now)) {
          inService.splice(inService.indexOf(job), 1);
          job.release();
        }
        startService();
        await Promise.resolve();
        if (now % 1000 === 0) limits.push(limiter.limit);
      }
      return { answers, latencies, limits };
    },
  };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

describe('AdaptiveConcurrency', () => {
  it('keeps a one-slot upstream at one or two calls in flight: items wait in Sluice, not in its queue', async () => {
    const sim = simulate({ slots: 1, serviceMs: 500, demand: 256, max: 256, durationMs: 600_000 });
    const { answers, latencies, limits } = await sim.run();
    // Throughput is the upstream's: one answer per 500 ms.
    expect(answers).toBeGreaterThan(1100);
    // Once settled, latency is about one service time, not 256 of them.
    expect(median(latencies.slice(-200))).toBeLessThanOrEqual(1000);
    expect(Math.max(...limits.slice(-100))).toBeLessThanOrEqual(4);
  });

  it('grows to what a parallel upstream serves and keeps it', async () => {
    const sim = simulate({ slots: 32, serviceMs: 200, demand: 512, max: 256, durationMs: 120_000 });
    const { answers, latencies } = await sim.run();
    // 32 slots at 200 ms: 160 answers per second at best.
    expect(answers / 120).toBeGreaterThan(140);
    expect(median(latencies.slice(-500))).toBeLessThanOrEqual(500);
    expect(sim.limiter.limit).toBeGreaterThanOrEqual(32);
    expect(sim.limiter.limit).toBeLessThanOrEqual(96);
  });

  it('stays at the cap when the upstream answers as fast at any concurrency', async () => {
    const sim = simulate({ slots: 10_000, serviceMs: 300, demand: 300, max: 64, durationMs: 60_000 });
    await sim.run();
    expect(sim.limiter.limit).toBe(64);
  });

  it('does not change on windows where the callers did not fill the limit', async () => {
    const sim = simulate({ slots: 1, serviceMs: 100, demand: 1, max: 16, durationMs: 60_000 });
    await sim.run();
    expect(sim.limiter.limit).toBe(8);
  });

  it('halves at once when a call times out: the upstream queue is longer than the timeout', async () => {
    const limiter = new AdaptiveConcurrency({ max: 64, initial: 32 });
    const { acquire } = admissionOver({ concurrency: limiter });
    const permits = await Promise.all(Array.from({ length: 10 }, () => acquire(0)));
    permits[0]?.finish('timeout', 0);
    expect(limiter.limit).toBe(16);
    permits[1]?.finish('timeout', 0); // the same moment's timeouts are one signal
    expect(limiter.limit).toBe(16);
  });

  it('hands slots out in order and lets an aborted waiter go', async () => {
    const limiter = new AdaptiveConcurrency({ max: 1, initial: 1 });
    const { admission, acquire } = admissionOver({ concurrency: limiter });
    const first = await acquire(0);
    const controller = new AbortController();
    const aborted = acquire(0, undefined, controller.signal);
    const second = acquire(0);
    controller.abort(new Error('cancelled'));
    await expect(aborted).rejects.toThrow('cancelled');
    expect(admission.waiting).toBe(1);
    first.finish('ignore', 0);
    const permit = await second;
    expect(limiter.inFlight).toBe(1);
    permit.finish('ignore', 0);
    expect(limiter.inFlight).toBe(0);
  });

  it('refuses every waiter at once when closed (a stopping processor)', async () => {
    const { admission, acquire } = admissionOver({ max: 1 });
    await acquire(0);
    const waiting = acquire(0);
    admission.close(new Error('stopping'));
    await expect(waiting).rejects.toThrow('stopping');
    await expect(acquire(0)).rejects.toThrow('stopping');
  });
});
