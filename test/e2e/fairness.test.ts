import { Sluice } from '@sluice/sdk';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Interactive work first, tenants share fairly (docs/fairness.md). Tenant A's jobs saturate a
 * 600 rpm limit; a synchronous call of tenant C (through the TypeScript SDK) and a small job of
 * tenant B must not queue behind them, even when every requests partition has a backlog. Measured
 * in A's own items finished meanwhile, not in seconds: the order is the behaviour.
 */
const KEYS = { a: 'key-a', b: 'key-b', c: 'key-c' };
const pipelines: Pipeline[] = [];
afterAll(async () => {
  await Promise.allSettled(pipelines.map((p) => p.stop()));
});

interface JobView {
  id: string;
  status: string;
  completed_items: number;
  failed_items: number;
}

const LOGS = { kafka: {}, embedded: { KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: '' } } as const;

const done = (view: JobView) => view.completed_items + view.failed_items;

/** A pipeline whose upstream allows 600 requests a minute, with three tenants' keys, and calls to it. */
async function saturated(log: keyof typeof LOGS, label: string, env: Record<string, string> = {}) {
  const pipeline = await startPipeline({
    label,
    env: {
      ...LOGS[log],
      SLUICE_UPSTREAM_RPM: '600',
      SLUICE_API_KEYS: `${KEYS.a}=tenant-a,${KEYS.b}=tenant-b,${KEYS.c}=tenant-c`,
      ...env,
    },
    simulator: { latency: { medianMs: 20, p99Ms: 40 } },
  });
  pipelines.push(pipeline);
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${pipeline.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const parsed = (await response.json()) as Record<string, unknown>;
    expect(response.status, JSON.stringify(parsed)).toBe(200);
    return parsed;
  };
  // Every job's items are its own: identical items would be answered once (deduplication) and
  // finish without an upstream call, which is not what these tests measure.
  let jobs = 0;
  const submit = async (key: string, tenant: string, count: number) => {
    const job = ++jobs;
    return (
      (await call(key, 'POST', '/v1/jobs', {
        operation: 'label',
        categories: ['billing', 'bug', 'other'],
        items: Array.from({ length: count }, (_, i) => ({
          content: `${tenant} job ${job} ticket ${i}: charged twice`,
        })),
      })) as unknown as JobView
    ).id;
  };
  const job = async (key: string, id: string) => (await call(key, 'GET', `/v1/jobs/${id}`)) as unknown as JobView;
  const completed = (key: string, id: string) =>
    eventually(
      async () => {
        const view = await job(key, id);
        return view.status === 'completed' ? view : undefined;
      },
      { timeoutMs: 120_000, what: `${id} completed` },
    );
  // Tenant C's synchronous call, through the TypeScript SDK.
  const client = new Sluice({ baseURL: pipeline.url, apiKey: KEYS.c, maxRetries: 0 });
  const classify = async () => {
    const answer = await client.completions.classify({
      items: [{ content: 'tenant-c: where is my parcel?' }],
      categories: ['billing', 'shipping', 'other'],
    });
    expect(answer.results[0]?.error).toBeNull();
  };
  return { call, submit, job, completed, classify };
}

describe.each(Object.keys(LOGS) as (keyof typeof LOGS)[])('fair sharing of the upstream limit (%s)', (log) => {
  it('answers another tenant’s sync call before the backlog, and gives a second tenant’s job an equal share', async () => {
    const { call, submit, job, completed, classify } = await saturated(log, `fair-${log}`);

    const big = await submit(KEYS.a, 'tenant-a', 1000);
    // The limiter is saturated: A's items queue in it and its pace is the limit's (10 a second).
    await eventually(async () => (done(await job(KEYS.a, big)) >= 30 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'A under way',
    });

    // A synchronous call goes before A's queued items: A finishes only a few meanwhile (the
    // answer's way back through the results topic), not the hundreds queued ahead of it.
    const aBeforeSync = done(await job(KEYS.a, big));
    await classify();
    const aDuringSync = done(await job(KEYS.a, big)) - aBeforeSync;
    expect(aDuringSync).toBeLessThan(40);

    // B's job shares the limit with A from its first item: about as many of A's items finish as B's.
    const aBeforeB = done(await job(KEYS.a, big));
    const small = await submit(KEYS.b, 'tenant-b', 40);
    const finished = await completed(KEYS.b, small);
    const aDuringB = done(await job(KEYS.a, big)) - aBeforeB;
    expect(finished.completed_items).toBe(40);
    expect(aDuringB).toBeLessThan(40 * 2 + 20);
    const left = await job(KEYS.a, big);
    expect(done(left)).toBeLessThan(1000);
    await call(KEYS.a, 'POST', `/v1/jobs/${big}/cancel`);
  });

  it('answers a sync call at once even when every requests partition has a backlog', async () => {
    // Two requests partitions, each with a big job (A's and B's): whichever partition a call were
    // placed on, hundreds of items would be ahead of it in the log. Calls have a topic and a
    // consumer of their own.
    const { call, submit, job, classify } = await saturated(log, `fair-full-${log}`, { SLUICE_PARTITIONS: '2' });
    const bigs = [
      { key: KEYS.a, id: await submit(KEYS.a, 'tenant-a', 600) },
      { key: KEYS.b, id: await submit(KEYS.b, 'tenant-b', 600) },
      { key: KEYS.a, id: await submit(KEYS.a, 'tenant-a', 600) },
    ];
    const doneOfBig = async () => {
      let sum = 0;
      for (const { key, id } of bigs) sum += done(await job(key, id));
      return sum;
    };
    await eventually(async () => ((await doneOfBig()) >= 30 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'the big jobs under way',
    });
    for (let round = 0; round < 3; round++) {
      const before = await doneOfBig();
      await classify();
      expect((await doneOfBig()) - before).toBeLessThan(40);
    }
    expect(await doneOfBig()).toBeLessThan(1800);
    for (const { key, id } of bigs) await call(key, 'POST', `/v1/jobs/${id}/cancel`);
  });

  it('keeps one tenant’s many jobs from taking every partition: another tenant’s job still gets its share', async () => {
    // Four big jobs of A on four partitions: spread by backlog alone, they would fill all four, and
    // B's job would wait behind hundreds of A's items; with work slots shared by partition, A's
    // three partitions would get three slots for B's one. A tenant takes all partitions but one at
    // most, and slots go tenant by tenant.
    const { call, submit, job, completed } = await saturated(log, `fair-tenant-${log}`, { SLUICE_PARTITIONS: '4' });
    const bigs: string[] = [];
    for (let i = 0; i < 4; i++) bigs.push(await submit(KEYS.a, 'tenant-a', 500));
    const doneOfA = async () => {
      let sum = 0;
      for (const id of bigs) sum += done(await job(KEYS.a, id));
      return sum;
    };
    await eventually(async () => ((await doneOfA()) >= 30 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'A under way',
    });
    const aBefore = await doneOfA();
    const small = await submit(KEYS.b, 'tenant-b', 60);
    const finished = await completed(KEYS.b, small);
    expect(finished.completed_items).toBe(60);
    expect((await doneOfA()) - aBefore).toBeLessThan(60 * 2 + 20);
    for (const id of bigs) await call(KEYS.a, 'POST', `/v1/jobs/${id}/cancel`);
  });
});
