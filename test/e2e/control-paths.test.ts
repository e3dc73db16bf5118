import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Control facts take no detours (docs/topics.md): a synchronous call answered in time goes over the
 * interactive and results topics only, and a cancel reaches every processor through the control topic.
 */
let pipeline: Pipeline;
beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'control',
    env: {
      SLUICE_PROCESSOR_CONCURRENCY: '2',
      SLUICE_SYNC_TIMEOUT_MS: '4000',
      // The processor's shared answer cache keeps answers in the store; this is about the call's own objects.
      SLUICE_DEDUP_TTL_SECONDS: '0',
    },
    simulator: { latency: { medianMs: 20, p99Ms: 60 } },
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

async function storeKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of pipeline.sluice.store.list('')) keys.push(object.key);
  return keys;
}

async function endOffsets(topic: string): Promise<number> {
  const offsets = await pipeline.sluice.transport.offsets(topic);
  return offsets.reduce((sum, p) => sum + Number(p.high), 0);
}

/** Results of synchronous calls the sink dropped because the call was never sealed. */
async function unsealedSyncDropped(): Promise<number> {
  const metric = await pipeline.sluice.metrics.getSingleMetric('sluice_sink_messages_in_total')?.get();
  return metric?.values.find((v) => v.labels.type === 'unsealed_sync')?.value ?? 0;
}

const postJson = async (path: string, body: unknown) => {
  const response = await fetch(`${pipeline.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

describe('a synchronous call answered in time', () => {
  it('leaves no object in the store and publishes no status record', async () => {
    // A first call, so the processor's interactive consumer has joined before the one measured.
    expect((await postJson('/v1/classify', { text: 'warm up', labels: ['a', 'b'] })).status).toBe(200);
    await eventually(async () => ((await unsealedSyncDropped()) >= 1 ? true : undefined), {
      what: 'the warm-up dropped',
    });
    const keysBefore = await storeKeys();
    const statusBefore = await endOffsets(pipeline.config.topics.status);
    const droppedBefore = await unsealedSyncDropped();

    const answer = await postJson('/v1/operations/summarize', {
      summary_instructions: 'one line',
      items: [
        { id: 'a', content: 'The export fails after the upgrade.' },
        { id: 'b', content: 'The customer agreed to wait for the fix.' },
      ],
    });
    expect(answer.status).toBe(200);
    expect((answer.body.results as unknown[]).length).toBe(2);
    // The sink has read both results (and kept neither) before the store and the topic are looked at again.
    await eventually(async () => ((await unsealedSyncDropped()) >= droppedBefore + 2 ? true : undefined), {
      what: 'the sink to drop the call’s results',
    });
    expect(await storeKeys()).toEqual(keysBefore);
    expect(await endOffsets(pipeline.config.topics.status)).toBe(statusBefore);
  });
});

describe('a synchronous call that outlives its timeout', () => {
  it('is sealed and kept whole: the result read before its seal is produced again after it', async () => {
    const answer = await postJson('/v1/operations/summarize', {
      summary_instructions: 'one line',
      items: [
        { id: 'fast', content: 'The export fails after the upgrade.' },
        { id: 'slow', content: 'The customer will wait. sim:latency=7000' },
      ],
    });
    expect(answer.status).toBe(504);
    const id = (answer.body.error as { batch_id: string }).batch_id;
    const job = await eventually(
      async () => {
        const { body: polled } = await getJson<{ status: string; completed_items: number }>(
          `${pipeline.url}/v1/jobs/${id}`,
        );
        return polled.status === 'completed' ? polled : undefined;
      },
      { what: `the timed-out call ${id} to complete` },
    );
    expect(job.completed_items).toBe(2);
    const { body: output } = await getJson<{ results: { custom_id: string }[] }>(
      `${pipeline.url}/v1/jobs/${id}/output`,
    );
    expect(output.results.map((r) => r.custom_id).sort()).toEqual(['fast', 'slow']);
  });
});

describe('a cancel', () => {
  it('reaches the processor through the control topic: no item of the batch is sent upstream after it', async () => {
    const lines = domainLines(30, 'cancel').map((line) => ({
      ...line,
      body: { ...line.body, text: `${String(line.body.text)} sim:latency=700` },
    }));
    const submitted = await postJsonl(pipeline.url, lines);
    const batchId = submitted.body.id as string;
    await eventually(
      async () => {
        const { body: batch } = await getJson<{ request_counts: { completed: number } }>(
          `${pipeline.url}/v1/batches/${batchId}`,
        );
        return batch.request_counts.completed >= 2 ? true : undefined;
      },
      { what: 'the first results' },
    );
    const cancelled = await postJson(`/v1/batches/${batchId}/cancel`, {});
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelling');
    const callsAtCancel = pipeline.simulator.stats().requests;
    const final = await eventually(
      async () => {
        const { body: batch } = await getJson<{
          status: string;
          request_counts: { completed: number; cancelled: number };
        }>(`${pipeline.url}/v1/batches/${batchId}`);
        return batch.status === 'cancelled' ? batch : undefined;
      },
      { what: `batch ${batchId} to be cancelled` },
    );
    // At most the calls already out (or starting) while the processors read the cancel: one per slot.
    expect(pipeline.simulator.stats().requests - callsAtCancel).toBeLessThanOrEqual(2);
    expect(final.request_counts.cancelled).toBeGreaterThan(20);

    // The cancel is on the control topic, keyed by the batch id; nothing but items and seals is on the results topic.
    const kafka = new Kafka({ clientId: 'control-test', brokers: infra().brokers, logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: `control-test-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({
      topics: [pipeline.config.topics.control, pipeline.config.topics.results],
      fromBeginning: true,
    });
    const seen: { topic: string; key: string; type: string }[] = [];
    await consumer.run({
      eachMessage: async ({ topic, message }) => {
        seen.push({
          topic,
          key: message.key?.toString() ?? '',
          type: message.headers?.['sluice-type']?.toString() ?? '',
        });
      },
    });
    await eventually(
      () =>
        seen.some((s) => s.topic === pipeline.config.topics.control && s.key === batchId && s.type === 'cancel')
          ? true
          : undefined,
      { what: 'the cancel on the control topic' },
    );
    await consumer.disconnect();
    const resultTypes = new Set(seen.filter((s) => s.topic === pipeline.config.topics.results).map((s) => s.type));
    expect([...resultTypes].sort()).toEqual(['item', 'seal']);
  });
});
