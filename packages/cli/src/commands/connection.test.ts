import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { errorFromResponse, APIConnectionError } from '@sluice/sdk';
import { describe, expect, it } from 'vitest';
import { CliError, EXIT } from '../cli-errors.js';
import { cliErrorFrom, connect, DEFAULT_BASE_URL, resolveConnection } from './connection.js';

describe('resolveConnection', () => {
  const profile = { baseURL: 'http://profile.test', apiKey: 'sk-profile' };

  it('takes the flag, then the environment, then the profile, then the local default', () => {
    const env = { SLUICE_BASE_URL: 'http://env.test', SLUICE_API_KEY: 'sk-env' };
    expect(resolveConnection({ baseUrl: 'http://flag.test', apiKey: 'sk-flag' }, env, profile)).toEqual({
      baseURL: 'http://flag.test',
      apiKey: 'sk-flag',
      baseURLSource: '--base-url',
    });
    expect(resolveConnection({}, env, profile)).toEqual({
      baseURL: 'http://env.test',
      apiKey: 'sk-env',
      baseURLSource: 'SLUICE_BASE_URL',
    });
    expect(resolveConnection({}, {}, profile)).toEqual({
      baseURL: 'http://profile.test',
      apiKey: 'sk-profile',
      baseURLSource: 'the profile',
    });
    expect(resolveConnection({}, {}, undefined)).toEqual({
      baseURL: DEFAULT_BASE_URL,
      apiKey: undefined,
      baseURLSource: 'the default',
    });
  });
});

describe('connect', () => {
  it('reads the profile named by --profile, and refuses one that is missing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-cli-'));
    const path = join(dir, 'config.json');
    await writeFile(path, JSON.stringify({ profiles: { prod: { baseURL: 'http://prod.test/v1', apiKey: 'k' } } }));
    const client = await connect({ profile: 'prod' }, { SLUICE_CONFIG: path });
    expect(client.options).toMatchObject({ baseURL: 'http://prod.test', apiKey: 'k' });
    await expect(connect({ profile: 'staging' }, { SLUICE_CONFIG: path })).rejects.toMatchObject({
      message: `--profile: no profile "staging" in ${path}`,
      exitCode: EXIT.usage,
    });
    // No profile asked for and none in the file: the local default.
    expect((await connect({}, { SLUICE_CONFIG: path })).options.baseURL).toBe(DEFAULT_BASE_URL);
  });

  it('refuses a base URL that is not a URL as a usage error naming where it came from', async () => {
    await expect(connect({ baseUrl: 'localhost:8080' }, { SLUICE_CONFIG: '/nonexistent' })).rejects.toMatchObject({
      message: "--base-url: expected an http or https URL, got 'localhost:8080'",
      exitCode: EXIT.usage,
    });
    await expect(connect({}, { SLUICE_CONFIG: '/nonexistent', SLUICE_BASE_URL: 'nope' })).rejects.toMatchObject({
      message: "SLUICE_BASE_URL: not a URL: 'nope'",
      exitCode: EXIT.usage,
    });
  });
});

describe('cliErrorFrom', () => {
  it('prints an API error as HTTP status, code and message', () => {
    const error = errorFromResponse(
      400,
      {
        error: {
          message: 'line 3, body.model: unknown model',
          type: 'invalid_request_error',
          param: null,
          code: 'unknown_model',
        },
      },
      new Headers(),
    );
    const cli = cliErrorFrom(error) as CliError;
    expect(cli).toBeInstanceOf(CliError);
    expect(cli.message).toBe('HTTP 400 unknown_model: line 3, body.model: unknown model');
    expect(cli.exitCode).toBe(EXIT.failure);
  });

  it('reports a lost connection as a failure, and leaves other errors alone', () => {
    const cli = cliErrorFrom(new APIConnectionError('GET /v1/batches/x: connect ECONNREFUSED 127.0.0.1:1')) as CliError;
    expect(cli.message).toBe('cannot reach the server: GET /v1/batches/x: connect ECONNREFUSED 127.0.0.1:1');
    expect(cli.exitCode).toBe(EXIT.failure);
    const other = new Error('boom');
    expect(cliErrorFrom(other)).toBe(other);
  });
});
