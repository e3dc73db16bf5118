import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import OpenAI, { toFile } from 'openai';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, s3Env } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl, waitForStatus } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Everything kept has an end: files expire, finished batches are kept for the configured
 * retention, a delete removes the bytes. Run on both stores; "no byte left" is checked by looking
 * for the content in every object of the store and every file of the data directory.
 */
const pipelines: Pipeline[] = [];
afterAll(async () => {
  await Promise.allSettled(pipelines.map((p) => p.stop()));
});

const DAY = 86_400;
const STORES = { local: () => ({}), s3: () => s3Env('retention') };

async function contentLeft(pipeline: Pipeline, needle: string): Promise<string[]> {
  const found: string[] = [];
  const store = pipeline.sluice.store;
  for await (const object of store.list('')) {
    if ((await store.read(object.key))?.includes(needle)) found.push(object.key);
  }
  const entries = await readdir(pipeline.dataDir, { withFileTypes: true, recursive: true });
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    // The embedded log is not used here (Kafka mode); the view holds status records only.
    if ((await readFile(path).catch(() => Buffer.alloc(0))).includes(needle)) found.push(path);
  }
  return found;
}

describe.each(Object.keys(STORES) as (keyof typeof STORES)[])('retention and deletion (%s store)', (kind) => {
  it('expires files at expires_after and finished batches after SLUICE_BATCH_RETENTION_DAYS, bytes and all', async () => {
    const pipeline = await startPipeline({
      label: `retention-${kind}`,
      env: { ...STORES[kind](), SLUICE_BATCH_RETENTION_DAYS: '2', SLUICE_SWEEP_INTERVAL_MS: '3600000' },
    });
    pipelines.push(pipeline);
    const ingest = pipeline.sluice.ingest as NonNullable<Pipeline['sluice']['ingest']>;
    const token = `rt${randomBytes(5).toString('hex')}`;
    const client = new OpenAI({ baseURL: `${pipeline.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const now = Math.floor(Date.now() / 1000);

    const expiring = await client.files.create({
      file: await toFile(
        Buffer.from(`{"custom_id":"${token}-f","method":"POST","url":"/v1/chat/completions","body":{}}\n`),
        'x.jsonl',
      ),
      purpose: 'batch',
      expires_after: { anchor: 'created_at', seconds: 3600 },
    });
    expect(expiring.expires_at).toBeGreaterThanOrEqual(now + 3600);
    const kept = await client.files.create({ file: await toFile(Buffer.from('{}\n'), 'kept.jsonl'), purpose: 'batch' });
    // Without expires_after an upload is kept SLUICE_FILE_RETENTION_DAYS (30 by default).
    expect(kept.expires_at).toBeGreaterThanOrEqual(now + 30 * DAY - 5);

    const { body } = await postJsonl(pipeline.url, domainLines(20, `${token}-batch`));
    const batch = await waitForStatus(pipeline.url, body.id as string);
    expect(batch.status).toBe('completed');
    expect((await contentLeft(pipeline, `${token}-batch`)).length).toBeGreaterThan(0);

    // An hour on: the file is gone, the batch is not.
    await ingest.sweep(now + 3600 + 120);
    await expect(client.files.retrieve(expiring.id)).rejects.toMatchObject({ status: 404 });
    expect(await contentLeft(pipeline, `${token}-f`)).toEqual([]);
    expect((await getJson(`${pipeline.url}/v1/batches/${batch.id}`)).status).toBe(200);
    expect((await client.files.retrieve(kept.id)).id).toBe(kept.id);

    // Two days on: the batch, its output file and its status are gone; no byte of it is left.
    await ingest.sweep(now + 2 * DAY + 60);
    await eventually(
      async () => ((await getJson(`${pipeline.url}/v1/batches/${batch.id}`)).status === 404 ? true : undefined),
      { what: 'the batch to be gone' },
    );
    await expect(client.files.retrieve(batch.output_file_id as string)).rejects.toMatchObject({ status: 404 });
    expect(await contentLeft(pipeline, `${token}-batch`)).toEqual([]);
    // Thirty days on: the upload without its own expiry goes too.
    await ingest.sweep(now + 30 * DAY + 60);
    await expect(client.files.retrieve(kept.id)).rejects.toMatchObject({ status: 404 });
  });

  it('deletes a job on request (not while it runs), and an upload that never became a file', async () => {
    const pipeline = await startPipeline({
      label: `deletion-${kind}`,
      env: STORES[kind](),
      simulator: { latency: { medianMs: 300, p99Ms: 600 } },
    });
    pipelines.push(pipeline);
    const token = `dl${randomBytes(5).toString('hex')}`;
    const created = await fetch(`${pipeline.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        operation: 'label',
        categories: ['billing', 'bug'],
        items: Array.from({ length: 30 }, (_, i) => ({ id: `${token}-${i}`, content: `ticket ${token} ${i}` })),
      }),
    });
    const job = (await created.json()) as { id: string };
    const early = await fetch(`${pipeline.url}/v1/jobs/${job.id}`, { method: 'DELETE' });
    expect(early.status).toBe(409);
    expect(((await early.json()) as { error: { message: string } }).error.message).toMatch(/cancel it first/i);
    await waitForStatus(pipeline.url, job.id);
    const csv = await fetch(`${pipeline.url}/v1/jobs/${job.id}/output?format=csv`);
    expect(await csv.text()).toContain(token);
    const deleted = await fetch(`${pipeline.url}/v1/jobs/${job.id}`, { method: 'DELETE' });
    expect(await deleted.json()).toEqual({ id: job.id, object: 'job.deleted', deleted: true });
    expect((await fetch(`${pipeline.url}/v1/jobs/${job.id}/output`)).status).toBe(404);
    expect(await contentLeft(pipeline, token)).toEqual([]);

    // An upload refused after its bytes were stored (a bad purpose) leaves nothing either.
    const form = new FormData();
    form.append('purpose', 'fine-tune');
    form.append('file', new Blob([`{"custom_id":"${token}-upload"}\n`]), 'x.jsonl');
    const refused = await fetch(`${pipeline.url}/v1/files`, { method: 'POST', body: form });
    expect(refused.status).toBe(400);
    expect(await contentLeft(pipeline, `${token}-upload`)).toEqual([]);
  });
});
