import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSluice, type RunningSluice } from '@sluice/cli';
import { compileConfig, createLocalStore, createLogger, parseEnv, putJson, storeKeys, type Store } from '@sluice/core';
import {
  ProviderBatches,
  type ProviderBatchItem,
  type ProviderBatchLine,
  type ProviderBatchRecord,
} from '@sluice/processor';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getJson } from '../harness/http.js';

/**
 * The batch tier's provider client (issue 24) against a second Sluice playing the provider: its
 * OpenAI Files + Batches API is the one the official SDKs accept. The provider runs embedded (no
 * Kafka) with the simulator as its upstream, 2 calls in flight so that a slow batch can be cancelled.
 */
let simulator: Simulator;
let provider: RunningSluice;
let providerDir: string;
let journalDir: string;
let scratchDir: string;
let store: Store;

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
  providerDir = await mkdtemp(join(tmpdir(), 'sluice-provider-'));
  journalDir = await mkdtemp(join(tmpdir(), 'sluice-journal-'));
  scratchDir = await mkdtemp(join(tmpdir(), 'sluice-scratch-'));
  const config = compileConfig(
    parseEnv({
      SLUICE_DATA_DIR: providerDir,
      HOST: '127.0.0.1',
      PORT: '0',
      OPENAI_BASE_URL: simulator.url,
      SLUICE_PROCESSOR_CONCURRENCY: '2',
      SLUICE_STATUS_INTERVAL_MS: '100',
      SLUICE_COMMIT_INTERVAL_MS: '100',
      LOG_LEVEL: 'error',
    }),
  );
  provider = await startSluice(config, {
    roles: ['ingest', 'processor', 'sink'],
    logger: createLogger({ name: 'provider', level: 'error' }),
  });
  store = createLocalStore({ directory: journalDir });
});
afterAll(async () => {
  await provider?.stop();
  await simulator?.close();
  await store?.close();
  await Promise.all([providerDir, journalDir, scratchDir].map((dir) => rm(dir, { recursive: true, force: true })));
});

const client = (options: { maxRequestsPerFile?: number } = {}) =>
  new ProviderBatches({
    upstream: { name: 'sluice-b', baseUrl: `${provider.url}/v1`, apiKey: 'unused', headers: { 'x-test': 'tiers' } },
    store,
    pollIntervalMs: 200,
    scratchDirectory: scratchDir,
    ...options,
  });

const items = (prefix: string, n: number, text = (i: number) => `Ticket ${prefix} number ${i}.`): ProviderBatchItem[] =>
  Array.from({ length: n }, (_, i) => ({
    customId: `${prefix}-${i}`,
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text(i) }] },
  }));

async function providerBatchIds(): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const page: { body: { data: { id: string }[]; has_more: boolean } } = await getJson(
      `${provider.url}/v1/batches?limit=100${after ? `&after=${after}` : ''}`,
    );
    ids.push(...page.body.data.map((b) => b.id));
    if (!page.body.has_more) return ids;
    after = page.body.data.at(-1)?.id ?? null;
  }
}

async function journalKeys(): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list('provider-batches/')) keys.push(object.key);
  return keys;
}

