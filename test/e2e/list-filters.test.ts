import { Sluice } from '@sluice/sdk';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { spawnSluice } from '../harness/process.js';

/**
 * `?status=` on the batch and job lists: served from an index by status, so every page is full and
 * paging reaches every match, and a batch moves between statuses as it runs. Through HTTP, the
 * TypeScript SDK and the CLI.
 */
let pipeline: Pipeline;
let client: Sluice;
const completed: string[] = [];
let slow = '';

interface Listed {
  data: { id: string; status: string }[];
  has_more: boolean;
  last_id: string | null;
}

const list = async (query: string) => {
  const response = await fetch(`${pipeline.url}${query}`);
  return { status: response.status, body: (await response.json()) as Listed & { error?: { param: string } } };
};

beforeAll(async () => {
  pipeline = await startPipeline({ label: 'listfilter', simulator: { latency: { medianMs: 10, p99Ms: 30 } } });
  client = new Sluice({ baseURL: pipeline.url, maxRetries: 0 });
  for (let i = 0; i < 3; i++) {
    const job = await client.batches.submitAndWait({
      operation: 'label',
      categories: ['billing', 'other'],
      items: [{ content: `ticket ${i}: refund please` }],
      pollIntervalMs: 100,
    });
    expect(job.status).toBe('completed');
    completed.push(job.id);
  }
  // Newer than the completed ones, and running for minutes unless cancelled.
  const running = await client.batches.submit({
    operation: 'summarize',
    summary_instructions: 'short',
    items: Array.from({ length: 50 }, (_, i) => ({ content: `note ${i} sim:latency=5000` })),
  });
  slow = running.id;
  await eventually(async () => ((await client.batches.retrieve(slow)).status === 'in_progress' ? true : undefined), {
    what: 'the slow job in progress',
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

describe('listing by status', () => {
  it('pages through only the batches in a status, newest first, with full pages', async () => {
    const first = await list('/v1/jobs?status=completed&limit=2');
    expect(first.status).toBe(200);
    expect(first.body.data.map((job) => job.id)).toEqual([completed[2], completed[1]]);
    expect(first.body.has_more).toBe(true);
    const second = await list(`/v1/jobs?status=completed&limit=2&after=${first.body.last_id ?? ''}`);
    expect(second.body.data.map((job) => job.id)).toEqual([completed[0]]);
    expect(second.body.has_more).toBe(false);
    // The same through the batch list, of every API.
    const batches = await list('/v1/batches?status=in_progress');
    expect(batches.body.data.map((batch) => batch.id)).toEqual([slow]);
    const bad = await list('/v1/batches?status=done');
    expect(bad.status).toBe(400);
    expect(bad.body.error?.param).toBe('status');
  });

  it('moves a batch to its new status as it changes', async () => {
    await client.batches.cancel(slow);
    await client.batches.wait(slow, { timeoutMs: 60_000, pollIntervalMs: 100 });
    const cancelled = await client.batches.list({ status: 'cancelled' });
    expect(cancelled.data.map((job) => job.id)).toEqual([slow]);
    expect((await client.batches.list({ status: 'in_progress' })).data).toEqual([]);
    expect((await client.batches.list({ status: 'completed', limit: 10 })).data.map((job) => job.id)).toEqual(
      [...completed].reverse(),
    );
  });

  it('sluice list --status filters, and names the statuses when given another word', async () => {
    const cli = spawnSluice(['list', '--status', 'completed', '--json', '--base-url', pipeline.url], {});
    expect(await cli.exited).toBe(0);
    const listed = cli.output.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { id: string });
    expect(listed.map((batch) => batch.id)).toEqual([...completed].reverse());

    const wrong = spawnSluice(['list', '--status', 'finished', '--base-url', pipeline.url], {});
    expect(await wrong.exited).toBe(2);
    expect(wrong.output.join('\n')).toMatch(/--status: 'finished' is not a status; use one of validating, failed/);
  });
});
