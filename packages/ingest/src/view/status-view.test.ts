import { join } from 'node:path';
import { type BatchRecord, BatchSpec, newBatchRecord } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  atTestEnd,
  startInProcess,
  startStages,
  testLogger,
  until,
  type InProcess,
} from '../../../../test/harness/in-process.js';
import { StatusView } from './status-view.js';

/**
 * Ingest's status view on the embedded log: what the sink publishes on the status topic is what
 * `GET /v1/batches/{id}` answers, the latest record winning, and a read overtaken by a write never
 * leaves the older record in the view's cache.
 */

const spec = BatchSpec.parse({ api: 'openai', endpoint: '/v1/chat/completions', created_at: 1_700_000_000 });

function record(batchId: string, status: BatchRecord['status'], completed: number, writer: 'sink' | 'intake' = 'sink') {
  const each = newBatchRecord(batchId, spec, 4, status, writer);
  each.request_counts.completed = completed;
  if (status === 'completed') each.completed_at = 1_700_000_100;
  return each;
}

async function publish(world: InProcess, records: BatchRecord[]): Promise<void> {
  const messages = [];
  for (const each of records) messages.push({ key: each.id, value: await world.serde.status.encode(each) });
  await world.send(world.topics.status, messages);
}

async function batchAt(url: string, batchId: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/batches/${batchId}`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('ingest’s status view on the embedded log', () => {
  it('serves the record the sink published on the status topic, the latest one winning', async () => {
    // One partition: the topic is read in order, so a later batch visible means the records before it were read.
    const world = await startInProcess({ partitions: 1 });
    const { url } = await startStages(world, { roles: ['ingest'] });
    expect((await batchAt(url, 'batch_viewed')).status).toBe(404);

    await publish(world, [record('batch_viewed', 'in_progress', 1)]);
    const progress = await until(async () => {
      const answer = await batchAt(url, 'batch_viewed');
      return answer.status === 200 ? answer.body : undefined;
    }, 'the batch visible');
    expect(progress).toMatchObject({ id: 'batch_viewed', object: 'batch', status: 'in_progress' });
    expect(progress.request_counts).toMatchObject({ total: 4, completed: 1 });

    // A newer record replaces it; an intake record after the sink's is stale and dropped.
    await publish(world, [record('batch_viewed', 'completed', 4), record('batch_viewed', 'in_progress', 0, 'intake')]);
    await publish(world, [record('batch_marker', 'in_progress', 0)]);
    await until(async () => ((await batchAt(url, 'batch_marker')).status === 200 ? true : undefined), 'the marker');
    const { body: final } = await batchAt(url, 'batch_viewed');
    expect(final.status).toBe('completed');
    expect(final.request_counts).toMatchObject({ total: 4, completed: 4 });
    expect(final.completed_at).toBe(1_700_000_100);
  });

  it('does not cache a record read while a write overtook the read', async () => {
    const world = await startInProcess();
    const view = new StatusView({
      transport: world.transport,
      serde: world.serde,
      topics: world.topics,
      logger: testLogger,
      directory: join(world.config.dataDir, 'view'),
    });
    await view.start();
    atTestEnd(() => view.stop());
    await view.apply(record('batch_raced', 'in_progress', 1));

    // The race, made deterministic: the view's database read of the record returns the older
    // record, and is held until a write of the newer one has landed.
    const db = (view as unknown as { db: { get(key: string): Promise<string | undefined> } }).db;
    const read = db.get.bind(db);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding = true;
    let readOut: () => void = () => undefined;
    const readIsOut = new Promise<void>((resolve) => (readOut = resolve));
    db.get = async (key) => {
      const value = await read(key);
      if (holding && key.endsWith('batch_raced')) {
        holding = false;
        readOut();
        await held;
      }
      return value;
    };

    const overtaken = view.get('batch_raced');
    await readIsOut;
    await view.apply(record('batch_raced', 'completed', 4));
    release();
    // The overtaken read answers what it read (the record as it was when the read began)...
    expect((await overtaken)?.status).toBe('in_progress');
    // ...but every read after the write sees the newer record.
    expect((await view.get('batch_raced'))?.status).toBe('completed');
  });
});
