import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DryRun, Job } from '@sluice/core';
import { BadRequestError, ConflictError, NotFoundError, Sluice } from '@sluice/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { apiCaller, finishedAt, type BatchView } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { spawnSluice } from '../harness/process.js';

/**
 * Issue 16: retry only what failed, dry runs, honest progress counts and per-request timeouts,
 * through HTTP, the TypeScript SDK and the CLI, on the real broker with the simulator upstream.
 */
let pipeline: Pipeline;
let client: Sluice;
let other: Sluice;
let scratch: string;
const KEY = 'sk-retry-a';
const OTHER_KEY = 'sk-retry-b';
const call = apiCaller(() => pipeline.url, { authorization: `Bearer ${KEY}` });

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'retry-estimates',
    simulator: { latency: { medianMs: 10, p99Ms: 40 } },
    env: {
      SLUICE_API_KEYS: `${KEY}=tenant-a,${OTHER_KEY}=tenant-b`,
      SLUICE_PROCESSOR_CONCURRENCY: '16',
      SLUICE_UPSTREAM_TIMEOUT_MS: '10000',
      SLUICE_MAX_ATTEMPTS: '1',
      SLUICE_UPSTREAM_RPM: '600',
    },
  });
  client = new Sluice({ baseURL: pipeline.url, apiKey: KEY });
  other = new Sluice({ baseURL: pipeline.url, apiKey: OTHER_KEY });
  scratch = await mkdtemp(join(tmpdir(), 'sluice-retry-'));
});
afterAll(async () => {
  await pipeline?.stop();
  await rm(scratch, { recursive: true, force: true });
});

const categories = ['billing', 'bug', 'feature_request'];
// `sim:status=400` makes the simulator refuse that item: not retriable, so it fails.
const items = [
  { id: 'ok-1', content: 'I was charged twice.' },
  { id: 'bad-1', content: 'The app crashes. sim:status=400' },
  { id: 'ok-2', content: 'Please add dark mode.' },
  { id: 'bad-2', content: 'Refund my invoice. sim:status=400' },
];

