import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Sluice } from '@sluice/sdk';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { spawnSluice } from '../harness/process.js';

/**
 * Identical upstream requests of a tenant are sent once (docs/deduplication.md): counted at the
 * simulator, which answers every POST /v1/* it receives.
 */
let pipeline: Pipeline;
const A = { authorization: 'Bearer key-a' };
const B = { authorization: 'Bearer key-b' };

interface Status {
  id: string;
  status: string;
  request_counts: { total: number; completed: number; failed: number };
  usage: { input_tokens: number; input_tokens_details: { cached_tokens: number }; cached_items: number };
  output_file_id: string | null;
}

interface OutputLine {
  custom_id: string;
  response: {
    status_code: number;
    body: {
      choices: { message: { content: string } }[];
      usage: { prompt_tokens: number; prompt_tokens_details?: { cached_tokens: number } };
    };
  };
}

async function post(path: string, headers: Record<string, string>, body: unknown, contentType = 'application/json') {
  const response = await fetch(`${pipeline.url}${path}`, {
    method: 'POST',
    headers: { ...headers, ...(body instanceof FormData ? {} : { 'content-type': contentType }) },
    body: typeof body === 'string' || body instanceof FormData ? body : JSON.stringify(body),
  });
  const parsed = (await response.json()) as Record<string, unknown>;
  expect(response.status, JSON.stringify(parsed)).toBe(200);
  return parsed;
}

async function finished(path: string, headers: Record<string, string>): Promise<Status> {
  return eventually(
    async () => {
      const status = (await (await fetch(`${pipeline.url}${path}`, { headers })).json()) as Status;
      return status.status === 'completed' ? status : undefined;
    },
    { timeoutMs: 120_000, what: path },
  );
}

/** Upstream calls made while `run` runs. */
async function upstreamCalls(sim: Pipeline['simulator'], run: () => Promise<void>): Promise<number> {
  const before = sim.stats().requests;
  await run();
  return sim.stats().requests - before;
}

/** 12 classify lines over 4 distinct texts; the custom_ids are all different. */
function classifyJsonl(prefix: string, texts = 4, count = 12): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      custom_id: `${prefix}-${i}`,
      body: {
        model: 'classify',
        text: `Ticket ${i % texts}: charged twice, please refund.`,
        labels: ['billing', 'bug'],
      },
    }),
  ).join('\n');
}

async function domainBatch(headers: Record<string, string>, jsonl: string, query = ''): Promise<Status> {
  const created = await post(`/v1/batches${query}`, headers, jsonl, 'application/jsonl');
  return finished(`/v1/batches/${created.id as string}`, headers);
}

async function output(id: string, headers: Record<string, string>): Promise<OutputLine[]> {
  const text = await (await fetch(`${pipeline.url}/v1/batches/${id}/output`, { headers })).text();
  return text
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as OutputLine);
}

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'dedup',
    env: { SLUICE_API_KEYS: 'key-a=tenant-a,key-b=tenant-b' },
    simulator: { latency: { medianMs: 30, p99Ms: 60 } },
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

