import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ANSWERS, createLocalStore, createLogger, type Store } from '@sluice/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AnswerCache } from './answer-cache.js';
import { canonicalJson, requestHash, shouldDedup } from './request-key.js';

const logger = createLogger({ name: 'test', level: 'silent' });

let root: string;
let store: Store;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-answers-'));
  store = createLocalStore({ directory: root });
});
afterEach(async () => {
  vi.useRealTimers();
  await rm(root, { recursive: true, force: true });
});

async function keys(): Promise<string[]> {
  const found = [];
  for await (const object of store.list(ANSWERS)) found.push(object.key);
  return found;
}

describe('request identity', () => {
  it('ignores key order but not values, and separates endpoints', () => {
    const a = { model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 5 };
    const b = { max_tokens: 5, messages: [{ content: 'x', role: 'user' }], model: 'm' };
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(requestHash('/v1/chat/completions', a)).toBe(requestHash('/v1/chat/completions', b));
    expect(requestHash('/v1/chat/completions', a)).not.toBe(
      requestHash('/v1/chat/completions', { ...a, max_tokens: 6 }),
    );
    expect(requestHash('/v1/chat/completions', a)).not.toBe(requestHash('/v1/responses', a));
  });

  it('dedups the domain and operations APIs by default, OpenAI batches and sampling only when asked', () => {
    expect(shouldDedup(null, 'domain', {})).toBe(true);
    expect(shouldDedup(null, 'operations', { temperature: 0 })).toBe(true);
    expect(shouldDedup(null, 'operations', { temperature: 0.7 })).toBe(false);
    expect(shouldDedup(null, 'openai', {})).toBe(false);
    expect(shouldDedup(true, 'openai', { temperature: 0 })).toBe(true);
    expect(shouldDedup(true, 'openai', { temperature: 1 })).toBe(false);
    expect(shouldDedup('all', 'openai', { temperature: 1 })).toBe(true);
    expect(shouldDedup(false, 'domain', {})).toBe(false);
  });
});

describe('AnswerCache', () => {
  it('sends identical requests in flight at once as one call', async () => {
    const cache = new AnswerCache({ store: null, ttlSeconds: 0, logger });
    let calls = 0;
    let release: (value: { n: number }) => void = () => undefined;
    const call = () => {
      calls++;
      return new Promise<{ n: number }>((resolve) => (release = resolve));
    };
    const all = Promise.all([1, 2, 3].map(() => cache.answer('t', 'h', call)));
    await new Promise((resolve) => setImmediate(resolve));
    release({ n: 1 });
    const answers = await all;
    expect(calls).toBe(1);
    expect(answers.map((a) => a.cached)).toEqual([false, true, true]);
    expect(answers.map((a) => a.value)).toEqual([{ n: 1 }, { n: 1 }, { n: 1 }]);
    // Each waiting request has its own copy.
    expect(answers[1]?.value).not.toBe(answers[0]?.value);
    // ttl 0: nothing is kept once the call is over.
    await answers[0]?.remember();
    await cache.answer('t', 'h', async () => ({ n: 2 }));
    expect(await keys()).toEqual([]);
  });

  it('never shares an error: each waiting request calls for itself', async () => {
    const cache = new AnswerCache({ store, ttlSeconds: 60, logger });
    let calls = 0;
    const call = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      if (calls === 1) throw new Error('upstream failed');
      return { ok: true };
    };
    const results = await Promise.allSettled([cache.answer('t', 'h', call), cache.answer('t', 'h', call)]);
    expect(results[0]?.status).toBe('rejected');
    expect(results[1]).toMatchObject({ status: 'fulfilled', value: { cached: false, value: { ok: true } } });
    expect(calls).toBe(2);
    expect(await keys()).toEqual([]);
  });

  it('keeps only remembered answers, per tenant, across instances through the store', async () => {
    const first = new AnswerCache({ store, ttlSeconds: 60, logger });
    const fresh = await first.answer('acme', 'h', async () => ({ answer: 42 }));
    expect(await keys()).toEqual([]); // not remembered yet: not kept
    await fresh.remember();
    expect(await keys()).toHaveLength(1);

    const second = new AnswerCache({ store, ttlSeconds: 60, logger }); // another processor
    const reused = await second.answer('acme', 'h', () => Promise.reject(new Error('must not be called')));
    expect(reused).toMatchObject({ cached: true, value: { answer: 42 } });
    const other = await second.answer('globex', 'h', async () => ({ answer: 7 }));
    expect(other).toMatchObject({ cached: false, value: { answer: 7 } });
  });

  it('honours the expiry and deletes past windows', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.UTC(2026, 0, 1, 0, 0, 30);
    vi.setSystemTime(start);
    const cache = new AnswerCache({ store, ttlSeconds: 60, logger });
    await (await cache.answer('t', 'h', async () => 1)).remember();
    vi.setSystemTime(start + 59_000);
    expect((await cache.answer('t', 'h', async () => 2)).cached).toBe(true);
    vi.setSystemTime(start + 61_000);
    const later = new AnswerCache({ store, ttlSeconds: 60, logger });
    expect(await later.answer('t', 'h', async () => 3)).toMatchObject({ cached: false, value: 3 });
    expect(await cache.answer('t', 'h', async () => 4)).toMatchObject({ cached: false, value: 4 });
    // An answer read from the store lives until its own end in memory too, not a fresh TTL.
    const reader = new AnswerCache({ store, ttlSeconds: 60, logger });
    await (await cache.answer('t', 'k', async () => 'k')).remember(); // window 1, ends at +121 s
    expect(await keys()).toHaveLength(2);
    vi.setSystemTime(start + 100_000); // window 2
    expect((await reader.answer('t', 'k', async () => 'call')).cached).toBe(true); // from the store
    // Window 0 is past (everything in it has ended): the sweep deletes it, and only it.
    await cache.sweep();
    expect(await keys()).toHaveLength(1);
    vi.setSystemTime(start + 122_000);
    expect((await reader.answer('t', 'k', async () => 'call')).cached).toBe(false);
    vi.setSystemTime(start + 240_000); // window 4: window 1 is past too
    await cache.sweep();
    expect(await keys()).toEqual([]);
  });

  it('queues store writes behind a bounded number of writers; beyond the queue an answer stays in memory only', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const puts: string[] = [];
    const slow: Store = Object.assign(Object.create(store) as Store, {
      put: async (key: string, body: string | Buffer) => {
        puts.push(key);
        await gate;
        await store.put(key, body);
      },
    });
    const cache = new AnswerCache({ store: slow, ttlSeconds: 60, storeWriters: 1, maxQueuedWrites: 1, logger });
    const writes = [];
    for (const hash of ['a', 'b', 'c']) writes.push((await cache.answer('t', hash, async () => hash)).remember());
    // One writer: 'a' is being written, 'b' waits in the queue, 'c' found the queue full.
    expect(puts).toHaveLength(1);
    expect((await cache.answer('t', 'c', async () => 'again')).cached).toBe(true); // from memory
    release();
    await Promise.all(writes);
    await cache.stop();
    expect(puts).toHaveLength(2);
    expect(await keys()).toHaveLength(2);
  });

  it('bounds memory in entries', async () => {
    const cache = new AnswerCache({ store: null, ttlSeconds: 60, memoryEntries: 2, logger });
    for (const hash of ['a', 'b', 'c']) await (await cache.answer('t', hash, async () => hash)).remember();
    expect((await cache.answer('t', 'a', async () => 'again')).cached).toBe(false);
    expect((await cache.answer('t', 'c', async () => 'again')).cached).toBe(true);
  });
});
