import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileConfig } from './config.js';
import { parseEnv } from './env.js';
import { servedModels, upstreamModelFor, upstreamsServing } from './upstreams.js';

describe('SLUICE_UPSTREAMS_FILE', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-upstreams-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const compile = async (text: string, variables: Record<string, string> = {}, env: Record<string, string> = {}) => {
    const file = join(dir, `upstreams-${Math.random().toString(36).slice(2)}.yaml`);
    await writeFile(file, text);
    const all = { SLUICE_UPSTREAMS_FILE: file, ...env };
    return compileConfig(parseEnv(all), { ...all, ...variables }).upstream.list;
  };

  it('reads YAML entries: keys by variable, headers with variables, renamed models, prefixes, defaults', async () => {
    const list = await compile(
      `upstreams:
  - name: openai
    base_url: https://api.openai.com/v1/
    api_key_env: OPENAI_KEY
    models: [gpt-4o-mini, "gpt-4.1*"]
    rpm: 500
  - name: azure-east
    base_url: https://east.example.com/openai/v1
    headers: { api-key: "\${AZURE_KEY}", x-team: "batch-\${TEAM}" }
    models: { llama-8b: meta-llama/Llama-3.1-8B-Instruct }
    structured_output: json_object
`,
      { OPENAI_KEY: 'sk-1', AZURE_KEY: 'az-2', TEAM: 'red' },
      { SLUICE_UPSTREAM_TPM: '9000', SLUICE_PROCESSOR_CONCURRENCY: '32' },
    );
    expect(list.map((entry) => entry.name)).toEqual(['openai', 'azure-east']);
    const [openai, azure] = list as [NonNullable<(typeof list)[0]>, NonNullable<(typeof list)[0]>];
    expect(openai).toMatchObject({
      baseUrl: 'https://api.openai.com/v1',
      apiKey: 'sk-1',
      requestsPerMinute: 500,
      tokensPerMinute: 9000,
      concurrency: 32,
    });
    expect(azure.headers).toEqual({ 'api-key': 'az-2', 'x-team': 'batch-red' });
    expect(azure.structuredOutput).toEqual({ default: 'json_object', perModel: {} });
    expect(upstreamModelFor(openai, 'gpt-4.1-mini')).toBe('gpt-4.1-mini');
    expect(upstreamModelFor(openai, 'gpt-4o')).toBeUndefined();
    expect(upstreamModelFor(azure, 'llama-8b')).toBe('meta-llama/Llama-3.1-8B-Instruct');
    expect(upstreamsServing(list, 'llama-8b').map((entry) => entry.name)).toEqual(['azure-east']);
    expect(servedModels(list)).toEqual(['gpt-4o-mini', 'gpt-4.1*', 'llama-8b']);
  });

  it('reads a JSON list too, and OPENAI_BASE_URL is one upstream serving every model', async () => {
    const list = await compile(JSON.stringify([{ name: 'a', base_url: 'http://127.0.0.1:1/v1', models: ['m'] }]));
    expect(list).toHaveLength(1);
    const shorthand = compileConfig(parseEnv({ OPENAI_BASE_URL: 'http://127.0.0.1:2/v1', OPENAI_API_KEY: 'k' }))
      .upstream.list;
    expect(shorthand).toMatchObject([{ name: 'default', baseUrl: 'http://127.0.0.1:2/v1', apiKey: 'k' }]);
    expect(upstreamModelFor(shorthand[0] as never, 'anything/at:all')).toBe('anything/at:all');
    expect(compileConfig(parseEnv({})).upstream.list).toEqual([]);
  });

  it('reads tiers (realtime when not given) and tier_factors; a bad tier names the entry', async () => {
    const list = await compile(`- name: openai
  base_url: https://api.openai.com/v1
  models: [gpt-4o-mini]
  tiers: [realtime, flex, batch]
- name: groq
  base_url: https://api.groq.com/openai/v1
  models: [llama-8b]
  tiers: [realtime, flex]
  tier_factors: { flex: 1 }
- name: local
  base_url: http://127.0.0.1:1/v1
  models: [m]
`);
    expect(list.map((entry) => [entry.name, entry.tiers, entry.tierFactors])).toEqual([
      ['openai', ['realtime', 'flex', 'batch'], undefined],
      ['groq', ['realtime', 'flex'], { flex: 1 }],
      ['local', ['realtime'], undefined],
    ]);
    const shorthand = compileConfig(parseEnv({ OPENAI_BASE_URL: 'http://127.0.0.1:2/v1' })).upstream.list;
    expect(shorthand[0]?.tiers).toEqual(['realtime']);
    const entry = (fields: string) => `- name: good\n  base_url: http://127.0.0.1:1/v1\n  models: [m]\n${fields}`;
    await expect(compile(entry('  tiers: [realtime, cheap]\n'))).rejects.toThrow(/upstreams\[0\] \("good"\)\.tiers\.1/);
    await expect(compile(entry('  tiers: []\n'))).rejects.toThrow(/\.tiers: lists no tier/);
    await expect(compile(entry('  tiers: [realtime, realtime]\n'))).rejects.toThrow(/\.tiers: lists a tier twice/);
    // Flex alone is callable (flex-only upstreams); batch alone is not, until the batch tier is wired.
    expect((await compile(entry('  tiers: [flex]\n')))[0]?.tiers).toEqual(['flex']);
    await expect(compile(entry('  tiers: [batch]\n'))).rejects.toThrow(/\.tiers: must include realtime or flex/);
    await expect(compile(entry('  tier_factors: { flex: -1 }\n'))).rejects.toThrow(/\.tier_factors\.flex/);
    await expect(compile(entry('  tier_factors: { spot: 0.2 }\n'))).rejects.toThrow(/\.tier_factors: Unrecognized key/);
  });

  it('names the entry and the field of a bad file, and never a secret', async () => {
    const entry = (fields: string) => `- name: good\n  base_url: http://127.0.0.1:1/v1\n  models: [m]\n${fields}`;
    await expect(compile(`- name: Bad_Name\n  base_url: http://x/v1\n  models: [m]\n`)).rejects.toThrow(
      /SLUICE_UPSTREAMS_FILE: .*upstreams\[0\] \("Bad_Name"\)\.name: expected 1-32 characters/,
    );
    await expect(compile(`${entry('')}- name: good\n  base_url: ftp://x/v1\n  models: [m]\n`)).rejects.toThrow(
      /upstreams\[1\] \("good"\)\.base_url: expected an http\(s\) URL/,
    );
    await expect(compile(`${entry('')}${entry('')}`)).rejects.toThrow(
      /upstreams\[1\]\.name|is used by an earlier entry/,
    );
    await expect(compile(entry('  api_key_env: MISSING_KEY\n'))).rejects.toThrow(
      /upstreams\[0\] \("good"\)\.api_key_env: the variable MISSING_KEY is not set/,
    );
    await expect(compile(entry('  rpm: -1\n'))).rejects.toThrow(/upstreams\[0\] \("good"\)\.rpm/);
    await expect(compile(entry('  api_key: sk-secret\n'))).rejects.toThrow(
      /upstreams\[0\] \("good"\): Unrecognized key/,
    );
    await expect(compile(`- name: p\n  base_url: http://x/v1\n  models: { "gpt*": other }\n`)).rejects.toThrow(
      /models\.gpt\*: a prefix cannot be renamed/,
    );
    await expect(compile(`- name: p\n  base_url: http://x/v1\n  models: ["a*b"]\n`)).rejects.toThrow(
      /models\.0: a `\*` may only end a name/,
    );
    await expect(compile('[]')).rejects.toThrow(/lists no upstream/);
    await expect(compile('upstreams: [\n')).rejects.toThrow(/not JSON or YAML/);
    await expect(compile(entry(''), {}, { OPENAI_BASE_URL: 'http://127.0.0.1:3/v1' })).rejects.toThrow(
      /OPENAI_BASE_URL is set too/,
    );
  });

  it('compiles every example file in docs/upstreams.md', async () => {
    const docs = await readFile(join(import.meta.dirname, '../../../../docs/upstreams.md'), 'utf8');
    const examples = [...docs.matchAll(/^```yaml\n([\s\S]*?)^```$/gm)].map((match) => match[1] as string);
    expect(examples.length).toBeGreaterThanOrEqual(3);
    const keys = { OPENAI_API_KEY: 'sk-1', AZURE_OPENAI_API_KEY: 'az-2', GROQ_API_KEY: 'gsk-3', GEMINI_API_KEY: 'g-4' };
    for (const example of examples) {
      const list = await compile(example, keys);
      expect(list.length).toBeGreaterThan(0);
      for (const entry of list) expect(entry.models.length).toBeGreaterThan(0);
    }
    const azure = (await compile(examples.find((example) => example.includes('azure')) as string, keys))[0];
    expect(azure?.headers).toEqual({ 'api-key': 'az-2' });
    expect(upstreamModelFor(azure as never, 'gpt-4o-mini')).toBe('my-gpt-4o-mini-deployment');
  });
});
