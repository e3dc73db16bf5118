import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createS3Store, type Store } from '@sluice/core';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra, s3Env } from '../harness/context.js';
import { Cluster, finishedItems, submitBatches, verifyExactlyOnce } from '../harness/cluster.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl, readJsonl, waitForStatus, type BatchView } from '../harness/http.js';

/**
 * Sluice on "several machines": two ingest, two processor and two sink processes, each with its
 * own empty local directory, sharing only the broker and one S3 endpoint (S3Proxy). Whatever one
 * ingest accepted, the other serves; a sink killed mid-batch loses and repeats nothing; deleting
 * leaves no byte behind anywhere.
 */
let cluster: Cluster;
let store: Store;
const token = `zq${randomBytes(5).toString('hex')}`;

beforeAll(async () => {
  const env = s3Env('machines');
  cluster = await Cluster.start({
    label: 'machines',
    ingests: 2,
    processors: 2,
    sinks: 2,
    ownDirectories: true,
    simulator: { latency: { medianMs: 40, p99Ms: 150 } },
    env: { ...env, SLUICE_PROCESSOR_CONCURRENCY: '16', SLUICE_SINK_FLUSH_MS: '300' },
  });
  const { s3 } = infra();
  const url = new URL(env.SLUICE_STORAGE_URL as string);
  store = await createS3Store({
    bucket: url.hostname,
    prefix: `${url.pathname.slice(1)}/`,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await store?.deletePrefix('');
  await store?.close();
});

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });

function openaiLines(count: number, marker: string) {
  return Array.from({ length: count }, (_, i) => ({
    custom_id: `${marker}-${i}`,
    method: 'POST',
    url: '/v1/chat/completions',
    body: {
      model: 'gpt-4o-mini',
      messages: [
        { role: 'user', content: `Say hello to ${marker} number ${i}${i % 10 === 3 ? ' sim:status=400' : ''}` },
      ],
    },
  }));
}

/** Every object under the test's prefix and every file of every member's directory that contains `needle`. */
async function whereIs(needle: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of store.list('')) {
    const bytes = await store.read(object.key);
    if (bytes?.includes(needle)) found.push(`s3:${object.key}`);
  }
  for (const member of cluster.members) {
    for (const path of await filesUnder(member.dataDir)) {
      if ((await readFile(path).catch(() => Buffer.alloc(0))).includes(needle)) found.push(path);
    }
  }
  return found;
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

