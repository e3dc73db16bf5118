import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  createLocalStore,
  createS3Store,
  FileStore,
  type ItemResultMessage,
  readOutputPage,
  readResults,
  requestLineId,
  ResultWriter,
  type Store,
  storeKeys,
  uploadStream,
  writeFinalOutputs,
} from '@sluice/core';
import { afterAll, describe, expect, it } from 'vitest';
import { infra, uniquePrefix } from '../harness/context.js';

/**
 * One contract, two stores: the local directory must behave like S3 for everything Sluice relies
 * on, so the suite runs unchanged against both (the S3 one is the real S3Proxy).
 */
const directories: string[] = [];
const stores: Store[] = [];
afterAll(async () => {
  await Promise.allSettled(stores.map((s) => s.close()));
  await Promise.all(directories.map((d) => rm(d, { recursive: true, force: true })));
});

async function localStore(): Promise<Store> {
  const directory = await mkdtemp(join(tmpdir(), 'sluice-store-'));
  directories.push(directory);
  const store = createLocalStore({ directory });
  stores.push(store);
  return store;
}

async function s3Store(bucket = 'sluice-tests', prefix = `${uniquePrefix('store')}/`): Promise<Store> {
  const { s3 } = infra();
  const store = await createS3Store({
    bucket,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  });
  stores.push(store);
  return store;
}

const KINDS = { local: localStore, s3: () => s3Store() };

