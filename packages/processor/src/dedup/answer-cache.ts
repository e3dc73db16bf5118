import { ANSWERS, type Logger, readJson, storeKeys, type Store } from '@sluice/core';

export interface AnswerCacheOptions {
  /** The shared layer; null keeps answers in this process only. */
  store: Store | null;
  /** Seconds an answer is reused; 0: only requests in flight at the same time share an answer. */
  ttlSeconds: number;
  /** Answers kept in memory at most. @defaultValue 10000 */
  memoryEntries?: number;
  /** Bytes (of JSON text) kept in memory at most. @defaultValue 64 MiB */
  memoryBytes?: number;
  /** A bigger answer is not kept (memory or store); identical requests in flight still share it. @defaultValue 1 MiB */
  maxAnswerBytes?: number;
  /** Store writes in flight at once. @defaultValue 16 */
  storeWriters?: number;
  /**
   * Answers waiting for a store write at most (their JSON counts against `memoryBytes` too); an
   * answer beyond is kept in memory only (a cache entry lost costs a call, never a result).
   * @defaultValue 10000
   */
  maxQueuedWrites?: number;
  /** How often past windows are deleted from the store. @defaultValue min(ttl, 1 h) */
  sweepIntervalMs?: number;
  logger: Logger;
  /** Called once per lookup with where the answer came from. */
  onLookup?: (source: AnswerSource) => void;
}

/** Where an answer came from: the upstream, or one of the cache's layers. */
export type AnswerSource = 'upstream' | 'in_flight' | 'memory' | 'store';

export interface Answer<T> {
  value: T;
  /** Not asked of the upstream by this lookup. */
  cached: boolean;
  /**
   * Keeps a fresh answer for later identical requests; call it once the answer is known good (an
   * answer that fails its schema check, like an error, is never kept). A no-op for cached answers.
   * The answer is in memory at once; the returned promise settles when the store has it too (it
   * never rejects). Items do not wait for it: the store write is off their path.
   */
  remember(): Promise<void>;
}

interface StoredAnswer {
  expires_at_ms: number;
  value: unknown;
}

type Settled = { source: 'upstream' | 'store'; json: string; value: unknown; expiresAtMs?: number };

/**
 * Answers identical upstream requests of a tenant once (docs/deduplication.md), in three layers:
 *
 * - **in flight**: identical requests running at the same time in this process wait for the first
 *   one's call instead of making their own (bounded by the processor's concurrency);
 * - **memory**: recent answers, an LRU bounded in entries and bytes;
 * - **store**: answers shared by every processor instance (the store is the only state they share
 *   besides Kafka), under `answers/<window>/<tenant>/<hash>.json`. Time is cut into windows of the
 *   TTL; an answer is written into the current window and looked up in the current and the previous
 *   one (its `expires_at_ms` decides). Everything in older windows has expired, so the sweep deletes
 *   whole windows by prefix: the store holds at most two windows of answers, and nothing for ever.
 *
 * Errors are never shared: when the call in flight fails, each waiting request makes its own.
 * Two instances that miss at the same moment both call the upstream; the later write wins.
 */
export class AnswerCache {
  private readonly inFlight = new Map<string, Promise<Settled>>();
  /** Map order is recency: a hit moves the entry to the end, eviction takes from the front. */
  private readonly memory = new Map<string, { json: string; expiresAtMs: number }>();
  private memoryBytes = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private sweeping: Promise<void> | null = null;
  /** Answers waiting for their store write, oldest first, and the writers working on them. */
  private readonly writeQueue: { key: string; body: string; bytes: number; done: () => void }[] = [];
  private writeQueueBytes = 0;
  private writers = 0;
  private drained: (() => void)[] = [];
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly maxBytes: number;
  private readonly maxAnswerBytes: number;

  constructor(private readonly options: AnswerCacheOptions) {
    this.ttlMs = options.ttlSeconds * 1000;
    this.maxEntries = options.memoryEntries ?? 10_000;
    this.maxBytes = options.memoryBytes ?? 64 * 1024 * 1024;
    this.maxAnswerBytes = options.maxAnswerBytes ?? 1024 * 1024;
  }

  /** Starts the periodic deletion of past windows (when answers are kept in a store). */
  start(): void {
    if (!this.options.store || this.ttlMs <= 0) return;
    const every = this.options.sweepIntervalMs ?? Math.min(this.ttlMs, 3_600_000);
    // Jitter, so several processors do not sweep in step; deleting twice is harmless.
    this.sweepTimer = setInterval(
      () => void this.sweep(),
      every + Math.floor(Math.random() * Math.min(5000, every / 4)),
    );
    this.sweepTimer.unref();
  }

