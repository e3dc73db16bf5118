import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiCaller, finishedAt, type ApiAnswer } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Issue 25: what an outside probe of the HTTP API found, each class checked at its root against
 * the real server: query parameters a route does not take are refused (a retry's `dry_run` is an
 * estimate, not a retry); `retry_of` is Sluice's, not the caller's; free text is bounded and
 * metric labels carry only configured values; one UTF-8 rule for JSON and JSONL; limits named in
 * their messages; uploaded file names without control or bidi characters.
 */
let pipeline: Pipeline;
const KEY = 'sk-probe';
const auth = { authorization: `Bearer ${KEY}` };

beforeAll(async () => {
  pipeline = await startPipeline({
    label: 'probe',
    simulator: { latency: { medianMs: 5, p99Ms: 20 } },
    env: { SLUICE_API_KEYS: `${KEY}=tenant-probe`, SLUICE_MAX_ATTEMPTS: '1' },
  });
});
afterAll(async () => {
  await pipeline?.stop();
});

const call = apiCaller(() => pipeline.url, auth);

function expectRefused(answer: ApiAnswer, param: string, code?: string) {
  // An answer that echoes a 100,000-character field would drown the report: its head is enough.
  const shown = answer.text.slice(0, 600);
  expect(answer.status, shown).toBe(400);
  expect(answer.body.error?.param, shown).toBe(param);
  if (code) expect(answer.body.error?.code, shown).toBe(code);
}

// `sim:status=400` makes the simulator refuse that item (not retriable): it fails.
const items = [
  { id: 'ok', content: 'I was charged twice.' },
  { id: 'bad-1', content: 'The app crashes. sim:status=400' },
  { id: 'bad-2', content: 'Refund please. sim:status=400' },
];
const categories = ['billing', 'bug'];

const finished = (path: string) => finishedAt(call, path);

async function finishedJob(body: Record<string, unknown>): Promise<string> {
  const created = await call('POST', '/v1/jobs', { json: body });
  expect(created.status, created.text).toBe(200);
  const id = String(created.body.id);
  await finished(`/v1/jobs/${id}`);
  return id;
}

const jobIds = async () =>
  ((await call('GET', '/v1/jobs?limit=100')).body.data as { id: string }[]).map((job) => job.id).sort();
const batchIds = async () =>
  ((await call('GET', '/v1/batches?limit=100')).body.data as { id: string }[]).map((batch) => batch.id).sort();

