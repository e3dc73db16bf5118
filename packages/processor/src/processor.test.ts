import {
  HEADERS,
  processorGroupId,
  shorthandUpstream,
  type IncomingMessage,
  type ItemResultMessage,
} from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  atTestEnd,
  chatItem,
  startInProcess,
  startUpstream,
  testLogger,
  until,
  type InProcess,
  type Simulator,
  type SimulatorOptions,
} from '../../../test/harness/in-process.js';
import { createProcessor, type Processor } from './processor.js';

/**
 * The processor's consume loop on the embedded log, with the simulator as its upstream over real
 * HTTP: what the e2e suites show against Kafka (answered once, retried, failed, dead-lettered,
 * cancelled, committed and resumed), in milliseconds and without a broker.
 */

interface Rig {
  world: InProcess;
  upstream: Simulator;
  results: IncomingMessage[];
  start(): Promise<Processor>;
}

async function rig(options: { simulator?: SimulatorOptions; env?: Record<string, string> } = {}): Promise<Rig> {
  const world = await startInProcess({ env: options.env });
  const upstream = await startUpstream(options.simulator);
  const results = await world.follow(world.topics.results);
  return {
    world,
    upstream,
    results,
    async start() {
      const { config } = world;
      // As the CLI builds it (packages/cli/src/runtime.ts), on this test's transport.
      const processor = createProcessor({
        transport: world.transport,
        serde: world.serde,
        topics: world.topics,
        upstream: {
          list: [shorthandUpstream(upstream.url, 'sluice-no-key', config.upstream.defaults)],
          timeoutMs: config.upstream.timeoutMs,
          maxAttempts: config.upstream.maxAttempts,
          retryBaseMs: config.upstream.retryBaseMs,
          retryMaxMs: config.upstream.retryMaxMs,
        },
        models: config.upstream.models,
        concurrency: config.processor.concurrency,
        partitionsConcurrently: config.processor.partitionsConcurrently,
        commitIntervalMs: config.processor.commitIntervalMs,
        sessionTimeoutMs: config.sessionTimeoutMs,
        logger: testLogger,
      });
      await processor.start();
      atTestEnd(() => processor.stop(2000));
      return processor;
    },
  };
}

async function decoded(world: InProcess, messages: IncomingMessage[]): Promise<ItemResultMessage[]> {
  const out: ItemResultMessage[] = [];
  for (const message of messages) {
    const result = await world.serde.results.decode(message);
    if (result.type === 'item') out.push(result);
  }
  return out;
}

/** Waits for `count` results on the results topic, and returns them decoded, by index. */
async function resultsOf(rig: Rig, count: number): Promise<ItemResultMessage[]> {
  await until(() => (rig.results.length >= count ? true : undefined), `${count} results`);
  return (await decoded(rig.world, rig.results)).sort((a, b) => a.index - b.index);
}

async function committed(world: InProcess): Promise<number> {
  const offsets = await world.transport.committedOffsets(processorGroupId(world.topics), world.topics.requests);
  return offsets.reduce((sum, each) => sum + Number(each.offset), 0);
}

