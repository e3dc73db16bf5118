import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { startSluice } from '@sluice/cli';
import { compileConfig, createLogger, parseEnv } from '@sluice/core';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra, uniquePrefix } from '../harness/context.js';
import { apiCaller, type ApiAnswer } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * The HTTP API's contracts as an outside prober meets them (issue 11): every error, the
 * framework's own included, in OpenAI's `{error: {message, type, param, code}}` shape with the
 * right status; a synchronous call that outlives its timeout answers 504 with an id its caller can
 * poll and read; bounded metadata; downloadable non-Latin-1 file names; no tenant data in
 * /metrics; CSV cells that a spreadsheet would run as formulas neutralised; bad job parameters
 * refused at intake; the model used and the real endpoint on every object.
 */
let pipeline: Pipeline;
const KEY = { authorization: 'Bearer key-a' };

const call = apiCaller(() => pipeline.url, KEY);

/** A raw HTTP exchange, for requests fetch would refuse to send or would normalise. */
function raw(request: string | Buffer): Promise<string> {
  const { hostname, port } = new URL(pipeline.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname, () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('utf8')));
    socket.on('error', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error(`no answer to ${String(request).slice(0, 80)}`));
    });
  });
}

function parseRaw(answer: string): { status: number; body: ApiAnswer['body'] } {
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
  const text = answer.slice(answer.indexOf('\r\n\r\n') + 4);
  let body: ApiAnswer['body'] = {};
  try {
    body = JSON.parse(text) as ApiAnswer['body'];
  } catch {
    // chunked or empty: try the first JSON object in it
    const match = /\{.*\}/s.exec(text);
    if (match) body = JSON.parse(match[0]) as ApiAnswer['body'];
  }
  return { status, body };
}

function expectOpenAIError(answer: { status: number; body: ApiAnswer['body'] }, status: number, code?: string) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(status);
  const error = answer.body.error;
  expect(error, `an OpenAI error body for HTTP ${status}`).toBeDefined();
  expect(Object.keys(error ?? {})).toEqual(expect.arrayContaining(['message', 'type', 'param', 'code']));
  expect(typeof error?.message).toBe('string');
  expect(error?.message.length).toBeGreaterThan(0);
  expect(typeof error?.type).toBe('string');
  if (code) expect(error?.code).toBe(code);
}

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'apicontract',
    env: { SLUICE_API_KEYS: 'key-a=tenant-a,key-b=tenant-b' },
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

