import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSluice, type RunningSluice } from '@sluice/cli';
import { compileConfig, createLogger, parseEnv } from '@sluice/core';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { freePort, spawnSluice } from '../harness/process.js';

/**
 * Issue 23, the front half: a model no upstream serves is refused at submit with a 400 that names
 * it and lists what is served, and nothing is created, on every create path (jobs, domain batches,
 * synchronous calls, retries); an OpenAI batch's input file gets the same issue on its first line,
 * in the batch's validation errors, as OpenAI reports it. A real HTTP server (embedded mode) with
 * SLUICE_UPSTREAMS_FILE naming the simulator; `sluice check` as its own process.
 */
const KEY = 'sk-upstream-models';
const auth = { authorization: `Bearer ${KEY}` };
const SERVED = 'served: gpt-4o-mini, gpt-4.1*';

let simulator: Simulator;
let sluice: RunningSluice;
let dataDir: string;
let url: string;

/** Starts Sluice (every role, embedded) over `dataDir` with this upstreams file. */
async function start(upstreamsYaml: string): Promise<void> {
  const file = join(dataDir, `upstreams-${Date.now()}.yaml`);
  await writeFile(file, upstreamsYaml);
  const env = {
    SLUICE_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    SLUICE_UPSTREAMS_FILE: file,
    SLUICE_API_KEYS: `${KEY}=team-a`,
    // The summarize default is a model the file does not serve: refused whenever a request relies on it.
    SLUICE_MODEL_SUMMARIZE: 'qwen-7b',
    LOG_LEVEL: process.env.SLUICE_TEST_LOG_LEVEL ?? 'error',
    SLUICE_STATUS_INTERVAL_MS: '200',
    SLUICE_COMMIT_INTERVAL_MS: '200',
  };
  const config = compileConfig(parseEnv(env), env);
  sluice = await startSluice(config, {
    roles: ['ingest', 'processor', 'sink'],
    logger: createLogger({ name: 'upstream-models', level: config.logLevel }),
  });
  url = sluice.url;
}

const servingSimulator = () => `upstreams:
  - name: sim
    base_url: ${simulator.url}
    models: [gpt-4o-mini, "gpt-4.1*"]
`;

