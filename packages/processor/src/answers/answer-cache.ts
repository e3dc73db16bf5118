import { BoundedCache, type Logger, type Transport } from '@sluice/core';
import { AnswerLog } from './answer-log.js';
import { KnownAnswers } from './known-answers.js';

export interface AnswerCacheOptions {
  /** Seconds an answer is reused; 0: only requests in flight at the same time share an answer. */
  ttlSeconds: number;
  /**
   * Where answers are shared with every other processor: the answers topic, kept by this
   * processor in a local database under `directory` (its scratch directory, see AnswerLog).
   * null: answers are kept in this process's memory only.
   */
  log: { transport: Transport; topic: string; directory: string } | null;
  /** Answers kept in memory at most. @defaultValue 10,000 */
  memoryEntries?: number;
  /** Bytes (of JSON text) kept in memory at most. @defaultValue 64 MiB */
  memoryBytes?: number;
  /**
   * A bigger answer (UTF-8 bytes of its JSON) is not kept; identical requests in flight still share
   * it. Below Kafka's default largest message (1 MiB), with room for the record around it.
   * @defaultValue 1,000,000
   */
  maxAnswerBytes?: number;
  /** Answers produced to the topic and not yet acknowledged, at most (AnswerLog). @defaultValue 10,000 */
  maxPendingWrites?: number;
  /** Answers per TTL the in-memory filter of the local database is sized for (KnownAnswers). @defaultValue 1,000,000 */
  expectedAnswers?: number;
  /** How often ended answers are deleted from the local database. @defaultValue min(TTL, 1 h) */
  sweepIntervalMs?: number;
  /** Longest `start` waits for the local database to catch up with the topic. @defaultValue 10 s */
  catchUpTimeoutMs?: number;
  logger: Logger;
  /** Called once per lookup with where the answer came from. */
  onLookup?: (source: AnswerSource) => void;
}

/** Where an answer came from: the upstream, or one of the cache's layers. */
export type AnswerSource = 'upstream' | 'in_flight' | 'memory' | 'log';

export interface Answer<T> {
  value: T;
  /** Not asked of the upstream by this lookup. */
  cached: boolean;
  /**
   * Keeps a fresh answer for later identical requests; call it once the answer is known good (an
   * answer that fails its schema check, like an error, is never kept). A no-op for cached answers.
   * The answer is in memory at once; the returned promise settles when the answers topic has it
   * too (it never rejects). Items do not wait for it: the write is off their path.
   */
  remember(): Promise<void>;
}

type Settled = { source: 'upstream' | 'log'; json: string; value: unknown; expiresAtMs?: number };

interface Kept {
  json: string;
  expiresAtMs: number;
}

const settledAnswer = async () => undefined;

/**
 * Answers identical upstream requests of a tenant once (docs/deduplication.md), in layers:
 *
 * - **in flight**: identical requests running at the same time in this process wait for the first
 *   one's call instead of making their own (bounded by the processor's concurrency);
 * - **memory**: recent answers, bounded in entries and bytes (core's BoundedCache);
 * - **log**: every processor's answers, from the answers topic, kept in a local database (AnswerLog)
 *   with an in-memory filter in front (KnownAnswers), so a lookup that misses reads nothing, and one
 *   that hits reads local disk. New answers are produced to the topic in batches, off the item's path.
 *
 * Nothing here touches the shared store: the cost of keeping answers is a produce request per
 * batch of answers, not an object per answer.
 *
 * Errors are never shared: when the call in flight fails, each waiting request makes its own.
 * Two processors that miss at the same moment both call the upstream; the later record wins.
 */
export class AnswerCache {
  private readonly inFlight = new Map<string, Promise<Settled>>();
  private readonly memory: BoundedCache<Kept>;
  private readonly log: AnswerLog | null;
  private readonly known: KnownAnswers | null;
  private sweepTimer: NodeJS.Timeout | null = null;
  private readonly ttlMs: number;
  private readonly maxAnswerBytes: number;

  constructor(private readonly options: AnswerCacheOptions) {
    this.ttlMs = options.ttlSeconds * 1000;
    this.maxAnswerBytes = options.maxAnswerBytes ?? 1_000_000;
    this.memory = new BoundedCache<Kept>({
      maxEntries: options.memoryEntries ?? 10_000,
      maxSize: options.memoryBytes ?? 64 * 1024 * 1024,
      sizeOf: (kept) => kept.json.length,
    });
    if (options.log && this.ttlMs > 0) {
      const known = new KnownAnswers({ windowMs: this.ttlMs, expectedPerWindow: options.expectedAnswers });
      this.known = known;
      this.log = new AnswerLog({
        ...options.log,
        ttlMs: this.ttlMs,
        logger: options.logger,
        catchUpTimeoutMs: options.catchUpTimeoutMs,
        maxPendingWrites: options.maxPendingWrites,
        onAnswer: (key, expiresAtMs) => known.add(key, expiresAtMs),
      });
    } else {
      this.known = null;
      this.log = null;
    }
  }