describe('framework-level errors answer in the OpenAI error shape', () => {
  it('a URL or header over the size limit', async () => {
    const longUrl = parseRaw(
      await raw(`GET /v1/batches/${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-a\r\n\r\n`),
    );
    expectOpenAIError(longUrl, 431, 'headers_too_large');
    const bigHeader = parseRaw(
      await raw(`GET /v1/batches HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`),
    );
    expectOpenAIError(bigHeader, 431, 'headers_too_large');
  });

  it('a malformed URL or request line', async () => {
    const badPercent = parseRaw(
      await raw(
        'GET /v1/batches/%E0%A4%A HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-a\r\nConnection: close\r\n\r\n',
      ),
    );
    expectOpenAIError(badPercent, 400, 'invalid_url');
    const badLine = parseRaw(await raw('GARBAGE\r\n\r\n'));
    expectOpenAIError(badLine, 400, 'malformed_request');
  });

  it('unsupported or malformed content types of every kind', async () => {
    const cases: [string, string, string][] = [
      ['POST', '/v1/batches', 'text/plain'],
      ['POST', '/v1/batches', 'application/xml'],
      ['POST', '/v1/batches', 'application/json;;;=='],
      ['POST', '/v1/batches', '%%%'],
      ['POST', '/v1/jobs', 'text/csv'],
      ['POST', '/v1/operations/summarize', 'application/x-www-form-urlencoded'],
      ['POST', '/v1/files', 'application/json'],
      ['POST', '/v1/jobs/upload', 'text/plain'],
    ];
    for (const [method, path, type] of cases) {
      const answer = await call(method, path, { headers: { 'content-type': type }, body: 'x=1' });
      expect([400, 415], `${path} with ${type}: ${answer.text}`).toContain(answer.status);
      expectOpenAIError(answer, answer.status);
    }
  });

  it('multipart without a boundary, and a body over the JSON limit', async () => {
    for (const path of ['/v1/files', '/v1/jobs/upload']) {
      const answer = await call('POST', path, { headers: { 'content-type': 'multipart/form-data' }, body: 'abc' });
      expectOpenAIError(answer, 400, 'invalid_multipart');
    }
    const big = await call('POST', '/v1/jobs', {
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(17 * 1024 * 1024, 0x20),
    });
    expectOpenAIError(big, 413, 'payload_too_large');
  });

  it('an unknown route, a wrong method and a wrong key', async () => {
    expectOpenAIError(await call('GET', '/v1/nothing'), 404, 'unknown_route');
    expectOpenAIError(await call('GET', '/v1/batches', { headers: { authorization: 'Bearer nope' } }), 401);
    expectOpenAIError(await call('GET', '/v1/batches', { headers: { authorization: 'Basic a2V5LWE6' } }), 401);
  });

  it('takes the auth scheme in any case', async () => {
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      const answer = await call('GET', '/v1/batches', { headers: { authorization: `${scheme} key-a` } });
      expect(answer.status, `${scheme}: ${answer.text}`).toBe(200);
    }
  });
});

