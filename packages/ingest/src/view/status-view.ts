import {
  type BatchRecord,
  type Consumer,
  followStatusTopic,
  isTerminal,
  type Logger,
  type Serde,
  type TopicNames,
  type Transport,
} from '@sluice/core';

type Waiter = { predicate: (record: BatchRecord) => boolean; resolve: (record: BatchRecord) => void };

/**
 * Ingest's view of every batch: the status topic (compacted, one record per batch) read from the
 * beginning into memory, plus ingest's own writes applied at once (read-your-writes). One record
 * per batch, not per item, so memory follows the number of batches.
 */
export class StatusView {
  private readonly records = new Map<string, BatchRecord>();
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** Cancels requested here that the sink has not confirmed yet: shown as `cancelling`. */
  private readonly cancelRequested = new Map<string, number>();
  private consumer: Consumer | null = null;
  private caughtUp: Promise<void> = Promise.resolve();

  constructor(
    private readonly transport: Transport,
    private readonly serde: Serde,
    private readonly topics: TopicNames,
    private readonly logger: Logger,
  ) {}

  /** Starts reading; resolves once the records that existed at start are loaded (or after `timeoutMs`). */
  async start(timeoutMs = 30_000): Promise<void> {
    const ends = new Map<number, number>();
    for (const p of await this.transport.offsets(this.topics.status)) {
      if (Number(p.high) > Number(p.low)) ends.set(p.partition, Number(p.high));
    }
    let markCaughtUp: () => void = () => undefined;
    this.caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    if (ends.size === 0) markCaughtUp();
    this.consumer = await followStatusTopic({
      transport: this.transport,
      serde: this.serde,
      topics: this.topics,
      reader: 'ingest-view',
      logger: this.logger,
      onRecord: (record) => this.apply(record),
      afterMessage: (message) => {
        const end = ends.get(message.partition);
        if (end !== undefined && Number(message.offset) + 1 >= end) {
          ends.delete(message.partition);
          if (ends.size === 0) markCaughtUp();
        }
      },
    });
    await Promise.race([this.caughtUp, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = null;
  }

  /** Applies a record (from the topic, or one this process just wrote). */
  apply(record: BatchRecord): void {
    if (record.status !== 'in_progress' && record.status !== 'validating') this.cancelRequested.delete(record.id);
    this.records.set(record.id, record);
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

  /** Every batch record held (all tenants). */
  all(): BatchRecord[] {
    return [...this.records.values()];
  }

  markCancelRequested(id: string, at: number): void {
    this.cancelRequested.set(id, at);
  }

  get(id: string): BatchRecord | undefined {
    const record = this.records.get(id);
    if (!record) return undefined;
    const cancelAt = this.cancelRequested.get(id);
    if (cancelAt !== undefined && (record.status === 'in_progress' || record.status === 'validating')) {
      return { ...record, status: 'cancelling', cancelling_at: cancelAt };
    }
    return record;
  }

  /** A tenant's batches, newest first, after the batch `after` (exclusive), sync ones hidden. */
  list(
    tenant: string,
    options: { after?: string; limit: number; api?: string },
  ): { data: BatchRecord[]; hasMore: boolean } {
    const all = [...this.records.values()]
      .filter((r) => r.tenant === tenant && !r.sync && (!options.api || r.api === options.api))
      .sort((a, b) => b.created_at - a.created_at || (b.id < a.id ? -1 : b.id > a.id ? 1 : 0));
    let start = 0;
    if (options.after) {
      const at = all.findIndex((r) => r.id === options.after);
      start = at === -1 ? all.length : at + 1;
    }
    const data = all.slice(start, start + options.limit).map((r) => this.get(r.id) ?? r);
    return { data, hasMore: start + options.limit < all.length };
  }

  /** Resolves with the batch's record once `predicate` holds (checked on every new record). */
  waitFor(id: string, predicate: (record: BatchRecord) => boolean, timeoutMs: number): Promise<BatchRecord | null> {
    const current = this.records.get(id);
    if (current && predicate(current)) return Promise.resolve(current);
    return new Promise((resolve) => {
      const waiter: Waiter = {
        predicate,
        resolve: (record) => {
          clearTimeout(timer);
          resolve(record);
        },
      };
      const timer = setTimeout(() => {
        this.waiters.get(id)?.delete(waiter);
        resolve(null);
      }, timeoutMs);
      let set = this.waiters.get(id);
      if (!set) this.waiters.set(id, (set = new Set()));
      set.add(waiter);
    });
  }

  waitForTerminal(id: string, timeoutMs: number): Promise<BatchRecord | null> {
    return this.waitFor(id, (record) => isTerminal(record.status), timeoutMs);
  }
}
