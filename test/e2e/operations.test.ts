import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassifyOperationResult, type OperationRow } from '@sluice/core';
import { BadRequestError, Sluice } from '@sluice/sdk';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { spawnSluice } from '../harness/process.js';

/** The operations API through the TypeScript SDK and the CLI, against the running server on the real broker. */
let pipeline: Pipeline;
let client: Sluice;
let scratch: string;

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'operations',
    simulator: { latency: { medianMs: 10, p99Ms: 40 } },
    env: { SLUICE_PROCESSOR_CONCURRENCY: '32', SLUICE_MAX_SYNC_ITEMS: '20' },
  });
  client = new Sluice({ baseURL: pipeline.url });
  scratch = await mkdtemp(join(tmpdir(), 'sluice-ops-'));
});
afterAll(async () => {
  await pipeline?.stop();
  await rm(scratch, { recursive: true, force: true });
});

const tickets = [
  'I was charged twice for my subscription.',
  'The app crashes when I export a report.',
  'Could you add dark mode?',
  'Please refund my last invoice.',
];
const items = tickets.map((content, i) => ({ content, id: `t-${i}`, channel: i % 2 ? 'chat' : 'email' }));
const categories = ['billing', 'bug', 'feature_request'];
const segments = ['enterprise', 'mid-market', 'smb'];
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** The checks each operation's results must pass, sync or job. */
const checks = {
  classify: (row: OperationRow) => {
    const result = ClassifyOperationResult.parse(row.result);
    expect(categories).toContain(result.label);
    expect(Object.keys(result.scores).sort()).toEqual([...categories].sort());
  },
  extract: (row: OperationRow) => {
    const result = row.result as Record<string, unknown>;
    expect(Object.keys(result).sort()).toEqual(['company', 'issue']);
    for (const value of Object.values(result)) expect(value === null || typeof value === 'string').toBe(true);
  },
  summarize: (row: OperationRow) => {
    const { summary } = row.result as { summary: string };
    expect(typeof summary).toBe('string');
    expect(words(summary)).toBeLessThanOrEqual(12);
  },
  enrich: (row: OperationRow) => {
    const result = row.result as { segment: string; urgent: boolean; context: Record<string, string> };
    expect(segments).toContain(result.segment);
    expect(typeof result.urgent).toBe('boolean');
    expect(Object.keys(result.context).sort()).toEqual(['segment', 'urgent']);
  },
  run: (row: OperationRow) => {
    const result = row.result as { sentiment: string; score: number };
    expect(['positive', 'negative', 'neutral']).toContain(result.sentiment);
    expect(typeof result.score).toBe('number');
  },
};

const params = {
  classify: { categories },
  extract: {
    extraction_instructions: 'Extract the company and the issue.',
    fields: [
      { name: 'company', type: 'string' as const },
      { name: 'issue', type: 'string' as const, description: 'what went wrong' },
    ],
  },
  summarize: { summary_instructions: 'One short sentence.', max_words: 12 },
  enrich: {
    fields: [
      { name: 'segment', type: 'categorical' as const, valid_values: segments, description: 'market segment' },
      { name: 'urgent', type: 'boolean' as const, description: 'needs an answer today' },
    ],
    include_context: true,
  },
  run: {
    operation: 'sentiment',
    system_prompt: 'You rate customer messages.',
    user_prompt_template: 'Channel {channel}. Rate: {content}',
    response_format: {
      type: 'json_schema' as const,
      json_schema: {
        name: 'rating',
        schema: {
          type: 'object',
          properties: {
            sentiment: { type: 'string', enum: ['positive', 'negative', 'neutral'] },
            score: { type: 'number' },
          },
          required: ['sentiment', 'score'],
          additionalProperties: false,
        },
      },
    },
  },
};

