import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '@sluice/simulator';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { metricValue } from '../harness/output-contract.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Several upstreams at once (docs/upstreams.md), each a real simulator on its own port, listed in
 * SLUICE_UPSTREAMS_FILE: a job's model picks the upstreams that serve it; a model's replicas share
 * its items by what each can take; a replica closed for real mid-job is routed around with no item
 * lost, failed, repeated or charged an attempt. In the embedded log and on Kafka.
 */
const pipelines: Pipeline[] = [];
const simulators: Simulator[] = [];
const directories: string[] = [];
afterAll(async () => {
  await Promise.allSettled(pipelines.map((pipeline) => pipeline.stop()));
  await Promise.allSettled(simulators.map((simulator) => simulator.close()));
  await Promise.allSettled(directories.map((directory) => rm(directory, { recursive: true, force: true })));
});

const MODES = { embedded: { KAFKA_BROKERS: '', SCHEMA_REGISTRY_URL: '' }, kafka: {} } as const;

async function simulator(options: SimulatorOptions): Promise<Simulator> {
  const started = await startSimulator({ port: 0, ...options });
  simulators.push(started);
  return started;
}

interface JobView {
  id: string;
  status: string;
  completed_items: number;
  failed_items: number;
  retries: number;
}

/**
 * A pipeline whose upstreams are `fast` and `slow` (replicas of `shared`, 4 calls at a time each,
 * one four times slower) and `solo` (the only upstream of `own`, which it knows as `solo-model`).
 */
async function fleet(mode: keyof typeof MODES) {
  const fast = await simulator({ latency: { medianMs: 15, p99Ms: 20 } });
  const slow = await simulator({ latency: { medianMs: 60, p99Ms: 75 } });
  const solo = await simulator({ latency: { medianMs: 5, p99Ms: 10 } });
  const directory = await mkdtemp(join(tmpdir(), `sluice-upstreams-${mode}-`));
  directories.push(directory);
  const file = join(directory, 'upstreams.yaml');
  await writeFile(
    file,
    [
      'upstreams:',
      ...[
        ['fast', fast, '[shared]'],
        ['slow', slow, '[shared]'],
        ['solo', solo, '{own: solo-model}'],
      ].map(([name, at, models]) =>
        [
          `  - name: ${name as string}`,
          `    base_url: ${(at as Simulator).url}`,
          `    models: ${models as string}`,
          '    concurrency: 4',
        ].join('\n'),
      ),
    ].join('\n'),
  );
  const started = await startPipeline({
    label: `upstreams-${mode}`,
    // The file is the only source of upstreams: the harness's own simulator (OPENAI_BASE_URL) is left out.
    // 32 items read ahead, not 256: a job's items are placed as earlier ones finish, once both
    // replicas' latencies are known (the very first read-ahead of a job is placed before they are).
    env: { ...MODES[mode], OPENAI_BASE_URL: '', SLUICE_UPSTREAMS_FILE: file, SLUICE_PROCESSOR_CONCURRENCY: '32' },
  });
  pipelines.push(started);
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${started.url}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    expect(response.status, text).toBe(200);
    return text;
  };
  let jobs = 0;
  const submit = async (model: string, count: number) => {
    const job = ++jobs;
    const created = JSON.parse(
      await call('POST', '/v1/jobs', {
        operation: 'label',
        model,
        categories: ['billing', 'bug', 'other'],
        // Every item its own text: identical items would share one answer (deduplication).
        items: Array.from({ length: count }, (_, i) => ({ content: `${mode} job ${job} ticket ${i}: charged twice` })),
      }),
    ) as JobView;
    return created.id;
  };
  const completed = (id: string) =>
    eventually(
      async () => {
        const view = JSON.parse(await call('GET', `/v1/jobs/${id}`)) as JobView;
        return view.status === 'completed' ? view : undefined;
      },
      { timeoutMs: 60_000, what: `${id} completed` },
    );
  const rows = async (id: string) =>
    (await call('GET', `/v1/jobs/${id}/output?format=jsonl`))
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { index: number; error: unknown });
  const calls = (upstream: string) =>
    metricValue(started.sluice.metrics, 'sluice_upstream_calls_total', { upstream, outcome: 'ok' });
  return { pipeline: started, fast, slow, solo, submit, completed, rows, calls };
}

describe.each(Object.keys(MODES) as (keyof typeof MODES)[])('many upstreams (%s)', (mode) => {
  it('routes by model, spreads a model over its replicas by speed, and routes around one that dies mid-job', async () => {
    const { pipeline, fast, slow, solo, submit, completed, rows, calls } = await fleet(mode);

    // Routing: `own` goes to solo only, under its own name there.
    const own = await completed(await submit('own', 20));
    expect(own.completed_items).toBe(20);
    expect(solo.stats().requests).toBe(20);
    expect(fast.stats().requests + slow.stats().requests).toBe(0);
    expect(await calls('solo')).toBe(20);

    // Replicas: the one four times slower takes about a fifth of `shared`, not half.
    const spread = await completed(await submit('shared', 200));
    expect(spread.completed_items).toBe(200);
    const slowShare = slow.stats().requests / (fast.stats().requests + slow.stats().requests);
    expect(slowShare).toBeGreaterThan(0.05);
    expect(slowShare).toBeLessThan(0.35);
    expect(solo.stats().requests).toBe(20);

    // Failover: the fast replica is closed for real once it has answered part of the job.
    const before = fast.stats().requests;
    const id = await submit('shared', 300);
    await eventually(() => (fast.stats().requests >= before + 40 ? true : undefined), {
      intervalMs: 20,
      what: 'the fast replica answering the job',
    });
    await fast.close();
    const survived = await completed(id);
    expect(survived.completed_items).toBe(300);
    expect(survived.failed_items).toBe(0);
    // Its death cost no item an attempt.
    expect(survived.retries).toBe(0);
    const lines = await rows(id);
    expect(lines).toHaveLength(300);
    expect(new Set(lines.map((line) => line.index)).size).toBe(300);
    expect(lines.every((line) => line.error === null)).toBe(true);
    expect(
      await metricValue(pipeline.sluice.metrics, 'sluice_upstream_state', { upstream: 'fast', state: 'down' }),
    ).toBe(1);
    expect(
      await metricValue(pipeline.sluice.metrics, 'sluice_upstream_rerouted_total', { upstream: 'fast' }),
    ).toBeGreaterThan(0);
    // /readyz names the upstream that is down, and stays ready while another answers.
    const ready = (await (await fetch(`${pipeline.url}/readyz`)).json()) as {
      status: string;
      checks: { name: string; ok: boolean }[];
    };
    expect(ready.status).toBe('ready');
    expect(ready.checks.find((check) => check.name === 'upstream:fast')?.ok).toBe(false);
    expect(ready.checks.find((check) => check.name === 'upstream:slow')?.ok).toBe(true);
  });
});