  /** Stops sweeping and waits for the store writes in flight. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.sweeping;
    if (this.writers > 0 || this.writeQueue.length > 0)
      await new Promise<void>((resolve) => this.drained.push(resolve));
  }

  /** The answer to the request `hash` of `tenant`: from a layer of the cache, or from `call`. */
  async answer<T>(tenant: string, hash: string, call: () => Promise<T>): Promise<Answer<T>> {
    const key = `${tenant}\u0000${hash}`;
    const now = Date.now();
    const kept = this.memory.get(key);
    if (kept && kept.expiresAtMs > now) {
      this.memory.delete(key);
      this.memory.set(key, kept);
      this.options.onLookup?.('memory');
      return { value: JSON.parse(kept.json) as T, cached: true, remember: async () => undefined };
    }
    if (kept) this.forget(key);
    const running = this.inFlight.get(key);
    if (running) {
      try {
        const settled = await running;
        this.options.onLookup?.('in_flight');
        return { value: JSON.parse(settled.json) as T, cached: true, remember: async () => undefined };
      } catch {
        // The first request's error is its own: this one asks the upstream itself.
        this.options.onLookup?.('upstream');
        return { value: await call(), cached: false, remember: async () => undefined };
      }
    }
    // Registered before anything is awaited, so requests arriving during the store read wait too.
    const leading = this.lead(tenant, hash, call);
    this.inFlight.set(key, leading);
    try {
      const settled = await leading;
      this.options.onLookup?.(settled.source);
      if (settled.source === 'store') {
        // Kept until the stored answer's own end, not a fresh TTL: an answer lives one TTL in all.
        this.keep(key, settled.json, settled.expiresAtMs ?? now + this.ttlMs);
        return { value: settled.value as T, cached: true, remember: async () => undefined };
      }
      return {
        value: settled.value as T,
        cached: false,
        remember: () => this.remember(key, tenant, hash, settled.json),
      };
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async lead<T>(tenant: string, hash: string, call: () => Promise<T>): Promise<Settled> {
    const shared = await this.readShared(tenant, hash);
    if (shared)
      return {
        source: 'store',
        json: JSON.stringify(shared.value),
        value: shared.value,
        expiresAtMs: shared.expires_at_ms,
      };
    const value = await call();
    // Waiting requests get their own copy (JSON text): a handler may adjust the answer it returns.
    return { source: 'upstream', json: JSON.stringify(value), value };
  }

  private async readShared(tenant: string, hash: string): Promise<StoredAnswer | null> {
    const store = this.options.store;
    if (!store || this.ttlMs <= 0) return null;
    const now = Date.now();
    const window = this.windowOf(now);
    try {
      // Both windows at once: a miss (the common case for new work) costs one store round trip.
      const found = await Promise.all(
        [window, window - 1].map((each) => readJson<StoredAnswer>(store, storeKeys.answer(each, tenant, hash))),
      );
      return found.find((stored) => stored !== null && stored.expires_at_ms > now) ?? null;
    } catch (error) {
      // The cache is an optimisation: a store that fails to answer means a call upstream, not a failed item.
      this.options.logger.warn({ err: error }, 'reading a cached answer failed; asking the upstream');
      return null;
    }
  }

  private remember(key: string, tenant: string, hash: string, json: string): Promise<void> {
    if (this.ttlMs <= 0 || json.length > this.maxAnswerBytes) return Promise.resolve();
    const now = Date.now();
    this.keep(key, json, now + this.ttlMs);
    const store = this.options.store;
    if (!store) return Promise.resolve();
    if (
      this.writeQueue.length >= (this.options.maxQueuedWrites ?? 10_000) ||
      this.writeQueueBytes + json.length > this.maxBytes
    ) {
      this.options.logger.debug('the store write queue is full; an answer is kept in memory only');
      return Promise.resolve();
    }
    return new Promise<void>((done) => {
      this.writeQueue.push({
        key: storeKeys.answer(this.windowOf(now), tenant, hash),
        body: `{"expires_at_ms":${now + this.ttlMs},"value":${json}}`,
        bytes: json.length,
        done,
      });
      this.writeQueueBytes += json.length;
      this.pump(store);
    });
  }

  /** Starts writers for queued answers, up to `storeWriters` at once. */
  private pump(store: Store): void {
    while (this.writers < (this.options.storeWriters ?? 16) && this.writeQueue.length > 0) {
      const next = this.writeQueue.shift() as (typeof this.writeQueue)[number];
      this.writers++;
      void store
        .put(next.key, next.body)
        .catch((error: unknown) => {
          this.options.logger.warn(
            { err: error },
            'storing an answer for reuse failed; identical requests will ask again',
          );
        })
        .finally(() => {
          this.writers--;
          this.writeQueueBytes -= next.bytes;
          next.done();
          if (this.writers === 0 && this.writeQueue.length === 0)
            for (const resolve of this.drained.splice(0)) resolve();
          this.pump(store);
        });
    }
  }

  private keep(key: string, json: string, expiresAtMs: number): void {
    if (this.ttlMs <= 0 || json.length > this.maxAnswerBytes) return;
    this.forget(key);
    this.memory.set(key, { json, expiresAtMs });
    this.memoryBytes += json.length;
    for (const [oldest, entry] of this.memory) {
      if (this.memory.size <= this.maxEntries && this.memoryBytes <= this.maxBytes) break;
      this.memory.delete(oldest);
      this.memoryBytes -= entry.json.length;
    }
  }

  private forget(key: string): void {
    const entry = this.memory.get(key);
    if (!entry) return;
    this.memory.delete(key);
    this.memoryBytes -= entry.json.length;
  }

  private windowOf(ms: number): number {
    return Math.floor(ms / this.ttlMs);
  }

  /** Deletes every window before the previous one: all their answers have expired. */
  sweep(now = Date.now()): Promise<void> {
    this.sweeping ??= this.sweepPass(now).finally(() => (this.sweeping = null));
    return this.sweeping;
  }

  private async sweepPass(now: number): Promise<void> {
    const store = this.options.store;
    if (!store || this.ttlMs <= 0) return;
    const keepFrom = this.windowOf(now) - 1;
    try {
      for (;;) {
        let oldest: number | null = null;
        for await (const object of store.list(ANSWERS)) {
          oldest = Number(object.key.slice(ANSWERS.length, object.key.indexOf('/', ANSWERS.length)));
          break;
        }
        if (oldest === null || !Number.isInteger(oldest) || oldest >= keepFrom) return;
        const deleted = await store.deletePrefix(storeKeys.answersWindow(oldest));
        this.options.logger.info({ window: oldest, deleted }, 'deleted expired cached answers');
      }
    } catch (error) {
      this.options.logger.warn({ err: error }, 'deleting expired cached answers failed; will retry');
    }
  }
}