async function keysOf(store: Store, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

/** The store, recording the key of every read. */
function countingReads(store: Store): { reads: string[]; counting: Store } {
  const reads: string[] = [];
  return {
    reads,
    counting: {
      ...store,
      read: (key, range) => {
        reads.push(key);
        return store.read(key, range);
      },
    },
  };
}

function result(batchId: string, index: number, ok = true): ItemResultMessage {
  return {
    type: 'item',
    batch_id: batchId,
    index,
    custom_id: `row-${index}`,
    id: requestLineId(batchId, index),
    api: 'domain',
    discriminator: 'classify',
    ok,
    response: ok ? { status_code: 200, request_id: `r${index}`, body: { n: index } } : null,
    error: ok ? null : { code: 'upstream_bad_request', message: 'no' },
    usage: { input_tokens: 3, output_tokens: 1 },
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

describe.each(Object.keys(KINDS) as (keyof typeof KINDS)[])('store contract: %s', (kind) => {
  it('writes whole objects, reads them whole or by range, and says null for a missing one', async () => {
    const store = await KINDS[kind]();
    await store.put('a/b/c.txt', 'hello, world');
    expect((await store.read('a/b/c.txt'))?.toString()).toBe('hello, world');
    expect((await store.read('a/b/c.txt', { start: 7 }))?.toString()).toBe('world');
    expect((await store.read('a/b/c.txt', { start: 0, end: 5 }))?.toString()).toBe('hello');
    expect((await store.read('a/b/c.txt', { start: 7, end: 99 }))?.toString()).toBe('world');
    expect((await store.read('a/b/c.txt', { start: 50 }))?.length).toBe(0);
    expect((await store.read('a/b/c.txt', { start: 3, end: 3 }))?.length).toBe(0);
    expect(await store.read('a/b/missing')).toBeNull();
    expect(await store.stream('a/b/missing')).toBeNull();
    const streamed: Buffer[] = [];
    for await (const chunk of (await store.stream('a/b/c.txt', { start: 2, end: 4 })) as AsyncIterable<Buffer>)
      streamed.push(Buffer.from(chunk));
    expect(Buffer.concat(streamed).toString()).toBe('ll');
    await store.put('a/b/c.txt', 'replaced');
    expect((await store.read('a/b/c.txt'))?.toString()).toBe('replaced');
    expect(await store.head('a/b/c.txt')).toMatchObject({ key: 'a/b/c.txt', bytes: 8 });
    expect(await store.head('a/b')).toBeNull();
  });

  it('refuses keys that could escape or hide (.., a leading dot, empty segments)', async () => {
    const store = await KINDS[kind]();
    for (const key of ['../x', 'a/../../x', '.hidden', 'a//b', '/abs', '', 'a/b/']) {
      await expect(store.put(key, 'x'), key).rejects.toThrow(/invalid store key/);
    }
  });

  it('putIfAbsent writes only a missing key, and of concurrent writers exactly one wins', async () => {
    const store = await KINDS[kind]();
    expect(await store.putIfAbsent('claims/one.json', 'first')).toBe(true);
    expect(await store.putIfAbsent('claims/one.json', 'second')).toBe(false);
    expect((await store.read('claims/one.json'))?.toString()).toBe('first');
    await expect(store.putIfAbsent('../x', 'x')).rejects.toThrow(/invalid store key/);

    // Issue 25: concurrent first requests with one idempotency key must not both create.
    for (let round = 0; round < 3; round++) {
      const key = `claims/race-${round}.json`;
      const outcomes = await Promise.all(
        Array.from({ length: 8 }, (_, writer) => store.putIfAbsent(key, `writer ${writer}`)),
      );
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      expect((await store.read(key))?.toString()).toBe(`writer ${outcomes.indexOf(true)}`);
    }
    // Nothing of the claim is left beside the objects (no temporary file, no claim object).
    expect(await keysOf(store)).toEqual([
      'claims/one.json',
      'claims/race-0.json',
      'claims/race-1.json',
      'claims/race-2.json',
    ]);
    await store.delete(['claims/one.json']);
    expect(await store.putIfAbsent('claims/one.json', 'again')).toBe(true);
  });

  it('lists in key order (as S3 does: a-b before a/b), after a key, and by prefix', async () => {
    const store = await KINDS[kind]();
    for (const key of ['p/a/b', 'p/a-b', 'p/a/a', 'p/b', 'p/ab', 'q/z']) await store.put(key, key);
    expect(await keysOf(store, 'p/')).toEqual(['p/a-b', 'p/a/a', 'p/a/b', 'p/ab', 'p/b']);
    expect(await keysOf(store, 'p/a')).toEqual(['p/a-b', 'p/a/a', 'p/a/b', 'p/ab']);
    const after: string[] = [];
    for await (const o of store.list('p/', { startAfter: 'p/a/a' })) after.push(o.key);
    expect(after).toEqual(['p/a/b', 'p/ab', 'p/b']);
    const listed = [];
    for await (const o of store.list('p/b')) listed.push(o);
    expect(listed).toEqual([{ key: 'p/b', bytes: 3, modifiedMs: expect.any(Number) as number }]);
    expect(await keysOf(store, 'nothing/')).toEqual([]);
  });

  it('a writer publishes its object only when complete, across many parts, and abort leaves nothing', async () => {
    const store = await KINDS[kind]();
    const writer = store.writer('big/object');
    const chunk = Buffer.alloc(1024 * 1024, 'x');
    for (let i = 0; i < 12; i++) {
      await writer.write(chunk);
      if (i === 5) expect(await store.head('big/object')).toBeNull();
    }
    await writer.write('end');
    expect(await writer.complete()).toBe(12 * 1024 * 1024 + 3);
    expect(await store.head('big/object')).toMatchObject({ bytes: 12 * 1024 * 1024 + 3 });
    expect((await store.read('big/object', { start: 12 * 1024 * 1024 }))?.toString()).toBe('end');

    const aborted = store.writer('big/aborted');
    for (let i = 0; i < 7; i++) await aborted.write(chunk);
    await aborted.abort();
    await aborted.abort();
    await expect(aborted.write('more')).rejects.toThrow();
    expect(await store.head('big/aborted')).toBeNull();
    expect(await keysOf(store, 'big/')).toEqual(['big/object']);

    const empty = store.writer('big/empty');
    expect(await empty.complete()).toBe(0);
    expect(await store.head('big/empty')).toMatchObject({ bytes: 0 });
  });

  it('a failing source leaves no object (uploadStream aborts)', async () => {
    const store = await KINDS[kind]();
    const source = Readable.from(
      (async function* () {
        yield Buffer.alloc(64 * 1024, 'y');
        throw new Error('client went away');
      })(),
    );
    await expect(uploadStream(store, 'up/file', source)).rejects.toThrow('client went away');
    expect(await store.head('up/file')).toBeNull();
  });

  it('deletes objects (missing ones too) and whole prefixes, leaving no key behind', async () => {
    const store = await KINDS[kind]();
    for (let i = 0; i < 30; i++) await store.put(`batches/b1/results/${String(i).padStart(4, '0')}.seg`, `${i}`);
    await store.put('batches/b1/output.jsonl', 'x');
    await store.put('batches/b10/output.jsonl', 'keep');
    await store.delete(['batches/b1/output.jsonl', 'batches/b1/never-was']);
    expect(await store.head('batches/b1/output.jsonl')).toBeNull();
    expect(await store.deletePrefix('batches/b1/')).toBe(30);
    expect(await keysOf(store, 'batches/')).toEqual(['batches/b10/output.jsonl']);
    expect(await store.deletePrefix('batches/b1/')).toBe(0);
  });

  it('result log: a page of rows from the middle is read from its own index pages, while a writer appends', async () => {
    const store = await KINDS[kind]();
    const batchId = `batch_${randomBytes(6).toString('hex')}`;
    const writer = await ResultWriter.open(store, batchId);
    for (let i = 0; i < 5000; i++) {
      writer.append(result(batchId, i, i % 10 !== 0));
      if (i % 700 === 699) await writer.flush();
    }
    await writer.flush();
    const { reads, counting } = countingReads(store);
    const page = [];
    for await (const r of readResults(counting, batchId, { fromIndex: 2000, toIndex: 3000 })) page.push(r.index);
    expect(page).toEqual(Array.from({ length: 1000 }, (_, i) => 2000 + i));
    // The two index pages covering rows 2000-2999, and one ranged read per index page and segment
    // the rows are in (segments of 700 rows here: 3 segments, one of them split between the pages;
    // at the sink's 8 MB a segment holds tens of thousands of rows).
    expect(reads.filter((k) => k.includes('/index/')).length).toBe(2);
    expect(reads.filter((k) => k.endsWith('.seg')).length).toBe(4);

    const reopened = await ResultWriter.open(store, batchId);
    expect(reopened.counts).toMatchObject({ received: 5000, completed: 4500, failed: 500 });
    expect(reopened.append(result(batchId, 1234))).toBe(false);
  });

  it('final outputs: multipart objects in input order, paged with two ranged reads', async () => {
    const store = await KINDS[kind]();
    const batchId = `batch_${randomBytes(6).toString('hex')}`;
    const writer = await ResultWriter.open(store, batchId);
    for (let i = 2999; i >= 0; i--) writer.append(result(batchId, i, i % 3 !== 0));
    await writer.flush();
    const outputs = await writeFinalOutputs(store, batchId, 'openai');
    expect(outputs).toMatchObject({ lines: 3000, succeeded: 2000, failed: 1000 });
    const { reads, counting } = countingReads(store);
    const page = await readOutputPage(counting, batchId, 1500, 1000);
    expect(page?.lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(
      Array.from({ length: 1000 }, (_, i) => `row-${1500 + i}`),
    );
    expect(reads).toEqual([storeKeys.outputIndex(batchId), storeKeys.output(batchId)]);
    const errors = (await store.read(storeKeys.errors(batchId)))?.toString().trim().split('\n') ?? [];
    expect(errors).toHaveLength(1000);
  });

  it('File records: per tenant, newest first, paged; deleting a file deletes its bytes and copies', async () => {
    const store = await KINDS[kind]();
    const files = new FileStore(store, { uploadRetentionSeconds: 3600 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const upload = files.beginUpload('tenant-a');
      await upload.write(Readable.from([Buffer.from(`{"n":${i}}\n`)]));
      const record = await upload.commit({ filename: `f${i}.jsonl`, purpose: 'batch', expiresAt: null });
      expect(record.expires_at).toBeGreaterThan(Date.now() / 1000);
      ids.push(record.id);
      await new Promise((r) => setTimeout(r, 5));
    }
    const other = files.beginUpload('tenant-b');
    await other.write(Readable.from([Buffer.from('{}\n')]));
    await other.commit({ filename: 'b.jsonl', purpose: 'batch', expiresAt: null });

    const first = await files.list({ tenant: 'tenant-a', limit: 2, order: 'desc' });
    expect(first.data.map((f) => f.id)).toEqual([ids[4], ids[3]]);
    expect(first.hasMore).toBe(true);
    const second = await files.list({ tenant: 'tenant-a', limit: 10, order: 'desc', after: ids[3] });
    expect(second.data.map((f) => f.id)).toEqual([ids[2], ids[1], ids[0]]);
    expect(second.hasMore).toBe(false);
    const asc = await files.list({ tenant: 'tenant-a', limit: 2, order: 'asc', after: ids[1] });
    expect(asc.data.map((f) => f.id)).toEqual([ids[2], ids[3]]);
    expect(await files.get('tenant-b', ids[0] as string)).toBeNull();

    const record = await files.get('tenant-a', ids[2] as string);
    expect(record).not.toBeNull();
    await store.put('batches/batch_copy/copy.jsonl', 'copy');
    await files.delete({ ...(record as NonNullable<typeof record>), copies: ['batches/batch_copy/'] });
    expect(await files.get('tenant-a', ids[2] as string)).toBeNull();
    expect(await keysOf(store, 'batches/')).toEqual([]);
    const remaining = await keysOf(store, 'files/tenant-a/');
    expect(remaining.some((key) => key.includes(ids[2] as string))).toBe(false);

    const aborted = files.beginUpload('tenant-a');
    await aborted.write(Readable.from([Buffer.from('{"secret":1}\n')]));
    await aborted.abort();
    expect((await keysOf(store, 'files/tenant-a/content/')).length).toBe(4);
  });
});

describe('the S3 store', () => {
  it('creates its bucket when it is missing', async () => {
    const bucket = `sluice-new-${randomBytes(4).toString('hex')}`;
    const store = await s3Store(bucket, '');
    await store.put('x', 'y');
    expect((await store.read('x'))?.toString()).toBe('y');
    await store.deletePrefix('');
  });

  it('names the bucket and the variables to check when it cannot reach it', async () => {
    await expect(
      createS3Store({
        bucket: 'sluice-tests',
        prefix: '',
        endpoint: infra().s3.endpoint,
        region: 'us-east-1',
        credentials: { accessKeyId: 'sluice', secretAccessKey: 'wrong-secret' },
      }),
    ).rejects.toThrow(/S3 bucket sluice-tests: .*AWS_ACCESS_KEY_ID/);
  });
});

describe('the local store', () => {
  it('leaves no temporary file or empty directory behind', async () => {
    // The write stream opens its file asynchronously: an abort right after the first write of a new
    // store raced the open and left the temporary file behind most of the time. Several stores, and a
    // moment for a late open to land, catch it.
    for (let attempt = 0; attempt < 10; attempt++) {
      const directory = await mkdtemp(join(tmpdir(), 'sluice-store-'));
      directories.push(directory);
      const store = createLocalStore({ directory });
      await store.put('batches/b/results/x.seg', 'x');
      const writer = store.writer('batches/b/output.jsonl');
      await writer.write('partial');
      await writer.abort();
      await store.deletePrefix('batches/b/');
      await new Promise((settle) => setTimeout(settle, 20));
      expect((await readdir(directory)).filter((name) => name !== '.tmp')).toEqual([]);
      expect(await readdir(join(directory, '.tmp'))).toEqual([]);
    }
  });
});
