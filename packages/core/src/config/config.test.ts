import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { compileConfig, parseApiKeys } from './config.js';
import { parseEnv } from './env.js';
import { structuredOutputModeFor } from './structured-output.js';

describe('configuration', () => {
  it('names the variable of a bad value', () => {
    expect(() => parseEnv({ SLUICE_PARTITIONS: '0' })).toThrow(/^SLUICE_PARTITIONS: /);
    expect(() => parseEnv({ OPENAI_BASE_URL: 'not a url' })).toThrow(ConfigError);
    expect(() => parseEnv({ SLUICE_TOPIC_PREFIX: 'bad prefix!' })).toThrow(/SLUICE_TOPIC_PREFIX/);
  });

  it('runs embedded without KAFKA_BROKERS and on Kafka with it', () => {
    expect(compileConfig(parseEnv({})).mode).toBe('embedded');
    const kafka = compileConfig(parseEnv({ KAFKA_BROKERS: 'a:9092, b:9092' }));
    expect(kafka.mode).toBe('kafka');
    expect(kafka.kafka?.brokers).toEqual(['a:9092', 'b:9092']);
  });

  it('reads API keys inline and from a file, and refuses malformed entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sluice-keys-'));
    try {
      const file = join(dir, 'keys');
      await writeFile(file, '# team keys\nkey-c=tenant-c\n\nkey-d = tenant-d\n');
      const keys = parseApiKeys('key-a=tenant-a,key-b=tenant-b', file);
      expect(Object.fromEntries(keys ?? [])).toEqual({
        'key-a': 'tenant-a',
        'key-b': 'tenant-b',
        'key-c': 'tenant-c',
        'key-d': 'tenant-d',
      });
      expect(parseApiKeys(undefined, undefined)).toBeNull();
      expect(() => parseApiKeys('key-without-tenant', undefined)).toThrow(/SLUICE_API_KEYS: entry 1/);
      expect(() => parseApiKeys(undefined, join(dir, 'missing'))).toThrow(/SLUICE_API_KEYS_FILE: cannot read/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reads the structured-output mode, per model, and names a bad entry', () => {
    expect(compileConfig(parseEnv({})).upstream.defaults.structuredOutput).toEqual({ default: 'auto', perModel: {} });
    const setting = compileConfig(
      parseEnv({ SLUICE_STRUCTURED_OUTPUT: 'prompt, smollm2:135m=json_object ,org/model=json_schema' }),
    ).upstream.defaults.structuredOutput;
    expect(setting).toEqual({
      default: 'prompt',
      perModel: { 'smollm2:135m': 'json_object', 'org/model': 'json_schema' },
    });
    expect(structuredOutputModeFor(setting, 'org/model')).toBe('json_schema');
    expect(structuredOutputModeFor(setting, 'other')).toBe('prompt');
    expect(() => parseEnv({ SLUICE_STRUCTURED_OUTPUT: 'auto,m=xml' })).toThrow(
      /^SLUICE_STRUCTURED_OUTPUT: entry 2 \(m\): expected one of auto, json_schema, json_object, prompt/,
    );
    expect(() => parseEnv({ SLUICE_STRUCTURED_OUTPUT: '=json_object' })).toThrow(/model name is missing/);
  });
});

describe('safe by default: the listening interface', () => {
  it('is loopback without API keys and HOST, all interfaces with keys, and HOST when set', () => {
    expect(compileConfig(parseEnv({})).http).toMatchObject({ host: '127.0.0.1', hostChosenBy: 'no_api_keys' });
    expect(compileConfig(parseEnv({ SLUICE_API_KEYS: 'k=t' })).http).toMatchObject({
      host: '0.0.0.0',
      hostChosenBy: 'api_keys',
    });
    expect(compileConfig(parseEnv({ HOST: '0.0.0.0' })).http).toMatchObject({ host: '0.0.0.0', hostChosenBy: 'HOST' });
    expect(compileConfig(parseEnv({ HOST: '10.0.0.5', SLUICE_API_KEYS: 'k=t' })).http.host).toBe('10.0.0.5');
  });
});
