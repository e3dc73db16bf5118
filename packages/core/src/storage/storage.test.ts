import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ItemResultMessage } from '../contracts/messages.js';
import { requestLineId } from '../ids.js';
import { storeKeys } from './layout.js';
import { createLocalStore } from './local.js';
import { readOutputPage, writeFinalOutputs } from './output.js';
import { INDEX_PAGE_ENTRIES, readResults, ResultWriter } from './results.js';
import type { Store } from './types.js';

let root: string;
let store: Store;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-storage-'));
  store = createLocalStore({ directory: root });
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function result(index: number, ok = true): ItemResultMessage {
  return {
    type: 'item',
    batch_id: 'batch_x',
    index,
    custom_id: `c${index}`,
    id: requestLineId('batch_x', index),
    api: 'domain',
    discriminator: 'classify',
    ok,
    response: ok ? { status_code: 200, request_id: `r${index}`, body: { n: index } } : null,
    error: ok ? null : { code: 'upstream_bad_request', message: 'no' },
    usage: { input_tokens: 10, output_tokens: index },
    attempts: 1,
    rate_limited: 0,
    finished_at: 1,
    item: null,
    model: ok ? 'gpt-4o-mini' : null,
    cached: false,
    upstream: null,
    tier: null,
  };
}

describe('ResultWriter', () => {
  it('dedups by item index, also after reopening', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    expect(writer.append(result(2))).toBe(true);
    expect(writer.append(result(0, false))).toBe(true);
    expect(writer.append(result(2))).toBe(false);
    await writer.flush();

    const reopened = await ResultWriter.open(store, 'batch_x');
    expect(reopened.counts).toEqual({
      received: 2,
      completed: 1,
      failed: 1,
      cancelled: 0,
      expired: 0,
      inputTokens: 20,
      outputTokens: 2,
      cachedItems: 0,
      cachedTokens: 0,
      retries: 0,
      rateLimited: 0,
    });
    expect(reopened.append(result(0))).toBe(false);
    expect(reopened.append(result(1))).toBe(true);
    await reopened.flush();

    const read = [];
    for await (const r of readResults(store, 'batch_x')) read.push([r.index, r.ok]);
    expect(read).toEqual([
      [0, false],
      [1, true],
      [2, true],
    ]);
  });

  it('counts answers reused from identical requests (deduplication), also after reopening', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    writer.append(result(0));
    writer.append({ ...result(1), cached: true });
    writer.append({ ...result(2), cached: true, usage: { input_tokens: 7, output_tokens: 2 } });
    expect(writer.counts).toMatchObject({ completed: 3, cachedItems: 2, cachedTokens: 17 });
    await writer.flush();
    const reopened = await ResultWriter.open(store, 'batch_x');
    expect(reopened.counts).toMatchObject({ completed: 3, inputTokens: 27, cachedItems: 2, cachedTokens: 17 });
  });

  it('counts retries and 429 answers over the items, whatever their outcome, also after reopening', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    writer.append({ ...result(0), attempts: 3, rate_limited: 2 });
    writer.append({ ...result(1, false), attempts: 5, rate_limited: 1 });
    writer.append({ ...result(2, false), error: { code: 'batch_cancelled', message: 'x' }, attempts: 0 });
    // Over the 255 an index entry holds: capped, not wrapped into the other bits.
    writer.append({ ...result(3), attempts: 400, rate_limited: 300 });
    const expected = { completed: 2, failed: 1, cancelled: 1, retries: 2 + 4 + 255, rateLimited: 2 + 1 + 255 };
    expect(writer.counts).toMatchObject(expected);
    await writer.flush();
    const reopened = await ResultWriter.open(store, 'batch_x');
    expect(reopened.counts).toMatchObject(expected);
  });

  it('ignores unflushed results after a crash (reopen without flush)', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    writer.append(result(0));
    await writer.flush();
    writer.append(result(1)); // never flushed
    const reopened = await ResultWriter.open(store, 'batch_x');
    expect(reopened.counts.received).toBe(1);
    expect(reopened.has(1)).toBe(false);
  });

  it('reads a range through its index pages, across pages and segments, and results that arrived out of order', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    const total = INDEX_PAGE_ENTRIES * 3 + 17;
    // Three segments, each holding indexes from every page, in a scrambled order.
    const order = Array.from({ length: total }, (_, i) => (i * 7919) % total);
    for (const [n, index] of order.entries()) {
      writer.append(result(index, index % 5 !== 0));
      if (n % 1500 === 1499) await writer.flush();
    }
    await writer.flush();
    const range = [];
    for await (const r of readResults(store, 'batch_x', { fromIndex: 1000, toIndex: 2100 })) range.push(r.index);
    expect(range).toEqual(Array.from({ length: 1100 }, (_, i) => 1000 + i));
    let all = 0;
    for await (const r of readResults(store, 'batch_x')) {
      expect(r.index).toBe(all);
      expect(r.record.custom_id).toBe(`c${all}`);
      all++;
    }
    expect(all).toBe(total);
    const reopened = await ResultWriter.open(store, 'batch_x');
    expect(reopened.counts.received).toBe(total);
    expect(reopened.counts.failed).toBe(Math.ceil(total / 5));
  });

  it('keeps results buffered during a flush that fails and writes them with the next one', async () => {
    const failing: Store = {
      ...store,
      put: async (key, body) => {
        if (key.endsWith('.seg') && failNext) {
          failNext = false;
          throw new Error('store unavailable');
        }
        await store.put(key, body);
      },
    };
    let failNext = true;
    const writer = await ResultWriter.open(failing, 'batch_x');
    writer.append(result(0));
    await expect(writer.flush()).rejects.toThrow('store unavailable');
    writer.append(result(1));
    await writer.flush();
    const read = [];
    for await (const r of readResults(store, 'batch_x')) read.push(r.record.custom_id);
    expect(read).toEqual(['c0', 'c1']);
  });

  it('an index page is written only after the segment it points into', async () => {
    const order: string[] = [];
    const watching: Store = {
      ...store,
      put: async (key, body) => {
        order.push(key.includes('/index/') ? 'index' : 'segment');
        await store.put(key, body);
      },
    };
    const writer = await ResultWriter.open(watching, 'batch_x');
    writer.append(result(3));
    writer.append(result(INDEX_PAGE_ENTRIES + 1));
    await writer.flush();
    expect(order).toEqual(['segment', 'index', 'index']);
  });

  it('sums what the results cost, unpriced ones apart, also after reopening', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    writer.append(result(0), { costUsd: 0.5, realtimeCostUsd: 1 });
    writer.append(result(INDEX_PAGE_ENTRIES + 1), { costUsd: 0.25, realtimeCostUsd: 0.25 });
    writer.append(result(2), { costUsd: null, realtimeCostUsd: null });
    writer.append(result(3)); // nothing billed (no call)
    expect(writer.append(result(0), { costUsd: 9, realtimeCostUsd: 9 })).toBe(false); // a duplicate costs nothing
    expect(writer.bill).toEqual({ costUsd: 0.75, realtimeCostUsd: 1.25, unpricedItems: 1 });
    await writer.flush();
    writer.append(result(4), { costUsd: 0.125, realtimeCostUsd: 0.25 });
    await writer.flush();
    const reopened = await ResultWriter.open(store, 'batch_x');
    expect(reopened.bill).toEqual({ costUsd: 0.875, realtimeCostUsd: 1.5, unpricedItems: 1 });
  });

  it('a crash between a segment and its index pages counts each result’s cost once when the results come again', async () => {
    const secondPage = storeKeys.resultIndexPage('batch_x', 1);
    const crashing: Store = {
      ...store,
      put: async (key, body) => {
        if (key === secondPage) {
          // Pages are written concurrently: the first one lands, then the sink dies.
          await new Promise((resolve) => setTimeout(resolve, 100));
          throw new Error('the sink died here');
        }
        await store.put(key, body);
      },
    };
    const first = await ResultWriter.open(crashing, 'batch_x');
    first.append(result(0), { costUsd: 1, realtimeCostUsd: 2 });
    first.append(result(INDEX_PAGE_ENTRIES), { costUsd: 4, realtimeCostUsd: 8 });
    await expect(first.flush()).rejects.toThrow('the sink died here');
    // The segment and its bill were written, and the first index page: only its result counts.
    const restarted = await ResultWriter.open(store, 'batch_x');
    expect(restarted.bill).toEqual({ costUsd: 1, realtimeCostUsd: 2, unpricedItems: 0 });
    // Both results are delivered again (their offsets were never committed).
    expect(restarted.append(result(0), { costUsd: 1, realtimeCostUsd: 2 })).toBe(false);
    expect(restarted.append(result(INDEX_PAGE_ENTRIES), { costUsd: 4, realtimeCostUsd: 8 })).toBe(true);
    await restarted.flush();
    expect((await ResultWriter.open(store, 'batch_x')).bill).toEqual({
      costUsd: 5,
      realtimeCostUsd: 10,
      unpricedItems: 0,
    });
  });
});