describe('the processor on the embedded log', () => {
  it('answers each item once, keyed by its batch, and commits past it', async () => {
    const r = await rig();
    await r.start();
    await r.world.sendItems([0, 1, 2].map((index) => chatItem('batch_once', index)));
    const results = await resultsOf(r, 3);
    expect(results.map((each) => [each.index, each.custom_id, each.ok, each.attempts])).toEqual([
      [0, 'batch_once-0', true, 1],
      [1, 'batch_once-1', true, 1],
      [2, 'batch_once-2', true, 1],
    ]);
    expect(r.results.every((message) => message.key === 'batch_once' && message.headers[HEADERS.type] === 'item')).toBe(
      true,
    );
    expect(r.upstream.stats().requests).toBe(3);
    await until(async () => ((await committed(r.world)) === 3 ? true : undefined), 'the offsets committed');
  });

  it('retries a 429 after its retry-after, then answers', async () => {
    // One request's worth of budget, refilled in half a second: of two items sent at once, one is
    // refused with 429 + retry-after-ms, and answered when retried.
    const r = await rig({ simulator: { rpm: 120, burstSeconds: 0.5 } });
    await r.start();
    await r.world.sendItems([chatItem('batch_limited', 0), chatItem('batch_limited', 1)]);
    const results = await resultsOf(r, 2);
    expect(results.map((each) => each.ok)).toEqual([true, true]);
    expect(results.reduce((sum, each) => sum + each.rate_limited, 0)).toBeGreaterThanOrEqual(1);
    expect(results.reduce((sum, each) => sum + each.attempts, 0)).toBe(r.upstream.stats().requests);
    expect(results.some((each) => each.attempts >= 2)).toBe(true);
  });

  it('writes a non-retriable upstream error as the item’s error line, after one call', async () => {
    const r = await rig();
    await r.start();
    await r.world.sendItems([chatItem('batch_refused', 0, { prompt: 'sim:status=400' }), chatItem('batch_refused', 1)]);
    const [refused, answered] = await resultsOf(r, 2);
    expect(refused).toMatchObject({ ok: false, attempts: 1, response: { status_code: 400 } });
    expect(refused?.error?.code).toBeTruthy();
    expect(answered).toMatchObject({ ok: true, attempts: 1 });
    expect(r.upstream.stats().requests).toBe(2);
  });

  it('dead-letters an undecodable request with its reason and goes on with the next', async () => {
    const r = await rig();
    const dead = await r.world.follow(r.world.topics.deadLetter);
    await r.start();
    await r.world.send(r.world.topics.requests, [{ key: 'batch_bad', value: Buffer.from('{"type":"item"}') }]);
    await r.world.sendItems([chatItem('batch_bad', 0)]);
    const [answered] = await resultsOf(r, 1);
    expect(answered).toMatchObject({ index: 0, ok: true });
    await until(() => (dead.length === 1 ? true : undefined), 'the dead letter');
    expect(dead[0]?.headers[HEADERS.dlqStage]).toBe('processor');
    expect(dead[0]?.headers[HEADERS.dlqReason]).toBeTruthy();
    expect(dead[0]?.headers[HEADERS.dlqOffset]).toBe('0');
    expect(r.results).toHaveLength(1);
  });

  it('does not send a cancelled batch’s items upstream (the cancel read from the control topic)', async () => {
    const r = await rig();
    // Written before the processor starts, which reads the control topic to its end before it
    // takes any request: deterministic, where a cancel written while it runs reaches it within a fetch.
    await r.world.send(r.world.topics.control, [
      {
        key: 'batch_cancelled',
        value: await r.world.serde.control.encode({
          type: 'cancel',
          batch_id: 'batch_cancelled',
          requested_at: 1_700_000_000,
        }),
        headers: { [HEADERS.type]: 'cancel' },
      },
    ]);
    await r.start();
    await r.world.sendItems([
      chatItem('batch_cancelled', 0),
      chatItem('batch_other', 0),
      chatItem('batch_cancelled', 1),
    ]);
    const results = await resultsOf(r, 3);
    expect(results.map((each) => [each.batch_id, each.ok, each.error?.code ?? null, each.attempts]).sort()).toEqual([
      ['batch_cancelled', false, 'batch_cancelled', 0],
      ['batch_cancelled', false, 'batch_cancelled', 0],
      ['batch_other', true, null, 1],
    ]);
    expect(r.upstream.stats().requests).toBe(1);
  });

  it('resumes after a restart from the committed position: no item answered twice', async () => {
    const r = await rig();
    const first = await r.start();
    await r.world.sendItems([0, 1, 2].map((index) => chatItem('batch_resumed', index)));
    await resultsOf(r, 3);
    await first.stop(2000);
    expect(await committed(r.world)).toBe(3);

    // A new process over the same log directory: only what was committed survives.
    await r.world.restart();
    const results = await r.world.follow(r.world.topics.results);
    await r.start();
    await r.world.sendItems([chatItem('batch_resumed', 3)]);
    await until(() => (results.length >= 4 ? true : undefined), 'the item sent after the restart');
    const indexes = (await decoded(r.world, results)).map((each) => each.index).sort();
    expect(indexes).toEqual([0, 1, 2, 3]);
    expect(r.upstream.stats().requests).toBe(4);
    await until(async () => ((await committed(r.world)) === 4 ? true : undefined), 'the new offset committed');
  });

  it('works on many items of one partition at once (one batch, one key)', async () => {
    const r = await rig({ simulator: { latency: { medianMs: 100, p99Ms: 100 } } });
    const processor = await r.start();
    await r.world.sendItems(Array.from({ length: 6 }, (_, index) => chatItem('batch_parallel', index)));
    await resultsOf(r, 6);
    const peaks = Object.values(processor.stats().peakInFlightByPartition);
    expect(Math.max(...peaks)).toBeGreaterThanOrEqual(3);
  });
});
