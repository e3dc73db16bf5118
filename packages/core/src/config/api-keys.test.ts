import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../logger.js';
import { ApiKeys, hashApiKey, watchApiKeysFile } from './api-keys.js';

let dir: string;
let file: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sluice-api-keys-'));
  file = join(dir, 'keys');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function loadFile(): ApiKeys {
  const keys = ApiKeys.load({ file });
  if (!keys) throw new Error('no keys');
  return keys;
}

function capturedLogger() {
  const lines: { level: number; msg: string; [field: string]: unknown }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as (typeof lines)[number]);
      done();
    },
  });
  return { logger: createLogger({ name: 'test', level: 'debug', destination }), lines };
}

describe('API keys', () => {
  it('accepts a key given as sha256:<hex> of the key, beside plain keys', async () => {
    await writeFile(file, `${hashApiKey('sk-hashed')}=tenant-h\nsk-plain=tenant-p\n`);
    const keys = loadFile();
    expect(keys.tenantOf('sk-hashed')).toBe('tenant-h');
    expect(keys.tenantOf('sk-plain')).toBe('tenant-p');
    // The hash itself is not a key: a leaked file does not let anyone in.
    expect(keys.tenantOf(hashApiKey('sk-hashed'))).toBeUndefined();
    expect(keys.tenantOf('sk-hashe')).toBeUndefined();
    // Upper-case hex is the same hash.
    await writeFile(file, `SHA256:${hashApiKey('sk-hashed').slice(7).toUpperCase()}=tenant-h\n`);
    expect(loadFile().tenantOf('sk-hashed')).toBe('tenant-h');
  });

  it('is SHA-256 as sha256sum prints it', () => {
    expect(hashApiKey('abc')).toBe('sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  });

  it('refuses a malformed hash, and one key given to two tenants, naming the lines', async () => {
    await writeFile(file, 'sk-a=tenant-a\nsha256:abc=tenant-b\n');
    expect(() => loadFile()).toThrow(/^SLUICE_API_KEYS_FILE: line 2: a hashed key is sha256: and 64 hexadecimal/);
    await writeFile(file, `sk-a=tenant-a\n# moved\n${hashApiKey('sk-a')}=tenant-b\n`);
    expect(() => loadFile()).toThrow(/line 3: the same key is given to tenant tenant-a at line 1/);
    // The same key and tenant twice (plain and hashed, while moving to hashes) is fine.
    await writeFile(file, `sk-a=tenant-a\n${hashApiKey('sk-a')}=tenant-a\n`);
    expect(loadFile().size).toBe(1);
  });

  it('never names a key in an error', async () => {
    await writeFile(file, 'sk-very-secret-value tenant-a\n');
    expect(() => loadFile()).toThrow(/line 1: expected key=tenant/);
    expect(() => loadFile()).not.toThrow(/sk-very-secret/);
  });

  it('rotation: two keys of one tenant work at once, and a reload without the old one refuses it', async () => {
    await writeFile(file, 'sk-old=tenant-a\n');
    const keys = loadFile();
    await writeFile(file, 'sk-old=tenant-a\nsk-new=tenant-a\n');
    expect(keys.reload()).toEqual({ changed: true, keys: 2, tenants: 1 });
    expect([keys.tenantOf('sk-old'), keys.tenantOf('sk-new')]).toEqual(['tenant-a', 'tenant-a']);
    await writeFile(file, 'sk-new=tenant-a\n');
    keys.reload();
    expect([keys.tenantOf('sk-old'), keys.tenantOf('sk-new')]).toEqual([undefined, 'tenant-a']);
    expect(keys.reload().changed).toBe(false);
  });

  it('a bad new file is refused and the keys in force stay', async () => {
    await writeFile(file, 'sk-a=tenant-a\n');
    const keys = loadFile();
    await writeFile(file, 'sk-b=tenant-b\nsk-c=\n');
    expect(() => keys.reload()).toThrow(/line 2/);
    await writeFile(file, '# emptied\n');
    expect(() => keys.reload()).toThrow(/no keys given/);
    await rm(file);
    expect(() => keys.reload()).toThrow(/cannot read/);
    expect([keys.tenantOf('sk-a'), keys.tenantOf('sk-b')]).toEqual(['tenant-a', undefined]);
  });

  it('the watch reloads a changed file by itself, replaced by rename too, and logs a refused one once', async () => {
    await writeFile(file, 'sk-a=tenant-a\n');
    const keys = loadFile();
    const { logger, lines } = capturedLogger();
    const reloader = watchApiKeysFile(keys, logger, { debounceMs: 20 });
    try {
      await writeFile(file, 'sk-b=tenant-b\n');
      await expect.poll(() => keys.tenantOf('sk-b'), { timeout: 5000 }).toBe('tenant-b');
      expect(keys.tenantOf('sk-a')).toBeUndefined();

      // An editor's save: a new file renamed over the old one.
      await writeFile(join(dir, 'keys.tmp'), 'sk-c=tenant-c\n');
      await rename(join(dir, 'keys.tmp'), file);
      await expect.poll(() => keys.tenantOf('sk-c'), { timeout: 5000 }).toBe('tenant-c');

      await writeFile(file, 'sk-d=tenant-d\nbroken line\n');
      await expect.poll(() => lines.filter((line) => line.level === 50), { timeout: 5000 }).toHaveLength(1);
      const refused = lines.find((line) => line.level === 50);
      expect(refused?.msg).toBe(
        "API keys not reloaded, the previous keys stay in force: SLUICE_API_KEYS_FILE: line 2: expected key=tenant (or sha256:<hex>=tenant) with a tenant of letters, digits, '.', '_' or '-'",
      );
      expect([keys.tenantOf('sk-c'), keys.tenantOf('sk-d')]).toEqual(['tenant-c', undefined]);

      expect(reloader.reload('SIGHUP')).toBe(false);
      await writeFile(file, 'sk-d=tenant-d\n');
      expect(reloader.reload('SIGHUP')).toBe(true);
      expect(keys.tenantOf('sk-d')).toBe('tenant-d');
      expect(lines.some((line) => line.msg === 'API keys reloaded' && line.reason === 'SIGHUP')).toBe(true);
    } finally {
      reloader.close();
    }
  });
});
