import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedTransport, createLogger, topicNames, topicSpecs, type Transport } from '@sluice/core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AnswerCache, type AnswerCacheOptions, type AnswerSource } from './answer-cache.js';
import { canonicalJson, requestHash, shouldDedup } from './request-key.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const topic = topicNames('test').answers;

let root: string;
let transport: Transport;
const caches: AnswerCache[] = [];
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-answers-'));
  // The embedded log: the same topic semantics as Kafka, in this process (no broker).
  transport = createEmbeddedTransport({
    directory: join(root, 'log'),
    segmentBytes: 1024 * 1024,
    retentionMs: 3_600_000,
  });
  await transport.ensureTopics(topicSpecs(topicNames('test'), 2, { answersRetentionMs: 60_000 }));
});
afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(caches.splice(0).map((cache) => cache.stop()));
  await transport.close();
  await rm(root, { recursive: true, force: true });
});

/** A processor's cache sharing answers through the answers topic, with its database under `root`. */
async function processorCache(options: Partial<AnswerCacheOptions> = {}): Promise<AnswerCache> {
  const cache = new AnswerCache({
    ttlSeconds: 60,
    log: { transport, topic, directory: root },
    logger,
    ...options,
  });
  caches.push(cache);
  await cache.start();
  return cache;
}

async function recordsInTopic(): Promise<number> {
  return (await transport.offsets(topic)).reduce((sum, p) => sum + Number(p.high), 0);
}

const mustNotCall = () => Promise.reject(new Error('must not be called'));

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

describe('AnswerCache in one process', () => {
  it('sends identical requests in flight at once as one call', async () => {
    const cache = new AnswerCache({ log: null, ttlSeconds: 0, logger });
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
    expect(await cache.answer('t', 'h', async () => ({ n: 2 }))).toMatchObject({ cached: false, value: { n: 2 } });
  });

  it('never shares an error: each waiting request calls for itself, and nothing is written', async () => {
    const cache = await processorCache();
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
    expect(await recordsInTopic()).toBe(0);
  });

  it('bounds memory in entries', async () => {
    const cache = new AnswerCache({ log: null, ttlSeconds: 60, memoryEntries: 2, logger });
    for (const hash of ['a', 'b', 'c']) await (await cache.answer('t', hash, async () => hash)).remember();
    expect((await cache.answer('t', 'a', async () => 'again')).cached).toBe(false);
    expect((await cache.answer('t', 'c', async () => 'again')).cached).toBe(true);
  });
});

describe('AnswerCache across processors, through the answers topic', () => {
  it('keeps only remembered answers, and another processor reuses them from its own database, per tenant', async () => {
    const first = await processorCache();
    const fresh = await first.answer('acme', 'h', async () => ({ answer: 42 }));
    expect(await recordsInTopic()).toBe(0); // not remembered yet: not kept
    await fresh.remember(); // settles once the topic has it
    expect(await recordsInTopic()).toBe(1);

    const sources: AnswerSource[] = [];
    const second = await processorCache({ onLookup: (source) => sources.push(source) }); // another processor
    const reused = await second.answer('acme', 'h', mustNotCall);
    expect(reused).toMatchObject({ cached: true, value: { answer: 42 } });
    const other = await second.answer('globex', 'h', async () => ({ answer: 7 }));
    expect(other).toMatchObject({ cached: false, value: { answer: 7 } });
    expect(sources).toEqual(['log', 'upstream']);
    // Each has a database of its own under the same scratch directory.
    expect((await readdir(root)).filter((name) => name.startsWith('answers-')).sort()).toEqual([
      'answers-0',
      'answers-1',
    ]);
  });

  it('answers a miss without reading its database when the filter knows the answer is not there', async () => {
    const first = await processorCache();
    await (await first.answer('t', 'known', async () => 'kept')).remember();
    const second = await processorCache();
    expect(await second.answer('t', 'unknown', async () => 'called')).toMatchObject({ cached: false });
    expect(second.databaseReads).toBe(0);
    expect(await second.answer('t', 'known', mustNotCall)).toMatchObject({ cached: true, value: 'kept' });
    expect(second.databaseReads).toBe(1);
  });

  it('a restarted processor finds the answers in its database again', async () => {
    const first = await processorCache();
    await (await first.answer('t', 'h', async () => 'kept')).remember();
    await first.stop();
    caches.splice(caches.indexOf(first), 1);
    const again = await processorCache({ catchUpTimeoutMs: 0 });
    expect(await again.answer('t', 'h', mustNotCall)).toMatchObject({ cached: true, value: 'kept' });
    expect((await readdir(root)).filter((name) => name.startsWith('answers-'))).toEqual(['answers-0']);
  });

  it('never serves an answer past the TTL, and the sweep deletes it from the database', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const start = Date.UTC(2026, 0, 1);
    vi.setSystemTime(start);
    const writer = await processorCache();
    await (await writer.answer('t', 'h', async () => 1)).remember();
    // Written by a processor with a longer TTL: served for our TTL only.
    const generous = await processorCache({ ttlSeconds: 600 });
    await (await generous.answer('t', 'long', async () => 'long')).remember();

    vi.setSystemTime(start + 59_000);
    const reader = await processorCache();
    expect(await reader.answer('t', 'h', mustNotCall)).toMatchObject({ cached: true, value: 1 });
    expect(await reader.answer('t', 'long', mustNotCall)).toMatchObject({ cached: true, value: 'long' });

    vi.setSystemTime(start + 61_000);
    expect(await writer.answer('t', 'h', async () => 2)).toMatchObject({ cached: false, value: 2 }); // memory
    const fresh = await processorCache();
    expect(await fresh.answer('t', 'h', async () => 3)).toMatchObject({ cached: false, value: 3 }); // database
    expect(await reader.answer('t', 'long', async () => 'again')).toMatchObject({ cached: false });
    // The reader's database held both; both have ended for it.
    expect(await reader.sweep()).toBe(2);
    expect(await reader.sweep()).toBe(0);
  });
});