describe('retry only what failed', () => {
  it('a job stores and shows its parameters; its retry holds exactly the failed items, same parameters, retry_of', async () => {
    const job = await client.batches.submit({
      operation: 'label',
      categories,
      items,
      metadata: { team: 'support' },
      completion_window: '2h',
    } as never);
    expect(job.parameters).toMatchObject({ categories, multi_label: false });
    const done = await client.batches.wait(job.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    expect(done).toMatchObject({ status: 'completed', completed_items: 2, failed_items: 2 });

    await expect(other.batches.retry(job.id)).rejects.toBeInstanceOf(NotFoundError);
    const retried = await client.batches.retry(job.id);
    expect(Job.parse(retried)).toMatchObject({
      operation: 'label',
      total_items: 2,
      parameters: job.parameters,
      completion_window: '2h',
      metadata: { team: 'support', retry_of: job.id },
    });
    const final = await client.batches.wait(retried.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    const rows = (await client.batches.output(final.id)).results;
    expect(rows.map((row) => row.custom_id).sort()).toEqual(['bad-1', 'bad-2']);

    // The retry failed too (same inputs); a retry of a retry takes those again.
    const again = await client.batches.retry(final.id);
    expect(again.metadata).toMatchObject({ retry_of: final.id });
    expect(again.total_items).toBe(2);
  });

  it('refuses a job that is still running (409) and one with nothing to retry (400)', async () => {
    const slow = await client.batches.submit({
      operation: 'label',
      categories,
      items: [{ content: 'slow one sim:latency=4000' }],
    });
    const conflict = await client.batches.retry(slow.id).catch((error: unknown) => error);
    expect(conflict).toBeInstanceOf(ConflictError);
    expect((conflict as ConflictError).message).toMatch(/only a finished batch can be retried/);

    const fine = await client.batches.submit({ operation: 'label', categories, items: [items[0] as never] });
    await client.batches.wait(fine.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    const nothing = await client.batches.retry(fine.id).catch((error: unknown) => error);
    expect(nothing).toBeInstanceOf(BadRequestError);
    expect((nothing as BadRequestError).message).toMatch(/every item of batch_\w+ completed/);
  });

  it('a domain batch over HTTP: POST /v1/batches/{id}/retry answers the new batch object', async () => {
    const lines = [
      { custom_id: 'd-ok', body: { model: 'classify', text: 'Great product', labels: ['pos', 'neg'] } },
      { custom_id: 'd-bad', body: { model: 'classify', text: 'sim:status=400 broken', labels: ['pos', 'neg'] } },
    ];
    const created = await call('POST', '/v1/batches', {
      headers: { 'content-type': 'application/jsonl' },
      body: lines.map((line) => JSON.stringify(line)).join('\n'),
    });
    const batch = created.body as BatchView;
    const running = await call('POST', `/v1/batches/${batch.id}/retry`);
    // Either still running (409, OpenAI's error shape) or, on a fast machine, already done.
    if (running.status === 409) expect(running.body.error).toBeDefined();
    await finishedAt(call, `/v1/batches/${batch.id}`);
    const response = await call('POST', `/v1/batches/${batch.id}/retry`);
    expect(response.status, response.text).toBe(200);
    const retried = response.body as BatchView;
    expect(retried).toMatchObject({
      object: 'batch',
      // The source's endpoint: a domain batch names the realtime endpoint its lines answer on.
      endpoint: batch.endpoint,
      request_counts: { total: 1 },
      metadata: { retry_of: batch.id },
    });
    const elsewhere = await call('POST', `/v1/batches/${batch.id}/retry`, {
      headers: { authorization: `Bearer ${OTHER_KEY}` },
    });
    expect(elsewhere.status).toBe(404);
  });

  it('the CLI: sluice retry ID --wait prints the new id and waits for the retry to finish', async () => {
    const job = await client.batches.submit({ operation: 'label', categories, items });
    await client.batches.wait(job.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    const cli = spawnSluice(['retry', job.id, '--wait', '--poll-interval', '0.2', '--base-url', pipeline.url], {
      SLUICE_API_KEY: KEY,
    });
    // The retry completes (its items fail again: same inputs), so the command exits 0.
    expect(await cli.exited).toBe(0);
    const id = cli.output.find((line) => /^batch_\w+$/.test(line));
    expect(id).toBeDefined();
    expect(cli.output.some((line) => line.includes(`retrying 2 items of ${job.id}`))).toBe(true);
    expect(cli.output.some((line) => /completed 2\/2 done, 2 failed/.test(line))).toBe(true);
    expect((await client.batches.retrieve(id as string)).metadata).toMatchObject({ retry_of: job.id });
  });
});

describe('dry runs', () => {
  const jobsCount = async () => (await client.batches.list({ limit: 100 })).data.length;

  it('POST /v1/jobs?dry_run=true estimates with the real tokenizer and creates nothing', async () => {
    const before = await jobsCount();
    const estimate = await client.batches.submit({ operation: 'label', categories, items }, { dryRun: true });
    expect(DryRun.parse(estimate)).toMatchObject({
      object: 'dry_run',
      items: 4,
      model: 'gpt-4o-mini',
      input_tokens_method: 'tokenizer:o200k_base',
      // classify: 64 + 16 per category, per item
      max_output_tokens: 4 * (64 + 16 * 3),
    });
    expect(estimate.input_tokens).toBeGreaterThan(4 * 60);
    expect(estimate.estimated_cost_usd).toBeGreaterThan(0);
    // Items are called at realtime (auto's cheaper tier is not chosen yet): the same as realtime's.
    expect(estimate.estimated_realtime_cost_usd).toBe(estimate.estimated_cost_usd);
    // 600 requests per minute: 4 items take at least 0.4 s.
    expect(estimate.estimated_seconds).toBeGreaterThanOrEqual(0.4);
    expect(await jobsCount()).toBe(before);
  });

  it('answers the same errors as a submit', async () => {
    const bad = { operation: 'label', categories, items: [{ content: '' }] } as const;
    const submitted = await call('POST', '/v1/jobs', { json: bad });
    const dry = await call('POST', '/v1/jobs?dry_run=true', { json: bad });
    expect(dry.status).toBe(400);
    expect(submitted.status).toBe(400);
    expect(dry.body).toEqual(submitted.body);
  });

  it('a domain JSONL body, and a model without a tokenizer, over HTTP', async () => {
    const response = await call('POST', '/v1/batches?dry_run=true', {
      headers: { 'content-type': 'application/jsonl' },
      body: JSON.stringify({ custom_id: 'x', body: { model: 'summarize', text: 'a'.repeat(400) } }),
    });
    expect(response.status, response.text).toBe(200);
    expect(response.body).toMatchObject({ object: 'dry_run', items: 1 });
    const local = await client.batches.submit(
      {
        operation: 'summarize',
        model: 'smollm2-135m',
        summary_instructions: 'short',
        items: [{ content: 'a'.repeat(400) }],
      },
      { dryRun: true },
    );
    expect(local).toMatchObject({ input_tokens_method: 'estimate:chars/4', estimated_cost_usd: null });
    expect(local.input_tokens).toBeGreaterThanOrEqual(100);
  });

  it('the CLI: submit --dry-run --json prints the estimate and submits nothing', async () => {
    const file = join(scratch, 'dry.jsonl');
    await writeFile(file, items.map((item) => JSON.stringify(item)).join('\n') + '\n');
    const before = await jobsCount();
    const cli = spawnSluice(
      [
        'submit',
        file,
        '--operation',
        'label',
        '--categories',
        categories.join(','),
        '--dry-run',
        '--json',
        '--base-url',
        pipeline.url,
      ],
      { SLUICE_API_KEY: KEY },
    );
    expect(await cli.exited).toBe(0);
    const printed = JSON.parse(cli.output.join('\n').slice(cli.output.join('\n').indexOf('{'))) as DryRun;
    expect(printed).toMatchObject({ object: 'dry_run', items: 4 });
    expect(await jobsCount()).toBe(before);
  });
  it('the CLI: run --dry-run checks FILE in its own embedded server and prints the estimate', async () => {
    const file = join(scratch, 'run-dry.jsonl');
    await writeFile(file, items.map((item) => JSON.stringify(item)).join('\n') + '\n');
    const cli = spawnSluice(['run', file, '--operation', 'label', '--categories', categories.join(','), '--dry-run'], {
      SLUICE_DATA_DIR: join(scratch, 'run-data'),
      SLUICE_UPSTREAM_RPM: '60',
    });
    expect(await cli.exited).toBe(0);
    const text = cli.output.join('\n');
    expect(text).toMatch(/valid: 4 items for gpt-4o-mini \(nothing was submitted\)/);
    expect(text).toMatch(/input tokens: \d+ \(tokenizer:o200k_base\)/);
    // 4 items at 60 requests per minute.
    expect(text).toMatch(/time: about 4s at the configured limits/);
    const bad = spawnSluice(['run', file, '--operation', 'label', '--categories', 'only-one', '--dry-run'], {
      SLUICE_DATA_DIR: join(scratch, 'run-data'),
    });
    expect(await bad.exited).toBe(2);
  });
});

describe('honest progress and per-request timeouts', () => {
  it('a cancelled job counts its never-sent items as cancelled, not failed, and the counts add up', async () => {
    const slow = Array.from({ length: 40 }, (_, i) => ({ content: `ticket ${i} sim:latency=300` }));
    const job = await client.batches.submit({ operation: 'label', categories, items: slow });
    await eventually(async () => ((await client.batches.retrieve(job.id)).completed_items > 0 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'some items to finish',
    });
    const running = await client.batches.retrieve(job.id);
    expect(running.eta_seconds === null || running.eta_seconds >= 0).toBe(true);
    await client.batches.cancel(job.id);
    const final = await client.batches.wait(job.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    expect(final.status).toBe('cancelled');
    expect(final.cancelled_items).toBeGreaterThan(0);
    expect(final.completed_items + final.failed_items + final.cancelled_items + final.expired_items).toBe(40);
    expect(final.eta_seconds).toBe(0);
    const batch = (await call('GET', `/v1/batches/${job.id}`)).body as {
      request_counts: { total: number; completed: number; failed: number; cancelled: number; expired: number };
    };
    const counts = batch.request_counts;
    expect(counts.completed + counts.failed + counts.cancelled + counts.expired).toBe(counts.total);
    expect(counts.failed).toBe(final.failed_items);
  });

  it('a job with request_timeout_seconds fails a slow call at that timeout; above the server bound is a 400', async () => {
    const tooLong = await client.batches
      .submit({ operation: 'label', categories, items, request_timeout_seconds: 11 })
      .catch((error: unknown) => error);
    expect(tooLong).toBeInstanceOf(BadRequestError);
    expect((tooLong as BadRequestError).message).toMatch(/SLUICE_UPSTREAM_TIMEOUT_MS/);

    const started = Date.now();
    const job = await client.batches.submit({
      operation: 'label',
      categories,
      request_timeout_seconds: 1,
      items: [
        { id: 'slow', content: 'very slow sim:latency=8000' },
        { id: 'fast', content: 'quick' },
      ],
    });
    expect(job.request_timeout_seconds).toBe(1);
    const final = await client.batches.wait(job.id, { pollIntervalMs: 100, timeoutMs: 60_000 });
    expect(Date.now() - started).toBeLessThan(7000);
    expect(final).toMatchObject({ completed_items: 1, failed_items: 1 });
    const rows = (await client.batches.output(job.id)).results;
    expect(rows.find((row) => row.custom_id === 'slow')?.error?.code).toBe('upstream_timeout');
  });
});