  /** Opens the local database, catches up with the answers topic and starts the periodic sweep. */
  async start(): Promise<void> {
    if (!this.log) return;
    await this.log.start();
    this.options.logger.info({ database: this.log.location }, 'answers for identical requests kept');
    this.sweepTimer = setInterval(
      () => void this.sweep(),
      this.options.sweepIntervalMs ?? Math.min(this.ttlMs, 3_600_000),
    );
    this.sweepTimer.unref();
  }

  /** Stops sweeping, waits for the answers being produced, and closes the local database. */
  async stop(): Promise<void> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    this.sweepTimer = null;
    await this.log?.stop();
  }

  /** Deletes ended answers from the local database; returns how many. */
  async sweep(now = Date.now()): Promise<number> {
    if (!this.log) return 0;
    try {
      const deleted = await this.log.sweep(now);
      if (deleted > 0) this.options.logger.info({ deleted }, 'deleted ended answers');
      return deleted;
    } catch (error) {
      this.options.logger.warn({ err: error }, 'deleting ended answers failed; will retry');
      return 0;
    }
  }

  /** Reads of the local database made by lookups (see KnownAnswers). */
  get databaseReads(): number {
    return this.log?.lookupReads ?? 0;
  }

  /** The answer to the request `hash` of `tenant`: from a layer of the cache, or from `call`. */
  async answer<T>(tenant: string, hash: string, call: () => Promise<T>): Promise<Answer<T>> {
    const key = `${tenant}\u0000${hash}`;
    const now = Date.now();
    const kept = this.memory.get(key);
    if (kept && kept.expiresAtMs > now) {
      this.options.onLookup?.('memory');
      return { value: JSON.parse(kept.json) as T, cached: true, remember: settledAnswer };
    }
    if (kept) this.memory.delete(key);
    const running = this.inFlight.get(key);
    if (running) {
      try {
        const settled = await running;
        this.options.onLookup?.('in_flight');
        return { value: JSON.parse(settled.json) as T, cached: true, remember: settledAnswer };
      } catch {
        // The first request's error is its own: this one asks the upstream itself.
        this.options.onLookup?.('upstream');
        return { value: await call(), cached: false, remember: settledAnswer };
      }
    }
    // Registered before anything is awaited, so requests arriving during the database read wait too.
    const leading = this.lead(key, call, now);
    this.inFlight.set(key, leading);
    try {
      const settled = await leading;
      this.options.onLookup?.(settled.source);
      if (settled.source === 'log') {
        // Kept until the answer's own end, not a fresh TTL: an answer lives one TTL in all.
        this.keep(key, settled.json, settled.expiresAtMs ?? now + this.ttlMs);
        return { value: settled.value as T, cached: true, remember: settledAnswer };
      }
      return { value: settled.value as T, cached: false, remember: () => this.remember(key, settled.json) };
    } finally {
      this.inFlight.delete(key);
    }
  }

  private async lead<T>(key: string, call: () => Promise<T>, now: number): Promise<Settled> {
    if (this.log && this.known?.mightHave(key, now)) {
      try {
        const stored = await this.log.get(key, now);
        if (stored)
          return { source: 'log', json: stored.json, value: JSON.parse(stored.json), expiresAtMs: stored.expiresAtMs };
      } catch (error) {
        // The cache is an optimisation: a database that fails to answer means a call, not a failed item.
        this.options.logger.warn({ err: error }, 'reading a kept answer failed; asking the upstream');
      }
    }
    const value = await call();
    // Waiting requests get their own copy (JSON text): a handler may adjust the answer it returns.
    return { source: 'upstream', json: JSON.stringify(value), value };
  }

  private remember(key: string, json: string): Promise<void> {
    if (this.ttlMs <= 0 || Buffer.byteLength(json) > this.maxAnswerBytes) return Promise.resolve();
    const expiresAtMs = Date.now() + this.ttlMs;
    this.keep(key, json, expiresAtMs);
    if (!this.log) return Promise.resolve();
    // Known at once: once memory lets it go, the lookup reads the database (where it arrives shortly).
    this.known?.add(key, expiresAtMs);
    return this.log.append(key, expiresAtMs, json);
  }

  private keep(key: string, json: string, expiresAtMs: number): void {
    if (this.ttlMs <= 0 || json.length > this.maxAnswerBytes) return;
    this.memory.set(key, { json, expiresAtMs }, { ttlMs: Math.max(1, expiresAtMs - Date.now()) });
  }
}