describe('deduplication of identical upstream requests', () => {
  it('sends duplicates within a batch once, fans the answer out to every custom_id, and counts the cached items', async () => {
    let batch: Status | undefined;
    const calls = await upstreamCalls(pipeline.simulator, async () => {
      batch = await domainBatch(A, classifyJsonl('first'));
    });
    expect(calls).toBe(4);
    expect(batch?.request_counts).toEqual({ total: 12, completed: 12, failed: 0, cancelled: 0, expired: 0 });
    expect(batch?.usage.cached_items).toBe(8);
    expect(batch?.usage.input_tokens_details.cached_tokens).toBeGreaterThan(0);
    expect(batch?.usage.input_tokens_details.cached_tokens).toBeLessThan(batch?.usage.input_tokens ?? 0);

    const lines = await output(batch?.id as string, A);
    expect(lines.map((l) => l.custom_id)).toEqual(Array.from({ length: 12 }, (_, i) => `first-${i}`));
    // Items with the same text got the same answer; the reused ones say their prompt was cached.
    for (const [i, line] of lines.entries()) {
      const twin = lines[i % 4] as OutputLine;
      expect(line.response.body.choices[0]?.message.content).toBe(twin.response.body.choices[0]?.message.content);
    }
    const cachedLines = lines.filter((l) => l.response.body.usage.prompt_tokens_details?.cached_tokens);
    expect(cachedLines).toHaveLength(8);
    for (const line of cachedLines)
      expect(line.response.body.usage.prompt_tokens_details?.cached_tokens).toBe(
        line.response.body.usage.prompt_tokens,
      );
  });

  it('answers the same batch again within the window without any upstream call', async () => {
    let batch: Status | undefined;
    const calls = await upstreamCalls(pipeline.simulator, async () => {
      batch = await domainBatch(A, classifyJsonl('again'));
    });
    expect(calls).toBe(0);
    expect(batch?.usage.cached_items).toBe(12);
    expect(batch?.usage.input_tokens_details.cached_tokens).toBe(batch?.usage.input_tokens);
  });

  it('keeps answers without a store object per item: what a batch leaves in the store does not grow with its items', async () => {
    const objects = async () => {
      const keys: string[] = [];
      for await (const object of pipeline.sluice.store.list('')) keys.push(object.key);
      return keys;
    };
    const newObjects = async (jsonl: string) => {
      const before = new Set(await objects());
      await domainBatch(A, jsonl);
      return (await objects()).filter((key) => !before.has(key));
    };
    // 4 new distinct requests in 12 items, then 40 in 120: ten times the answers, the same objects.
    const small = await newObjects(classifyJsonl('objects-small', 4, 12).replaceAll('Ticket', 'Small ticket'));
    const large = await newObjects(classifyJsonl('objects-large', 40, 120).replaceAll('Ticket', 'Large ticket'));
    // The sink writes a results segment and its bill per flush (an interval of time, not of
    // items), and the processor what it learnt of the upstream (one object per upstream): neither
    // is compared.
    const withoutSegments = (keys: string[]) =>
      keys.filter(
        (key) =>
          !/\/results\/\d+\.seg$/.test(key) && !/\/results\/bill\//.test(key) && !key.startsWith('state/upstreams/'),
      );
    expect(withoutSegments(large)).toHaveLength(withoutSegments(small).length);
    expect([...small, ...large].filter((key) => key.startsWith('answers/'))).toEqual([]);
  });

  it('never shares answers between tenants', async () => {
    const calls = await upstreamCalls(pipeline.simulator, async () => {
      const batch = await domainBatch(B, classifyJsonl('other-tenant'));
      expect(batch.usage.cached_items).toBe(8);
    });
    expect(calls).toBe(4);
  });

  it('sends every request of a batch that opts out', async () => {
    const calls = await upstreamCalls(pipeline.simulator, async () => {
      const batch = await domainBatch(A, classifyJsonl('opted-out'), '?dedup=false');
      expect(batch.usage.cached_items).toBe(0);
    });
    expect(calls).toBe(12);
  });

  it('refuses a dedup value it does not know, naming it', async () => {
    const response = await fetch(`${pipeline.url}/v1/batches?dedup=maybe`, {
      method: 'POST',
      headers: { ...A, 'content-type': 'application/jsonl' },
      body: classifyJsonl('bad'),
    });
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('dedup');
  });

  it('deduplicates operations jobs by default', async () => {
    const items = Array.from({ length: 10 }, (_, i) => ({ content: `Order ${i % 2} arrived broken.` }));
    let job: Status | undefined;
    const calls = await upstreamCalls(pipeline.simulator, async () => {
      const created = await post('/v1/jobs', A, { operation: 'label', items, categories: ['damage', 'other'] });
      job = await finished(`/v1/jobs/${created.id as string}`, A);
    });
    expect(calls).toBe(2);
    expect(job?.usage.cached_items).toBe(8);
  });

  it('deduplicates synchronous operations, unless the call opts out', async () => {
    const body = (extra: Record<string, unknown>) => ({
      categories: ['damage', 'other'],
      items: [1, 2, 3].map(() => ({ content: 'The parcel was crushed.' })),
      ...extra,
    });
    const once = await upstreamCalls(pipeline.simulator, async () => {
      const answer = await post('/v1/operations/classify', B, body({}));
      expect((answer.results as unknown[]).length).toBe(3);
    });
    expect(once).toBe(1);
    const everyOne = await upstreamCalls(pipeline.simulator, async () => {
      await post('/v1/operations/classify', B, body({ dedup: false }));
    });
    expect(everyOne).toBe(3);
  });

  it('deduplicates OpenAI batches only when asked, and sampling requests only with "all"', async () => {
    const line = (i: number, temperature: number) => ({
      custom_id: `req-${i}`,
      method: 'POST',
      url: '/v1/chat/completions',
      body: { model: 'sim-model', temperature, messages: [{ role: 'user', content: `Say hello (t=${temperature})` }] },
    });
    // Three identical deterministic requests, three identical sampling ones.
    const lines = [0, 1, 2].map((i) => line(i, 0)).concat([3, 4, 5].map((i) => line(i, 0.8)));
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([lines.map((l) => JSON.stringify(l)).join('\n') + '\n']), 'in.jsonl');
    const file = (await post('/v1/files', A, form)).id as string;
    const run = async (extra: Record<string, unknown>) => {
      let batch: Status | undefined;
      const calls = await upstreamCalls(pipeline.simulator, async () => {
        const created = await post('/v1/batches', A, {
          input_file_id: file,
          endpoint: '/v1/chat/completions',
          completion_window: '24h',
          ...extra,
        });
        batch = await finished(`/v1/batches/${created.id as string}`, A);
      });
      return { calls, batch: batch as Status };
    };
    const unasked = await run({});
    expect(unasked.calls).toBe(6);
    expect(unasked.batch.usage.cached_items).toBe(0);
    const asked = await run({ dedup: true });
    // The deterministic requests once (answered before? no: the unasked batch kept nothing), sampling ones each.
    expect(asked.calls).toBe(1 + 3);
    expect(asked.batch.usage.cached_items).toBe(2);
    const all = await run({ dedup: 'all' });
    // The deterministic answer is reused from the batch before; the sampling requests are sent once.
    expect(all.calls).toBe(1);
    expect(all.batch.usage.cached_items).toBe(5);
    const lines2 = await output(all.batch.id, A);
    expect(lines2.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
  });
});