describe('metadata is bounded by one schema on every API that takes it', () => {
  const tooMany = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v']));
  const cases: [string, Record<string, unknown>, string][] = [
    ['17 keys', tooMany, 'metadata'],
    ['a 65-character key', { ['k'.repeat(65)]: 'v' }, 'metadata'],
    ['a 513-character value', { team: 'v'.repeat(513) }, 'metadata.team'],
    ['a non-string value', { team: 7 }, 'metadata.team'],
  ];

  it('jobs', async () => {
    for (const [name, metadata, param] of cases) {
      const answer = await call('POST', '/v1/jobs', {
        json: { operation: 'summarize', summary_instructions: 'short', items: [{ content: 'x' }], metadata },
      });
      expectOpenAIError(answer, 400);
      expect(answer.body.error?.param, name).toMatch(new RegExp(`^${param.replace('.', '\\.')}`));
    }
    const ok = await call('POST', '/v1/jobs', {
      json: {
        operation: 'summarize',
        summary_instructions: 'short',
        items: [{ content: 'x' }],
        metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`.padEnd(64, 'x'), 'v'.repeat(512)])),
      },
    });
    expect(ok.status, ok.text).toBe(200);
  });

  it('OpenAI batches', async () => {
    const form = new FormData();
    form.append('purpose', 'batch');
    const line = { custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } };
    form.append('file', new Blob([`${JSON.stringify(line)}\n`]), 'in.jsonl');
    const file = JSON.parse((await call('POST', '/v1/files', { body: form })).text) as { id: string };
    for (const [name, metadata, param] of cases) {
      const answer = await call('POST', '/v1/batches', {
        json: { input_file_id: file.id, endpoint: '/v1/chat/completions', completion_window: '24h', metadata },
      });
      expectOpenAIError(answer, 400);
      expect(answer.body.error?.param, name).toMatch(new RegExp(`^${param.replace('.', '\\.')}`));
    }
  });
});

describe('a synchronous call that outlives SLUICE_SYNC_TIMEOUT_MS', () => {
  let slow: Pipeline;
  beforeAll(async () => {
    slow = await startPipeline({
      label: 'synctimeout',
      env: { SLUICE_SYNC_TIMEOUT_MS: '300', SLUICE_SYNC_RETENTION_S: '600' },
      simulator: { latency: { medianMs: 2000, p99Ms: 2000 } },
    });
  });
  afterAll(async () => {
    await slow?.stop();
  });

  const post = async (path: string, body: unknown) => {
    const response = await fetch(`${slow.url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as ApiAnswer['body'] };
  };

  it('answers 504 with an operations call id its caller polls and reads until it expires', async () => {
    const answer = await post('/v1/operations/summarize', {
      summary_instructions: 'one line',
      items: [{ id: 'a', content: 'A long text about the weather.' }],
    });
    expectOpenAIError(answer, 504, 'sync_timeout');
    const id = answer.body.error?.batch_id as string;
    expect(id).toMatch(/^batch_/);
    expect(answer.body.error?.message).toContain(`/v1/jobs/${id}`);
    const job = await eventually(
      async () => {
        const polled = (await (await fetch(`${slow.url}/v1/jobs/${id}`)).json()) as { status: string };
        return polled.status === 'completed' ? polled : undefined;
      },
      { what: `the timed-out call ${id} to complete` },
    );
    expect(job).toMatchObject({ id, status: 'completed', completed_items: 1 });
    // Read twice: reading does not delete it (only its retention does).
    for (let i = 0; i < 2; i++) {
      const output = (await (await fetch(`${slow.url}/v1/jobs/${id}/output`)).json()) as {
        results: { custom_id: string; result: { summary: string } }[];
      };
      expect(output.results).toHaveLength(1);
      expect(output.results[0]?.custom_id).toBe('a');
      expect(typeof output.results[0]?.result.summary).toBe('string');
    }
    // Still hidden from listings: it is a call, not a job the tenant submitted.
    const list = (await (await fetch(`${slow.url}/v1/jobs`)).json()) as { data: { id: string }[] };
    expect(list.data.map((j) => j.id)).not.toContain(id);
  });

  it('answers 504 with a realtime call id readable as a batch', async () => {
    const answer = await post('/v1/classify', { text: 'the app crashes', labels: ['bug', 'praise'] });
    expectOpenAIError(answer, 504, 'sync_timeout');
    const id = answer.body.error?.batch_id as string;
    await eventually(
      async () => {
        const polled = (await (await fetch(`${slow.url}/v1/batches/${id}`)).json()) as { status: string };
        return polled.status === 'completed' ? polled : undefined;
      },
      { what: `the timed-out call ${id} to complete` },
    );
    const text = await (await fetch(`${slow.url}/v1/batches/${id}/output`)).text();
    const line = JSON.parse(text.trim()) as { custom_id: string; response: { status_code: number } };
    expect(line.response.status_code).toBe(200);
  });
});

describe('what a tenant can read', () => {
  async function job(body: Record<string, unknown>): Promise<{ id: string; status: string }> {
    const created = await call('POST', '/v1/jobs', { json: body });
    expect(created.status, created.text).toBe(200);
    const id = (JSON.parse(created.text) as { id: string }).id;
    return eventually(
      async () => {
        const polled = JSON.parse((await call('GET', `/v1/jobs/${id}`)).text) as { id: string; status: string };
        return polled.status === 'completed' ? polled : undefined;
      },
      { what: `job ${id} to complete` },
    );
  }

  it('CSV cells that would run as formulas are neutralised, the model-written label included', async () => {
    const finished = await job({
      operation: 'label',
      categories: ['=1+1', '@SUM(A1)'],
      items: [
        { id: '=id', content: 'first', note: '+cmd|calc', '-field': 'x' },
        { id: 'b', content: '\tsecond', note: 'plain' },
      ],
    });
    const csv = await call('GET', `/v1/jobs/${finished.id}/output?format=csv`);
    expect(csv.status).toBe(200);
    const cells = csv.text
      .trim()
      .split('\n')
      .flatMap((line) => line.split(','))
      .map((cell) => cell.replace(/^"|"$/g, ''));
    expect(cells).toContain("'=id");
    expect(cells).toContain("'+cmd|calc");
    expect(cells).toContain("'-field");
    expect(cells.some((cell) => cell === "'=1+1" || cell === "'@SUM(A1)")).toBe(true);
    // No cell of the file begins with a formula character.
    for (const cell of cells) expect(cell, csv.text).not.toMatch(/^[=+\-@\t\r]/);
  });

  it('a file whose name is not Latin-1 downloads with an RFC 5987 filename*', async () => {
    const form = new FormData();
    form.append('purpose', 'batch');
    const line = { custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } };
    form.append('file', new Blob([`${JSON.stringify(line)}\n`]), 'données_日本語.jsonl');
    const file = JSON.parse((await call('POST', '/v1/files', { body: form })).text) as { id: string; filename: string };
    expect(file.filename).toBe('données_日本語.jsonl');
    const download = await call('GET', `/v1/files/${file.id}/content`);
    expect(download.status, download.text).toBe(200);
    const header = download.headers.get('content-disposition') ?? '';
    expect(header).toMatch(/^attachment; filename="[\x20-\x7e]+"; filename\*=UTF-8''/);
    expect(decodeURIComponent(header.split("UTF-8''")[1] ?? '')).toBe('données_日本語.jsonl');
    expect(JSON.parse(download.text.trim())).toEqual(line);
  });

  it('/metrics shows no batch, job or file id and no tenant, while a job runs and after', async () => {
    const created = await call('POST', '/v1/jobs', {
      json: {
        operation: 'summarize',
        summary_instructions: 'short',
        items: Array.from({ length: 2000 }, (_, i) => ({ content: `text ${i}` })),
      },
    });
    const id = (JSON.parse(created.text) as { id: string }).id;
    let scrapedWhileRunning = 0;
    for (;;) {
      const metrics = await call('GET', '/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).not.toContain(id);
      expect(metrics.text).not.toMatch(/batch_[A-Za-z0-9]{6,}/);
      expect(metrics.text).not.toMatch(/file-[A-Za-z0-9]{6,}/);
      expect(metrics.text).not.toContain('tenant-a');
      expect(metrics.text).toContain('sluice_sink_items_unfinished');
      const status = JSON.parse((await call('GET', `/v1/jobs/${id}`)).text) as { status: string; progress: number };
      if (status.status === 'completed') break;
      if (status.progress > 0) scrapedWhileRunning++;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(scrapedWhileRunning, 'scrapes while the job had progress').toBeGreaterThan(0);
  });
});

describe('bad parameters are refused at intake, the same way by jobs and synchronous calls', () => {
  const deep = (levels: number): Record<string, unknown> => {
    let schema: Record<string, unknown> = { type: 'string' };
    // The shortest nesting (10 bytes a level), so 2,000 levels fit in an upload's 64 KiB field.
    for (let i = 0; i < levels; i++) schema = { items: schema };
    return schema;
  };
  const run = (extra: Record<string, unknown>) => ({ items: [{ content: 'x', topic: 't' }], ...extra });
  const schemaFormat = (schema: unknown) => ({
    response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } },
  });

  async function both(extra: Record<string, unknown>) {
    const job = await call('POST', '/v1/jobs', { json: { operation: 'run', ...run(extra) } });
    const sync = await call('POST', '/v1/operations/run', { json: run(extra) });
    return [job, sync];
  }

  it('an invalid JSON Schema', async () => {
    for (const answer of await both(schemaFormat({ type: 'nonsense' }))) {
      expectOpenAIError(answer, 400, 'invalid_json_schema');
      expect(answer.body.error?.param).toBe('response_format.json_schema.schema');
    }
  });

  it('a 2,000-level JSON Schema, sent as an upload (no body depth limit applies there)', async () => {
    const form = new FormData();
    form.append('params', JSON.stringify({ operation: 'run', ...schemaFormat(deep(2000)) }));
    form.append('file', new Blob(['{"content": "x"}\n']), 'items.jsonl');
    const answer = await call('POST', '/v1/jobs/upload', { body: form });
    expectOpenAIError(answer, 400, 'invalid_json_schema');
    expect(answer.body.error?.param).toBe('response_format.json_schema.schema');
    expect(answer.body.error?.message).toContain('deeper than');
  });

  it('template placeholders that name object machinery, not item fields', async () => {
    for (const placeholder of ['{constructor}', '{__proto__}', '{toString}']) {
      for (const answer of await both({ user_prompt_template: `Say ${placeholder} about {content}` })) {
        expectOpenAIError(answer, 400);
        expect(answer.body.error?.param).toBe('user_prompt_template');
        expect(answer.body.error?.message).toContain(placeholder);
      }
    }
  });

  it('a placeholder no item has', async () => {
    for (const answer of await both({ user_prompt_template: 'About {missing}: {content}' })) {
      expectOpenAIError(answer, 400, 'missing_template_field');
      expect(answer.body.error?.param).toBe('items.0.missing');
    }
  });

  it('a repeated item id is named the same way by both', async () => {
    const items = [
      { id: 'a', content: 'x' },
      { id: 'a', content: 'y' },
    ];
    const job = await call('POST', '/v1/jobs', { json: { operation: 'summarize', summary_instructions: 's', items } });
    const sync = await call('POST', '/v1/operations/summarize', { json: { summary_instructions: 's', items } });
    for (const answer of [job, sync]) {
      expectOpenAIError(answer, 400, 'duplicate_custom_id');
      expect(answer.body.error?.param).toBe('items.1.id');
      expect(answer.body.error?.message).toContain("id 'a' is also the id of items.0");
    }
  });
});

describe('objects name the model used and their real endpoint', () => {
  const waitFor = (path: string) =>
    eventually(
      async () => {
        const body = JSON.parse((await call('GET', path)).text) as Record<string, unknown>;
        return body.status === 'completed' ? body : undefined;
      },
      { what: `${path} to complete` },
    );

  it('domain batches: the realtime endpoint of their model, and the model that answered', async () => {
    const line = (i: number, model: string) =>
      JSON.stringify({
        custom_id: `c${i}`,
        body:
          model === 'classify'
            ? { model, text: `text ${i}`, labels: ['a', 'b'] }
            : { model, text: `Acme pays ${i} USD`, entities: ['company'] },
      });
    const single = await call('POST', '/v1/batches', {
      headers: { 'content-type': 'application/jsonl' },
      body: `${line(0, 'classify')}\n${line(1, 'classify')}\n`,
    });
    const mixed = await call('POST', '/v1/batches', {
      headers: { 'content-type': 'application/jsonl' },
      body: `${line(0, 'classify')}\n${line(1, 'extract')}\n`,
    });
    const singleBatch = JSON.parse(single.text) as { id: string; endpoint: string };
    expect(singleBatch.endpoint).toBe('/classify');
    expect((JSON.parse(mixed.text) as { endpoint: string }).endpoint).toBe('/classify,/extract');
    const done = await waitFor(`/v1/batches/${singleBatch.id}`);
    expect(done.model).toBe(pipeline.config.upstream.models.classify);
  });

  it('jobs on the configured model say which it was', async () => {
    const created = JSON.parse(
      (
        await call('POST', '/v1/jobs', {
          json: { operation: 'summarize', summary_instructions: 'short', items: [{ content: 'x' }] },
        })
      ).text,
    ) as { id: string; model: string | null };
    const done = await waitFor(`/v1/jobs/${created.id}`);
    expect(done.model).toBe(pipeline.config.upstream.models.summarize);
    const batch = JSON.parse((await call('GET', `/v1/batches/${created.id}`)).text) as { model: string | null };
    expect(batch.model).toBe(pipeline.config.upstream.models.summarize);
  });

  it('a synchronous run keeps its name and says which model answered', async () => {
    const answer = await call('POST', '/v1/operations/run', {
      json: { operation: 'feedback_analysis', items: [{ content: 'great app' }] },
    });
    expect(answer.status, answer.text).toBe(200);
    const body = JSON.parse(answer.text) as { operation: string; name: string | null; model: string | null };
    expect(body).toMatchObject({
      operation: 'run',
      name: 'feedback_analysis',
      model: pipeline.config.upstream.models.default,
    });
  });
});

describe('safe by default', () => {
  async function listeningOn(env: Record<string, string>): Promise<{ address: string; warnings: string[] }> {
    const { brokers, registryUrl } = infra();
    const dataDir = await mkdtemp(join(tmpdir(), 'sluice-host-'));
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString('utf8'));
        done();
      },
    });
    const config = compileConfig(
      parseEnv({
        KAFKA_BROKERS: brokers.join(','),
        SCHEMA_REGISTRY_URL: registryUrl,
        SLUICE_TOPIC_PREFIX: uniquePrefix('host'),
        SLUICE_DATA_DIR: dataDir,
        PORT: '0',
        ...env,
      }),
    );
    const logger = createLogger({ name: 'host', level: 'warn', destination });
    const sluice = await startSluice(config, { roles: ['ingest'], logger });
    try {
      const address = sluice.ingest?.app.server.address();
      return {
        address: typeof address === 'object' && address ? address.address : String(address),
        warnings: lines.filter((line) => line.includes('no API keys configured')),
      };
    } finally {
      await sluice.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  }

  it('without API keys and HOST, serve listens on loopback only and says so', async () => {
    const open = await listeningOn({});
    expect(open.address).toBe('127.0.0.1');
    expect(open.warnings).toHaveLength(1);
    const keyed = await listeningOn({ SLUICE_API_KEYS: 'k=t' });
    expect(keyed.address).toBe('0.0.0.0');
    expect(keyed.warnings).toHaveLength(0);
    const explicit = await listeningOn({ HOST: '127.0.0.1' });
    expect(explicit.warnings).toHaveLength(0);
  });
});