describe('provider batches (a second Sluice as the provider)', () => {
  it('splits 30 items into 2 provider batches; a restarted client resumes polling them, submits nothing again, and maps every answer back once', async () => {
    const before = await providerBatchIds();
    const submitted = await client({ maxRequestsPerFile: 20 }).submit('job-a', items('a', 30));
    expect(submitted.map((r) => [r.state, r.customIds.length])).toEqual([
      ['submitted', 20],
      ['submitted', 10],
    ]);
    expect(await readdir(scratchDir)).toEqual([]); // input files are removed once uploaded
    const created = (await providerBatchIds()).filter((id) => !before.includes(id));
    expect(created.sort()).toEqual(submitted.map((r) => r.providerBatchId).sort());

    // The process "dies" here: a new client over the same journal picks the batches up.
    const restarted = client({ maxRequestsPerFile: 20 });
    const resumed = await restarted.resume('job-a');
    expect(resumed.map((r) => r.providerBatchId).sort()).toEqual(created.sort());
    const answers = new Map<string, ProviderBatchLine[]>();
    for (const record of resumed) {
      const batch = await restarted.wait(record);
      expect(batch.status).toBe('completed');
      const outcome = await restarted.collect(record, (line) => {
        answers.set(line.customId, [...(answers.get(line.customId) ?? []), line]);
      });
      expect(outcome).toMatchObject({ status: 'completed', failed: 0, unfinished: [] });
      await restarted.finish(record);
      const input = await getJson(`${provider.url}/v1/files/${record.inputFileId}`);
      expect(input.status).toBe(404);
      const output = await getJson(`${provider.url}/v1/files/${batch.output_file_id}`);
      expect(output.status).toBe(404);
    }
    expect([...answers.keys()].sort()).toEqual(
      items('a', 30)
        .map((i) => i.customId)
        .sort(),
    );
    for (const [customId, lines] of answers) {
      expect(lines).toHaveLength(1);
      const line = lines[0] as ProviderBatchLine & { ok: true };
      expect(line.ok).toBe(true);
      const content = (line.body as { choices: { message: { content: string } }[] }).choices[0]?.message.content;
      // The simulator quotes the item's text: each answer belongs to its own item.
      expect(content).toContain(`number ${customId.split('-')[1]}.`);
    }
    expect((await providerBatchIds()).filter((id) => !before.includes(id))).toHaveLength(2);
    expect(await journalKeys()).toEqual([]);
  });

  it('cancels a running provider batch: finished items come back answered, the rest unfinished, each once', async () => {
    const batches = client();
    const slow = items('c', 12, (i) => `Slow ticket ${i}. sim:latency=1500`);
    const [record] = await batches.submit('job-c', slow);
    if (!record) throw new Error('nothing submitted');
    for (;;) {
      const batch = await batches.status(record);
      if (batch.status === 'in_progress' && (batch.request_counts?.completed ?? 0) >= 1) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const cancelling = await batches.cancel(record);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    expect((await batches.wait(record)).status).toBe('cancelled');
    const answered: string[] = [];
    const outcome = await batches.collect(record, (line) => {
      expect(line.ok).toBe(true);
      answered.push(line.customId);
    });
    expect(outcome.status).toBe('cancelled');
    expect(answered.length).toBeGreaterThan(0);
    expect(outcome.unfinished.length).toBeGreaterThan(0);
    expect([...answered, ...outcome.unfinished].sort()).toEqual(slow.map((i) => i.customId).sort());
    await batches.finish(record);
  });

  it('hands back every custom_id of a provider batch that failed', async () => {
    const batches = client();
    const mixed = items('f', 5);
    // One model per batch file, as OpenAI requires: the provider fails the whole batch at validation.
    (mixed[3] as ProviderBatchItem).body.model = 'gpt-4o';
    const [record] = await batches.submit('job-f', mixed);
    if (!record) throw new Error('nothing submitted');
    const batch = await batches.wait(record);
    expect(batch.status).toBe('failed');
    const lines: ProviderBatchLine[] = [];
    const outcome = await batches.collect(record, (line) => void lines.push(line));
    expect(lines).toEqual([]);
    expect(outcome).toMatchObject({ status: 'failed', succeeded: 0, failed: 0 });
    expect(outcome.unfinished).toEqual(mixed.map((i) => i.customId));
    await batches.finish(record);
    expect(await journalKeys()).toEqual([]);
  });

  it('after a crash between create and its journal entry, resume finds the batch instead of creating another; a file never uploaded is handed back unsent', async () => {
    // What a process that died mid-submit leaves in the journal: one file uploaded (its create's
    // answer never came back), one file whose upload never reached the provider.
    const lines = items('r', 3)
      .map((i) => JSON.stringify({ custom_id: i.customId, method: 'POST', url: '/v1/chat/completions', body: i.body }))
      .join('\n');
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${lines}\n`]), 'pb_00000000000000000000000a.jsonl');
    const uploaded = (await (await fetch(`${provider.url}/v1/files`, { method: 'POST', body: form })).json()) as {
      id: string;
    };
    // The create reached the provider; its answer was lost with the process.
    const before = await providerBatchIds();
    const lost = (await (
      await fetch(`${provider.url}/v1/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          input_file_id: uploaded.id,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
        }),
      })
    ).json()) as { id: string };
    const base = { upstream: 'sluice-b', job: 'job-r', providerBatchId: null, bytes: 0, createdAtMs: Date.now() };
    const halfDone: ProviderBatchRecord = {
      ...base,
      journalId: 'pb_00000000000000000000000a',
      state: 'uploaded',
      filename: 'pb_00000000000000000000000a.jsonl',
      inputFileId: uploaded.id,
      customIds: ['r-0', 'r-1', 'r-2'],
    };
    const neverUploaded: ProviderBatchRecord = {
      ...base,
      journalId: 'pb_00000000000000000000000b',
      state: 'uploading',
      filename: 'pb_00000000000000000000000b.jsonl',
      inputFileId: null,
      customIds: ['u-0', 'u-1'],
    };
    for (const record of [halfDone, neverUploaded]) {
      await putJson(store, storeKeys.providerBatch(record.upstream, record.journalId), record);
    }
    const first = await client().resume('job-r');
    expect(first.map((r) => r.state)).toEqual(['submitted', 'unsent']);
    expect(first[0]?.providerBatchId).toBe(lost.id);
    // A second restart polls the same batch: still exactly one new provider batch.
    const again = client();
    const second = await again.resume('job-r');
    expect(second.map((r) => r.providerBatchId)).toEqual(first.map((r) => r.providerBatchId));
    expect((await providerBatchIds()).filter((id) => !before.includes(id))).toEqual([lost.id]);

    const [created, unsent] = second as [ProviderBatchRecord, ProviderBatchRecord];
    expect((await again.wait(created)).status).toBe('completed');
    const answered: string[] = [];
    expect(await again.collect(created, (line) => void answered.push(line.customId))).toMatchObject({ unfinished: [] });
    expect(answered.sort()).toEqual(['r-0', 'r-1', 'r-2']);
    expect(await again.collect(unsent, () => undefined)).toEqual({
      status: 'unsent',
      succeeded: 0,
      failed: 0,
      unfinished: ['u-0', 'u-1'],
    });
    await again.finish(created);
    await again.finish(unsent);
    expect(await journalKeys()).toEqual([]);
  });
});
