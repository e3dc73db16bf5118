import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createLocalStore } from './local.js';

describe('local store', () => {
  it('writes into a directory that deletes of its siblings keep pruning (ENOENT race, seen as 500s on submit)', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sluice-race-'));
    try {
      const store = createLocalStore({ directory });
      // Each round: one file written while the directory's only other file is deleted (pruning the
      // directory and its parents once empty).
      const failures: string[] = [];
      for (let round = 0; round < 200; round++) {
        await store.put(`a/b/c/old-${round}`, Buffer.from('x'));
        const outcomes = await Promise.allSettled([
          store.delete([`a/b/c/old-${round}`]),
          store.put(`a/b/c/new-${round}`, Buffer.from('y')),
        ]);
        for (const outcome of outcomes) if (outcome.status === 'rejected') failures.push(String(outcome.reason));
        await store.delete([`a/b/c/new-${round}`]);
      }
      expect(failures).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});