describe('final outputs', () => {
  it('writes input order, splits failures, and pages without reading everything', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    for (const index of [4, 1, 3, 0, 2]) writer.append(result(index, index !== 3));
    await writer.flush();

    const final = await writeFinalOutputs(store, 'batch_x', 'openai');
    expect(final).toMatchObject({ lines: 5, succeeded: 4, failed: 1 });
    const text = async (key: string) => ((await store.read(key)) as Buffer).toString('utf8');
    const output = (await text(storeKeys.output('batch_x'))).trim().split('\n');
    expect(output.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual([
      'c0',
      'c1',
      'c2',
      'c3',
      'c4',
    ]);
    const errors = (await text(storeKeys.errors('batch_x'))).trim().split('\n');
    expect(errors.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(['c3']);
    const succeeded = (await text(storeKeys.succeeded('batch_x'))).trim().split('\n');
    expect(succeeded).toHaveLength(4);

    const page = await readOutputPage(store, 'batch_x', 1, 2);
    expect(page?.lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(['c1', 'c2']);
    expect((await readOutputPage(store, 'batch_x', 4, 10))?.lines).toHaveLength(1);
    expect((await readOutputPage(store, 'batch_x', 9, 10))?.lines).toEqual([]);
    expect(await readOutputPage(store, 'batch_y', 0, 10)).toBeNull();
  });

  it('leaves no object behind when writing the outputs fails', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    writer.append(result(0));
    await writer.flush();
    const broken: Store = {
      ...store,
      read: async (key, range) => {
        if (key.endsWith('.seg')) throw new Error('read failed');
        return store.read(key, range);
      },
    };
    await expect(writeFinalOutputs(broken, 'batch_x', 'openai')).rejects.toThrow('read failed');
    const keys = [];
    for await (const object of store.list('batches/batch_x/')) keys.push(object.key);
    expect(keys.every((key) => key.includes('/results/'))).toBe(true);
  });
});

/**
 * Issue 11: a write stream without an 'error' listener crashed the sink when the disk refused a write
 * (EMFILE, ENOSPC, EACCES). Here the store's temporary directory is replaced by a plain file, so every
 * open fails with ENOTDIR from inside the stream: each write path must reject its call, and nothing
 * may surface as an uncaught exception (vitest fails the run on one).
 */
describe('a store whose disk refuses writes', () => {
  const breakDisk = async () => {
    await store.put('warm/up', Buffer.from('x')); // creates the temporary directory
    await rm(join(root, '.tmp'), { recursive: true, force: true });
    await writeFile(join(root, '.tmp'), 'not a directory');
  };

  it('rejects a writer, a put, a result flush and the final outputs; the process stays up', async () => {
    const writer = await ResultWriter.open(store, 'batch_x');
    writer.append(result(0));
    await writer.flush();
    await breakDisk();

    const objectWriter = store.writer('a/b');
    await expect(
      (async () => {
        await objectWriter.write(Buffer.alloc(1024 * 1024));
        await objectWriter.write('more');
        await objectWriter.complete();
      })(),
    ).rejects.toThrow(/ENOTDIR|ENOENT/);
    await expect(store.put('a/c', Buffer.from('x'))).rejects.toThrow(/ENOTDIR|ENOENT/);
    writer.append(result(1));
    await expect(writer.flush()).rejects.toThrow(/ENOTDIR|ENOENT/);
    await expect(writeFinalOutputs(store, 'batch_x', 'openai')).rejects.toThrow(/ENOTDIR|ENOENT/);
    // Give a stray 'error' event the chance to fire before the test ends.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await store.head('a/b')).toBeNull();
  });
});
