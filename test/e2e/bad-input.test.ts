import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Malformed input, tried wholesale across the three APIs. Every case gets a 4xx (or, in the OpenAI
 * flow, a `failed` batch) that names the line or field and the reason; the server stays up; and
 * nothing from a refused request reaches Kafka.
 */
let pipeline: Pipeline;
let requestsBefore: { topic: string; partition: number; high: string }[];

/** End offsets of the requests topics, batch and interactive (where synchronous calls go). */
async function requestOffsets() {
  const { requests, interactive } = pipeline.config.topics;
  const all = [];
  for (const topic of [requests, interactive]) {
    for (const p of await pipeline.sluice.transport.offsets(topic))
      all.push({ topic, partition: p.partition, high: p.high });
  }
  return all;
}

const LIMITS = {
  SLUICE_MAX_BODY_BYTES: String(2 * 1024 * 1024),
  SLUICE_MAX_FILE_BYTES: String(2 * 1024 * 1024),
  SLUICE_MAX_LINE_BYTES: String(64 * 1024),
  SLUICE_MAX_BATCH_REQUESTS: '50',
  SLUICE_MAX_SYNC_ITEMS: '10',
  SLUICE_HEADERS_TIMEOUT_MS: '1000',
  SLUICE_IDLE_TIMEOUT_MS: '1500',
};

beforeAll(async () => {
  pipeline = await startPipeline({ label: 'badinput', env: LIMITS });
  requestsBefore = await requestOffsets();
});
afterAll(async () => {
  await pipeline?.stop();
});

interface Expectation {
  status: number;
  /** The 1-based line the error must name (in `details` or `errors.data`). */
  line?: number;
  code?: string;
  /** The field the error must name. */
  param?: string;
}

interface Case {
  name: string;
  run: () => Promise<{ status: number; body: unknown }>;
  expect: Expectation;
}

const url = () => pipeline.url;
const domain = (i: number, body: Record<string, unknown> = {}) => ({
  custom_id: `c${i}`,
  body: { model: 'classify', text: `text ${i}`, labels: ['a', 'b'], ...body },
});
const openaiLine = (i: number, extra: Record<string, unknown> = {}) => ({
  custom_id: `o${i}`,
  method: 'POST',
  url: '/v1/chat/completions',
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `hi ${i}` }] },
  ...extra,
});
const lines = (...values: unknown[]) =>
  values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join('\n') + '\n';