describe('outside producers', () => {
  /** Writes a batch of `count` identical classify items (plain JSON) and its seal; resolves when it completes. */
  async function produce(batchId: string, count: number, itemTenant: string | null): Promise<void> {
    const kafka = new Kafka({ clientId: 'dedup-outside', brokers: infra().brokers, logLevel: logLevel.NOTHING });
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const body = { model: 'classify', text: 'Outside: the invoice is wrong.', labels: ['billing', 'bug'] };
    const items = Array.from({ length: count }, (_, index) => ({
      type: 'item',
      batch_id: batchId,
      index,
      custom_id: `o-${index}`,
      api: 'domain',
      discriminator: 'classify',
      body,
      ...(itemTenant ? { tenant: itemTenant } : {}),
    }));
    const seal = {
      type: 'seal',
      batch_id: batchId,
      total: count,
      spec: { api: 'domain', tenant: 'tenant-b', created_at: Math.floor(Date.now() / 1000) },
    };
    await producer.send({
      topic: pipeline.config.topics.results,
      messages: [{ key: batchId, value: JSON.stringify(seal), headers: { 'sluice-type': 'seal' } }],
    });
    await producer.send({
      topic: pipeline.config.topics.requests,
      messages: items.map((message) => ({
        key: batchId,
        value: JSON.stringify(message),
        headers: { 'sluice-type': message.type },
      })),
    });
    await producer.disconnect();
    await finished(`/v1/batches/${batchId}`, B);
  }

  it('dedups items that name their tenant, never items that do not', async () => {
    // Without a tenant an item could be given another tenant's answer: it is always sent.
    expect(await upstreamCalls(pipeline.simulator, () => produce('batch_outside_dedup_1', 4, null))).toBe(4);
    expect(await upstreamCalls(pipeline.simulator, () => produce('batch_outside_dedup_2', 4, 'tenant-b'))).toBe(1);
  });
});