describe('query parameters', () => {
  it("a job's retry with ?dry_run=true answers an estimate of the items it would resubmit, and creates nothing", async () => {
    const id = await finishedJob({ operation: 'label', categories, items });
    const before = await jobIds();
    const estimate = await call('POST', `/v1/jobs/${id}/retry?dry_run=true`);
    expect(estimate.status, estimate.text).toBe(200);
    expect(estimate.body).toMatchObject({ object: 'dry_run', items: 2, model: 'gpt-4o-mini' });
    expect(estimate.body.max_output_tokens).toBe(2 * (64 + 16 * categories.length));
    expect(await jobIds()).toEqual(before);
    // dry_run=false is a retry.
    const retried = await call('POST', `/v1/jobs/${id}/retry?dry_run=false`);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body).toMatchObject({ object: 'job', total_items: 2 });
  });

  it("a batch's retry with ?dry_run=true too", async () => {
    const lines = [
      { custom_id: 'd-ok', body: { model: 'classify', text: 'Great product', labels: ['pos', 'neg'] } },
      { custom_id: 'd-bad', body: { model: 'classify', text: 'sim:status=400 broken', labels: ['pos', 'neg'] } },
    ];
    const created = await call('POST', '/v1/batches', {
      headers: { 'content-type': 'application/jsonl' },
      body: lines.map((line) => JSON.stringify(line)).join('\n'),
    });
    expect(created.status, created.text).toBe(200);
    const id = String(created.body.id);
    await finished(`/v1/batches/${id}`);
    const before = await batchIds();
    const estimate = await call('POST', `/v1/batches/${id}/retry?dry_run=true`);
    expect(estimate.status, estimate.text).toBe(200);
    expect(estimate.body).toMatchObject({ object: 'dry_run', items: 1 });
    expect(await batchIds()).toEqual(before);
  });

  it('a parameter a route does not take is refused, named, on every route; nothing is created', async () => {
    const jobsBefore = await jobIds();
    const job = { operation: 'summarize', summary_instructions: 's', items: [{ content: 'x' }] };
    const cases: [string, string, string, unknown?][] = [
      ['POST', '/v1/jobs?dryrun=true', 'dryrun', job],
      ['POST', '/v1/jobs/batch_x/retry?force=1', 'force'],
      ['POST', '/v1/batches/batch_x/retry?dryRun=true', 'dryRun'],
      ['POST', '/v1/operations/summarize?dry_run=true', 'dry_run', job],
      ['POST', '/classify?x=1', 'x', { text: 'a', labels: ['a', 'b'] }],
      ['GET', '/v1/batches?limit=1&sort=desc', 'sort'],
      ['GET', '/v1/jobs?api=openai', 'api'],
      ['GET', '/v1/jobs/batch_x?verbose=1', 'verbose'],
      ['GET', '/v1/files?purpose=batch&page=2', 'page'],
      ['GET', '/v1/files/file-x/content?download=1', 'download'],
      ['DELETE', '/v1/files/file-x?force=true', 'force'],
      ['GET', '/v1/batches/batch_x/output?format=csv', 'format'],
      ['GET', '/healthz?probe=1', 'probe'],
      ['GET', '/metrics?name=x', 'name'],
    ];
    for (const [method, path, param, json] of cases) {
      const answer = await call(method, path, json === undefined ? {} : { json });
      expect(answer.status, `${method} ${path}: ${answer.text}`).toBe(400);
      expect(answer.body.error?.param, `${method} ${path}`).toBe(param);
      expect(answer.body.error?.code, `${method} ${path}`).toBe('unknown_parameter');
      expect(answer.body.error?.message, `${method} ${path}`).toContain(param);
    }
    expect(await jobIds()).toEqual(jobsBefore);
  });

  it('the parameters the routes document, the SDKs and the dashboard send are still taken', async () => {
    const id = await finishedJob({ operation: 'label', categories, items: [items[0]] });
    const paths = [
      `/v1/batches?limit=5&after=${id}&status=completed&api=operations`,
      '/v1/jobs?limit=5&status=completed',
      '/v1/files?purpose=batch&order=asc&limit=5',
      `/v1/jobs/${id}/output?format=json&offset=0&limit=1`,
      `/v1/jobs/${id}/output?format=csv`,
    ];
    for (const path of paths) {
      const answer = await call('GET', path);
      expect(answer.status, `${path}: ${answer.text}`).toBe(200);
    }
    const dry = await call('POST', '/v1/batches?dry_run=true&dedup=all&request_timeout_seconds=5', {
      headers: { 'content-type': 'application/jsonl' },
      body: JSON.stringify({ custom_id: 'a', body: { model: 'summarize', text: 'hello' } }),
    });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body.object).toBe('dry_run');
  });
});

describe('retry_of is Sluice’s', () => {
  const sixteen = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`key${i}`, `value${i}`]));

  it('a job with 16 metadata keys retries, keeping its 16 keys and retry_of', async () => {
    const id = await finishedJob({ operation: 'label', categories, items, metadata: sixteen });
    const retried = await call('POST', `/v1/jobs/${id}/retry`);
    expect(retried.status, retried.text).toBe(200);
    expect(retried.body.metadata).toEqual({ ...sixteen, retry_of: id });
    const shown = await call('GET', `/v1/batches/${String(retried.body.id)}`);
    expect(shown.body.metadata).toEqual({ ...sixteen, retry_of: id });
    // A retry of the retry points at the retry, not at both.
    await finished(`/v1/jobs/${String(retried.body.id)}`);
    const again = await call('POST', `/v1/jobs/${String(retried.body.id)}/retry`);
    expect(again.status, again.text).toBe(200);
    expect(again.body.metadata).toEqual({ ...sixteen, retry_of: retried.body.id });
  });

  it('a client cannot set it, on jobs or OpenAI batches', async () => {
    const job = await call('POST', '/v1/jobs', {
      json: { operation: 'label', categories, items, metadata: { retry_of: 'batch_someone_elses' } },
    });
    expectRefused(job, 'metadata.retry_of');
    expect(job.body.error?.message).toMatch(/retry_of.*set by Sluice/);
    const batch = await call('POST', '/v1/batches', {
      json: {
        input_file_id: 'file-x',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: { retry_of: 'batch_x' },
      },
    });
    expectRefused(batch, 'metadata.retry_of');
  });
});

