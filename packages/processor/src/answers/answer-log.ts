import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import {
  BatchingSender,
  type Consumer,
  type IncomingMessage,
  type Logger,
  type Producer,
  type Transport,
} from '@sluice/core';
import { ClassicLevel } from 'classic-level';
import { z } from 'zod';

export interface AnswerLogOptions {
  transport: Transport;
  /** The answers topic (`<prefix>.answers`, core's `topicSpecs`). */
  topic: string;
  /**
   * This processor's scratch directory (it must exist): the database is the first `answers-<n>`
   * in it that no other process holds, so processors sharing a `SLUICE_DATA_DIR` never clash and a
   * restarted one finds a database to resume from.
   */
  directory: string;
  /** Milliseconds an answer is served after it was written (the dedup TTL). */
  ttlMs: number;
  logger: Logger;
  /** Longest `start` waits for the database to catch up with the topic. @defaultValue 10 s */
  catchUpTimeoutMs?: number;
  /**
   * Answers produced and not yet acknowledged, at most; an answer beyond is kept in memory only
   * (a cache entry lost costs a call, never a result). @defaultValue 10,000
   */
  maxPendingWrites?: number;
  /** How long an answer waits for others to share its produce request. @defaultValue 50 ms */
  lingerMs?: number;
  /** Called for each live answer the database holds at start and each one it gets from the topic. */
  onAnswer?: (key: string, expiresAtMs: number) => void;
}

/** An answer as the database keeps it: its JSON text and when it stops being served. */
export interface StoredAnswer {
  json: string;
  expiresAtMs: number;
}

/**
 * A record of the answers topic: plain JSON, no registry subject. The topic is private to the
 * processors (no outside producer or consumer has a use for it), and `value` is an upstream's
 * answer verbatim, any JSON: a registered schema could say no more than this one does.
 */
const AnswerRecord = z.object({ expires_at_ms: z.number(), value: z.unknown() });

/** `a!<key>` → `<expires_at_ms> <answer JSON>`. */
const ANSWER = 'a!';
/** `x!<expires_at_ms, 15 digits>!<key>` → '': the answers by expiry, for the sweep. */
const BY_EXPIRY = 'x!';
/** Just past every by-expiry key (`"` follows `!`). */
const BY_EXPIRY_END = 'x"';
const EXPIRY_DIGITS = 15;
/** Least time between two commits of the log's consumer group (see start). */
const COMMIT_INTERVAL_MS = 1000;

/** `o!<partition>` → the next offset to read, written in the same atomic batch as the answers. */
const OFFSET = 'o!';
const GROUP = 'meta!group';
/** Slots tried for a database of our own before giving up (processors on one machine, at once). */
const MAX_SLOTS = 64;
const SWEEP_PAGE = 1000;

const expiryKey = (expiresAtMs: number, key: string) =>
  `${BY_EXPIRY}${String(Math.max(0, Math.floor(expiresAtMs))).padStart(EXPIRY_DIGITS, '0')}!${key}`;
const keyOfExpiryKey = (indexKey: string) => indexKey.slice(BY_EXPIRY.length + EXPIRY_DIGITS + 1);

function parseStored(text: string): StoredAnswer {
  const space = text.indexOf(' ');
  return { expiresAtMs: Number(text.slice(0, space)), json: text.slice(space + 1) };
}

/**
 * The answers every processor has written, on this machine's disk: the compacted answers topic
 * materialised into LevelDB (`classic-level`, as ingest's status view keeps the status topic), so a
 * lookup reads local disk, never the network, and the shared store is not touched at all.
 *
 * - Writes go to the topic through a batching producer: an item never waits for them, and a
 *   produce request carries many answers. Every processor, this one included, reads them back.
 * - The database's consumer group is named by an id kept in the database, and its offsets are
 *   written in the same atomic batch as the answers: a restarted processor reads only what it
 *   missed; a new (empty) database reads the topic from the beginning (at most a TTL of answers).
 * - Expiry: an answer is served until `expires_at_ms`, and never longer than our own TTL after
 *   the record was written; a sweep walks the by-expiry index from its start and deletes what has
 *   ended (no scan of what is live), and the topic's retention drops the records from the log.
 */
export class AnswerLog {
  private db: ClassicLevel<string, string> | null = null;
  private consumer: Consumer | null = null;
  private producer: Producer | null = null;
  private sender: BatchingSender | null = null;
  /** Database writes one at a time: the topic's batches and the sweep. */
  private writing: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private readonly drained: (() => void)[] = [];
  private lastWarningAt = 0;
  private reads = 0;
  /** Where the database lives, once started. */
  location: string | null = null;

  constructor(private readonly options: AnswerLogOptions) {}

