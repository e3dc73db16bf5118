import { createServer } from 'node:net';
import { type UpstreamEntry, upstreamEntry } from '@sluice/core';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkUpstream, formatUpstreamChecks } from './upstream-check.js';

/** Real simulators (OpenAI's dialect and llama-cpp-python's), and a port nothing listens on. */
let openai: Simulator;
let llama: Simulator;
let deadPort: number;

beforeAll(async () => {
  openai = await startSimulator({ port: 0 });
  llama = await startSimulator({ port: 0, structured: 'json_object' });
  deadPort = await new Promise<number>((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
});
afterAll(async () => {
  await openai?.close();
  await llama?.close();
});

function entry(
  name: string,
  baseUrl: string,
  models: string[],
  overrides: Partial<Omit<UpstreamEntry, 'models'>> = {},
): UpstreamEntry {
  return upstreamEntry({ name, baseUrl, models, apiKey: 'sk-test', concurrency: 8, ...overrides });
}

const options = { defaultModels: ['gpt-4o-mini'], timeoutMs: 5_000 };

describe('checkUpstream', () => {
  it('reports a healthy upstream: key accepted, its models listed, prefixes counted, json_schema taken', async () => {
    const check = await checkUpstream(entry('openai', openai.url, ['gpt-4o-mini', 'gpt-4.1*']), options);
    expect(check).toMatchObject({ name: 'openai', baseUrl: openai.url, ok: true });
    expect(check.reason).toBe('key accepted; 3 models listed; gpt-4.1*: 1 listed; json_schema accepted (gpt-4o-mini)');
  });

  it('probes the dialect with the upstream’s own name for a renamed model, and says auto falls back on a refusal', async () => {
    const renamed = entry('llama', llama.url, ['local']);
    renamed.models = [{ match: 'local', prefix: false, upstreamModel: 'gpt-4o' }];
    const check = await checkUpstream(renamed, { ...options, defaultModels: ['nothing-served'] });
    expect(check.ok).toBe(true);
    expect(check.reason).toBe(
      'key accepted; 3 models listed; json_schema refused (500): auto falls back to json_object or the prompt',
    );
  });

  it('fails an upstream pinned to json_schema that refuses it, and reports a pinned other mode without a call', async () => {
    const pinned = await checkUpstream(
      entry('llama', llama.url, ['gpt-4o'], { structuredOutput: { default: 'json_schema', perModel: {} } }),
      options,
    );
    expect(pinned.ok).toBe(false);
    expect(pinned.reason).toMatch(
      /^json_schema refused \(500\) but SLUICE_STRUCTURED_OUTPUT pins it: .*Input should be/,
    );
    const other = await checkUpstream(
      entry('llama', llama.url, ['gpt-4o'], { structuredOutput: { default: 'json_object', perModel: {} } }),
      options,
    );
    expect(other).toMatchObject({
      ok: true,
      reason: 'key accepted; 3 models listed; structured output json_object (configured)',
    });
    expect(llama.stats().requests).toBe(2);
  });

  it('fails an upstream that does not list a model it is said to serve, or whose prefix matches none', async () => {
    const check = await checkUpstream(entry('openai', openai.url, ['gpt-4o-mini', 'llama-3-70b', 'claude*']), options);
    expect(check.ok).toBe(false);
    expect(check.reason).toMatch(/^not listed: llama-3-70b, claude\* \(no listed model matches\); key accepted/);
  });

  it('fails an unreachable upstream, naming the reason', async () => {
    const check = await checkUpstream(entry('gone', `http://127.0.0.1:${deadPort}/v1`, ['gpt-4o-mini']), options);
    expect(check).toEqual({
      name: 'gone',
      baseUrl: `http://127.0.0.1:${deadPort}/v1`,
      ok: false,
      reason: 'unreachable: ECONNREFUSED',
    });
  });

  it('prints one aligned line per upstream: name, base_url, ok|FAIL, reason', () => {
    const lines = formatUpstreamChecks([
      { name: 'openai', baseUrl: 'https://api.openai.com/v1', ok: true, reason: 'fine' },
      { name: 'vllm-a', baseUrl: 'http://10.0.0.5:8000/v1', ok: false, reason: 'unreachable: ECONNREFUSED' },
    ]);
    expect(lines).toEqual([
      'openai  https://api.openai.com/v1  ok    fine',
      'vllm-a  http://10.0.0.5:8000/v1    FAIL  unreachable: ECONNREFUSED',
    ]);
  });
});
