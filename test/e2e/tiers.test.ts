import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Consumer, ItemResultMessage } from '@sluice/core';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * The tier of a job (docs/upstreams.md, Tiers), end to end in the embedded log: `cheap` is a
 * simulator offering realtime and flex that refuses half of its flex calls for lack of capacity;
 * `plain` offers realtime only. A flex job's items all go flex and none fails or spends an attempt
 * on a refusal; `auto` with a day's window goes flex; `realtime` goes realtime; a tier the model's
 * upstreams do not offer, and the batch tier (not wired yet), are refused at submit.
 */
let pipeline: Pipeline;
let cheap: Simulator;
let plain: Simulator;
let directory: string;
let reader: Consumer;
/** Every item result on the results topic, by batch id and index (the reader commits nothing: redeliveries are merged). */
const results = new Map<string, Map<number, ItemResultMessage>>();

beforeAll(async () => {
  cheap = await startSimulator({ port: 0, flexUnavailableRate: 0.5, seed: 5 });
  plain = await startSimulator({ port: 0 });
  directory = await mkdtemp(join(tmpdir(), 'sluice-tiers-'));
  const file = join(directory, 'upstreams.yaml');
  await writeFile(
    file,
    [
      'upstreams:',
      '  - name: cheap',
      `    base_url: ${cheap.url}`,
      '    models: [gpt-4o-mini]',
      '    tiers: [realtime, flex]',
      '  - name: plain',
      `    base_url: ${plain.url}`,
      '    models: [plain-model]',
    ].join('\n'),
  );
  pipeline = await startPipeline({
    label: 'tiers',
    env: {
      KAFKA_BROKERS: '',
      SCHEMA_REGISTRY_URL: '',
      OPENAI_BASE_URL: '',
      SLUICE_UPSTREAMS_FILE: file,
      // Refusals are waited out with the retry backoff: short here.
      SLUICE_RETRY_BASE_MS: '20',
      SLUICE_RETRY_MAX_MS: '200',
    },
  });
  reader = pipeline.sluice.transport.consumer({
    groupId: 'tiers-test-reader',
    topics: [pipeline.config.topics.results],
    fromBeginning: true,
  });
  await reader.run(async (batch) => {
    for (const message of batch.messages) {
      const value = message.value;
      if (!value) continue;
      const decoded = JSON.parse(value.toString('utf8', value[0] === 0 ? 5 : 0)) as ItemResultMessage;
      if (decoded.type !== 'item') continue;
      const byIndex = results.get(decoded.batch_id) ?? new Map<number, ItemResultMessage>();
      byIndex.set(decoded.index, decoded);
      results.set(decoded.batch_id, byIndex);
    }
  });
}, 60_000);

afterAll(async () => {
  await reader?.stop();
  await pipeline?.stop();
  await Promise.allSettled([cheap?.close(), plain?.close()]);
  if (directory) await rm(directory, { recursive: true, force: true });
});

interface JobView {
  id: string;
  status: string;
  tier: string;
  completed_items: number;
  failed_items: number;
  retries: number;
}

async function call(method: string, path: string, body?: unknown) {
  const response = await fetch(`${pipeline.url}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

let jobs = 0;
const job = (fields: Record<string, unknown>, count = 20) => {
  const number = ++jobs;
  return call('POST', '/v1/jobs', {
    operation: 'label',
    categories: ['billing', 'bug', 'other'],
    // Every item its own text: identical items would share one answer (deduplication).
    items: Array.from({ length: count }, (_, i) => ({ content: `job ${number} ticket ${i}: charged twice` })),
    ...fields,
  });
};

async function completed(id: string, count: number) {
  const view = await eventually(
    async () => {
      const polled = (await call('GET', `/v1/jobs/${id}`)).body as unknown as JobView;
      return polled.status === 'completed' ? polled : undefined;
    },
    { timeoutMs: 30_000, what: `${id} completed` },
  );
  const byIndex = await eventually(() => ((results.get(id)?.size ?? 0) >= count ? results.get(id) : undefined), {
    what: `${id}'s results on the results topic`,
  });
  const lines = [...byIndex.values()];
  return { view, lines };
}

describe('tiers', () => {
  it('a flex job goes flex, its refusals waited out without failing an item or using an attempt', async () => {
    const created = await job({ tier: 'flex' });
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    expect(created.body.tier).toBe('flex');
    const { view, lines } = await completed(created.body.id as string, 20);
    expect(view).toMatchObject({ tier: 'flex', completed_items: 20, failed_items: 0, retries: 0 });
    expect(lines.map((line) => [line.ok, line.tier, line.attempts, line.upstream])).toEqual(
      Array.from({ length: 20 }, () => [true, 'flex', 1, 'cheap']),
    );
    const seen = cheap.stats().byServiceTier;
    // About half the flex calls were refused: more flex calls than items, and none realtime.
    expect(seen.flex).toBeGreaterThan(20);
    expect(seen.default ?? 0).toBe(0);
  });

  it('auto with a day to go goes flex; realtime goes realtime', async () => {
    const auto = await job({ completion_window: '24h' }, 5);
    expect(auto.body.tier).toBe('auto');
    const autoLines = (await completed(auto.body.id as string, 5)).lines;
    expect(autoLines.every((line) => line.ok && line.tier === 'flex')).toBe(true);

    const before = cheap.stats().byServiceTier.default ?? 0;
    const realtime = await job({ tier: 'realtime' }, 5);
    const { view, lines } = await completed(realtime.body.id as string, 5);
    expect(view.tier).toBe('realtime');
    expect(lines.every((line) => line.ok && line.tier === 'realtime')).toBe(true);
    expect((cheap.stats().byServiceTier.default ?? 0) - before).toBe(5);
  });

  it('refuses at submit a tier no upstream of the model offers, and the batch tier', async () => {
    const flex = await job({ tier: 'flex', model: 'plain-model' }, 2);
    expect(flex.status).toBe(400);
    const message = JSON.stringify(flex.body);
    expect(message).toContain('tier \\"flex\\"');
    expect(message).toContain('plain-model');
    expect(message).toContain('offer: realtime');

    const batch = await job({ tier: 'batch' }, 2);
    expect(batch.status).toBe(400);
    expect(JSON.stringify(batch.body)).toContain('tier \\"batch\\" is not available yet');

    const unknown = await job({ tier: 'cheapest' }, 2);
    expect(unknown.status).toBe(400);

    // The domain API (?tier=) and OpenAI batches (a body field) refuse batch the same way.
    const domain = await fetch(`${pipeline.url}/v1/batches?tier=batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/jsonl' },
      body: `${JSON.stringify({ custom_id: 'a', body: { model: 'classify', text: 'x', labels: ['a', 'b'] } })}\n`,
    });
    expect(domain.status).toBe(400);
    const openai = await call('POST', '/v1/batches', {
      input_file_id: 'file-none',
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      tier: 'batch',
    });
    expect(openai.status).toBe(400);
    expect(JSON.stringify(openai.body)).toContain('not available yet');
    // Nothing of it reached an upstream.
    expect(plain.stats().requests).toBe(0);
  });
});
