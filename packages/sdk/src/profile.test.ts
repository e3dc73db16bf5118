import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ConfigurationError, Sluice } from './index.js';

async function configFile(content: unknown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-profile-'));
  const path = join(dir, 'config.json');
  await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

const PROFILES = {
  profiles: {
    default: { baseURL: 'http://default.test:8080' },
    prod: { baseURL: 'https://sluice.example.test/v1', apiKey: 'sk-prod' },
  },
};

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('Sluice.fromProfile', () => {
  it('reads the named profile from $SLUICE_CONFIG', async () => {
    vi.stubEnv('SLUICE_CONFIG', await configFile(PROFILES));
    vi.stubEnv('SLUICE_BASE_URL', '');
    vi.stubEnv('SLUICE_API_KEY', '');
    vi.stubEnv('SLUICE_PROFILE', '');
    const client = await Sluice.fromProfile('prod');
    expect(client.options).toMatchObject({ baseURL: 'https://sluice.example.test', apiKey: 'sk-prod' });
  });

  it('uses $SLUICE_PROFILE, else "default", when no name is given', async () => {
    const path = await configFile(PROFILES);
    expect((await Sluice.fromProfile(undefined, { env: { SLUICE_CONFIG: path } })).options.baseURL).toBe(
      'http://default.test:8080',
    );
    const prod = await Sluice.fromProfile(undefined, { env: { SLUICE_CONFIG: path, SLUICE_PROFILE: 'prod' } });
    expect(prod.options.apiKey).toBe('sk-prod');
  });

  it('lets SLUICE_BASE_URL and SLUICE_API_KEY override the profile', async () => {
    const env = {
      SLUICE_CONFIG: await configFile(PROFILES),
      SLUICE_BASE_URL: 'http://127.0.0.1:9090',
      SLUICE_API_KEY: 'sk-env',
    };
    const client = await Sluice.fromProfile('prod', { env, maxRetries: 0 });
    expect(client.options).toMatchObject({ baseURL: 'http://127.0.0.1:9090', apiKey: 'sk-env', maxRetries: 0 });
  });

  it('needs no file when the environment names the server', async () => {
    const env = { SLUICE_CONFIG: '/nonexistent/sluice.json', SLUICE_BASE_URL: 'http://127.0.0.1:9090' };
    expect((await Sluice.fromProfile('prod', { env })).options.baseURL).toBe('http://127.0.0.1:9090');
  });

  it('names the file when the profile is missing and the environment does not help', async () => {
    const path = await configFile(PROFILES);
    const error = await Sluice.fromProfile('staging', { env: { SLUICE_CONFIG: path } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as Error).message).toBe(`no profile "staging" in ${path}, and SLUICE_BASE_URL is not set`);
  });

  it('names the file when it is not valid JSON', async () => {
    const path = await configFile('{"profiles": ');
    await expect(Sluice.fromProfile('prod', { env: { SLUICE_CONFIG: path } })).rejects.toThrow(
      new RegExp(`^${path}: not valid JSON`),
    );
  });
});
