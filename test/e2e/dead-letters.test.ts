import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { postJsonl, readJsonl, waitForStatus } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/** Undecodable or schema-violating messages go to the dead-letter topic with the reason; consumers go on. */
const kafka = new Kafka({ clientId: 'dlq-test', brokers: infra().brokers, logLevel: logLevel.NOTHING });
let pipeline: Pipeline;
beforeAll(async () => {
  pipeline = await startPipeline({ label: 'dlq' });
});
afterAll(async () => {
  await pipeline?.stop();
});

describe('bad messages', () => {
  it('are dead-lettered with the reason in headers, and the processor and sink keep consuming', async () => {
    const { requests, results, deadLetter } = pipeline.config.topics;
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const unknownSchema = Buffer.concat([Buffer.from([0, 0, 0x0f, 0x42, 0x3f]), Buffer.from('{"type":"item"}')]);
    await producer.send({
      topic: requests,
      messages: [
        { key: 'batch_bad_1', value: Buffer.from('this is not json') },
        { key: 'batch_bad_2', value: Buffer.from(JSON.stringify({ type: 'item', batch_id: 'batch_bad_2' })) },
        { key: 'batch_bad_3', value: unknownSchema },
        // A seal belongs on the results topic now: one written here is refused, naming where it goes.
        {
          key: 'batch_bad_5',
          value: Buffer.from(
            JSON.stringify({ type: 'seal', batch_id: 'batch_bad_5', total: 1, spec: { created_at: 1_795_299_520 } }),
          ),
        },
      ],
    });
    await producer.send({
      topic: results,
      messages: [{ key: 'batch_bad_4', value: Buffer.from(JSON.stringify({ type: 'item', ok: 'maybe' })) }],
    });
    await producer.disconnect();

    const lines = domainLines(20, 'after-bad');
    const { body } = await postJsonl(pipeline.url, lines);
    const batch = await waitForStatus(pipeline.url, body.id as string);
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 20, completed: 20 } });
    expect((await readJsonl(`${pipeline.url}/v1/batches/${batch.id}/output`)).length).toBe(20);

    const consumer = kafka.consumer({ groupId: `${deadLetter}.inspect` });
    await consumer.connect();
    await consumer.subscribe({ topic: deadLetter, fromBeginning: true });
    const dead: { key: string; headers: Record<string, string> }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        dead.push({ key: message.key?.toString() ?? '', headers });
      },
    });
    await eventually(() => (dead.length >= 5 ? true : undefined), { what: 'five dead letters' });
    await consumer.disconnect();
    const byKey = Object.fromEntries(dead.map((d) => [d.key, d.headers]));
    expect(byKey.batch_bad_1).toMatchObject({ 'sluice-dlq-stage': 'processor', 'sluice-dlq-topic': requests });
    expect(byKey.batch_bad_1?.['sluice-dlq-reason']).toMatch(/neither registry-encoded nor JSON/);
    expect(byKey.batch_bad_2?.['sluice-dlq-reason']).toMatch(/does not match the .*requests schema/);
    expect(byKey.batch_bad_3?.['sluice-dlq-reason']).toMatch(/registry decode failed/);
    expect(byKey.batch_bad_5).toMatchObject({ 'sluice-dlq-stage': 'processor', 'sluice-dlq-topic': requests });
    expect(byKey.batch_bad_5?.['sluice-dlq-reason']).toContain(`a seal belongs on the results topic (${results})`);
    expect(byKey.batch_bad_4).toMatchObject({ 'sluice-dlq-stage': 'sink', 'sluice-dlq-topic': results });
    for (const headers of Object.values(byKey)) expect(Number(headers['sluice-dlq-offset'])).toBeGreaterThanOrEqual(0);
  });
});