describe('the SDK and the CLI', () => {
  const items = (tag: string) => Array.from({ length: 6 }, (_, i) => ({ content: `${tag} ${i % 2}: refund please.` }));

  it('the TypeScript SDK submits a job with dedup, or without it', async () => {
    const client = new Sluice({ baseURL: pipeline.url, apiKey: 'key-a' });
    const params = { operation: 'label' as const, categories: ['billing', 'other'], pollIntervalMs: 100 };
    const shared = await upstreamCalls(pipeline.simulator, async () => {
      const job = await client.batches.submitAndWait({ ...params, items: items('sdk') });
      expect(job.usage.cached_items).toBe(4);
    });
    expect(shared).toBe(2);
    const every = await upstreamCalls(pipeline.simulator, async () => {
      const job = await client.batches.submitAndWait({ ...params, items: items('sdk-off'), dedup: false });
      expect(job.usage.cached_items).toBe(0);
    });
    expect(every).toBe(6);
  });

  it('the CLI submits with --dedup, and refuses a value it does not know', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'sluice-dedup-cli-'));
    try {
      const file = join(scratch, 'tickets.jsonl');
      await writeFile(file, classifyJsonl('cli') + '\n');
      const submit = (...extra: string[]) =>
        spawnSluice(['submit', file, '--wait', '--poll-interval', '0.2', '--base-url', pipeline.url, ...extra], {
          SLUICE_API_KEY: 'key-b',
        });
      // Tenant B has answered these texts before (the tenants test): with --dedup false every line is sent.
      const calls = await upstreamCalls(pipeline.simulator, async () => {
        expect(await submit('--dedup', 'false').exited).toBe(0);
      });
      expect(calls).toBe(12);
      const reused = await upstreamCalls(pipeline.simulator, async () => {
        expect(await submit().exited).toBe(0);
      });
      expect(reused).toBe(0);
      const bad = submit('--dedup', 'sometimes');
      expect(await bad.exited).toBe(2);
      expect(bad.output.filter((line) => line.trim() !== '')).toEqual([
        'sluice: --dedup: expected true, false or all; got "sometimes"',
      ]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});

describe('deduplication window', () => {
  let short: Pipeline;
  beforeAll(async () => {
    short = await startPipeline({ label: 'dedup-ttl', env: { SLUICE_DEDUP_TTL_SECONDS: '2' } });
  });
  afterAll(async () => {
    await short?.stop();
  });

  it('asks the upstream again once an answer has expired', async () => {
    const submit = async (prefix: string) => {
      const response = await fetch(`${short.url}/v1/batches`, {
        method: 'POST',
        headers: { 'content-type': 'application/jsonl' },
        body: classifyJsonl(prefix, 1, 1),
      });
      const id = ((await response.json()) as { id: string }).id;
      await eventually(
        async () => {
          const status = (await (await fetch(`${short.url}/v1/batches/${id}`)).json()) as Status;
          return status.status === 'completed' ? status : undefined;
        },
        { timeoutMs: 60_000, what: id },
      );
    };
    expect(await upstreamCalls(short.simulator, () => submit('one'))).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(await upstreamCalls(short.simulator, () => submit('two'))).toBe(1);
  });
});
