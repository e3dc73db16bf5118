import { Kafka, logLevel } from 'kafkajs';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { postJsonl, readJsonl, waitForStatus } from '../harness/http.js';
import { recordFigures } from '../harness/cluster.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * An upstream storm: 20% 5xx, 10% 429 with retry-after, 5% timeouts, 5% malformed JSON. Every item
 * ends in the output or the error file, and only items that used all their attempts (or whose answer
 * was malformed again in its repair round) are errors.
 */
const MAX_ATTEMPTS = 6;
let pipeline: Pipeline;
beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'storm',
    simulator: {
      latency: { medianMs: 20, p99Ms: 80 },
      errorRate: 0.2,
      rate429: 0.1,
      timeoutRate: 0.05,
      malformedRate: 0.05,
      hangMs: 5000,
      seed: 7,
    },
    env: {
      SLUICE_UPSTREAM_TIMEOUT_MS: '700',
      SLUICE_MAX_ATTEMPTS: String(MAX_ATTEMPTS),
      SLUICE_RETRY_BASE_MS: '50',
      SLUICE_RETRY_MAX_MS: '400',
      SLUICE_PROCESSOR_CONCURRENCY: '48',
    },
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

describe('upstream storm', () => {
  it('ends every item in the output or error file; errors only after all attempts', async () => {
    const lines = domainLines(300, 'storm');
    const { body } = await postJsonl(pipeline.url, lines);
    const id = body.id as string;
    const batch = await waitForStatus(pipeline.url, id, undefined, 170_000);
    expect(batch.status).toBe('completed');
    const output = await readJsonl<{ custom_id: string; error: { code: string } | null }>(
      `${pipeline.url}/v1/batches/${id}/output`,
    );
    expect(output.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));

    // The results topic says how many attempts each failed item used.
    const registry = new SchemaRegistry({ host: infra().registryUrl });
    const consumer = new Kafka({ brokers: infra().brokers, logLevel: logLevel.NOTHING }).consumer({
      groupId: `${pipeline.config.topics.results}.storm-check`,
    });
    const results = new Map<number, { ok: boolean; attempts: number; code: string | null }>();
    await consumer.connect();
    await consumer.subscribe({ topic: pipeline.config.topics.results, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        if (message.headers?.['sluice-type']?.toString() !== 'item' || !message.value) return;
        const r = (await registry.decode(message.value)) as {
          batch_id: string;
          index: number;
          ok: boolean;
          attempts: number;
          error: { code: string } | null;
        };
        if (r.batch_id === id && !results.has(r.index))
          results.set(r.index, { ok: r.ok, attempts: r.attempts, code: r.error?.code ?? null });
      },
    });
    await eventually(() => (results.size >= 300 ? true : undefined), { what: 'all results read' });
    await consumer.disconnect();
    const failed = [...results.values()].filter((r) => !r.ok);
    for (const r of failed) {
      // Malformed twice (the answer and its repair round): the output contract's own error.
      if (r.code === 'invalid_model_output') expect(r.attempts).toBeGreaterThanOrEqual(2);
      else expect(r.attempts).toBe(MAX_ATTEMPTS);
    }
    expect(failed.length).toBe(batch.request_counts.failed);
    expect(output.filter((l) => l.error).length).toBe(failed.length);
    const stats = pipeline.simulator.stats();
    const retries = [...results.values()].reduce((sum, r) => sum + r.attempts - 1, 0);
    await recordFigures('upstream-storm', {
      items: 300,
      upstreamRequests: stats.requests,
      faultsInjected: stats.faults,
      rateLimited: stats.rateLimited,
      retries,
      failedAfterAllAttempts: failed.length,
      lost: 300 - new Set(output.map((l) => l.custom_id)).size,
      duplicated: output.length - 300,
    });
  });
});
