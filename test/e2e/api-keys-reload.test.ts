import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { CLI, freePort, spawnSluice, type SluiceProcess } from '../harness/process.js';

/**
 * Issue 25, what an operator expects: API keys are added, rotated and revoked without a restart.
 * A real `sluice serve --role ingest` process (embedded log, no broker needed): the keys file is
 * read again when it changes and on SIGHUP, may hold SHA-256 hashes instead of keys, and a bad new
 * file is refused with one log line while the keys in force stay.
 */
let scratch: string;
let sluice: SluiceProcess;
let url: string;
let keysFile: string;
let realKeys: string;

function hashOf(key: string): string {
  const run = spawnSync(process.execPath, [CLI, 'key', 'hash'], { input: `${key}\n`, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return run.stdout.trim();
}

async function statusWith(key: string): Promise<number> {
  const response = await fetch(`${url}/v1/batches`, { headers: { authorization: `Bearer ${key}` } });
  await response.arrayBuffer();
  return response.status;
}

/** Waits until each key answers the given status (a reload is debounced and asynchronous). */
async function expectStatuses(expected: Record<string, number>) {
  const keys = Object.keys(expected);
  let last: Record<string, number> = {};
  await eventually(
    async () => {
      last = Object.fromEntries(await Promise.all(keys.map(async (key) => [key, await statusWith(key)])));
      return keys.every((key) => last[key] === expected[key]) ? true : undefined;
    },
    { timeoutMs: 10_000, what: `statuses ${JSON.stringify(expected)}` },
  ).catch((error: Error) => {
    throw new Error(`${error.message}; last ${JSON.stringify(last)}`);
  });
}

/** Replaces the keys file the way an editor or a deploy does: a new file renamed over it. */
async function replaceKeysFile(text: string) {
  const next = `${keysFile}.next`;
  await writeFile(next, text);
  await rename(next, keysFile);
}

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'sluice-keys-e2e-'));
  await mkdir(join(scratch, 'conf'));
  await mkdir(join(scratch, 'elsewhere'));
  keysFile = join(scratch, 'conf', 'api-keys');
  realKeys = join(scratch, 'elsewhere', 'api-keys');
  await writeFile(keysFile, '# tenants\nsk-old=tenant-a\nsk-b=tenant-b\n');
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  sluice = spawnSluice(['serve', '--role', 'ingest'], {
    SLUICE_DATA_DIR: join(scratch, 'data'),
    SLUICE_API_KEYS_FILE: keysFile,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
  });
  await sluice.waitForOutput(/sluice is running/);
});
afterAll(async () => {
  sluice?.kill('SIGKILL');
  await rm(scratch, { recursive: true, force: true });
});

describe('API keys without a restart', () => {
  it('rotation: a hashed new key beside the old one, then the old one removed, each live at once', async () => {
    await expectStatuses({ 'sk-old': 200, 'sk-new': 401, 'sk-b': 200 });
    // 1. add the new key (as its hash: the file is no secret) beside the old one
    await replaceKeysFile(`sk-old=tenant-a\n${hashOf('sk-new')}=tenant-a\nsk-b=tenant-b\n`);
    await expectStatuses({ 'sk-old': 200, 'sk-new': 200, 'sk-b': 200 });
    // 2. (clients move to the new key) 3. remove the old one: refused from then on
    await writeFile(keysFile, `${hashOf('sk-new')}=tenant-a\nsk-b=tenant-b\n`);
    await expectStatuses({ 'sk-old': 401, 'sk-new': 200, 'sk-b': 200 });
    expect(sluice.output.filter((line) => line.includes('API keys reloaded')).length).toBeGreaterThanOrEqual(2);
  });

  it('a bad new file is refused with one log line naming the line, and the keys in force stay', async () => {
    const before = sluice.output.length;
    await replaceKeysFile(`${hashOf('sk-new')}=tenant-a\nsha256:not-hex=tenant-c\nsk-c=tenant-c\n`);
    const refused = await sluice.waitForOutput(/API keys not reloaded/, 10_000);
    expect(refused).toContain('the previous keys stay in force: SLUICE_API_KEYS_FILE: line 2: a hashed key is sha256:');
    expect(refused).not.toContain('sk-');
    expect(sluice.output.slice(before).filter((line) => line.includes('API keys not reloaded'))).toHaveLength(1);
    await expectStatuses({ 'sk-new': 200, 'sk-b': 200, 'sk-c': 401 });
  });

  it('SIGHUP reads the file again: a change the watch cannot see (a symlink whose target is edited elsewhere)', async () => {
    await writeFile(realKeys, `${hashOf('sk-new')}=tenant-a\nsk-b=tenant-b\n`);
    const link = `${keysFile}.link`;
    await symlink(realKeys, link);
    await rename(link, keysFile);
    await expectStatuses({ 'sk-new': 200, 'sk-b': 200 });

    // Revoke tenant-b's key in the target, outside the watched directory.
    await writeFile(realKeys, `${hashOf('sk-new')}=tenant-a\n`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(await statusWith('sk-b')).toBe(200);
    sluice.kill('SIGHUP');
    await expectStatuses({ 'sk-new': 200, 'sk-b': 401 });
    expect(sluice.output.some((line) => line.includes('API keys reloaded') && line.includes('SIGHUP'))).toBe(true);
  });
});
