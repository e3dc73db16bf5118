import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStore, createLogger } from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import { AdaptiveConcurrency } from './concurrency.js';
import { LearntState } from './learnt-state.js';

const directories: string[] = [];
afterEach(async () => {
  await Promise.all(directories.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

describe('what was learnt of an upstream, across a restart', () => {
  it('a new processor starts from the concurrency the last one learnt, not from 8', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sluice-learnt-'));
    directories.push(directory);
    const store = createLocalStore({ directory });
    const logger = createLogger({ name: 'test', level: 'silent' });
    const before = new LearntState(store, 'http://upstream.test/v1', logger);
    expect(await before.concurrency()).toBeNull();
    before.remember(40);
    before.remember(48); // only the latest is written
    await before.flush();

    const after = new LearntState(store, 'http://upstream.test/v1', logger);
    const concurrency = new AdaptiveConcurrency({ max: 256 });
    expect(concurrency.limit).toBe(8);
    concurrency.resume((await after.concurrency()) as number);
    expect(concurrency.limit).toBe(48);
    // Another upstream learnt nothing yet.
    expect(await new LearntState(store, 'http://other.test/v1', logger).concurrency()).toBeNull();
  });
});