describe('operations through the SDK', () => {
  it('runs each operation synchronously; results validate against their schemas', async () => {
    const answers = {
      classify: await client.completions.classify({ items, ...params.classify }),
      extract: await client.completions.extract({ items, ...params.extract }),
      summarize: await client.completions.summarize({ items, ...params.summarize }),
      enrich: await client.completions.enrich({ items, ...params.enrich }),
      run: await client.completions.run({ items, ...params.run }),
    };
    for (const [operation, answer] of Object.entries(answers)) {
      expect(answer.object).toBe('operation.result');
      expect(answer.results.map((r) => r.custom_id)).toEqual(items.map((i) => i.id));
      for (const row of answer.results) {
        expect(row.error).toBeNull();
        expect(row.item).toMatchObject({ content: expect.any(String) });
        checks[operation as keyof typeof checks](row);
      }
      expect(answer.usage.input_tokens).toBeGreaterThan(0);
    }
    const multi = await client.completions.classify({ items, categories, multi_label: true });
    for (const row of multi.results) {
      const result = ClassifyOperationResult.parse(row.result);
      for (const label of result.labels ?? []) expect(categories).toContain(label);
      expect(result.labels?.length).toBeGreaterThan(0);
    }
  });

  it('runs each operation as a job (label for classify); results validate', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({
      ...(items[i % items.length] as (typeof items)[number]),
      id: `job-${i}`,
    }));
    // In a job, `operation` names the job's operation; a run's own free name goes in `name`.
    const { operation: _runName, ...runParams } = params.run;
    const jobs = {
      classify: client.batches.submitAndWait({
        operation: 'label',
        items: many,
        ...params.classify,
        timeoutMs: 120_000,
      }),
      extract: client.batches.submitAndWait({
        operation: 'extract',
        items: many,
        ...params.extract,
        timeoutMs: 120_000,
      }),
      summarize: client.batches.submitAndWait({
        operation: 'summarize',
        items: many,
        ...params.summarize,
        timeoutMs: 120_000,
      }),
      enrich: client.batches.submitAndWait({ operation: 'enrich', items: many, ...params.enrich, timeoutMs: 120_000 }),
      run: client.batches.submitAndWait({
        operation: 'run',
        items: many,
        ...runParams,
        name: 'sentiment',
        timeoutMs: 120_000,
      }),
    };
    for (const [operation, pending] of Object.entries(jobs)) {
      const job = await pending;
      expect(job).toMatchObject({
        object: 'job',
        status: 'completed',
        total_items: 30,
        completed_items: 30,
        progress: 1,
      });
      if (operation === 'classify') expect(job.operation).toBe('label');
      if (operation === 'run') expect(job.name).toBe('sentiment');
      const rows: OperationRow[] = [];
      for await (const row of client.batches.iterOutput(job.id, { pageSize: 7 })) rows.push(row);
      expect(rows.map((r) => r.custom_id)).toEqual(many.map((i) => i.id));
      rows.forEach((row) => checks[operation as keyof typeof checks](row));
    }
  });

  it('iterates 2,500 rows by pages of 1,000 once each, and its CSV parses back to the same rows', async () => {
    const many = Array.from({ length: 2500 }, (_, i) => ({
      content: tickets[i % tickets.length] as string,
      n: i,
      tag: `t,${i % 7}`,
    }));
    const job = await client.batches.submitAndWait({ operation: 'label', items: many, categories, timeoutMs: 170_000 });
    expect(job.status).toBe('completed');
    const rows: OperationRow[] = [];
    for await (const row of client.batches.iterOutput(job.id, { pageSize: 1000 })) rows.push(row);
    expect(rows).toHaveLength(2500);
    expect(new Set(rows.map((r) => r.index)).size).toBe(2500);
    expect(rows.map((r) => r.index)).toEqual(Array.from({ length: 2500 }, (_, i) => i));
    const page = await client.batches.output(job.id, { format: 'json', offset: 1200, limit: 5 });
    expect(page.results.map((r) => r.index)).toEqual([1200, 1201, 1202, 1203, 1204]);
    expect(page).toMatchObject({ total: 2500, has_more: true });

    const csv = await client.batches.output(job.id, { format: 'csv' });
    const parsed = parseCsv(csv, { columns: true }) as Record<string, string>[];
    expect(parsed).toHaveLength(2500);
    expect(Object.keys(parsed[0] ?? {})).toEqual([
      'index',
      'custom_id',
      'content',
      'n',
      'tag',
      'label',
      'confidence',
      ...categories.map((c) => `scores.${c}`),
      'error_code',
      'error_message',
    ]);
    parsed.forEach((cells, i) => {
      const row = rows[i] as OperationRow;
      const result = ClassifyOperationResult.parse(row.result);
      expect(cells).toEqual({
        index: String(row.index),
        custom_id: row.custom_id,
        content: row.item?.content,
        n: String(row.item?.n),
        tag: row.item?.tag,
        label: result.label,
        confidence: String(result.confidence),
        ...Object.fromEntries(categories.map((c) => [`scores.${c}`, String(result.scores[c])])),
        error_code: '',
        error_message: '',
      });
    });
    const path = join(scratch, 'out.jsonl');
    await client.batches.downloadOutput(job.id, path, { format: 'jsonl' });
    expect((await readFile(path, 'utf8')).trim().split('\n')).toHaveLength(2500);
  });

  it('creates a job from an uploaded CSV file, and cancels a running job keeping its finished rows', async () => {
    const csvPath = join(scratch, 'reviews.csv');
    await writeFile(
      csvPath,
      'content,region\n"Great, fast delivery",eu\n"Broke after a day\nwould not buy again",us\nOkay overall,eu\n',
    );
    const uploaded = await client.batches.uploadFile(csvPath, {
      operation: 'label',
      categories: ['positive', 'negative', 'mixed'],
    });
    const done = await client.batches.wait(uploaded.id, { timeoutMs: 60_000 });
    expect(done).toMatchObject({ status: 'completed', total_items: 3 });
    const rows: OperationRow[] = [];
    for await (const row of client.batches.iterOutput(done.id)) rows.push(row);
    expect(rows.map((r) => r.item)).toEqual([
      { content: 'Great, fast delivery', region: 'eu' },
      { content: 'Broke after a day\nwould not buy again', region: 'us' },
      { content: 'Okay overall', region: 'eu' },
    ]);

    const slow = Array.from({ length: 200 }, (_, i) => ({ content: `Review ${i} sim:latency=800` }));
    const job = await client.batches.submit({ operation: 'summarize', items: slow, summary_instructions: 'short' });
    await eventually(async () => ((await client.batches.retrieve(job.id)).completed_items > 0 ? true : undefined), {
      what: 'the first finished rows',
    });
    const cancelling = await client.batches.cancel(job.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    const cancelled = await client.batches.wait(job.id, { timeoutMs: 60_000 });
    expect(cancelled.status).toBe('cancelled');
    expect(cancelled.completed_items).toBeGreaterThan(0);
    expect(cancelled.completed_items).toBeLessThan(200);
    const finished: OperationRow[] = [];
    for await (const row of client.batches.iterOutput(job.id, { pageSize: 50 })) finished.push(row);
    expect(finished).toHaveLength(200);
    expect(finished.filter((r) => r.error === null)).toHaveLength(cancelled.completed_items);
    // Never-sent items are counted as cancelled, not failed (issue 16).
    expect(finished.filter((r) => r.error?.code === 'batch_cancelled')).toHaveLength(cancelled.cancelled_items);
    expect(cancelled.completed_items + cancelled.failed_items + cancelled.cancelled_items).toBe(200);
  });

  it('refuses what a synchronous call cannot take, naming the item and field', async () => {
    const tooMany = Array.from({ length: 21 }, (_, i) => ({ content: `x${i}` }));
    const error = await client.completions.classify({ items: tooMany, categories }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect((error as BadRequestError).code).toBe('sync_limit_exceeded');
    expect((error as BadRequestError).message).toMatch(/POST \/v1\/jobs/);
    await expect(
      client.completions.run({ items: [{ content: 'a' }], user_prompt_template: '{content} for {customer}' }),
    ).rejects.toMatchObject({ status: 400, param: 'items.0.customer' });
    await expect(
      client.batches.submit({
        operation: 'enrich',
        items,
        fields: [{ name: 'x', type: 'categorical', description: 'd' }],
      }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('the CLI', () => {
  it('submit --wait without a terminal prints progress lines and exits 0; a bad argument exits 2 with one line', async () => {
    const file = join(scratch, 'tickets.jsonl');
    await writeFile(file, items.map((i) => JSON.stringify(i)).join('\n') + '\n');
    const out = join(scratch, 'labels.csv');
    const cli = spawnSluice(
      [
        'submit',
        file,
        '--operation',
        'label',
        '--categories',
        categories.join(','),
        '--wait',
        '--output',
        out,
        '--poll-interval',
        '0.2',
        '--base-url',
        pipeline.url,
      ],
      {},
    );
    expect(await cli.exited).toBe(0);
    expect(cli.output.some((line) => /^batch_\w+$/.test(line))).toBe(true);
    expect(cli.output.some((line) => /completed 4\/4 done/.test(line))).toBe(true);
    expect(parseCsv(await readFile(out, 'utf8'), { columns: true })).toHaveLength(4);

    const bad = spawnSluice(
      ['submit', file, '--operation', 'label', '--categories', 'only-one', '--base-url', pipeline.url],
      {},
    );
    expect(await bad.exited).toBe(2);
    const lines = bad.output.filter((line) => line.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^sluice: --categories: /);
  });
});
