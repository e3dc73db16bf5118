import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * With SLUICE_API_KEYS set every route but /healthz needs a key, and a tenant never sees another
 * tenant's batches, jobs or files: their ids answer 404 on every route, as if they did not exist.
 */
let pipeline: Pipeline;
const A = { authorization: 'Bearer key-a' };
const B = { authorization: 'Bearer key-b' };
const owned: { domain: string; openai: string; job: string; file: string; outputFile: string } = {
  domain: '',
  openai: '',
  job: '',
  file: '',
  outputFile: '',
};

async function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
  contentType = 'application/json',
) {
  const response = await fetch(`${pipeline.url}${path}`, {
    method,
    headers: { ...headers, ...(body === undefined || body instanceof FormData ? {} : { 'content-type': contentType }) },
    body:
      body === undefined
        ? undefined
        : typeof body === 'string' || body instanceof FormData
          ? body
          : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, text };
}

beforeAll(async () => {
  pipeline = await startPipeline({ label: 'tenants', env: { SLUICE_API_KEYS: 'key-a=tenant-a,key-b=tenant-b' } });
  const jsonl =
    domainLines(3, 'a')
      .map((l) => JSON.stringify(l))
      .join('\n') + '\n';
  owned.domain = JSON.parse((await call('POST', '/v1/batches', A, jsonl, 'application/jsonl')).text).id;
  const form = new FormData();
  form.append('purpose', 'batch');
  const line = { custom_id: 'x', method: 'POST', url: '/v1/chat/completions', body: { model: 'm', messages: [] } };
  form.append('file', new Blob([`${JSON.stringify(line)}\n`]), 'in.jsonl');
  owned.file = JSON.parse((await call('POST', '/v1/files', A, form)).text).id;
  owned.openai = JSON.parse(
    (
      await call('POST', '/v1/batches', A, {
        input_file_id: owned.file,
        endpoint: '/v1/chat/completions',
        completion_window: '24h',
      })
    ).text,
  ).id;
  owned.job = JSON.parse(
    (await call('POST', '/v1/jobs', A, { operation: 'label', items: [{ content: 'x' }], categories: ['a', 'b'] })).text,
  ).id;
  const openai = await eventually(
    async () => {
      const batch = JSON.parse((await call('GET', `/v1/batches/${owned.openai}`, A)).text) as {
        status: string;
        output_file_id: string;
      };
      return batch.status === 'completed' ? batch : undefined;
    },
    { what: "tenant A's OpenAI batch" },
  );
  owned.outputFile = openai.output_file_id;
});
afterAll(async () => {
  await pipeline?.stop();
});

/** Every route that takes an id, with tenant A's ids. */
const routesWithIds = () => [
  ['GET', `/v1/batches/${owned.domain}`],
  ['GET', `/v1/batches/${owned.domain}/output`],
  ['POST', `/v1/batches/${owned.domain}/cancel`],
  ['GET', `/v1/batches/${owned.openai}`],
  ['GET', `/v1/batches/${owned.openai}/output`],
  ['POST', `/v1/batches/${owned.openai}/cancel`],
  ['GET', `/v1/batches/${owned.job}`],
  ['GET', `/v1/files/${owned.file}`],
  ['GET', `/v1/files/${owned.file}/content`],
  ['DELETE', `/v1/files/${owned.file}`],
  ['GET', `/v1/files/${owned.outputFile}`],
  ['GET', `/v1/files/${owned.outputFile}/content`],
  ['GET', `/v1/jobs/${owned.job}`],
  ['GET', `/v1/jobs/${owned.job}/output?format=json`],
  ['GET', `/v1/jobs/${owned.job}/output?format=jsonl`],
  ['GET', `/v1/jobs/${owned.job}/output?format=csv`],
  ['POST', `/v1/jobs/${owned.job}/cancel`],
];

describe('tenants', () => {
  it("answers 404 to another tenant's ids on every route, and its lists never show them", async () => {
    for (const [method, path] of routesWithIds()) {
      const { status, text } = await call(method as string, path as string, B);
      expect(status, `${method} ${path}`).toBe(404);
      expect(text).not.toContain('tenant-a');
    }
    const createFromA = [
      ['/v1/batches', { input_file_id: owned.file, endpoint: '/v1/chat/completions', completion_window: '24h' }],
      ['/v1/jobs', { operation: 'label', input_file_id: owned.file, categories: ['a', 'b'] }],
    ] as const;
    for (const [path, body] of createFromA) expect((await call('POST', path, B, body)).status, path).toBe(404);
    for (const list of ['/v1/batches', '/v1/files', '/v1/jobs']) {
      const { status, text } = await call('GET', list, B);
      expect(status).toBe(200);
      for (const id of Object.values(owned)) expect(text).not.toContain(id);
    }
    // The owner still sees everything.
    for (const [method, path] of routesWithIds().filter(([m]) => m === 'GET')) {
      expect((await call(method as string, path as string, A)).status, `${method} ${path}`).toBe(200);
    }
  });

  it('answers 401 without a key or with a wrong one on every route but /healthz', async () => {
    const routes = [
      ...routesWithIds(),
      ['GET', '/v1/batches'],
      ['POST', '/v1/batches'],
      ['GET', '/v1/files'],
      ['POST', '/v1/files'],
      ['GET', '/v1/jobs'],
      ['POST', '/v1/jobs'],
      ['POST', '/v1/jobs/upload'],
      ['POST', '/v1/operations/classify'],
      ['POST', '/classify'],
      ['POST', '/v1/extract'],
      ['GET', '/readyz'],
      ['GET', '/metrics'],
    ];
    for (const headers of [{}, { authorization: 'Bearer nope' }, { authorization: 'key-a' }] as Record<
      string,
      string
    >[]) {
      for (const [method, path] of routes) {
        const { status, text } = await call(method as string, path as string, headers);
        expect(status, `${method} ${path} with ${JSON.stringify(headers)}`).toBe(401);
        expect(JSON.parse(text)).toMatchObject({ error: { type: 'authentication_error' } });
      }
    }
    expect((await call('GET', '/healthz', {})).status).toBe(200);
  });
});