beforeAll(async () => {
  simulator = await startSimulator({ port: 0 });
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-upstream-models-'));
  await start(servingSimulator());
});
afterAll(async () => {
  await sluice?.stop();
  await simulator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** The fields these tests read from Sluice's answers. */
interface Body {
  id: string;
  status: string;
  data: { id: string }[];
  results: unknown[];
  error: { code: string; param: string | null; message: string; details: unknown[] };
  errors: { data: unknown[] };
  request_counts: { total: number };
}

async function call(method: string, path: string, body?: unknown, type = 'application/json') {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': type }) },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as Body };
}

/** Every batch and job the tenant has: a refused create must leave both lists as they were. */
async function everything(): Promise<string[]> {
  const batches = await call('GET', '/v1/batches?limit=100');
  const jobs = await call('GET', '/v1/jobs?limit=100');
  return [...batches.body.data, ...jobs.body.data].map((record: { id: string }) => record.id).sort();
}

async function finished(id: string) {
  return eventually(
    async () => {
      const { body } = await call('GET', `/v1/batches/${id}`);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(body.status) ? body : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: `batch ${id} to finish` },
  );
}

/** The refusal: a 400 `model_not_found` naming the model (and where it came from) and what is served. */
function expectRefused(answer: { status: number; body: Body }, model: string, param: string) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(400);
  expect(answer.body.error.code).toBe('model_not_found');
  expect(answer.body.error.param).toBe(param);
  expect(answer.body.error.message).toContain(`model "${model}"`);
  expect(answer.body.error.message).toContain(SERVED);
}

const categories = ['billing', 'bug'];
const labelItems = [{ id: 'a', content: 'I was charged twice.' }];
const jsonl = (lines: unknown[]) => lines.map((line) => JSON.stringify(line)).join('\n') + '\n';
const domainClassify = {
  custom_id: 'c1',
  body: { model: 'classify', text: 'I was charged twice.', labels: categories },
};
const domainSummarize = { custom_id: 's1', body: { model: 'summarize', text: 'A long text about billing.' } };

async function uploadBatchFile(model: string): Promise<string> {
  const form = new FormData();
  form.append('purpose', 'batch');
  const line = (id: string) => ({
    custom_id: id,
    method: 'POST',
    url: '/v1/chat/completions',
    body: { model, messages: [{ role: 'user', content: `Say hello ${id}.` }] },
  });
  form.append('file', new Blob([jsonl([line('r1'), line('r2')])]), 'requests.jsonl');
  const response = await fetch(`${url}/v1/files`, { method: 'POST', headers: auth, body: form });
  expect(response.status).toBe(200);
  return ((await response.json()) as { id: string }).id;
}

describe('a model no upstream serves is refused at submit', () => {
  it('POST /v1/jobs: the named model, and an operation default that is not served; dry runs too', async () => {
    const before = await everything();
    const named = await call('POST', '/v1/jobs', {
      operation: 'label',
      categories,
      items: labelItems,
      model: 'claude-3',
    });
    expectRefused(named, 'claude-3', 'model');
    expectRefused(
      await call('POST', '/v1/jobs?dry_run=true', {
        operation: 'label',
        categories,
        items: labelItems,
        model: 'claude-3',
      }),
      'claude-3',
      'model',
    );
    const byDefault = await call('POST', '/v1/jobs', {
      operation: 'summarize',
      summary_instructions: 'One sentence.',
      items: labelItems,
    });
    expectRefused(byDefault, 'qwen-7b', 'model');
    expect(byDefault.body.error.message).toContain('SLUICE_MODEL_SUMMARIZE');
    expect(await everything()).toEqual(before);
  });

  it('POST /v1/batches (domain): the line whose operation runs on an unserved model is named', async () => {
    const before = await everything();
    const answer = await call('POST', '/v1/batches', jsonl([domainClassify, domainSummarize]), 'application/jsonl');
    expectRefused(answer, 'qwen-7b', 'body.model');
    expect(answer.body.error.details).toEqual([expect.objectContaining({ line: 2, code: 'model_not_found' })]);
    expectRefused(
      await call('POST', '/v1/batches?dry_run=true', jsonl([domainSummarize]), 'application/jsonl'),
      'qwen-7b',
      'body.model',
    );
    expect(await everything()).toEqual(before);
  });

  it('synchronous calls: the operations API and the realtime domain endpoints', async () => {
    const before = await everything();
    const requests = simulator.stats().requests;
    expectRefused(
      await call('POST', '/v1/operations/classify', { categories, items: labelItems, model: 'claude-3' }),
      'claude-3',
      'model',
    );
    expectRefused(
      await call('POST', '/v1/operations/summarize', { summary_instructions: 'One sentence.', items: labelItems }),
      'qwen-7b',
      'model',
    );
    expectRefused(
      await call('POST', '/v1/summarization/abstractive', { text: 'A long text about billing.' }),
      'qwen-7b',
      'model',
    );
    expect(await everything()).toEqual(before);
    expect(simulator.stats().requests).toBe(requests);
  });

  it('POST /v1/batches (OpenAI): the first line is refused in the validation errors; no item reaches the upstream', async () => {
    const requests = simulator.stats().requests;
    const fileId = await uploadBatchFile('claude-3');
    const create = { input_file_id: fileId, endpoint: '/v1/chat/completions', completion_window: '24h' };
    // A dry run validates the lines at once: its refusal is the 400.
    expectRefused(await call('POST', '/v1/batches?dry_run=true', create), 'claude-3', 'body.model');
    // A create answers `validating` at once and reports bad lines as OpenAI does: `failed`, errors.data.
    const created = await call('POST', '/v1/batches', create);
    expect(created.status).toBe(200);
    const batch = await finished(created.body.id);
    expect(batch.status).toBe('failed');
    expect(batch.request_counts.total).toBe(0);
    expect(batch.errors.data).toEqual([
      {
        code: 'model_not_found',
        line: 1,
        param: 'body.model',
        message: `model "claude-3" is served by no upstream; ${SERVED}`,
      },
    ]);
    expect(simulator.stats().requests).toBe(requests);
  });
});

describe('a served model is accepted', () => {
  const created: Record<string, string> = {};

  it('on every create path, by exact name and by prefix, and runs', async () => {
    // No model: the configured default (SLUICE_MODEL, gpt-4o-mini).
    const job = await call('POST', '/v1/jobs', { operation: 'label', categories, items: labelItems });
    expect(job.status, JSON.stringify(job.body)).toBe(200);
    created.job = job.body.id;
    const domain = await call('POST', '/v1/batches', jsonl([domainClassify]), 'application/jsonl');
    expect(domain.status, JSON.stringify(domain.body)).toBe(200);
    created.domain = domain.body.id;
    const openai = await call('POST', '/v1/batches', {
      input_file_id: await uploadBatchFile('gpt-4o-mini'),
      endpoint: '/v1/chat/completions',
      completion_window: '24h',
    });
    expect(openai.status).toBe(200);
    created.openai = openai.body.id;
    // By prefix: `gpt-4.1*`.
    const sync = await call('POST', '/v1/operations/classify', {
      categories,
      items: labelItems,
      model: 'gpt-4.1-mini',
    });
    expect(sync.status, JSON.stringify(sync.body)).toBe(200);
    expect(sync.body.results).toHaveLength(1);
    expect((await call('POST', '/v1/classify', { text: 'I was charged twice.', labels: categories })).status).toBe(200);
    for (const id of Object.values(created)) expect((await finished(id)).status).toBe('completed');
  });

  it('a retry is refused once its model is served no more (the upstreams file changed), and nothing is created', async () => {
    await sluice.stop();
    await start(`upstreams:
  - name: sim
    base_url: ${simulator.url}
    models: ["gpt-4.1*"]
`);
    const before = await everything();
    const served = 'served: gpt-4.1*';
    for (const [resource, id] of [
      ['jobs', created.job],
      ['batches', created.openai],
      ['batches', created.domain],
    ] as const) {
      for (const path of [`/v1/${resource}/${id}/retry`, `/v1/${resource}/${id}/retry?dry_run=true`]) {
        const answer = await call('POST', path);
        expect(answer.status, JSON.stringify(answer.body)).toBe(400);
        expect(answer.body.error.code).toBe('model_not_found');
        expect(answer.body.error.message).toContain('model "gpt-4o-mini"');
        expect(answer.body.error.message).toContain(served);
      }
    }
    expect(await everything()).toEqual(before);
  });
});

describe('sluice check', () => {
  it('prints a line per upstream and exits 1 when one fails: unreachable, key refused', async () => {
    const deadPort = await freePort();
    const file = join(dataDir, 'check.yaml');
    await writeFile(
      file,
      `upstreams:
  - name: sim
    base_url: ${simulator.url}
    models: [gpt-4o-mini, "gpt-4.1*"]
  - name: gone
    base_url: http://127.0.0.1:${deadPort}/v1
    models: [gpt-4o-mini]
  - name: wrong-key
    base_url: ${url}/v1
    api_key_env: WRONG_KEY
    models: [gpt-4o-mini]
`,
    );
    const check = spawnSluice(['check'], { SLUICE_UPSTREAMS_FILE: file, WRONG_KEY: 'sk-not-this-one' });
    expect(await check.exited).toBe(1);
    const lines = check.output.map((line) => line.trim().replace(/ {2,}/g, '  '));
    expect(lines).toContain(
      `sim  ${simulator.url}  ok  key accepted; 3 models listed; gpt-4.1*: 1 listed; json_schema accepted (gpt-4o-mini)`,
    );
    expect(lines).toContain(`gone  http://127.0.0.1:${deadPort}/v1  FAIL  unreachable: ECONNREFUSED`);
    expect(lines.find((line) => line.startsWith('wrong-key'))).toMatch(
      /^wrong-key {2}\S+ {2}FAIL {2}key refused: GET \/models answered 401: Incorrect API key provided/,
    );
    expect(check.output.at(-1)).toBe('sluice: 2 of 3 upstreams failed the check: gone, wrong-key');
  });
});
