import { randomUUID } from 'node:crypto';
import {
  admitStatusRecord,
  BatchRecord,
  type BatchStatus,
  BoundedCache,
  type Consumer,
  followStatusTopic,
  isTerminal,
  type Logger,
  type Serde,
  type StatusChange,
  type TopicNames,
  type Transport,
  tenantSegment,
} from '@sluice/core';
import { ClassicLevel } from 'classic-level';

type Waiter = { predicate: (record: BatchRecord) => boolean; resolve: (record: BatchRecord) => void };

export interface StatusViewOptions {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  logger: Logger;
  /** This ingest's own scratch directory for the view's database (its parent must exist; never shared). */
  directory: string;
  /** Records kept in memory. @defaultValue 5000 */
  cacheSize?: number;
}

const RECORD = 'r!';
const LISTING = 'l!';
/** The listing again, by status: `s!<tenant>!<scope>!<status>!<created_at>!<id>`. */
const BY_STATUS = 's!';
const OFFSET = 'o!';
const GROUP = 'meta!group';
/** Scope of the listing index holding every API's batches (others: one per API, e.g. `operations`). */
const ALL_APIS = '*';

/**
 * Ingest's view of every batch: the compacted status topic materialised on local disk, the way
 * Kafka Streams keeps a KTable in RocksDB. It is LevelDB here (`classic-level`: the maintained
 * Node binding of the abstract-level family, with N-API prebuilt binaries inside the npm package,
 * so it installs without a compiler and runs unchanged on Node 20 and 24; an LSM tree with its own
 * small block cache, so the process's memory stays flat however many batches there are).
 *
 * - `r!<id>` → the batch record; `l!<tenant>!<scope>!<created_at>!<id>` → '' for listing a
 *   tenant's batches newest first (scope `*` or the API), sync batches not listed;
 *   `s!<tenant>!<scope>!<status>!<created_at>!<id>` → '' for the same listing in one status (a
 *   record's keys move when its status changes);
 *   `o!<partition>` → the next offset to read, written in the same atomic batch as the records.
 * - The view's consumer group is named by an id stored in the database and commits after each
 *   write, so a restarted ingest reads only what it missed; a new (empty) directory gets a new
 *   group and reads the topic from the beginning.
 * - A bounded cache holds recently read records; ingest's own writes are applied at once
 *   (read-your-writes). A null record on the topic (a deleted batch) removes the batch. An intake
 *   record of a batch whose stored record is the sink's is dropped (core's `admitStatusRecord`).
 */
export class StatusView {
  private db: ClassicLevel<string, string> | null = null;
  /** Recently read records (read-your-writes: ingest's own writes replace them at once). */
  private readonly cache: BoundedCache<BatchRecord>;
  /** Atomic writes so far: a read that saw this number change while it was out does not cache what it read. */
  private writes = 0;
  private readonly waiters = new Map<string, Set<Waiter>>();
  private consumer: Consumer | null = null;
  /** Writes to the database one at a time (the topic's batches and this process's own records). */
  private writing: Promise<void> = Promise.resolve();

  constructor(private readonly options: StatusViewOptions) {
    this.cache = new BoundedCache({ maxEntries: options.cacheSize ?? 5000 });
  }