describe('free text is bounded, and metric labels carry only configured values', () => {
  it('a 100,000-character model, category, prompt or name is refused, naming the field and its limit', async () => {
    const base = { operation: 'label', categories, items: [{ content: 'x' }] };
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ ...base, model: 'm'.repeat(100_000) }, 'model', /256/],
      [{ ...base, categories: ['a', 'c'.repeat(100_000)] }, 'categories.1', /256/],
      [{ ...base, system_prompt: 'p'.repeat(100_000) }, 'system_prompt', /65536/],
      [
        {
          operation: 'extract',
          extraction_instructions: 'names',
          fields: [{ name: 'n', description: 'd'.repeat(5000) }],
          items: [{ content: 'x' }],
        },
        'fields.0.description',
        /4096/,
      ],
      [{ ...base, input_file_id: 'f'.repeat(10_000), items: undefined }, 'input_file_id', /256/],
    ];
    for (const [body, param, limit] of cases) {
      const answer = await call('POST', '/v1/jobs', { json: body });
      expectRefused(answer, param);
      expect(answer.body.error?.message, param).toMatch(limit);
    }
    const sync = await call('POST', '/v1/operations/classify', {
      json: { categories, items: [{ content: 'x' }], model: 'm'.repeat(300) },
    });
    expectRefused(sync, 'model');
    const domain = await call('POST', '/classify', { json: { text: 'a', labels: ['a', 'l'.repeat(300)] } });
    expectRefused(domain, 'labels.1');
  });

  it('a model the configuration does not name never becomes a metric label', async () => {
    const model = 'tenant-chosen-model-q7';
    const answer = await call('POST', '/v1/operations/classify', {
      json: { categories, items: [{ content: 'I was charged twice.' }], model },
    });
    expect(answer.status, answer.text).toBe(200);
    const metrics = await call('GET', '/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('sluice_structured_output_dialect');
    expect(metrics.text).not.toContain(model);
    expect(metrics.text).toMatch(/sluice_structured_output_dialect\{[^}]*model="other"/);
  });
});

describe('one UTF-8 rule for JSON and JSONL', () => {
  it('invalid UTF-8 inside an application/json body is refused with invalid_encoding, naming where', async () => {
    const body = Buffer.concat([
      Buffer.from('{"operation":"summarize","summary_instructions":"s","items":[{"content":"a'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('"}]}'),
    ]);
    const before = await jobIds();
    const answer = await call('POST', '/v1/jobs', { body, headers: { 'content-type': 'application/json' } });
    expect(answer.status, answer.text).toBe(400);
    expect(answer.body.error?.code).toBe('invalid_encoding');
    expect(answer.body.error?.message).toMatch(/byte offset 74/);
    expect(await jobIds()).toEqual(before);
  });
});

describe('messages name the limit', () => {
  it('a 65-character metadata key is refused as a key over 64 characters', async () => {
    const answer = await call('POST', '/v1/jobs', {
      json: { operation: 'label', categories, items, metadata: { ['k'.repeat(65)]: 'v' } },
    });
    expect(answer.status).toBe(400);
    expect(answer.body.error?.message).toMatch(/keys are at most 64 characters/);
  });

  it('a JSON body over 16 MiB is refused with a 413 that says the limit', async () => {
    const answer = await call('POST', '/v1/jobs', {
      headers: { 'content-type': 'application/json' },
      body: Buffer.alloc(17 * 1024 * 1024, 0x20),
    });
    expect(answer.status).toBe(413);
    expect(answer.body.error?.message).toMatch(/16777216 bytes \(16 MiB\)/);
  });
});

describe('uploaded file names', () => {
  it('lose their control and bidi characters at upload, so every place that shows one is clean', async () => {
    const form = new FormData();
    form.append('purpose', 'batch');
    const line = { custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } };
    form.append('file', new Blob([`${JSON.stringify(line)}\n`]), 'invoice\u202Egpj.\u0007\u200Fdata\u2066.jsonl');
    const file = await call('POST', '/v1/files', { body: form });
    expect(file.status, file.text).toBe(200);
    expect(file.body.filename).toBe('invoicegpj.data.jsonl');
    const listed = (await call('GET', '/v1/files?limit=100')).body.data as { id: string; filename: string }[];
    expect(listed.find((f) => f.id === file.body.id)?.filename).toBe('invoicegpj.data.jsonl');
    const download = await call('GET', `/v1/files/${String(file.body.id)}/content`);
    expect(download.headers.get('content-disposition')).toBe('attachment; filename="invoicegpj.data.jsonl"');
  });
});