  /** Database reads made by lookups (a filter in front should keep misses from making any). */
  get lookupReads(): number {
    return this.reads;
  }

  /** Opens a database of our own, sweeps it, reports its live answers, and follows the topic (caught up, or after the timeout). */
  async start(): Promise<void> {
    const db = await this.openSlot();
    this.db = db;
    await this.sweep();
    const now = Date.now();
    for await (const key of db.keys({ gt: expiryKey(now, ''), lt: BY_EXPIRY_END })) {
      this.options.onAnswer?.(
        keyOfExpiryKey(key),
        Number(key.slice(BY_EXPIRY.length, BY_EXPIRY.length + EXPIRY_DIGITS)),
      );
    }
    let groupId = await db.get(GROUP);
    if (!groupId) {
      groupId = `${this.options.topic}.processor.${randomUUID()}`;
      await db.put(GROUP, groupId);
    }
    this.producer = await this.options.transport.producer();
    this.sender = new BatchingSender(this.producer, this.options.topic, { lingerMs: this.options.lingerMs ?? 50 });

    const ends = new Map<number, number>();
    for (const p of await this.options.transport.offsets(this.options.topic)) {
      const stored = Number((await db.get(`${OFFSET}${p.partition}`)) ?? 0);
      if (Number(p.high) > Math.max(Number(p.low), stored)) ends.set(p.partition, Number(p.high));
    }
    let markCaughtUp: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    if (ends.size === 0) markCaughtUp();
    const consumer = this.options.transport.consumer({ groupId, topics: [this.options.topic], fromBeginning: true });
    this.consumer = consumer;
    await consumer.run(async (batch, context) => {
      const last = batch.messages[batch.messages.length - 1];
      if (!last) return;
      const nextOffset = String(Number(last.offset) + 1);
      await this.serialized(() => this.apply(batch.partition, batch.messages, nextOffset));
      context.resolveOffset(last.offset);
      const end = ends.get(batch.partition);
      if (end !== undefined && Number(nextOffset) >= end) {
        ends.delete(batch.partition);
        if (ends.size === 0) markCaughtUp();
      }
      // The database holds the exact offset (written with the answers); the group's commit only
      // spares a restart re-reading, so it is taken at most once a second, not per fetched batch
      // (a synchronous file write per batch on the embedded log was 6% of the processor's CPU).
      this.uncommitted.set(batch.partition, { topic: batch.topic, partition: batch.partition, offset: nextOffset });
      if (Date.now() - this.lastCommitMs >= COMMIT_INTERVAL_MS) await this.commitOffsets();
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      caughtUp,
      new Promise((resolve) => (timer = setTimeout(resolve, this.options.catchUpTimeoutMs ?? 10_000))),
    ]);
    clearTimeout(timer);
  }

  /** Waits for the answers being produced (up to `timeoutMs`), stops following the topic and closes the database. */
  private readonly uncommitted = new Map<number, { topic: string; partition: number; offset: string }>();
  private lastCommitMs = 0;

  private async commitOffsets(): Promise<void> {
    this.lastCommitMs = Date.now();
    if (this.uncommitted.size === 0 || !this.consumer) return;
    const offsets = [...this.uncommitted.values()];
    this.uncommitted.clear();
    await this.consumer.commit(offsets).catch((error: unknown) => {
      this.options.logger.debug({ err: error }, 'committing the answers log position failed; the database has it');
    });
  }

