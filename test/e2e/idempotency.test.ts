import { createHash, randomBytes } from 'node:crypto';
import { startSluice, type RunningSluice } from '@sluice/cli';
import { createLogger } from '@sluice/core';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { s3Env } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Issue 25, exactly once from the client's side: a create whose answer was lost is sent again
 * with the same Idempotency-Key and gets the first answer, not a second job. Against the real
 * HTTP server on both stores, since the key's record lives in the store (claimed with putIfAbsent,
 * which S3Proxy implements by the claim-object fallback).
 */
const STORES = { local: () => ({}), s3: () => s3Env('idempotency') };
const KEYS = { 'key-a': 'tenant-a', 'key-b': 'tenant-b' };

describe.each(Object.keys(STORES) as (keyof typeof STORES)[])('Idempotency-Key (%s store)', (kind) => {
  let pipeline: Pipeline;
  const restarted: RunningSluice[] = [];
  let url: string;

  beforeAll(async () => {
    pipeline = await startPipeline({
      label: `idem-${kind}`,
      env: {
        ...STORES[kind](),
        SLUICE_API_KEYS: Object.entries(KEYS)
          .map(([key, tenant]) => `${key}=${tenant}`)
          .join(','),
      },
    });
    url = pipeline.url;
  });
  afterAll(async () => {
    await Promise.allSettled(restarted.map((s) => s.stop()));
    await pipeline?.stop();
  });

  const newKey = () => `idem-${randomBytes(6).toString('hex')}`;
  const post = async (path: string, body: unknown, headers: Record<string, string> = {}, apiKey = 'key-a') => {
    const answer = await fetch(`${url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    return {
      status: answer.status,
      text: await answer.text(),
      replayed: answer.headers.get('idempotent-replayed'),
      retryAfter: answer.headers.get('retry-after') ?? undefined,
    };
  };
  const job = (name: string) => ({
    operation: 'summarize',
    summary_instructions: 'short',
    name,
    items: [{ content: `${name} one` }, { content: 'two' }],
  });
  const jobsNamed = async (name: string, apiKey = 'key-a') => {
    const answer = await fetch(`${url}/v1/jobs?limit=100`, { headers: { authorization: `Bearer ${apiKey}` } });
    const page = (await answer.json()) as { data: { id: string; name: string | null }[] };
    return page.data.filter((j) => j.name === name).map((j) => j.id);
  };

  it('the same key twice makes one job and answers the same status and body both times', async () => {
    const key = newKey();
    const first = await post('/v1/jobs', job(key), { 'Idempotency-Key': key });
    const second = await post('/v1/jobs', job(key), { 'Idempotency-Key': key });
    expect(first.status).toBe(200);
    expect(second).toEqual({ status: 200, text: first.text, replayed: 'true' });
    expect(await jobsNamed(key)).toEqual([(JSON.parse(first.text) as { id: string }).id]);
    // Without a key, the same request is a new job each time.
    await post('/v1/jobs', job(key));
    expect(await jobsNamed(key)).toHaveLength(2);
  });

  it('the same key with another body is a 409 naming the key, and creates nothing', async () => {
    const key = newKey();
    expect((await post('/v1/jobs', job(key), { 'Idempotency-Key': key })).status).toBe(200);
    const other = await post('/v1/jobs', job(`${key}-other`), { 'Idempotency-Key': key });
    expect(other.status).toBe(409);
    expect(JSON.parse(other.text)).toMatchObject({
      error: { code: 'idempotency_key_reused', param: 'Idempotency-Key' },
    });
    expect(other.text).toContain(key);
    expect(await jobsNamed(`${key}-other`)).toEqual([]);
    // Another path with the same key is another request too.
    const batch = await post(
      '/v1/batches',
      { custom_id: 'a', body: { model: 'summarize', text: 'x' } },
      {
        'Idempotency-Key': key,
      },
    );
    expect(batch.status).toBe(409);
  });

  it('keys are per tenant: two tenants with one key make two jobs', async () => {
    const key = newKey();
    const a = await post('/v1/jobs', job(key), { 'Idempotency-Key': key }, 'key-a');
    const b = await post('/v1/jobs', job(key), { 'Idempotency-Key': key }, 'key-b');
    expect([a.status, b.status]).toEqual([200, 200]);
    expect(b.replayed).toBeNull();
    expect(await jobsNamed(key, 'key-a')).toHaveLength(1);
    expect(await jobsNamed(key, 'key-b')).toHaveLength(1);
  });

  it('concurrent identical requests with one key make one job', async () => {
    const key = newKey();
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => post('/v1/jobs', job(key), { 'Idempotency-Key': key })),
    );
    const created = answers.filter((a) => a.status === 200).map((a) => (JSON.parse(a.text) as { id: string }).id);
    const waiting = answers.filter((a) => a.status === 409);
    expect(created.length + waiting.length).toBe(6);
    expect(new Set(created).size).toBe(1);
    for (const w of waiting) {
      expect(JSON.parse(w.text)).toMatchObject({ error: { code: 'idempotency_key_in_use' } });
      expect(w.retryAfter).toBe('1'); // the SDKs wait that long, then ask again with the same key
    }
    expect(await jobsNamed(key)).toEqual([created[0]]);
    // Once the first has answered, a retry gets its answer.
    const retry = await post('/v1/jobs', job(key), { 'Idempotency-Key': key });
    expect((JSON.parse(retry.text) as { id: string }).id).toBe(created[0]);
  });

  it('refuses an invalid key with a 400 naming the header; a dry run with a key creates nothing', async () => {
    for (const bad of ['', 'x'.repeat(256), 'caf\u00e9', 'tab\there']) {
      const answer = await fetch(`${url}/v1/jobs`, {
        method: 'POST',
        headers: { authorization: 'Bearer key-a', 'content-type': 'application/json', 'Idempotency-Key': bad },
        body: JSON.stringify(job('bad')),
      }).catch(() => null);
      if (answer === null) continue; // fetch itself refuses some header values
      expect(answer.status, JSON.stringify(bad)).toBe(400);
      expect(await answer.json()).toMatchObject({
        error: { code: 'invalid_idempotency_key', param: 'Idempotency-Key' },
      });
    }
    const key = newKey();
    const dry = await post('/v1/jobs?dry_run=true', job(key), { 'Idempotency-Key': key });
    expect(dry.status).toBe(200);
    expect(JSON.parse(dry.text)).toMatchObject({ object: 'dry_run' });
    expect(await jobsNamed(key)).toEqual([]);
    // The key is still free for the real create.
    expect((await post('/v1/jobs', job(key), { 'Idempotency-Key': key })).replayed).toBeNull();
  });

  it('a validation refusal is kept and replayed; streamed bodies (JSONL, multipart) are fingerprinted as they stream', async () => {
    const key = newKey();
    const bad = await post('/v1/jobs', { operation: 'summarize' }, { 'Idempotency-Key': key });
    expect(bad.status).toBe(400);
    expect(await post('/v1/jobs', { operation: 'summarize' }, { 'Idempotency-Key': key })).toEqual({
      ...bad,
      replayed: 'true',
    });

    const jsonl = (text: string) =>
      `${JSON.stringify({ custom_id: 'a', body: { model: 'summarize', text } })}\n${JSON.stringify({ custom_id: 'b', body: { model: 'summarize', text: 'b' } })}\n`;
    const jsonlKey = newKey();
    const headers = { 'content-type': 'application/jsonl', 'Idempotency-Key': jsonlKey };
    const firstBatch = await post('/v1/batches', jsonl('one'), headers);
    expect(firstBatch.status).toBe(200);
    expect(await post('/v1/batches', jsonl('one'), headers)).toEqual({ ...firstBatch, replayed: 'true' });
    const otherBatch = await post('/v1/batches', jsonl('two'), headers);
    expect(otherBatch.status).toBe(409);
    expect(otherBatch.text).toContain(jsonlKey);

    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'key-a', maxRetries: 0 });
    const fileKey = newKey();
    const upload = async (content: string) =>
      client.files.create(
        { file: await toFile(Buffer.from(content), 'in.jsonl'), purpose: 'batch' },
        { headers: { 'Idempotency-Key': fileKey } },
      );
    const line = `{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}}\n`;
    const file = await upload(line);
    // A second form, with a boundary of its own: the same request all the same.
    expect((await upload(line)).id).toBe(file.id);
    await expect(upload(line.replace('hi', 'ho'))).rejects.toMatchObject({ status: 409 });
    const files = await client.files.list();
    expect(files.data.filter((f) => f.id === file.id)).toHaveLength(1);
  });

  it('the official openai SDK passes a key per request: batches.create twice is one batch', async () => {
    const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: 'key-a', maxRetries: 0 });
    const line = `{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}}\n`;
    const file = await client.files.create({ file: await toFile(Buffer.from(line), 'in.jsonl'), purpose: 'batch' });
    const key = newKey();
    const create = () =>
      client.batches.create(
        { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata: { key } },
        { headers: { 'Idempotency-Key': key } },
      );
    const first = await create();
    const second = await create();
    expect(second.id).toBe(first.id);
    const listed = [];
    for await (const batch of client.batches.list({ limit: 100 }))
      if (batch.metadata?.key === key) listed.push(batch.id);
    expect(listed).toEqual([first.id]);
  });

  it('survives a restart (a new process on the same store), and an expired key is a new request', async () => {
    const key = newKey();
    const first = await post('/v1/jobs', job(key), { 'Idempotency-Key': key });
    await pipeline.sluice.stop();
    const logger = createLogger({ name: `idem-${kind}-2`, level: 'error' });
    const config = { ...pipeline.config, retention: { ...pipeline.config.retention, idempotencySeconds: 1 } };
    const second = await startSluice(config, { roles: ['ingest', 'processor', 'sink'], logger });
    restarted.push(second);
    url = second.url;
    expect(await post('/v1/jobs', job(key), { 'Idempotency-Key': key })).toEqual({ ...first, replayed: 'true' });

    // This process honours keys for 1 s: a key used again after that is a new request.
    const short = newKey();
    const created = await post('/v1/jobs', job(short), { 'Idempotency-Key': short });
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const again = await post('/v1/jobs', job(short), { 'Idempotency-Key': short });
    expect(again.replayed).toBeNull();
    expect(again.text).not.toBe(created.text);
    expect(await jobsNamed(short)).toHaveLength(2);
    // The sweeper deletes records at their end, from the expiry marks (no scan).
    const kept = async (k: string) => {
      const prefix = `idempotency/tenant-a/${createHash('sha256').update(k).digest('hex')}`;
      const keys = [];
      for await (const object of second.store.list(prefix)) keys.push(object.key);
      return keys;
    };
    expect(await kept(short)).toHaveLength(2); // the record and the takeover of the expired one
    await second.ingest?.sweep(Math.floor(Date.now() / 1000) + 5);
    expect(await kept(short)).toEqual([]);
    expect(await kept(key)).toHaveLength(1); // kept 24 hours
  });
});
