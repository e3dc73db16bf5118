import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { ensurePythonOpenAI } from '../harness/python.js';

/**
 * The official `openai` npm package, unchanged, pointed at Sluice. Only its public API is used.
 */
let pipeline: Pipeline;
let client: OpenAI;

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'openai',
    simulator: { latency: { medianMs: 20, p99Ms: 60 } },
    env: { SLUICE_PROCESSOR_CONCURRENCY: '16', SLUICE_MAX_BATCH_REQUESTS: '100' },
  });
  client = new OpenAI({ baseURL: `${pipeline.url}/v1`, apiKey: 'sk-test', maxRetries: 0 });
});
afterAll(async () => {
  await pipeline?.stop();
});

function chatLine(id: string, content: string) {
  return {
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content }], max_tokens: 50 },
  };
}

const jsonl = (lines: unknown[]) => lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n';

async function upload(lines: unknown[], filename = 'requests.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(jsonl(lines)), filename), purpose: 'batch' });
}

async function waitDone(id: string) {
  return eventually(
    async () => {
      const batch = await client.batches.retrieve(id);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(batch.status) ? batch : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 200, what: `batch ${id}` },
  );
}

async function readFileLines<T>(id: string): Promise<T[]> {
  const text = await (await client.files.content(id)).text();
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

interface OutputLine {
  id: string;
  custom_id: string;
  response: { status_code: number; request_id: string | null; body: Record<string, unknown> } | null;
  error: { code: string; message: string } | null;
}

describe('the OpenAI Batch and Files API with the official openai npm package', () => {
  it('runs files.create → batches.create → retrieve → output and error files → list → cancel', async () => {
    // 20 requests; 3 of them fail upstream for good (the simulator's sim:status directive).
    const lines = Array.from({ length: 20 }, (_, i) =>
      chatLine(`req-${i}`, i % 7 === 3 ? `Fail please sim:status=400 (${i})` : `Write a haiku about item ${i}`),
    );
    const failing = lines.filter((l) => l.body.messages[0]?.content.includes('sim:status')).map((l) => l.custom_id);
    expect(failing).toHaveLength(3);

    const file = await upload(lines);
    expect(file).toMatchObject({
      object: 'file',
      purpose: 'batch',
      filename: 'requests.jsonl',
      bytes: jsonl(lines).length,
    });
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);
    const listed = [];
    for await (const f of client.files.list({ purpose: 'batch' })) listed.push(f.id);
    expect(listed).toContain(file.id);

    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
      metadata: { team: 'qa' },
    });
    expect(created).toMatchObject({
      object: 'batch',
      status: 'validating',
      input_file_id: file.id,
      metadata: { team: 'qa' },
    });

    const batch = await waitDone(created.id);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 20, completed: 17, failed: 3, cancelled: 0, expired: 0 });
    expect(batch.model).toBe('gpt-4o-mini');
    expect(batch.usage?.total_tokens).toBeGreaterThan(0);
    for (const field of ['in_progress_at', 'finalizing_at', 'completed_at', 'expires_at'] as const) {
      expect(batch[field]).toEqual(expect.any(Number));
    }

    const output = await readFileLines<OutputLine>(batch.output_file_id as string);
    const errors = await readFileLines<OutputLine>(batch.error_file_id as string);
    expect(output).toHaveLength(17);
    for (const line of output) {
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response).toMatchObject({ status_code: 200, request_id: expect.stringMatching(/^req_/) });
      expect(line.response?.body).toMatchObject({ object: 'chat.completion', model: 'gpt-4o-mini' });
    }
    expect(errors.map((e) => e.custom_id).sort()).toEqual([...failing].sort());
    for (const line of errors) {
      expect(line.response?.status_code).toBe(400);
      expect(line.response?.body).toMatchObject({ error: expect.objectContaining({ message: expect.any(String) }) });
      expect(line.error?.code).toBe('upstream_bad_request');
    }
    const all = [...output, ...errors].map((l) => l.custom_id).sort();
    expect(all).toEqual(lines.map((l) => l.custom_id).sort());
    const outputFile = await client.files.retrieve(batch.output_file_id as string);
    expect(outputFile.purpose).toBe('batch_output');

    // Two more batches for pagination; the newest is cancelled while it runs.
    const small = await client.batches.create({
      input_file_id: (await upload([chatLine('only', 'hi')])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '1h' as '24h', // Sluice accepts 1h–7d; the SDK's type says 24h
    });
    const slowLines = Array.from({ length: 60 }, (_, i) =>
      chatLine(`slow-${i}`, `Take your time sim:latency=1500 #${i}`),
    );
    const slow = await client.batches.create({
      input_file_id: (await upload(slowLines)).id,
      endpoint: '/v1/chat/completions',
      completion_window: '7d' as '24h',
    });
    await eventually(
      async () => ((await client.batches.retrieve(slow.id)).status === 'in_progress' ? true : undefined),
      {
        what: 'the slow batch to start',
      },
    );
    const requestsBefore = pipeline.simulator.stats().requests;
    const cancelling = await client.batches.cancel(slow.id);
    expect(cancelling.status).toBe('cancelling');
    const cancelled = await waitDone(slow.id);
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.cancelled_at).toEqual(expect.any(Number));
    const { completed, failed, total } = cancelled.request_counts ?? { completed: -1, failed: -1, total: -1 };
    // Never-sent lines are counted as cancelled, beside OpenAI's three counts (issue 16).
    const never = (cancelled.request_counts as unknown as { cancelled: number }).cancelled;
    expect(total).toBe(60);
    expect(never).toBeGreaterThan(0);
    expect(completed + failed + never).toBe(60);
    expect(completed).toBeLessThan(60);
    // Unstarted lines were never sent upstream.
    expect(pipeline.simulator.stats().requests - requestsBefore).toBeLessThan(60);
    const cancelledErrors = await readFileLines<OutputLine>(cancelled.error_file_id as string);
    expect(cancelledErrors.every((l) => l.error?.code === 'batch_cancelled')).toBe(true);
    if (completed > 0)
      expect(await readFileLines<OutputLine>(cancelled.output_file_id as string)).toHaveLength(completed);
    await expect(client.batches.cancel(batch.id)).rejects.toMatchObject({ status: 409 });

    const firstPage = await client.batches.list({ limit: 1 });
    expect(firstPage.data).toHaveLength(1);
    expect(firstPage.has_more).toBe(true);
    const ids: string[] = [];
    for await (const b of client.batches.list({ limit: 2 })) ids.push(b.id);
    expect(ids.slice(0, 3)).toEqual([slow.id, small.id, batch.id]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('fails a malformed input file with every bad line named by code, and forwards nothing', async () => {
    const before = await pipeline.sluice.transport.offsets(pipeline.config.topics.requests);
    const good = chatLine('a', 'fine');
    const file = await upload([
      good,
      '{"custom_id": "b", "method": "POST"',
      { method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini' } },
      { ...chatLine('c', 'x'), url: '/v1/embeddings' },
      chatLine('a', 'again'),
      { ...chatLine('d', 'x'), body: { ...good.body, stream: true } },
      { ...chatLine('e', 'x'), method: 'GET' },
      { custom_id: 'f', method: 'POST', url: '/v1/chat/completions', body: { messages: [] } },
    ]);
    const created = await client.batches.create({
      input_file_id: file.id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const batch = await waitDone(created.id);
    expect(batch.status).toBe('failed');
    expect(batch.failed_at).toEqual(expect.any(Number));
    expect(batch.errors?.data?.map((e) => [e.line, e.code, e.param])).toEqual([
      [2, 'invalid_json_line', null],
      [3, 'missing_required_parameter', 'custom_id'],
      [4, 'invalid_url', 'url'],
      [5, 'duplicate_custom_id', 'custom_id'],
      [6, 'streaming_unsupported', 'body.stream'],
      [7, 'invalid_method', 'method'],
      [8, 'missing_required_parameter', 'body.model'],
    ]);
    const empty = await client.batches.create({
      input_file_id: (await upload([])).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect((await waitDone(empty.id)).errors?.data?.[0]?.code).toBe('empty_file');
    const tooMany = await client.batches.create({
      input_file_id: (await upload(Array.from({ length: 101 }, (_, i) => chatLine(`n${i}`, 'x')))).id,
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    const tooManyBatch = await waitDone(tooMany.id);
    expect(tooManyBatch.status).toBe('failed');
    expect(tooManyBatch.errors?.data?.[0]).toMatchObject({ code: 'too_many_requests', line: 101 });
    expect(await pipeline.sluice.transport.offsets(pipeline.config.topics.requests)).toEqual(before);
  });

  it('refuses bad create requests with the field named', async () => {
    const file = await upload([chatLine('x', 'y')]);
    const create = (body: Record<string, unknown>) =>
      client.batches.create({
        input_file_id: file.id,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        ...body,
      } as never);
    await expect(create({ completion_window: '30m' })).rejects.toMatchObject({
      status: 400,
      param: 'completion_window',
    });
    await expect(create({ completion_window: '8d' })).rejects.toMatchObject({
      status: 400,
      param: 'completion_window',
    });
    await expect(create({ endpoint: '/v1/images' })).rejects.toMatchObject({ status: 400, param: 'endpoint' });
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
    await expect(create({ metadata: many })).rejects.toMatchObject({ status: 400, param: 'metadata' });
    await expect(create({ metadata: { ['k'.repeat(65)]: 'v' } })).rejects.toMatchObject({ status: 400 });
    await expect(create({ metadata: { key: 'v'.repeat(513) } })).rejects.toMatchObject({
      status: 400,
      param: 'metadata.key',
    });
    await expect(create({ input_file_id: 'file-doesnotexist' })).rejects.toMatchObject({ status: 404 });
    const done = await waitDone(
      (
        await client.batches.create({
          input_file_id: file.id,
          endpoint: '/v1/chat/completions',
          completion_window: '2h' as '24h',
        })
      ).id,
    );
    await expect(create({ input_file_id: done.output_file_id })).rejects.toMatchObject({
      status: 400,
      param: 'input_file_id',
      code: 'invalid_file_purpose',
    });
    await expect(
      client.files.create({ file: await toFile(Buffer.from('{}\n'), 'notes.txt'), purpose: 'batch' }),
    ).rejects.toMatchObject({ status: 400, param: 'file' });
    await expect(
      client.files.create({ file: await toFile(Buffer.from('{}\n'), 'x.jsonl'), purpose: 'fine-tune' }),
    ).rejects.toMatchObject({ status: 400, param: 'purpose' });
    const deleted = await client.files.delete(file.id);
    expect(deleted).toMatchObject({ id: file.id, deleted: true });
    await expect(client.files.retrieve(file.id)).rejects.toMatchObject({ status: 404 });
  });

  it('works unchanged from the official openai Python package', async () => {
    const python = await ensurePythonOpenAI();
    const script = join(import.meta.dirname, '..', 'python', 'openai_flow.py');
    const { stdout } = await promisify(execFile)(python, [script], {
      env: { ...process.env, SLUICE_BASE_URL: `${pipeline.url}/v1` },
      timeout: 170_000,
    });
    const summary = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { ok: boolean; listed: number };
    expect(summary.ok).toBe(true);
    expect(summary.listed).toBeGreaterThanOrEqual(3);
  });
});