async function send(path: string, body: string | Buffer, contentType: string) {
  const response = await fetch(`${url()}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // keep the text
  }
  return { status: response.status, body: parsed };
}

const jsonl = (body: string | Buffer) => send('/v1/batches', body, 'application/jsonl');
const json = (path: string, body: unknown) =>
  send(path, typeof body === 'string' ? body : JSON.stringify(body), 'application/json');

async function upload(path: string, content: string | Buffer, filename: string, fields: Record<string, string>) {
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('file', new Blob([content]), filename);
  const response = await fetch(`${url()}${path}`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as unknown };
}

/** Uploads a file, creates an OpenAI batch from it and waits for validation to finish. */
async function openaiBatch(content: string | Buffer): Promise<{ status: number; body: unknown }> {
  const file = await upload('/v1/files', content, 'input.jsonl', { purpose: 'batch' });
  if (file.status !== 200) return file;
  const created = await json('/v1/batches', {
    input_file_id: (file.body as { id: string }).id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  if (created.status !== 200) return created;
  const id = (created.body as { id: string }).id;
  const batch = await eventually(
    async () => {
      const b = (await (await fetch(`${url()}/v1/batches/${id}`)).json()) as { status: string };
      return b.status === 'validating' ? undefined : b;
    },
    { what: `validation of ${id}` },
  );
  return { status: 200, body: batch };
}

const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const CASES: Case[] = [
  // Domain Batch API: JSONL bodies
  {
    name: 'invalid JSON',
    run: () => jsonl(lines(domain(0), '{"custom_id": "c1", body}')),
    expect: { status: 400, line: 2, code: 'invalid_json_line' },
  },
  {
    name: 'a byte-order mark',
    run: () => jsonl(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines(domain(0)))])),
    expect: { status: 400, line: 1, code: 'invalid_encoding' },
  },
  {
    name: 'CRLF line ends with a bad third line',
    run: () =>
      jsonl([domain(0), domain(1), domain(2, { model: 'nope' })].map((l) => JSON.stringify(l)).join('\r\n') + '\r\n'),
    expect: { status: 400, line: 3, code: 'unknown_model' },
  },
  {
    name: 'a blank line between requests',
    run: () => jsonl(lines(domain(0), '', domain(2))),
    expect: { status: 400, line: 2, code: 'blank_line' },
  },
  {
    name: 'a truncated last line',
    run: () => jsonl(lines(domain(0), domain(1)) + '{"custom_id": "c2", "body": {"mod'),
    expect: { status: 400, line: 3, code: 'invalid_json_line' },
  },
  {
    name: 'non-UTF-8 bytes',
    run: () =>
      jsonl(Buffer.concat([Buffer.from(lines(domain(0))), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d, 0x0a])])),
    expect: { status: 400, line: 2, code: 'invalid_encoding' },
  },
  {
    name: 'a missing custom_id',
    run: () => jsonl(lines({ body: domain(0).body })),
    expect: { status: 400, line: 1, param: 'custom_id', code: 'missing_required_parameter' },
  },
  {
    name: 'a duplicate custom_id',
    run: () => jsonl(lines(domain(0), domain(1), domain(0))),
    expect: { status: 400, line: 3, param: 'custom_id', code: 'duplicate_custom_id' },
  },
  {
    name: 'an empty custom_id',
    run: () => jsonl(lines({ ...domain(0), custom_id: '' })),
    expect: { status: 400, line: 1, param: 'custom_id' },
  },
  {
    name: 'a numeric custom_id',
    run: () => jsonl(lines({ ...domain(0), custom_id: 7 })),
    expect: { status: 400, line: 1, param: 'custom_id' },
  },
  {
    name: 'an unknown model',
    run: () => jsonl(lines(domain(0), domain(1, { model: 'translate' }))),
    expect: { status: 400, line: 2, param: 'body.model', code: 'unknown_model' },
  },
  {
    name: 'a missing model',
    run: () => jsonl(lines({ custom_id: 'x', body: { text: 'a', labels: ['a', 'b'] } })),
    expect: { status: 400, line: 1, param: 'body.model', code: 'missing_required_parameter' },
  },
  {
    name: 'text of the wrong type',
    run: () => jsonl(lines(domain(0, { text: 42 }))),
    expect: { status: 400, line: 1, param: 'body.text' },
  },
  {
    name: 'labels that are not a list',
    run: () => jsonl(lines(domain(0, { labels: 'a,b' }))),
    expect: { status: 400, line: 1, param: 'body.labels' },
  },
  {
    name: 'a single label',
    run: () => jsonl(lines(domain(0, { labels: ['only'] }))),
    expect: { status: 400, line: 1, param: 'body.labels' },
  },
  {
    name: 'thousands of labels',
    run: () => jsonl(lines(domain(0, { labels: Array.from({ length: 3000 }, (_, i) => `l${i}`) }))),
    expect: { status: 400, line: 1, param: 'body.labels' },
  },
  {
    name: 'repeated labels',
    run: () => jsonl(lines(domain(0, { labels: ['a', 'a'] }))),
    expect: { status: 400, line: 1, param: 'body.labels' },
  },
  {
    name: 'no entities to extract',
    run: () => jsonl(lines({ custom_id: 'x', body: { model: 'extract', text: 'a', entities: [] } })),
    expect: { status: 400, line: 1, param: 'body.entities' },
  },
  {
    name: 'a negative max_tokens',
    run: () => jsonl(lines({ custom_id: 'x', body: { model: 'summarize', text: 'a', max_tokens: -5 } })),
    expect: { status: 400, line: 1, param: 'body.max_tokens' },
  },
  {
    name: 'an unknown field',
    run: () => jsonl(lines(domain(0, { temperature: 2 }))),
    expect: { status: 400, line: 1, code: 'unknown_parameter' },
  },
  {
    name: 'a body that is not an object',
    run: () => jsonl(lines({ custom_id: 'x', body: 'classify this' })),
    expect: { status: 400, line: 1, param: 'body' },
  },
  {
    name: 'an empty body',
    run: () => jsonl(lines({ custom_id: 'x', body: {} })),
    expect: { status: 400, line: 1, param: 'body', code: 'empty_body' },
  },
  {
    name: 'a line that is an array',
    run: () => jsonl(lines([1, 2])),
    expect: { status: 400, line: 1, code: 'invalid_request' },
  },
  {
    name: 'a huge line',
    run: () => jsonl(lines(domain(0), domain(1, { text: 'x'.repeat(70_000) }))),
    expect: { status: 400, line: 2, code: 'line_too_large' },
  },
  {
    name: 'deeply nested JSON',
    run: () => jsonl(lines(domain(0), nested(500))),
    expect: { status: 400, line: 2, code: 'too_deeply_nested' },
  },
  { name: 'an empty body of lines', run: () => jsonl(''), expect: { status: 400, code: 'empty_file' } },
  { name: 'only blank lines', run: () => jsonl('\n\n  \n'), expect: { status: 400, code: 'empty_file' } },
  {
    name: 'a huge file',
    run: () => jsonl(lines(...Array.from({ length: 900 }, (_, i) => domain(i, { text: 'y'.repeat(3000) })))),
    expect: { status: 413 },
  },
  {
    name: 'a wrong content type',
    run: () => send('/v1/batches', lines(domain(0)), 'text/plain'),
    expect: { status: 415 },
  },
  {
    name: 'a single JSON item with a bad field',
    run: () => json('/v1/batches', { custom_id: 'x', body: { model: 'classify', text: 'a' } }),
    expect: { status: 400, line: 1, param: 'body.labels' },
  },
  {
    name: 'a JSON body that is not JSON',
    run: () => json('/v1/batches', '{"custom_id": '),
    expect: { status: 400, code: 'invalid_json' },
  },
  {
    name: 'a deeply nested JSON body',
    run: () => json('/v1/operations/classify', nested(300)),
    expect: { status: 400, code: 'too_deeply_nested' },
  },
  {
    name: 'a realtime call with a wrong model',
    run: () => json('/classify', { model: 'extract', text: 'a', labels: ['a', 'b'] }),
    expect: { status: 400, param: 'model' },
  },

  // OpenAI Batch API: failed batches naming each line, and refused requests
  {
    name: 'OpenAI: invalid JSON',
    run: () => openaiBatch(lines(openaiLine(0), '{"custom_id": "o1", "method"')),
    expect: { status: 200, line: 2, code: 'invalid_json_line' },
  },
  {
    name: 'OpenAI: a url other than the endpoint',
    run: () => openaiBatch(lines(openaiLine(0, { url: '/v1/embeddings' }))),
    expect: { status: 200, line: 1, code: 'invalid_url' },
  },
  {
    name: 'OpenAI: streaming',
    run: () =>
      openaiBatch(
        lines(openaiLine(0), { ...openaiLine(1), body: { model: 'gpt-4o-mini', messages: [], stream: true } }),
      ),
    expect: { status: 200, line: 2, code: 'streaming_unsupported' },
  },
  {
    name: 'OpenAI: two models',
    run: () => openaiBatch(lines(openaiLine(0), { ...openaiLine(1), body: { model: 'gpt-4o', messages: [] } })),
    expect: { status: 200, line: 2, code: 'mismatched_model' },
  },
  { name: 'OpenAI: an empty file', run: () => openaiBatch(''), expect: { status: 200, code: 'empty_file' } },
  {
    name: 'OpenAI: too many requests',
    run: () => openaiBatch(lines(...Array.from({ length: 51 }, (_, i) => openaiLine(i)))),
    expect: { status: 200, line: 51, code: 'too_many_requests' },
  },
  {
    name: 'OpenAI: a missing method',
    run: () => openaiBatch(lines({ ...openaiLine(0), method: undefined })),
    expect: { status: 200, line: 1, code: 'missing_required_parameter' },
  },
  {
    name: 'OpenAI: a duplicate custom_id',
    run: () => openaiBatch(lines(openaiLine(0), openaiLine(0))),
    expect: { status: 200, line: 2, code: 'duplicate_custom_id' },
  },
  {
    name: 'OpenAI: a byte-order mark',
    run: () => openaiBatch(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lines(openaiLine(0)))])),
    expect: { status: 200, line: 1, code: 'invalid_encoding' },
  },
  {
    name: 'OpenAI: 17 metadata pairs',
    run: () =>
      json('/v1/batches', {
        input_file_id: 'file-x',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
        metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, 'v'])),
      }),
    expect: { status: 400, param: 'metadata' },
  },
  {
    name: 'OpenAI: a two-week window',
    run: () =>
      json('/v1/batches', { input_file_id: 'file-x', endpoint: '/v1/chat/completions', completion_window: '2w' }),
    expect: { status: 400, param: 'completion_window' },
  },
  {
    name: 'OpenAI: an unknown input file',
    run: () =>
      json('/v1/batches', {
        input_file_id: 'file-nothere',
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      }),
    expect: { status: 404 },
  },
  {
    name: 'OpenAI: a .txt upload',
    run: () => upload('/v1/files', lines(openaiLine(0)), 'requests.txt', { purpose: 'batch' }),
    expect: { status: 400, param: 'file' },
  },
  {
    name: 'OpenAI: an upload over the size limit',
    run: () => upload('/v1/files', Buffer.alloc(3 * 1024 * 1024, 0x61), 'big.jsonl', { purpose: 'batch' }),
    expect: { status: 413 },
  },

  // Operations API
  {
    name: 'operations: no items',
    run: () => json('/v1/operations/classify', { items: [], categories: ['a', 'b'] }),
    expect: { status: 400, param: 'items' },
  },
  {
    name: 'operations: an item without content',
    run: () => json('/v1/operations/summarize', { items: [{ text: 'a' }], summary_instructions: 's' }),
    expect: { status: 400, param: 'items.0.content' },
  },
  {
    name: 'operations: too many items for a synchronous call',
    run: () =>
      json('/v1/operations/classify', {
        items: Array.from({ length: 11 }, () => ({ content: 'a' })),
        categories: ['a', 'b'],
      }),
    expect: { status: 400, code: 'sync_limit_exceeded' },
  },
  {
    name: 'operations: one category',
    run: () => json('/v1/operations/classify', { items: [{ content: 'a' }], categories: ['a'] }),
    expect: { status: 400, param: 'categories' },
  },
  {
    name: 'operations: a template with a missing field',
    run: () =>
      json('/v1/operations/run', {
        items: [{ content: 'a' }, { content: 'b', customer: 'x' }],
        user_prompt_template: 'For {customer}: {content}',
      }),
    expect: { status: 400, param: 'items.0.customer', code: 'missing_template_field' },
  },
  {
    name: 'operations: a categorical field without values',
    run: () =>
      json('/v1/jobs', {
        operation: 'enrich',
        items: [{ content: 'a' }],
        fields: [{ name: 'seg', type: 'categorical', description: 'd' }],
      }),
    expect: { status: 400, param: 'fields.0.valid_values' },
  },
  {
    name: 'operations: an unknown operation',
    run: () => json('/v1/jobs', { operation: 'translate', items: [{ content: 'a' }] }),
    expect: { status: 400, param: 'operation' },
  },
  {
    name: 'operations: a CSV without a content column',
    run: () =>
      upload('/v1/jobs/upload', 'text,region\nhello,eu\n', 'items.csv', {
        params: JSON.stringify({ operation: 'label', categories: ['a', 'b'] }),
      }),
    expect: { status: 400, line: 2, param: 'content' },
  },
  {
    name: 'operations: an unclosed quote in a CSV',
    run: () =>
      upload('/v1/jobs/upload', 'content,region\n"hello,eu\n', 'items.csv', {
        params: JSON.stringify({ operation: 'label', categories: ['a', 'b'] }),
      }),
    expect: { status: 400, code: 'invalid_csv' },
  },
  {
    name: 'operations: params that are not JSON',
    run: () => upload('/v1/jobs/upload', '{"content": "a"}\n', 'items.jsonl', { params: 'operation=label' }),
    expect: { status: 400, param: 'params' },
  },
  {
    name: 'operations: items and a file at once',
    run: () =>
      json('/v1/jobs', {
        operation: 'label',
        categories: ['a', 'b'],
        items: [{ content: 'a' }],
        input_file_id: 'file-abc',
      }),
    expect: { status: 400, param: 'items' },
  },
  {
    name: 'operations: an unknown job parameter',
    run: () =>
      json('/v1/jobs', { operation: 'summarize', items: [{ content: 'a' }], summary_instructions: 's', max_wrods: 3 }),
    expect: { status: 400, code: 'unknown_parameter' },
  },
];

/** Every place the error may name a line and a field: the 400's `details`, or the failed batch's `errors.data`. */
function problems(body: unknown): { line: number | null; param: string | null; code: string }[] {
  const b = body as { error?: { details?: []; code?: string; param?: string }; errors?: { data: [] } };
  if (b.errors?.data) return b.errors.data;
  if (b.error?.details) return b.error.details;
  if (b.error) return [{ line: null, param: b.error.param ?? null, code: b.error.code ?? '' }];
  return [];
}

describe('bad input, tried wholesale', () => {
  it('has a corpus of at least 40 malformed inputs across the three APIs', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, testCase) => {
    const { status, body } = await testCase.run();
    expect(status).toBe(testCase.expect.status);
    if (testCase.expect.status === 200) expect((body as { status: string }).status).toBe('failed');
    const found = problems(body);
    const message = JSON.stringify(body);
    if (testCase.expect.status >= 400) expect(message).toMatch(/"message":"[^"]{10,}/);
    const match = found.find(
      (p) =>
        (testCase.expect.line === undefined || p.line === testCase.expect.line) &&
        (testCase.expect.code === undefined || p.code === testCase.expect.code) &&
        (testCase.expect.param === undefined || p.param === testCase.expect.param),
    );
    if (
      testCase.expect.line !== undefined ||
      testCase.expect.code !== undefined ||
      testCase.expect.param !== undefined
    ) {
      expect(match, `expected a problem like ${JSON.stringify(testCase.expect)} in ${message}`).toBeDefined();
    }
  });

  it('answers 408 when the request head or body does not arrive in time', async () => {
    const { port, hostname } = new URL(pipeline.url);
    const exchange = (write: (socket: Socket) => void) =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(Number(port), hostname, () => write(socket));
        let answer = '';
        socket.on('data', (chunk: Buffer) => (answer += chunk.toString()));
        socket.on('close', () => resolve(answer));
        socket.on('error', reject);
        setTimeout(() => socket.destroy(), 10_000);
      });
    const slowHead = await exchange((socket) => socket.write('POST /v1/batches HTTP/1.1\r\nHost: x\r\n'));
    expect(slowHead).toMatch(/^HTTP\/1\.1 408/);
    const stalledBody = await exchange((socket) =>
      socket.write(
        'POST /v1/batches HTTP/1.1\r\nHost: x\r\nContent-Type: application/jsonl\r\nContent-Length: 1000\r\n\r\n{"custom_id"',
      ),
    );
    expect(stalledBody).toMatch(/^HTTP\/1\.1 408/);
  });

  it('stays up, and nothing from a refused request reached Kafka', async () => {
    expect((await fetch(`${pipeline.url}/healthz`)).status).toBe(200);
    expect(await requestOffsets()).toEqual(requestsBefore);
  });
});