  /** Opens the database and starts reading; resolves once the view has caught up (or after `timeoutMs`). */
  async start(timeoutMs = 30_000): Promise<void> {
    const db = new ClassicLevel<string, string>(this.options.directory, { valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (error) {
      const cause = (error as { cause?: { message?: string } }).cause?.message ?? (error as Error).message;
      throw new Error(
        `ingest's status view cannot open ${this.options.directory} (${cause}); every ingest needs its own SLUICE_DATA_DIR`,
      );
    }
    this.db = db;
    let groupId = await db.get(GROUP);
    if (!groupId) {
      groupId = `${this.options.topics.status}.ingest-view.${randomUUID()}`;
      await db.put(GROUP, groupId);
    }
    const ends = new Map<number, number>();
    for (const p of await this.options.transport.offsets(this.options.topics.status)) {
      const stored = Number((await db.get(`${OFFSET}${p.partition}`)) ?? 0);
      if (Number(p.high) > Math.max(Number(p.low), stored)) ends.set(p.partition, Number(p.high));
    }
    let markCaughtUp: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    if (ends.size === 0) markCaughtUp();
    this.consumer = await followStatusTopic({
      transport: this.options.transport,
      serde: this.options.serde,
      topics: this.options.topics,
      reader: 'ingest-view',
      groupId,
      logger: this.options.logger,
      onBatch: (changes, partition, nextOffset) => this.write(changes, { partition, nextOffset }),
      afterMessage: (message) => {
        const end = ends.get(message.partition);
        if (end !== undefined && Number(message.offset) + 1 >= end) {
          ends.delete(message.partition);
          if (ends.size === 0) markCaughtUp();
        }
      },
    });
    await Promise.race([caughtUp, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = null;
    await this.writing.catch(() => undefined);
    await this.db?.close();
    this.db = null;
  }

  /** Applies a record this process just wrote (it comes back through the topic too). */
  async apply(record: BatchRecord): Promise<void> {
    await this.write([{ id: record.id, record }], null);
  }

  /** Forgets a deleted batch (its tombstone comes through the topic too). */
  async remove(id: string): Promise<void> {
    await this.write([{ id, record: null }], null);
  }

  /** A batch's record (any tenant), or undefined. */
  async get(id: string): Promise<BatchRecord | undefined> {
    return this.stored(id);
  }

  /**
   * A tenant's batches, newest first, after the batch `after` (exclusive), sync ones hidden: one
   * range read of the listing index and one read per record on the page, whatever the number of
   * batches.
   */
  async list(
    tenant: string,
    options: { after?: string; limit: number; api?: string; status?: BatchStatus },
  ): Promise<{ data: BatchRecord[]; hasMore: boolean }> {
    const db = this.open();
    const scope = options.api ?? ALL_APIS;
    const keyOf = (record: Pick<BatchRecord, 'tenant' | 'created_at' | 'id'>) =>
      options.status ? statusKey(record, scope, options.status) : listingKey(record, scope);
    const prefix = options.status
      ? `${BY_STATUS}${tenantSegment(tenant)}!${scope}!${options.status}!`
      : `${LISTING}${tenantSegment(tenant)}!${scope}!`;
    let upper = `${prefix}~`;
    if (options.after) {
      const after = await this.stored(options.after);
      if (!after || after.tenant !== tenant) return { data: [], hasMore: false };
      // A position in the order, whatever the status of that batch is now.
      upper = keyOf(after);
    }
    const ids = await db.keys({ gte: prefix, lt: upper, reverse: true, limit: options.limit + 1 }).all();
    const page = ids.slice(0, options.limit).map((key) => key.slice(key.lastIndexOf('!') + 1));
    const values = await db.getMany(page.map((id) => `${RECORD}${id}`));
    const data: BatchRecord[] = [];
    values.forEach((value) => {
      if (value === undefined) return;
      data.push(BatchRecord.parse(JSON.parse(value)));
    });
    return { data, hasMore: ids.length > options.limit };
  }

  /** Resolves with the batch's record once `predicate` holds (checked on every new record). */
  async waitFor(
    id: string,
    predicate: (record: BatchRecord) => boolean,
    timeoutMs: number,
  ): Promise<BatchRecord | null> {
    let resolveWait: (record: BatchRecord | null) => void = () => undefined;
    const done = new Promise<BatchRecord | null>((resolve) => (resolveWait = resolve));
    // Registered before the current record is read, so a record applied in between is not missed.
    const waiter: Waiter = {
      predicate,
      resolve: (record) => {
        clearTimeout(timer);
        resolveWait(record);
      },
    };
    const timer = setTimeout(() => {
      this.waiters.get(id)?.delete(waiter);
      resolveWait(null);
    }, timeoutMs);
    let set = this.waiters.get(id);
    if (!set) this.waiters.set(id, (set = new Set()));
    set.add(waiter);
    const current = await this.stored(id);
    if (current && predicate(current)) {
      set.delete(waiter);
      waiter.resolve(current);
    }
    return done;
  }

  waitForTerminal(id: string, timeoutMs: number): Promise<BatchRecord | null> {
    return this.waitFor(id, (record) => isTerminal(record.status), timeoutMs);
  }

  private open(): ClassicLevel<string, string> {
    if (!this.db) throw new Error('the status view is not started');
    return this.db;
  }

  private async stored(id: string): Promise<BatchRecord | undefined> {
    const cached = this.cache.get(id);
    if (cached) return cached;
    const generation = this.writes;
    const value = await this.open().get(`${RECORD}${id}`);
    if (value === undefined) return undefined;
    const record = BatchRecord.parse(JSON.parse(value));
    // A write that landed while this read was out may have made the record stale; caching it
    // then would serve the old record until it was evicted (a job seen in_progress for good after
    // the sink had completed it: found by the soak test). Only a read no write raced is cached.
    if (this.writes === generation) this.cache.set(id, record);
    return record;
  }

  /** Writes changes (and the topic offset they reach) in one atomic batch, then tells the waiters. */
  private write(changes: StatusChange[], offset: { partition: number; nextOffset: string } | null): Promise<void> {
    const run = async () => {
      const db = this.open();
      const operations: ({ type: 'put'; key: string; value: string } | { type: 'del'; key: string })[] = [];
      // The record each change replaces: an earlier change of the same batch in this write, else the stored one.
      const latest = new Map<string, BatchRecord | null>();
      const previousOf = async (id: string) =>
        latest.has(id) ? latest.get(id) : (this.cache.get(id) ?? parseOrNull(await db.get(`${RECORD}${id}`)));
      const applied: StatusChange[] = [];
      for (const change of changes) {
        const { id, record } = change;
        const previous = await previousOf(id);
        // The status writer rule: an intake record after the sink's is stale.
        if (record && !admitStatusRecord(record, previous?.written_by)) continue;
        applied.push(change);
        latest.set(id, record);
        if (record) {
          operations.push({ type: 'put', key: `${RECORD}${id}`, value: JSON.stringify(record) });
          // The listing keys never change: tenant, api, created_at and sync are fixed for a batch.
          if (!record.sync) {
            operations.push({ type: 'put', key: listingKey(record, ALL_APIS), value: '' });
            operations.push({ type: 'put', key: listingKey(record, record.api), value: '' });
            // The status keys move with the status.
            if (previous && previous.status !== record.status) operations.push(...statusKeys(previous).map(del));
            operations.push(...statusKeys(record).map(put));
          }
        } else {
          operations.push({ type: 'del', key: `${RECORD}${id}` });
          if (previous) {
            operations.push({ type: 'del', key: listingKey(previous, ALL_APIS) });
            operations.push({ type: 'del', key: listingKey(previous, previous.api) });
            operations.push(...statusKeys(previous).map(del));
          }
        }
      }
      if (offset) operations.push({ type: 'put', key: `${OFFSET}${offset.partition}`, value: offset.nextOffset });
      await db.batch(operations);
      this.writes++;
      for (const { id, record } of applied) {
        if (!record) {
          this.cache.delete(id);
          continue;
        }
        if (this.cache.has(id)) this.cache.set(id, record);
        this.notify(record);
      }
    };
    const next = this.writing.then(run);
    this.writing = next.catch(() => undefined);
    return next;
  }

  private notify(record: BatchRecord): void {
    const waiting = this.waiters.get(record.id);
    if (!waiting) return;
    for (const waiter of waiting) {
      if (waiter.predicate(record)) {
        waiting.delete(waiter);
        waiter.resolve(record);
      }
    }
    if (waiting.size === 0) this.waiters.delete(record.id);
  }
}

function listingKey(record: Pick<BatchRecord, 'tenant' | 'created_at' | 'id'>, scope: string): string {
  return `${LISTING}${tenantSegment(record.tenant)}!${scope}!${String(record.created_at).padStart(10, '0')}!${record.id}`;
}

function statusKey(record: Pick<BatchRecord, 'tenant' | 'created_at' | 'id'>, scope: string, status: string): string {
  return `${BY_STATUS}${tenantSegment(record.tenant)}!${scope}!${status}!${String(record.created_at).padStart(10, '0')}!${record.id}`;
}

/** A listed record's two status keys (all APIs and its own); none for a sync batch, which is not listed. */
function statusKeys(record: BatchRecord): string[] {
  if (record.sync) return [];
  return [statusKey(record, ALL_APIS, record.status), statusKey(record, record.api, record.status)];
}

const put = (key: string) => ({ type: 'put' as const, key, value: '' });
const del = (key: string) => ({ type: 'del' as const, key });

function parseOrNull(value: string | undefined): BatchRecord | null {
  return value === undefined ? null : BatchRecord.parse(JSON.parse(value));
}