describe('Sluice on several machines (own directories, one broker, one S3 endpoint)', () => {
  let openaiBatch: { id: string; inputFileId: string; outputFileId: string; errorFileId: string };

  it('a file uploaded through ingest A makes a batch created through ingest B; both serve status, output and error files', async () => {
    const [a, b] = cluster.urls.map(client) as [OpenAI, OpenAI];
    const lines = openaiLines(40, `${token}-openai`);
    const file = await a.files.create({
      file: await toFile(Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n'), 'machines.jsonl'),
      purpose: 'batch',
    });
    expect((await b.files.retrieve(file.id)).bytes).toBe(file.bytes);
    const created = await b.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const [viaA, viaB] = (await Promise.all(cluster.urls.map((url) => waitForStatus(url, created.id)))) as [
      BatchView,
      BatchView,
    ];
    expect(viaA.status).toBe('completed');
    expect(viaB).toMatchObject({ status: 'completed', request_counts: { total: 40, completed: 36, failed: 4 } });
    const outputs = await Promise.all(
      [a, b].map(async (c) => (await (await c.files.content(viaA.output_file_id as string)).text()).trim().split('\n')),
    );
    expect(outputs[0]).toEqual(outputs[1]);
    expect(outputs[0]).toHaveLength(36);
    const errors = (await (await a.files.content(viaB.error_file_id as string)).text()).trim().split('\n');
    expect(errors.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id).sort()).toEqual(
      ['3', '13', '23', '33'].map((i) => `${token}-openai-${i}`).sort(),
    );
    const listed = async (c: OpenAI) => {
      const ids: string[] = [];
      for await (const f of c.files.list()) ids.push(f.id);
      return ids.sort();
    };
    expect(await listed(a)).toEqual(await listed(b));
    openaiBatch = {
      id: created.id,
      inputFileId: file.id,
      outputFileId: viaA.output_file_id as string,
      errorFileId: viaA.error_file_id as string,
    };
  });

  it('serves the partial output of a running batch through either ingest', async () => {
    const lines = domainLines(400, `${token}-partial`).map((line) => ({
      ...line,
      body: { ...line.body, text: `${String(line.body.text)} sim:latency=150` },
    }));
    const { status, body } = await postJsonl(cluster.urls[1] as string, lines);
    expect(status).toBe(200);
    const id = body.id as string;
    for (const url of cluster.urls) {
      const partial = await eventually(
        async () => {
          const response = await fetch(`${url}/v1/batches/${id}/output`);
          const text = await response.text();
          const count = text.split('\n').filter(Boolean).length;
          return response.headers.get('x-sluice-partial') === 'true' && count > 0 && count < 400
            ? { count, text }
            : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 100, what: `partial output through ${url}` },
      );
      const indexes = partial.text
        .split('\n')
        .filter(Boolean)
        .map((l) => Number((JSON.parse(l) as { custom_id: string }).custom_id.split('-').pop()));
      expect(indexes).toEqual([...indexes].sort((x, y) => x - y)); // input order
    }
    await waitForStatus(cluster.urls[0] as string, id);
    const final = await Promise.all(cluster.urls.map((url) => readJsonl(`${url}/v1/batches/${id}/output`)));
    expect(final[0]).toHaveLength(400);
    expect(final[1]).toEqual(final[0]);
  });

  it('keeps nothing a user can list of synchronous calls, and deletes their data at once', async () => {
    const ids: string[] = [];
    for (const url of cluster.urls) {
      const response = await fetch(`${url}/v1/operations/classify`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ categories: ['a', 'b'], items: [{ id: 'x', content: `${token}-sync ticket` }] }),
      });
      expect(response.status).toBe(200);
      ids.push(((await response.json()) as { id: string }).id);
    }
    for (const url of cluster.urls) {
      const files = await getJson<{ data: { filename: string }[] }>(`${url}/v1/files`);
      expect(files.body.data.some((f) => ids.some((id) => f.filename.startsWith(id)))).toBe(false);
      const batches = await getJson<{ data: { id: string }[] }>(`${url}/v1/batches?limit=100`);
      expect(batches.body.data.some((b) => ids.includes(b.id))).toBe(false);
    }
    await eventually(async () => ((await whereIs(`${token}-sync`)).length === 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 500,
      what: 'the synchronous calls’ data to be gone',
    });
  });

  it('kill -9 of a sink mid-batch: every custom_id exactly once, read through either ingest', async () => {
    const batches = [
      ...(await submitBatches(cluster.urls[0] as string, 2, 300, `${token}-chaos-a`)),
      ...(await submitBatches(cluster.urls[1] as string, 1, 300, `${token}-chaos-b`)),
    ];
    await eventually(
      async () =>
        (await finishedItems(
          cluster.urls[0] as string,
          batches.map((b) => b.id),
        )) >= 250
          ? true
          : undefined,
      { timeoutMs: 120_000, intervalMs: 50, what: '250 finished items' },
    );
    const sinks = cluster.indexesOf('sink');
    cluster.members[sinks[0] as number]?.process.kill('SIGKILL');
    await cluster.members[sinks[0] as number]?.process.exited;
    const viaB = await verifyExactlyOnce(cluster.urls[1] as string, batches);
    expect(viaB).toEqual({ items: 900, lost: 0, duplicated: 0 });
    const viaA = await verifyExactlyOnce(cluster.urls[0] as string, batches);
    expect(viaA).toEqual({ items: 900, lost: 0, duplicated: 0 });
    await cluster.launch(sinks[0] as number);
  });

  it('deleting files and batches, through either ingest, leaves no byte of their content anywhere', async () => {
    const [a, b] = cluster.urls.map(client) as [OpenAI, OpenAI];
    expect((await whereIs(`${token}-openai`)).length).toBeGreaterThan(0);

    // The output file: its bytes and every copy go (the batch's /output with them).
    await b.files.delete(openaiBatch.outputFileId);
    await expect(a.files.retrieve(openaiBatch.outputFileId)).rejects.toMatchObject({ status: 404 });
    const output = await fetch(`${cluster.urls[0]}/v1/batches/${openaiBatch.id}/output`);
    expect(output.status).toBe(404);
    // The uploaded input file, then the batch (its error file, input copy and status record).
    await a.files.delete(openaiBatch.inputFileId);
    await expect(b.files.content(openaiBatch.inputFileId)).rejects.toMatchObject({ status: 404 });
    const running = await postJsonl(
      cluster.urls[0] as string,
      domainLines(3, `${token}-later`).map((line) => ({
        ...line,
        body: { ...line.body, text: `${String(line.body.text)} sim:latency=10000` },
      })),
    );
    const deleted = await fetch(`${cluster.urls[1]}/v1/batches/${openaiBatch.id}`, { method: 'DELETE' });
    expect(await deleted.json()).toEqual({ id: openaiBatch.id, object: 'batch.deleted', deleted: true });
    for (const url of cluster.urls) {
      await eventually(
        async () => ((await getJson(`${url}/v1/batches/${openaiBatch.id}`)).status === 404 ? true : undefined),
        { what: `batch ${openaiBatch.id} gone from ${url}` },
      );
    }
    await expect(a.files.retrieve(openaiBatch.errorFileId)).rejects.toMatchObject({ status: 404 });
    expect(await whereIs(`${token}-openai`)).toEqual([]);

    // A batch still running cannot be deleted; once final it can.
    const runningId = running.body.id as string;
    const early = await fetch(`${cluster.urls[0]}/v1/batches/${runningId}`, { method: 'DELETE' });
    expect(early.status).toBe(409);
    await waitForStatus(cluster.urls[0] as string, runningId);
    await fetch(`${cluster.urls[0]}/v1/batches/${runningId}`, { method: 'DELETE' });

    // Every batch of the partial-output test, deleted through ingest B.
    const { body } = await getJson<{ data: BatchView[] }>(`${cluster.urls[1]}/v1/batches?limit=100`);
    for (const batch of body.data) {
      const answer = await fetch(`${cluster.urls[1]}/v1/batches/${batch.id}`, { method: 'DELETE' });
      expect(answer.status).toBe(200);
    }
    for (const marker of [`${token}-partial`, `${token}-chaos`, `${token}-later`]) {
      expect(await whereIs(marker)).toEqual([]);
    }
  });
});
