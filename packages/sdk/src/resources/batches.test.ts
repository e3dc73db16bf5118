import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OperationRow } from '@sluice/core/contracts';
import { afterEach, describe, expect, it } from 'vitest';
import { Sluice, WaitTimeoutError, type Job } from '../index.js';
import { jobFixture, sendJson, startServer, type TestServer } from '../testing/http-server.js';

const servers: TestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const row = (index: number): OperationRow => ({
  index,
  custom_id: `item-${index}`,
  item: { content: `text ${index}` },
  result: { summary: `summary ${index}` },
  usage: { input_tokens: 3, output_tokens: 2 },
  error: null,
});

/**
 * Serves a job's output as `GET /v1/jobs/{id}/output` does: pages of [offset, offset+limit),
 * the limit capped at `maxLimit`, holding only the rows `finished` says are done.
 */
async function outputServer(
  total: number,
  { maxLimit = 10_000, finished = () => true }: { maxLimit?: number; finished?: (index: number) => boolean } = {},
): Promise<TestServer> {
  const server = await startServer((request, response) => {
    const format = request.url.searchParams.get('format');
    if (format === 'jsonl') {
      response.writeHead(200, { 'content-type': 'application/jsonl' });
      for (let index = 0; index < total; index++) response.write(`${JSON.stringify(row(index))}\n`);
      return void response.end();
    }
    const offset = Number(request.url.searchParams.get('offset') ?? 0);
    const limit = Math.min(Number(request.url.searchParams.get('limit') ?? 1000), maxLimit);
    const results = [];
    for (let index = offset; index < Math.min(offset + limit, total); index++) {
      if (finished(index)) results.push(row(index));
    }
    sendJson(response, 200, {
      object: 'output.page',
      id: 'batch_test',
      status: 'completed',
      offset,
      limit,
      total,
      has_more: offset + limit < total,
      results,
    });
  });
  servers.push(server);
  return server;
}

async function collect(rows: AsyncIterable<OperationRow>): Promise<number[]> {
  const indexes = [];
  for await (const r of rows) indexes.push(r.index);
  return indexes;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('iterOutput', () => {
  it('pages through 2,500 rows, yielding each row once, in order', async () => {
    const api = await outputServer(2500);
    const client = new Sluice({ baseURL: api.url });
    expect(await collect(client.batches.iterOutput('batch_test'))).toEqual(range(2500));
    expect(api.seen.map((r) => r.url.searchParams.get('offset'))).toEqual(['0', '1000', '2000']);
    expect(api.seen.every((r) => r.url.searchParams.get('format') === 'json')).toBe(true);
  });

  it('steps by the limit the server applied when it caps the page size', async () => {
    const api = await outputServer(2500, { maxLimit: 700 });
    const client = new Sluice({ baseURL: api.url });
    expect(await collect(client.batches.iterOutput('batch_test', { pageSize: 1000 }))).toEqual(range(2500));
    expect(api.seen.map((r) => r.url.searchParams.get('offset'))).toEqual(['0', '700', '1400', '2100']);
  });

  it('steps over whole ranges when a running job’s pages hold only finished rows', async () => {
    const api = await outputServer(2500, { finished: (index) => index % 3 !== 0 });
    const client = new Sluice({ baseURL: api.url });
    expect(await collect(client.batches.iterOutput('batch_test'))).toEqual(range(2500).filter((i) => i % 3 !== 0));
    expect(api.seen).toHaveLength(3);
  });

  it('makes one request for an empty output', async () => {
    const api = await outputServer(0);
    expect(await collect(new Sluice({ baseURL: api.url }).batches.iterOutput('batch_test'))).toEqual([]);
    expect(api.seen).toHaveLength(1);
  });
});

describe('downloadOutput', () => {
  it('writes a JSON array by paging, and returns the bytes written', async () => {
    const api = await outputServer(2500);
    const path = join(await mkdtemp(join(tmpdir(), 'sluice-dl-')), 'out.json');
    const bytes = await new Sluice({ baseURL: api.url }).batches.downloadOutput('batch_test', path, {
      format: 'json',
      pageSize: 1000,
    });
    const rows = JSON.parse(await readFile(path, 'utf8')) as OperationRow[];
    expect(rows.map((r) => r.index)).toEqual(range(2500));
    expect((await stat(path)).size).toBe(bytes);
  });

  it('streams JSONL as the server sends it', async () => {
    const api = await outputServer(50);
    const path = join(await mkdtemp(join(tmpdir(), 'sluice-dl-')), 'out.jsonl');
    const bytes = await new Sluice({ baseURL: api.url }).batches.downloadOutput('batch_test', path);
    const lines = (await readFile(path, 'utf8')).trimEnd().split('\n');
    expect(lines).toHaveLength(50);
    expect((await stat(path)).size).toBe(bytes);
    expect(api.seen[0]?.url.searchParams.get('format')).toBe('jsonl');
  });
});

describe('wait', () => {
  /** Answers every `GET /v1/jobs/{id}` (and the submit) with the next status of `statuses`; the last one repeats. */
  async function jobServer(statuses: Job['status'][]): Promise<TestServer> {
    const server = await startServer((_request, response) => {
      const status = statuses[Math.min(server.seen.length, statuses.length) - 1] ?? 'in_progress';
      sendJson(response, 200, jobFixture({ status }));
    });
    servers.push(server);
    return server;
  }

  it('polls until the job is final, reporting every read', async () => {
    const api = await jobServer(['validating', 'in_progress', 'completed']);
    const seen: string[] = [];
    const job = await new Sluice({ baseURL: api.url }).batches.wait('batch_test', {
      pollIntervalMs: 10,
      onProgress: (current) => seen.push(current.status),
    });
    expect(job.status).toBe('completed');
    expect(seen).toEqual(['validating', 'in_progress', 'completed']);
  });

  it('throws WaitTimeoutError, holding the last job read, once timeoutMs has passed', async () => {
    const api = await jobServer(['in_progress']);
    const started = Date.now();
    const error = await new Sluice({ baseURL: api.url }).batches
      .wait('batch_test', { timeoutMs: 300, pollIntervalMs: 50 })
      .catch((e: unknown) => e);
    const elapsed = Date.now() - started;
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error).toMatchObject({ id: 'batch_test', timeoutMs: 300, last: { status: 'in_progress' } });
    expect(elapsed).toBeGreaterThanOrEqual(300);
    expect(elapsed).toBeLessThan(1000);
  });

  it('submitAndWait submits once, then waits', async () => {
    const api = await jobServer(['in_progress', 'completed']);
    const job = await new Sluice({ baseURL: api.url }).batches.submitAndWait({
      operation: 'label',
      categories: ['billing', 'bug'],
      items: [{ content: 'I was charged twice' }],
      pollIntervalMs: 10,
    });
    expect(job.status).toBe('completed');
    expect(api.seen[0]).toMatchObject({ method: 'POST' });
    expect(JSON.parse(api.seen[0]?.body ?? '')).toEqual({
      operation: 'label',
      categories: ['billing', 'bug'],
      items: [{ content: 'I was charged twice' }],
    });
    expect(api.seen.slice(1).every((r) => r.method === 'GET' && r.url.pathname === '/v1/jobs/batch_test')).toBe(true);
  });
});
