import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra } from '../harness/context.js';
import { domainLine } from '../harness/fixtures.js';
import { postJsonl, readJsonl, waitForStatus } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Outside producers and consumers use kafkajs and the registry client directly, as
 * docs/topics.md tells them to, with no Sluice code.
 */
const { brokers, registryUrl } = infra();
const kafka = new Kafka({ clientId: 'outside-client', brokers, logLevel: logLevel.NOTHING });
const registry = new SchemaRegistry({ host: registryUrl });
let pipeline: Pipeline;

beforeAll(async () => {
  pipeline = await startPipeline({ label: 'outside', simulator: { latency: { medianMs: 100, p99Ms: 250 } } });
});
afterAll(async () => {
  await pipeline?.stop();
});

describe('outside Kafka clients', () => {
  it('a plain producer writing a seal to the results topic and items to the requests topic gets the same processing as an HTTP submit', async () => {
    const topics = pipeline.config.topics;
    const schemaId = await registry.getLatestSchemaId(`${topics.requests}-value`);
    const resultsSchemaId = await registry.getLatestSchemaId(`${topics.results}-value`);
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const batchId = 'batch_from_outside_producer_1';
    const items = Array.from({ length: 12 }, (_, index) => {
      const line = domainLine(index, 'ext');
      return {
        type: 'item',
        batch_id: batchId,
        index,
        custom_id: line.custom_id,
        api: 'domain',
        discriminator: line.body.model,
        body: line.body,
      };
    });
    // Half registry-encoded, half plain JSON: both are accepted.
    const messages = await Promise.all(
      items.map(async (item, i) => ({
        key: batchId,
        value: i % 2 === 0 ? await registry.encode(schemaId, item) : Buffer.from(JSON.stringify(item)),
        headers: { 'sluice-type': 'item' },
      })),
    );
    const seal = {
      type: 'seal',
      batch_id: batchId,
      total: items.length,
      spec: { api: 'domain', created_at: Math.floor(Date.now() / 1000) },
    };
    // The seal first, on the results topic: the sink knows the batch before its first result.
    await producer.send({
      topic: topics.results,
      messages: [
        { key: batchId, value: await registry.encode(resultsSchemaId, seal), headers: { 'sluice-type': 'seal' } },
      ],
    });
    await producer.send({ topic: topics.requests, messages });
    await producer.disconnect();

    const batch = await waitForStatus(pipeline.url, batchId);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 12, completed: 12, failed: 0 } });
    const output = await readJsonl<{ custom_id: string; response: { status_code: number } }>(
      `${pipeline.url}/v1/batches/${batchId}/output`,
    );
    expect(output.map((l) => l.custom_id)).toEqual(items.map((i) => i.custom_id));
    expect(output.every((l) => l.response.status_code === 200)).toBe(true);
  });

  it('a plain consumer of the results topic sees each result as it is produced, before the batch completes', async () => {
    const topics = pipeline.config.topics;
    const consumer = kafka.consumer({ groupId: `outside-consumer-${Date.now()}` });
    const joined = new Promise<void>((resolve) => consumer.on(consumer.events.GROUP_JOIN, () => resolve()));
    await consumer.connect();
    await consumer.subscribe({ topic: topics.results, fromBeginning: true });
    // Every result is kept with its batch id: results may arrive before the submit's answer does.
    const all: { batchId: string; customId: string; at: number }[] = [];
    const types = new Set<string>();
    let batchId = '';
    const seenOfBatch = () => all.filter((s) => s.batchId === batchId);
    await consumer.run({
      eachMessage: async ({ message }) => {
        const type = message.headers?.['sluice-type']?.toString() ?? '';
        types.add(type);
        if (type !== 'item' || !message.value) return;
        const result = (await registry.decode(message.value)) as { batch_id: string; custom_id: string; ok: boolean };
        all.push({ batchId: result.batch_id, customId: result.custom_id, at: Date.now() });
      },
    });
    // Submit once the consumer has its partitions (results of other batches are filtered out).
    await joined;
    const lines = Array.from({ length: 40 }, (_, i) => domainLine(i, 'live'));
    const submitted = await postJsonl(pipeline.url, lines);
    batchId = submitted.body.id as string;
    const batch = await waitForStatus(pipeline.url, batchId);
    const completedAt = Date.now();
    await eventually(() => (seenOfBatch().length >= 40 ? true : undefined), { what: 'all 40 results on the topic' });
    await consumer.disconnect();
    const seen = seenOfBatch();

    expect(batch.status).toBe('completed');
    expect(new Set(seen.map((s) => s.customId))).toEqual(new Set(lines.map((l) => l.custom_id)));
    // Results arrived over time, well before the batch was final.
    const first = Math.min(...seen.map((s) => s.at));
    expect(first).toBeLessThan(completedAt - 200);
    expect(types.has('item')).toBe(true);
  });
});
