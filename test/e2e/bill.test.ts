import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { costOf, loadPrices, type Prices } from '@sluice/core';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * The bill (docs/costs.md): every batch and job carries `cost_usd` (each item at the price of the
 * tier it was called at) and `realtime_cost_usd` (the same tokens at the realtime price), live
 * while it runs and final, priced from SLUICE_PRICES_FILE, in the embedded log with the simulator
 * as the upstream (whose prompt cache reports cached input tokens for a repeated long prefix).
 */
let pipeline: Pipeline;
let client: OpenAI;
let directory: string;
let prices: Prices;
const MODEL = 'bill-model';

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'sluice-bill-'));
  const pricesFile = join(directory, 'prices.json');
  // Round prices, and a cached-input price a quarter of the input's, so each part of a cost shows.
  await writeFile(
    pricesFile,
    JSON.stringify({
      [MODEL]: { input_per_million_usd: 2, output_per_million_usd: 8, cached_input_per_million_usd: 0.5 },
    }),
  );
  prices = loadPrices(pricesFile);
  pipeline = await startPipeline({
    label: 'bill',
    // Two calls at a time at ~100 ms each: a 30-item batch runs for a second or two, long enough
    // to read its cost while it runs.
    simulator: { latency: { medianMs: 100, p99Ms: 120 } },
    env: {
      KAFKA_BROKERS: '',
      SCHEMA_REGISTRY_URL: '',
      SLUICE_PRICES_FILE: pricesFile,
      SLUICE_PROCESSOR_CONCURRENCY: '2',
      SLUICE_STATUS_INTERVAL_MS: '100',
      SLUICE_SINK_FLUSH_MS: '50',
    },
  });
  client = new OpenAI({ baseURL: `${pipeline.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
}, 60_000);
afterAll(async () => {
  await pipeline?.stop();
  await rm(directory, { recursive: true, force: true });
});

interface Billed {
  status: string;
  cost_usd: number | null;
  realtime_cost_usd: number | null;
}

interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(`${pipeline.url}${path}`);
  expect(response.status, path).toBe(200);
  return (await response.json()) as T;
}

/** Reads `path` until `done` holds of it, and every reading on the way. */
async function watch<T extends { status: string }>(path: string): Promise<{ final: T; readings: T[] }> {
  const readings: T[] = [];
  const final = await eventually(
    async () => {
      const reading = await getJson<T>(path);
      readings.push(reading);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(reading.status) ? reading : undefined;
    },
    { timeoutMs: 40_000, intervalMs: 50, what: path },
  );
  return { final, readings };
}

describe('the bill', () => {
  it('an OpenAI batch costs the sum of its items’ costs from their usage (cached input included), live and final', async () => {
    // A long shared system prompt (over the simulator's 1,024-token cache minimum): every item after
    // the first reads it from the prompt cache, and is billed the cached-input price for it.
    const system = `You are a careful assistant. ${'Follow the house style guide to the letter. '.repeat(140)}`;
    const lines = Array.from({ length: 30 }, (_, i) => ({
      custom_id: `bill-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: {
        model: MODEL,
        prompt_cache_key: 'bill-test',
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: `Write a line about item ${i}` },
        ],
        max_tokens: 40,
      },
    }));
    const file = await client.files.create({
      file: await toFile(Buffer.from(lines.map((line) => JSON.stringify(line)).join('\n') + '\n'), 'bill.jsonl'),
      purpose: 'batch',
    });
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const { final, readings } = await watch<Billed & { id: string; output_file_id: string | null }>(
      `/v1/batches/${created.id}`,
    );
    expect(final.status).toBe('completed');
    // Live: the cost grows while the batch runs, before it completes.
    expect(readings.some((reading) => reading.status === 'in_progress' && (reading.cost_usd ?? 0) > 0)).toBe(true);

    const output = (await (await client.files.content(final.output_file_id as string)).text())
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { response: { body: { model: string; usage: ChatUsage } } });
    expect(output).toHaveLength(30);
    const usages = output.map((line) => line.response.body.usage);
    expect(usages.filter((usage) => (usage.prompt_tokens_details?.cached_tokens ?? 0) > 0).length).toBeGreaterThan(0);
    const expected = output.reduce(
      (sum, line) => sum + (costOf(line.response.body.usage, line.response.body.model, 'realtime', prices) ?? NaN),
      0,
    );
    // The same tokens with no cache: what the cached-input price saved shows in the cost.
    const uncached = usages.reduce(
      (sum, usage) => sum + (usage.prompt_tokens * 2 + usage.completion_tokens * 8) / 1e6,
      0,
    );
    expect(expected).toBeLessThan(uncached);
    expect(final.cost_usd).toBeCloseTo(expected, 8);
    // Every item was called at realtime: its realtime cost is its cost.
    expect(final.realtime_cost_usd).toBe(final.cost_usd);

    // The official SDK keeps the extra fields; the list shows them too.
    const retrieved = (await client.batches.retrieve(created.id)) as unknown as Billed;
    expect(retrieved.cost_usd).toBe(final.cost_usd);
    const listed = await getJson<{ data: (Billed & { id: string })[] }>('/v1/batches?limit=100');
    expect(listed.data.find((batch) => batch.id === created.id)?.cost_usd).toBe(final.cost_usd);
  });

  it('a job costs the sum of its rows’ costs, shown on GET /v1/jobs/{id} and in the list', async () => {
    const response = await fetch(`${pipeline.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        operation: 'label',
        model: MODEL,
        categories: ['billing', 'bug', 'other'],
        items: Array.from({ length: 6 }, (_, i) => ({ content: `Ticket ${i}: I was charged twice.` })),
      }),
    });
    expect(response.status).toBe(200);
    const { id } = (await response.json()) as { id: string };
    const { final } = await watch<Billed>(`/v1/jobs/${id}`);
    expect(final.status).toBe('completed');
    const page = await getJson<{
      results: { usage: { input_tokens: number; output_tokens: number; cached_input_tokens?: number } }[];
    }>(`/v1/jobs/${id}/output?format=json&limit=100`);
    const expected = page.results.reduce((sum, row) => {
      const { input_tokens, output_tokens, cached_input_tokens } = row.usage;
      const usage = { input_tokens, output_tokens, input_tokens_details: { cached_tokens: cached_input_tokens ?? 0 } };
      return sum + (costOf(usage, MODEL, 'realtime', prices) ?? NaN);
    }, 0);
    expect(expected).toBeGreaterThan(0);
    expect(final.cost_usd).toBeCloseTo(expected, 8);
    expect(final.realtime_cost_usd).toBe(final.cost_usd);
    const listed = await getJson<{ data: (Billed & { id: string })[] }>('/v1/jobs?limit=100');
    expect(listed.data.find((job) => job.id === id)?.cost_usd).toBe(final.cost_usd);
  });

  it('an item called at the flex tier costs half its realtime price; a model without a price costs null', async () => {
    // Results written to the results topic as an outside producer (or another tier's processor)
    // writes them: one at flex, one at realtime, 1,000,000 input (250,000 cached) and 100,000 output tokens each.
    const producer = await pipeline.sluice.transport.producer();
    const write = async (batchId: string, model: string, tiers: ('realtime' | 'flex')[]) => {
      const seal = {
        type: 'seal',
        batch_id: batchId,
        total: tiers.length,
        spec: { api: 'operations', operation: 'label', created_at: Math.floor(Date.now() / 1000) },
      };
      const items = tiers.map((tier, index) => ({
        type: 'item',
        batch_id: batchId,
        index,
        custom_id: `${batchId}-${index}`,
        id: `batch_req_${batchId}_${index}`,
        api: 'operations',
        discriminator: 'label',
        ok: true,
        response: { status_code: 200, request_id: null, body: { label: 'billing' } },
        error: null,
        usage: { input_tokens: 1_000_000, output_tokens: 100_000, cached_input_tokens: 250_000 },
        attempts: 1,
        finished_at: Date.now(),
        model,
        upstream: 'default',
        tier,
      }));
      await producer.send(
        pipeline.config.topics.results,
        [seal, ...items].map((message) => ({
          key: batchId,
          value: Buffer.from(JSON.stringify(message)),
          headers: { 'sluice-type': message.type },
        })),
      );
    };
    // $1.50 uncached input + $0.125 cached + $0.80 output = $2.425 at realtime.
    await write('batch_bill_flex', MODEL, ['flex', 'realtime']);
    await write('batch_bill_unpriced', 'no-price-model', ['realtime']);
    const flex = (await watch<Billed>('/v1/jobs/batch_bill_flex')).final;
    expect(flex.cost_usd).toBeCloseTo(2.425 / 2 + 2.425, 9);
    expect(flex.realtime_cost_usd).toBeCloseTo(2.425 * 2, 9);
    await producer.disconnect();
    const unpriced = (await watch<Billed>('/v1/jobs/batch_bill_unpriced')).final;
    expect(unpriced).toMatchObject({ status: 'completed', cost_usd: null, realtime_cost_usd: null });
  });
});