describe('an outside producer bypassing intake', () => {
  it('gets a named per-item error for an unusable JSON Schema, not internal_error', async () => {
    const { brokers } = infra();
    const producer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const batchId = `batch_outside_${Date.now()}`;
    const now = Math.floor(Date.now() / 1000);
    const body = (schema: unknown) => ({
      params: { response_format: { type: 'json_schema', json_schema: { name: 'answer', schema } } },
      item: { content: 'x' },
    });
    const seal = {
      type: 'seal',
      batch_id: batchId,
      total: 1,
      spec: { api: 'operations', tenant: 'tenant-a', created_at: now },
    };
    const messages = [
      {
        type: 'item',
        batch_id: batchId,
        index: 0,
        custom_id: '0',
        api: 'operations',
        discriminator: 'run',
        body: body({ type: 'nonsense' }),
      },
    ];
    await producer.send({
      topic: pipeline.config.topics.results,
      messages: [{ key: batchId, value: JSON.stringify(seal) }],
    });
    await producer.send({
      topic: pipeline.config.topics.requests,
      messages: messages.map((value) => ({ key: batchId, value: JSON.stringify(value) })),
    });
    await producer.disconnect();
    await eventually(
      async () => {
        const polled = JSON.parse((await call('GET', `/v1/batches/${batchId}`)).text) as { status?: string };
        return polled.status === 'completed' ? polled : undefined;
      },
      { what: `the outside batch ${batchId} to complete` },
    );
    const row = JSON.parse((await call('GET', `/v1/jobs/${batchId}/output?format=jsonl`)).text.trim()) as {
      error: { code: string; message: string } | null;
    };
    expect(row.error?.code).toBe('invalid_json_schema');
  });
});
