import {
  BatchRecord,
  HEADERS,
  ORPHANS,
  storeKeys,
  type IncomingMessage,
  type ItemResultMessage,
  type ResultMessageInput,
} from '@sluice/core';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { atTestEnd, startInProcess, testLogger, until, type InProcess } from '../../../test/harness/in-process.js';
import type { BillOptions } from './bill.js';
import { createSink, type Sink } from './sink.js';

/**
 * The sink's loop on the embedded log and a local store: results in, output and error files and
 * status records out, finalized once, whatever is delivered twice. What the e2e suites show
 * against Kafka, in milliseconds and without a broker.
 */

interface Rig {
  world: InProcess;
  /** The status topic as read so far (on the current transport). */
  status: IncomingMessage[];
  /** The metrics of the sink started last. */
  metrics: Registry;
  /** The orphan TTL of the sinks started from now on (SLUICE_ORPHAN_TTL_S's default unless set). */
  orphanTtlMs: number;
  /** What the sinks started from now on price results with (the shipped prices unless set). */
  bill?: BillOptions;
  start(): Promise<Sink>;
}

async function rig(): Promise<Rig> {
  const world = await startInProcess();
  const status = await world.follow(world.topics.status);
  const rig: Rig = {
    world,
    status,
    metrics: new Registry(),
    orphanTtlMs: world.config.sink.orphanTtlMs,
    async start() {
      const { config } = world;
      rig.metrics = new Registry();
      // As the CLI builds it (packages/cli/src/runtime.ts), on this test's transport and store.
      const sink = createSink({
        transport: world.transport,
        serde: world.serde,
        topics: world.topics,
        store: world.store,
        retention: { batchSeconds: config.retention.batchSeconds, syncSeconds: config.retention.syncSeconds },
        segmentBytes: config.sink.segmentBytes,
        flushIntervalMs: config.sink.flushIntervalMs,
        statusIntervalMs: config.sink.statusIntervalMs,
        orphanTtlMs: rig.orphanTtlMs,
        ...(rig.bill ? { bill: rig.bill } : {}),
        sessionTimeoutMs: config.sessionTimeoutMs,
        logger: testLogger,
        metricsRegistry: rig.metrics,
      });
      await sink.start();
      atTestEnd(() => sink.stop());
      return sink;
    },
  };
  return rig;
}

function seal(batchId: string, total: number): ResultMessageInput {
  return {
    type: 'seal',
    batch_id: batchId,
    total,
    spec: { api: 'openai', tenant: 'acme', endpoint: '/v1/chat/completions', created_at: 1_700_000_000 },
  };
}

function result(batchId: string, index: number, ok = true, code = 'server_error'): ResultMessageInput {
  return {
    type: 'item',
    batch_id: batchId,
    index,
    custom_id: `${batchId}-${index}`,
    id: `batch_req_${index}`,
    api: 'openai',
    discriminator: '/v1/chat/completions',
    ok,
    response: ok ? { status_code: 200, request_id: `req_${index}`, body: { answer: index } } : null,
    error: ok ? null : { code, message: `item ${index} failed` },
    usage: ok ? { input_tokens: 3, output_tokens: 2 } : null,
    attempts: 1,
    finished_at: 1_700_000_001_000,
  };
}

/** Writes results (and seals) to the results topic, keyed by batch, as the processor and ingest do. */
async function deliver(world: InProcess, messages: ResultMessageInput[]): Promise<void> {
  const outgoing = [];
  for (const message of messages) {
    outgoing.push({
      key: message.batch_id,
      value: await world.serde.results.encode(world.serde.results.schema.parse(message)),
      headers: { [HEADERS.type]: message.type },
    });
  }
  await world.send(world.topics.results, outgoing);
}

async function cancel(world: InProcess, batchId: string): Promise<void> {
  const value = await world.serde.control.encode({ type: 'cancel', batch_id: batchId, requested_at: 1_700_000_000 });
  await world.send(world.topics.control, [{ key: batchId, value, headers: { [HEADERS.type]: 'cancel' } }]);
}

/** The status records of one batch published so far, in order. */
function recordsOf(rig: Rig, batchId: string): BatchRecord[] {
  return rig.status
    .filter((message) => message.key === batchId && message.value !== null)
    .map((message) => BatchRecord.parse(JSON.parse((message.value as Buffer).toString('utf8'))));
}

