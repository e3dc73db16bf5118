import { randomUUID } from 'node:crypto';
import {
  type Consumer,
  HEADERS,
  type ItemResultMessage,
  type Logger,
  type Serde,
  type TopicNames,
  type Transport,
} from '@sluice/core';

/** What one synchronous call waits for on the results topic. */
export class SyncWaiter {
  /** The call's results read so far, by item index (a redelivered item's repeat is dropped). */
  readonly results = new Map<number, ItemResultMessage>();
  /** Resolves once every item has a result. */
  readonly complete: Promise<void>;
  private resolveComplete: () => void = () => undefined;
  private onSeal: (() => void) | null = null;

  constructor(
    readonly batchId: string,
    readonly total: number,
  ) {
    this.complete = new Promise((resolve) => (this.resolveComplete = resolve));
    if (total === 0) this.resolveComplete();
  }

  /** Called once the call's own seal is read: every result before it in the partition has been read too. */
  whenSealed(listener: () => void): void {
    this.onSeal = listener;
  }

  take(result: ItemResultMessage): void {
    if (this.results.has(result.index)) return;
    this.results.set(result.index, result);
    if (this.results.size >= this.total) this.resolveComplete();
  }

  sealed(): void {
    this.onSeal?.();
  }

  /** The results in item order. */
  ordered(): ItemResultMessage[] {
    return [...this.results.values()].sort((a, b) => a.index - b.index);
  }
}

/**
 * How ingest receives the results of its synchronous calls: one reader of the results topic per
 * ingest process, from the topic's end, as a consumer group of its own that never commits. It
 * looks only at the keys (batch ids) of the calls it waits for and decodes nothing else, so the
 * rest of the topic costs it a key comparison per message.
 */
export class SyncResultsFollower {
  private readonly waiting = new Map<string, SyncWaiter>();
  private consumer: Consumer | null = null;

  constructor(private readonly deps: { transport: Transport; serde: Serde; topics: TopicNames; logger: Logger }) {}

  /** Joins the results topic at its end; a call's results are read from there on. */
  async start(): Promise<void> {
    const { transport, serde, topics, logger } = this.deps;
    const consumer = transport.consumer({
      groupId: `${topics.results}.ingest-sync.${randomUUID()}`,
      topics: [topics.results],
      fromBeginning: false,
      // A call's answer waits for this reader: as short a wait as the status view's, and no shorter
      // (every ingest polls the whole results topic; a fetch returns at once when data is there).
      maxWaitTimeMs: 100,
    });
    this.consumer = consumer;
    await consumer.run(async (batch, context) => {
      for (const message of batch.messages) {
        const waiter = message.key === null ? undefined : this.waiting.get(message.key);
        if (waiter && message.value !== null) {
          try {
            const decoded = await serde.results.decode(message);
            if (decoded.type === 'item') waiter.take(decoded);
            else if (message.headers[HEADERS.type] === 'seal' || decoded.type === 'seal') waiter.sealed();
          } catch (error) {
            logger.warn({ err: error, batchId: message.key }, 'a result of a synchronous call could not be decoded');
          }
        }
        context.resolveOffset(message.offset);
      }
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = null;
    this.waiting.clear();
  }

  /** Starts waiting for a call's results; call before its items are produced. */
  wait(batchId: string, total: number): SyncWaiter {
    const waiter = new SyncWaiter(batchId, total);
    this.waiting.set(batchId, waiter);
    return waiter;
  }

  /** Stops waiting for a call. */
  forget(batchId: string): void {
    this.waiting.delete(batchId);
  }
}
