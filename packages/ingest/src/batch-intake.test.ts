import { join } from 'node:path';
import {
  BATCHES,
  BatchRecord,
  HEADERS,
  newBatchRecord,
  storeKeys,
  WORK,
  type IncomingMessage,
  type RequestItemMessage,
  type SealMessage,
} from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { atTestEnd, startInProcess, testLogger, until, type InProcess } from '../../../test/harness/in-process.js';
import { createIngest } from './ingest.js';

/**
 * Ingest's batch path on the embedded log and a local store, over its real HTTP server: a submit
 * becomes a hand-over status record, a seal and one request message per item; a refused one
 * leaves nothing. What the e2e suites show against Kafka, without a broker.
 */

interface Rig {
  world: InProcess;
  url: string;
  requests: IncomingMessage[];
  results: IncomingMessage[];
  status: IncomingMessage[];
}

async function rig(): Promise<Rig> {
  const world = await startInProcess({ partitions: 3 });
  const { config } = world;
  // As the CLI builds it (packages/cli/src/runtime.ts), on this test's transport and store.
  const ingest = await createIngest({
    transport: world.transport,
    serde: world.serde,
    topics: world.topics,
    store: world.store,
    retention: config.retention,
    viewDirectory: join(config.dataDir, 'view'),
    host: '127.0.0.1',
    port: 0,
    limits: { ...config.limits, maxDepth: 64 },
    apiKeys: null,
    readiness: { registryUrl: null, upstreams: [] },
    logger: testLogger,
    dashboardDirectory: null,
  });
  const url = await ingest.start();
  atTestEnd(() => ingest.stop());
  return {
    world,
    url,
    requests: await world.follow(world.topics.requests),
    results: await world.follow(world.topics.results),
    status: await world.follow(world.topics.status),
  };
}

const classifyLine = (index: number) => ({
  custom_id: `ticket-${index}`,
  body: { model: 'classify', text: `Ticket ${index}: charged twice.`, labels: ['billing', 'bug'] },
});

async function submit(url: string, lines: unknown[]): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/jsonl' },
    body: lines.map((line) => (typeof line === 'string' ? line : JSON.stringify(line))).join('\n') + '\n',
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function keysUnder(world: InProcess, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of world.store.list(prefix)) keys.push(object.key);
  return keys;
}

const sumHigh = async (world: InProcess, topic: string) =>
  (await world.transport.offsets(topic)).reduce((sum, each) => sum + Number(each.high), 0);

describe('ingest’s batch path on the embedded log', () => {
  it('splits a submit into one request message per item, keyed by the batch, on one partition, with its seal and hand-over record', async () => {
    const r = await rig();
    const submitted = await submit(
      r.url,
      Array.from({ length: 5 }, (_, index) => classifyLine(index)),
    );
    expect(submitted.status).toBe(200);
    const batchId = submitted.body.id as string;

    await until(() => (r.requests.length === 5 ? true : undefined), 'five request messages');
    expect(new Set(r.requests.map((message) => message.key))).toEqual(new Set([batchId]));
    expect(new Set(r.requests.map((message) => message.partition)).size).toBe(1);
    for (const message of r.requests) {
      expect(message.headers).toMatchObject({ [HEADERS.type]: 'item', [HEADERS.tenant]: 'default' });
      expect(message.headers[HEADERS.priority]).toBeUndefined();
    }
    const items: RequestItemMessage[] = [];
    for (const message of r.requests) items.push(await r.world.serde.requests.decode(message));
    expect(items.map((item) => [item.batch_id, item.index, item.custom_id, item.discriminator, item.tenant])).toEqual(
      Array.from({ length: 5 }, (_, index) => [batchId, index, `ticket-${index}`, 'classify', 'default']),
    );
    // A domain line travels as its operation's parameters (translated once, at intake).
    expect(items[3]?.body).toMatchObject({
      item: { content: 'Ticket 3: charged twice.' },
      params: { categories: ['billing', 'bug'] },
    });

    // The seal (the batch's size) is on the results topic, keyed by the batch, for its sink.
    await until(() => (r.results.length === 1 ? true : undefined), 'the seal');
    const seal = (await r.world.serde.results.decode(r.results[0] as IncomingMessage)) as SealMessage;
    expect(r.results[0]?.key).toBe(batchId);
    expect(r.results[0]?.headers[HEADERS.type]).toBe('seal');
    expect(seal).toMatchObject({ type: 'seal', batch_id: batchId, total: 5, spec: { api: 'domain' } });

    // The hand-over status record, the last ingest writes for a sealed batch.
    await until(() => (r.status.length >= 1 ? true : undefined), 'the hand-over record');
    const records = r.status.map((message) =>
      BatchRecord.parse(JSON.parse((message.value as Buffer).toString('utf8'))),
    );
    expect(records.map((record) => [record.id, record.status, record.written_by])).toEqual([
      [batchId, 'in_progress', 'intake'],
    ]);
    expect(records[0]?.request_counts.total).toBe(5);
    // The validated input is in the store; the work marker is gone once every item is produced.
    expect(await r.world.store.head(storeKeys.input(batchId))).not.toBeNull();
    await until(async () => ((await keysUnder(r.world, WORK)).length === 0 ? true : undefined), 'the work marker gone');
  });

  it('refuses a submit with one bad line whole: a 400 naming the line, and no message, status or object', async () => {
    const r = await rig();
    const refused = await submit(r.url, [classifyLine(0), '{"custom_id": "ticket-1", "body": {"model": "classify"}}']);
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toMatch(/line 2/);
    for (const topic of [r.world.topics.requests, r.world.topics.results, r.world.topics.status]) {
      expect(await sumHigh(r.world, topic)).toBe(0);
    }
    expect(await keysUnder(r.world, BATCHES)).toEqual([]);
  });

  it('writes a cancel to the control topic, keyed by the batch, and answers with the sink’s record', async () => {
    const r = await rig();
    const batchId = (await submit(r.url, [classifyLine(0), classifyLine(1)])).body.id as string;
    await until(() => (r.results.length === 1 ? true : undefined), 'the seal');
    const seal = (await r.world.serde.results.decode(r.results[0] as IncomingMessage)) as SealMessage;
    // The batch's sink, confirming the cancel as it does on the status topic.
    const control = await r.world.follow(r.world.topics.control);
    const confirmed = until(() => (control.length > 0 ? true : undefined), 'the cancel').then(async () => {
      const record = newBatchRecord(batchId, seal.spec, 2, 'cancelling', 'sink');
      record.cancelling_at = 1_700_000_000;
      await r.world.send(r.world.topics.status, [{ key: batchId, value: await r.world.serde.status.encode(record) }]);
    });

    const started = Date.now();
    const response = await fetch(`${r.url}/v1/batches/${batchId}/cancel`, { method: 'POST' });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ id: batchId, status: 'cancelling', cancelling_at: 1_700_000_000 });
    // Answered by the sink's confirmation, not after the cancel's 3 s wait for it.
    expect(Date.now() - started).toBeLessThan(2500);
    await confirmed;
    expect(control.map((message) => [message.key, message.headers[HEADERS.type]])).toEqual([[batchId, 'cancel']]);
    expect(await r.world.serde.control.decode(control[0] as IncomingMessage)).toMatchObject({
      type: 'cancel',
      batch_id: batchId,
    });
  });
});