function waitForStatus(rig: Rig, batchId: string, status: string): Promise<BatchRecord> {
  return until(() => recordsOf(rig, batchId).find((record) => record.status === status), `${batchId} ${status}`);
}

/** An OpenAI batch's output lines: `{id, custom_id, response, error}`. */
async function lines(world: InProcess, key: string): Promise<Pick<ItemResultMessage, 'custom_id' | 'error'>[]> {
  const bytes = await world.store.read(key);
  if (bytes === null) throw new Error(`${key} is not in the store`);
  return bytes
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Pick<ItemResultMessage, 'custom_id' | 'error'>);
}

async function counter(metrics: Registry, name: string): Promise<number> {
  const values = (await metrics.getSingleMetric(name)?.get())?.values ?? [];
  return values.reduce((sum, each) => sum + each.value, 0);
}

describe('the sink on the embedded log', () => {
  it('writes every item once, in input order, failures also to the error file, and finalizes completed', async () => {
    const r = await rig();
    await r.start();
    // Results come in any order; the output is in input order.
    await deliver(r.world, [seal('batch_done', 3), result('batch_done', 2), result('batch_done', 1, false)]);
    await deliver(r.world, [result('batch_done', 0)]);
    const final = await waitForStatus(r, 'batch_done', 'completed');
    expect(final).toMatchObject({
      written_by: 'sink',
      request_counts: { total: 3, completed: 2, failed: 1, cancelled: 0, expired: 0 },
      usage: { input_tokens: 6, output_tokens: 4 },
    });
    expect(final.output_file_id).not.toBeNull();
    expect(final.error_file_id).not.toBeNull();
    const output = await lines(r.world, storeKeys.output('batch_done'));
    expect(output.map((line) => line.custom_id)).toEqual(['batch_done-0', 'batch_done-1', 'batch_done-2']);
    const errors = await lines(r.world, storeKeys.errors('batch_done'));
    expect(errors.map((line) => [line.custom_id, line.error?.code])).toEqual([['batch_done-1', 'server_error']]);
    // OpenAI's output file holds the successes only.
    expect((await lines(r.world, storeKeys.succeeded('batch_done'))).map((line) => line.custom_id)).toEqual([
      'batch_done-0',
      'batch_done-2',
    ]);
  });

  it('publishes progress with the counts so far before the batch is complete', async () => {
    const r = await rig();
    await r.start();
    await deliver(r.world, [seal('batch_partial', 3), result('batch_partial', 0), result('batch_partial', 1, false)]);
    const progress = await until(
      () =>
        recordsOf(r, 'batch_partial').find(
          (record) => record.request_counts.completed === 1 && record.request_counts.failed === 1,
        ),
      'progress of batch_partial',
    );
    expect(progress).toMatchObject({ status: 'in_progress', written_by: 'sink', request_counts: { total: 3 } });
    expect(await r.world.store.head(storeKeys.output('batch_partial'))).toBeNull();
  });

  it('drops a result delivered twice, before and after finalization: one line per item, one finalization', async () => {
    const r = await rig();
    await r.start();
    await deliver(r.world, [seal('batch_twice', 2), result('batch_twice', 0), result('batch_twice', 0)]);
    await deliver(r.world, [result('batch_twice', 1)]);
    await waitForStatus(r, 'batch_twice', 'completed');
    const published = recordsOf(r, 'batch_twice').length;
    // At-least-once delivery: the same result again (a processor that restarted before committing).
    await deliver(r.world, [result('batch_twice', 1)]);
    // The final record is published again, unchanged (a crash may have cut the first publish).
    await until(() => (recordsOf(r, 'batch_twice').length > published ? true : undefined), 'the final record again');
    const records = recordsOf(r, 'batch_twice');
    expect(records.at(-1)).toEqual(records.find((record) => record.status === 'completed'));
    expect((await lines(r.world, storeKeys.output('batch_twice'))).map((line) => line.custom_id)).toEqual([
      'batch_twice-0',
      'batch_twice-1',
    ]);
    expect(await counter(r.metrics, 'sluice_sink_duplicates_total')).toBe(2);
    expect(await counter(r.metrics, 'sluice_sink_batches_finalized_total')).toBe(1);
  });

  it('keeps one line per item across a restart: a result delivered again is found in the store’s index and dropped', async () => {
    const r = await rig();
    const first = await r.start();
    await deliver(r.world, [seal('batch_restarted', 3), result('batch_restarted', 0)]);
    await until(
      () => recordsOf(r, 'batch_restarted').find((record) => record.request_counts.completed === 1),
      'the first result recorded',
    );
    await first.stop();
    await r.world.restart();
    // Results delivered again by their producer, and the rest.
    await deliver(r.world, [result('batch_restarted', 0), result('batch_restarted', 1), result('batch_restarted', 2)]);
    r.status = await r.world.follow(r.world.topics.status);
    await r.start();
    const final = await waitForStatus(r, 'batch_restarted', 'completed');
    expect(final.request_counts).toMatchObject({ total: 3, completed: 3 });
    expect((await lines(r.world, storeKeys.output('batch_restarted'))).map((line) => line.custom_id)).toEqual([
      'batch_restarted-0',
      'batch_restarted-1',
      'batch_restarted-2',
    ]);
  });

  it('publishes what the batch cost so far at each item’s tier and at realtime, live and across a restart', async () => {
    const r = await rig();
    r.bill = {
      prices: {
        models: {
          'm-test': { input_per_million_usd: 1, output_per_million_usd: 2, cached_input_per_million_usd: 0.25 },
        },
        tierFactors: { realtime: 1, flex: 0.5, batch: 0.5 },
      },
      upstreams: [{ name: 'groq', tierFactors: { flex: 1 } }],
    };
    // 1,000,000 input tokens (400,000 cached) and 500,000 output: $0.60 + $0.10 + $1.00 at realtime.
    const billed = (index: number, fields: Partial<ResultMessageInput>): ResultMessageInput =>
      ({
        ...result('batch_bill', index),
        usage: { input_tokens: 1_000_000, output_tokens: 500_000, cached_input_tokens: 400_000 },
        model: 'm-test',
        upstream: 'openai',
        tier: 'realtime',
        ...fields,
      }) as ResultMessageInput;
    const first = await r.start();
    await deliver(r.world, [seal('batch_bill', 5), billed(0, {}), billed(1, { tier: 'flex' })]);
    const live = await until(
      () => recordsOf(r, 'batch_bill').find((record) => record.request_counts.completed === 2),
      'the first two results recorded',
    );
    expect(live).toMatchObject({ status: 'in_progress', cost_usd: 1.7 + 0.85, realtime_cost_usd: 3.4 });
    await first.stop();
    await r.world.restart();
    r.status = await r.world.follow(r.world.topics.status);
    await r.start();
    // Delivered again (counted once), Groq's flex at full price, and a deduplicated answer (no call: free).
    await deliver(r.world, [
      billed(1, { tier: 'flex' }),
      billed(2, { tier: 'flex', upstream: 'groq' }),
      billed(3, { tier: 'batch' }),
      billed(4, { tier: null, cached: true }),
    ]);
    const final = await waitForStatus(r, 'batch_bill', 'completed');
    expect(final.cost_usd).toBeCloseTo(1.7 + 0.85 + 1.7 + 0.85, 9);
    expect(final.realtime_cost_usd).toBeCloseTo(1.7 * 4, 9);
  });

  it('publishes a null cost when a billed item’s model has no price', async () => {
    const r = await rig();
    await r.start();
    await deliver(r.world, [
      seal('batch_unpriced', 2),
      { ...result('batch_unpriced', 0), model: 'gpt-4o-mini', tier: 'realtime' } as ResultMessageInput,
      { ...result('batch_unpriced', 1), model: 'no-such-model', tier: 'realtime' } as ResultMessageInput,
    ]);
    const final = await waitForStatus(r, 'batch_unpriced', 'completed');
    expect(final).toMatchObject({ cost_usd: null, realtime_cost_usd: null, usage: { input_tokens: 6 } });
  });

  it('publishes cancelling at a cancel from the control topic, and finalizes the batch cancelled', async () => {
    const r = await rig();
    await r.start();
    await deliver(r.world, [seal('batch_cancel', 3), result('batch_cancel', 0)]);
    await cancel(r.world, 'batch_cancel');
    const cancelling = await waitForStatus(r, 'batch_cancel', 'cancelling');
    expect(cancelling.cancelling_at).toBe(1_700_000_000);
    // The processor fails the items it had not started `batch_cancelled`.
    await deliver(r.world, [
      result('batch_cancel', 1, false, 'batch_cancelled'),
      result('batch_cancel', 2, false, 'batch_cancelled'),
    ]);
    const final = await waitForStatus(r, 'batch_cancel', 'cancelled');
    expect(final.request_counts).toEqual({ total: 3, completed: 1, failed: 0, cancelled: 2, expired: 0 });
  });

  it('dead-letters an undecodable result and one beyond its batch’s total, and goes on', async () => {
    const r = await rig();
    const dead = await r.world.follow(r.world.topics.deadLetter);
    await r.start();
    await r.world.send(r.world.topics.results, [{ key: 'batch_bad', value: Buffer.from('not json') }]);
    await deliver(r.world, [seal('batch_bad', 1), result('batch_bad', 5), result('batch_bad', 0)]);
    await waitForStatus(r, 'batch_bad', 'completed');
    await until(() => (dead.length === 2 ? true : undefined), 'two dead letters');
    expect(dead.map((message) => message.headers[HEADERS.dlqStage])).toEqual(['sink', 'sink']);
    expect(dead[1]?.headers[HEADERS.dlqReason]).toMatch(/beyond the batch's total 1/);
    expect((await lines(r.world, storeKeys.output('batch_bad'))).map((line) => line.custom_id)).toEqual([
      'batch_bad-0',
    ]);
  });

  it('dead-letters the results of a batch never sealed after the orphan TTL, counts them, and forgets the batch', async () => {
    const r = await rig();
    r.orphanTtlMs = 150;
    const dead = await r.world.follow(r.world.topics.deadLetter);
    await r.start();
    // Results with no seal (an outside writer's batch, or a lost seal); a batch whose seal comes
    // after its result, well within the TTL; a sealed one.
    await deliver(r.world, [
      result('batch_orphan', 0),
      result('batch_orphan', 1, false),
      result('batch_late', 0),
      seal('batch_late', 1),
      seal('batch_sealed', 1),
      result('batch_sealed', 0),
    ]);
    await until(() => (dead.length === 2 ? true : undefined), 'the orphan’s results dead-lettered');
    expect(dead.map((message) => [message.key, message.headers[HEADERS.dlqStage]])).toEqual([
      ['batch_orphan', 'sink'],
      ['batch_orphan', 'sink'],
    ]);
    expect(dead[0]?.headers[HEADERS.dlqReason]).toMatch(/^no seal for batch batch_orphan after 0 s/);
    expect(dead[0]?.headers[HEADERS.dlqTopic]).toBe(r.world.topics.results);
    const letters = [];
    for (const message of dead) letters.push(await r.world.serde.results.decode(message));
    expect(letters.map((letter) => letter.type === 'item' && [letter.index, letter.ok])).toEqual([
      [0, true],
      [1, false],
    ]);
    await until(
      async () => ((await counter(r.metrics, 'sluice_sink_orphans_dead_lettered_total')) === 2 ? true : undefined),
      'the orphan’s results counted',
    );
    // Nothing of it is kept: no results, no sink state, no mark; and no status record was ever published.
    await until(async () => {
      const kept = [];
      for await (const object of r.world.store.list(storeKeys.batchPrefix('batch_orphan'))) kept.push(object.key);
      for await (const object of r.world.store.list(ORPHANS)) kept.push(object.key);
      return kept.length === 0 ? true : undefined;
    }, 'the orphan forgotten');
    expect(recordsOf(r, 'batch_orphan')).toEqual([]);
    // The batches that got their seal are finalized as usual.
    expect((await waitForStatus(r, 'batch_late', 'completed')).request_counts.completed).toBe(1);
    expect((await waitForStatus(r, 'batch_sealed', 'completed')).request_counts.completed).toBe(1);
  });

  it('dead-letters a batch never sealed after a restart too: its mark is in the store', async () => {
    const r = await rig();
    const first = await r.start();
    await deliver(r.world, [result('batch_orphan_restarted', 0)]);
    await until(async () => {
      for await (const object of r.world.store.list(ORPHANS)) return object.key;
      return undefined;
    }, 'the orphan marked');
    await first.stop();
    await r.world.restart();
    // Nothing more of the batch is delivered; the restarted sink finds it through its mark.
    const dead = await r.world.follow(r.world.topics.deadLetter);
    r.orphanTtlMs = 150;
    await r.start();
    await until(() => (dead.length === 1 ? true : undefined), 'the orphan’s result dead-lettered');
    expect(dead[0]?.key).toBe('batch_orphan_restarted');
    expect(dead[0]?.headers[HEADERS.dlqReason]).toMatch(/^no seal for batch batch_orphan_restarted/);
  });
});