  async stop(timeoutMs = 5000): Promise<void> {
    this.sender?.flush();
    if (this.pending > 0) {
      // Bounded: a log that does not answer costs the answers still in flight (later calls), not the stop.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.drained.push(resolve)),
        new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs))),
      ]);
      clearTimeout(timer);
    }
    await this.commitOffsets();
    await this.consumer?.stop();
    this.consumer = null;
    await this.writing;
    await this.producer?.disconnect();
    this.producer = null;
    this.sender = null;
    await this.db?.close();
    this.db = null;
  }

  /** The live answer for `key` in the local database, or null. */
  async get(key: string, now = Date.now()): Promise<StoredAnswer | null> {
    if (!this.db) return null;
    this.reads++;
    const text = await this.db.get(`${ANSWER}${key}`);
    if (text === undefined) return null;
    const stored = parseStored(text);
    return stored.expiresAtMs > now ? stored : null;
  }

  /**
   * Produces an answer to the topic (batched with others; never awaited by an item). Settles when
   * the log has it, or at once when it is dropped; it never rejects.
   */
  append(key: string, expiresAtMs: number, json: string): Promise<void> {
    const sender = this.sender;
    if (!sender || this.pending >= (this.options.maxPendingWrites ?? 10_000)) {
      this.options.logger.debug('the answers topic is behind; an answer is kept in memory only');
      return Promise.resolve();
    }
    this.pending++;
    return sender
      .send({ key, value: Buffer.from(`{"expires_at_ms":${expiresAtMs},"value":${json}}`) })
      .catch((error: unknown) => {
        // One warning a minute at most: a producer that fails, fails for every answer of a batch.
        if (Date.now() - this.lastWarningAt < 60_000) return;
        this.lastWarningAt = Date.now();
        this.options.logger.warn(
          { err: error },
          'producing answers for reuse failed; identical requests will ask again',
        );
      })
      .finally(() => {
        this.pending--;
        if (this.pending === 0) for (const resolve of this.drained.splice(0)) resolve();
      });
  }

  /**
   * Deletes the answers that have ended, oldest first, a page at a time: only the by-expiry index
   * entries up to `now` are read, so the cost follows what expired, not what is kept.
   * Returns the number of answers deleted.
   */
  sweep(now = Date.now()): Promise<number> {
    return this.serialized(async () => {
      const db = this.db;
      if (!db) return 0;
      let deleted = 0;
      for (;;) {
        const ended = await db.keys({ gte: BY_EXPIRY, lt: expiryKey(now + 1, ''), limit: SWEEP_PAGE }).all();
        if (ended.length === 0) return deleted;
        const answerKeys = ended.map((indexKey) => `${ANSWER}${keyOfExpiryKey(indexKey)}`);
        const answers = await db.getMany(answerKeys);
        const operations = ended.map((key) => ({ type: 'del' as const, key }));
        answers.forEach((text, i) => {
          // A key written again since has a later expiry (and its own index entry): it stays.
          if (text === undefined || parseStored(text).expiresAtMs > now) return;
          operations.push({ type: 'del', key: answerKeys[i] as string });
          deleted++;
        });
        await db.batch(operations);
        if (ended.length < SWEEP_PAGE) return deleted;
      }
    });
  }

  /** Writes one fetched batch of the topic and the offset it reaches, in one atomic batch. */
  private async apply(partition: number, messages: IncomingMessage[], nextOffset: string): Promise<void> {
    const db = this.db;
    if (!db) throw new Error('the answer log is not started');
    const now = Date.now();
    const operations: ({ type: 'put'; key: string; value: string } | { type: 'del'; key: string })[] = [];
    const added: [string, number][] = [];
    for (const message of messages) {
      if (message.key === null) continue;
      if (message.value === null) {
        operations.push({ type: 'del', key: `${ANSWER}${message.key}` }); // its index entry goes with the sweep
        continue;
      }
      let record;
      try {
        record = AnswerRecord.parse(JSON.parse(message.value.toString('utf8')));
      } catch (error) {
        this.options.logger.warn({ err: error, partition, offset: message.offset }, 'skipping an undecodable answer');
        continue;
      }
      // Never longer than our own TTL after it was written, whatever TTL the writer had.
      const expiresAtMs = Math.min(record.expires_at_ms, Number(message.timestamp) + this.options.ttlMs);
      if (!(expiresAtMs > now)) continue;
      operations.push({
        type: 'put',
        key: `${ANSWER}${message.key}`,
        value: `${expiresAtMs} ${JSON.stringify(record.value)}`,
      });
      operations.push({ type: 'put', key: expiryKey(expiresAtMs, message.key), value: '' });
      added.push([message.key, expiresAtMs]);
    }
    operations.push({ type: 'put', key: `${OFFSET}${partition}`, value: nextOffset });
    await db.batch(operations);
    for (const [key, expiresAtMs] of added) this.options.onAnswer?.(key, expiresAtMs);
  }

  private serialized<T>(work: () => Promise<T>): Promise<T> {
    const next = this.writing.then(work);
    this.writing = next.catch(() => undefined);
    return next;
  }

  /** The first `answers-<n>` database no other process (or instance) holds. */
  private async openSlot(): Promise<ClassicLevel<string, string>> {
    for (let slot = 0; slot < MAX_SLOTS; slot++) {
      const location = join(this.options.directory, `answers-${slot}`);
      const db = new ClassicLevel<string, string>(location, { valueEncoding: 'utf8' });
      try {
        await db.open();
        this.location = location;
        return db;
      } catch (error) {
        if ((error as { cause?: { code?: string } }).cause?.code === 'LEVEL_LOCKED') continue;
        const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
        throw new Error(`the processor's answer database cannot open ${location} (${cause})`);
      }
    }
    throw new Error(
      `the processor's answer databases ${join(this.options.directory, 'answers-*')} are all held by other processes (${MAX_SLOTS})`,
    );
  }
}
