import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type BatchRecord, BatchSpec, newBatchRecord } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { atTestEnd, startInProcess, testLogger, until, type InProcess } from '../../../test/harness/in-process.js';
import { type BatchEvent, createWebhookNotifier } from './webhooks.js';

/**
 * The webhook notifier's loop on the embedded log, posting to a real HTTP receiver on 127.0.0.1:
 * a final batch is announced once, signed as Standard Webhooks (OpenAI's) prescribe, retried until
 * the receiver acknowledges it, and not announced again after a restart.
 */

const SECRET = `whsec_${Buffer.from('a test signing key of 32 bytes!!').toString('base64')}`;

interface Delivery {
  headers: IncomingHttpHeaders;
  body: string;
  /** What the receiver answered. */
  status: number;
}

/**
 * A webhook receiver: records every delivery, and answers 503 (with a short `retry-after-ms`)
 * to the first `failFirst` of them, 200 to the rest.
 */
async function startReceiver(failFirst: number): Promise<{ url: string; deliveries: Delivery[] }> {
  const deliveries: Delivery[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const status = deliveries.length < failFirst ? 503 : 200;
      deliveries.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8'), status });
      response.writeHead(status, status === 503 ? { 'retry-after-ms': '10' } : {});
      response.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  atTestEnd(() => new Promise((resolve) => server.close(() => resolve())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`, deliveries };
}

/** Checks a delivery's signature the way a receiver does (Standard Webhooks), and returns its event. */
function verified(delivery: Delivery): BatchEvent {
  const id = delivery.headers['webhook-id'] as string;
  const timestamp = delivery.headers['webhook-timestamp'] as string;
  const signature = delivery.headers['webhook-signature'] as string;
  expect(signature).toMatch(/^v1,/);
  const key = Buffer.from(SECRET.slice('whsec_'.length), 'base64');
  const expected = createHmac('sha256', key).update(`${id}.${timestamp}.${delivery.body}`).digest();
  const given = Buffer.from(signature.slice(3), 'base64');
  expect(given.length === expected.length && timingSafeEqual(given, expected)).toBe(true);
  // A receiver also refuses an old timestamp (replays): this one is from now.
  expect(Math.abs(Date.now() / 1000 - Number(timestamp))).toBeLessThan(60);
  const event = JSON.parse(delivery.body) as BatchEvent;
  expect(event.id).toBe(id);
  return event;
}

const spec = BatchSpec.parse({
  api: 'openai',
  tenant: 'acme',
  endpoint: '/v1/chat/completions',
  created_at: Math.floor(Date.now() / 1000),
});

function record(batchId: string, status: 'in_progress' | 'completed'): BatchRecord {
  const record = newBatchRecord(batchId, spec, 2, status, 'sink');
  if (status === 'completed') record.completed_at = Math.floor(Date.now() / 1000);
  return record;
}

async function publish(world: InProcess, records: BatchRecord[]): Promise<void> {
  const messages = [];
  for (const each of records) messages.push({ key: each.id, value: await world.serde.status.encode(each) });
  await world.send(world.topics.status, messages);
}

async function startNotifier(world: InProcess, url: string) {
  const notifier = createWebhookNotifier({
    url,
    secret: SECRET,
    transport: world.transport,
    serde: world.serde,
    topics: world.topics,
    logger: testLogger,
  });
  await notifier.start();
  atTestEnd(() => notifier.stop());
  return notifier;
}

const acknowledged = (deliveries: Delivery[], batchId: string) =>
  deliveries.filter((each) => each.status === 200 && (JSON.parse(each.body) as BatchEvent).data.id === batchId);

describe('the webhook notifier on the embedded log', () => {
  it('announces a final batch once, signed, retrying until the receiver acknowledges it', async () => {
    // One partition: the status topic is read in order, so a later batch's event marks the earlier ones as handled.
    const world = await startInProcess({ partitions: 1 });
    const receiver = await startReceiver(1);
    await startNotifier(world, receiver.url);
    const final = record('batch_hooked', 'completed');
    // Progress is not announced; the final record published twice (a sink restarted in between) is announced once.
    await publish(world, [record('batch_hooked', 'in_progress'), final, final]);
    await publish(world, [record('batch_later', 'completed')]);
    await until(() => (acknowledged(receiver.deliveries, 'batch_later').length > 0 ? true : undefined), 'batch_later');

    const [refused, accepted] = receiver.deliveries;
    expect(receiver.deliveries.map((each) => each.status)).toEqual([503, 200, 200]);
    const event = verified(accepted as Delivery);
    expect(event).toMatchObject({ object: 'event', type: 'batch.completed', data: { id: 'batch_hooked' } });
    expect(event.created_at).toBe(final.completed_at);
    // The retry is the same event (same id, same body): a receiver drops repeats by id.
    expect(verified(refused as Delivery)).toEqual(event);
    expect(verified(receiver.deliveries[2] as Delivery).data.id).toBe('batch_later');
  });

  it('does not announce a batch again after a restart: what was acknowledged is committed', async () => {
    const world = await startInProcess({ partitions: 1 });
    const receiver = await startReceiver(0);
    const first = await startNotifier(world, receiver.url);
    await publish(world, [record('batch_before', 'completed')]);
    // Acknowledged and committed (a stop between the two delivers the event again: at least once).
    await until(async () => {
      const [committed] = await world.transport.committedOffsets(
        `${world.topics.status}.webhooks`,
        world.topics.status,
      );
      return Number(committed?.offset ?? 0) === 1 ? true : undefined;
    }, 'the event acknowledged and committed');
    await first.stop();
    await world.restart();

    await startNotifier(world, receiver.url);
    await publish(world, [record('batch_after', 'completed')]);
    await until(() => (acknowledged(receiver.deliveries, 'batch_after').length > 0 ? true : undefined), 'the next');
    expect(receiver.deliveries.map((each) => (JSON.parse(each.body) as BatchEvent).data.id)).toEqual([
      'batch_before',
      'batch_after',
    ]);
  });
});
