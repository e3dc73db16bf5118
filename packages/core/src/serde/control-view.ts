import { randomUUID } from 'node:crypto';
import { BoundedCache } from '../cache.js';
import type { CancelControl } from '../contracts/control.js';
import type { Logger } from '../logger.js';
import type { TopicNames } from '../topics.js';
import type { Consumer, Transport } from '../transport/types.js';
import type { Serde } from './codec.js';

export interface ControlViewOptions {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  /** Names the reader in its group id, e.g. `processor`, `sink`. */
  reader: string;
  logger: Logger;
  /**
   * Cancelled batches remembered at once (least recently used out). A deleted batch is forgotten
   * at its tombstone, so only batches cancelled and not yet deleted count.
   * @defaultValue 100000
   */
  maxBatches?: number;
}

/**
 * The control topic in this process: every processor and sink follows all of it, from the
 * beginning, as a consumer group of its own that never commits (like `followStatusTopic`), so
 * each learns of every cancel, in the order ingest wrote them, without waiting for any batch's
 * results. It keeps the cancelled batches' ids in a bounded cache and forgets a batch at its
 * tombstone (a null value, written by ingest when it deletes the batch).
 */
export class ControlView {
  private readonly cancelled: BoundedCache<number>;
  private readonly listeners: ((cancel: CancelControl) => void)[] = [];
  private consumer: Consumer | null = null;

  constructor(private readonly options: ControlViewOptions) {
    this.cancelled = new BoundedCache({ maxEntries: options.maxBatches ?? 100_000 });
  }

  /** Whether the batch was cancelled. */
  isCancelled(batchId: string): boolean {
    return this.cancelled.has(batchId);
  }

  /** When the batch's cancel was requested (unix seconds), or undefined. */
  cancelledAt(batchId: string): number | undefined {
    return this.cancelled.get(batchId);
  }

  /** Called for each cancel read from the topic (also those read while catching up at start). */
  onCancel(listener: (cancel: CancelControl) => void): void {
    this.listeners.push(listener);
  }

  /** Starts following; resolves once the topic is read to its end as of now (or after `timeoutMs`). */
  async start(timeoutMs = 30_000): Promise<void> {
    const { transport, serde, topics, logger } = this.options;
    const ends = new Map<number, number>();
    for (const p of await transport.offsets(topics.control)) {
      if (Number(p.high) > Number(p.low)) ends.set(p.partition, Number(p.high));
    }
    let markCaughtUp: () => void = () => undefined;
    const caughtUp = new Promise<void>((resolve) => (markCaughtUp = resolve));
    if (ends.size === 0) markCaughtUp();
    const consumer = transport.consumer({
      groupId: `${topics.control}.${this.options.reader}.${randomUUID()}`,
      topics: [topics.control],
      fromBeginning: true,
      // The default fetch wait (0.5 s at most, less when a cancel arrives): every processor and
      // sink polls this topic, mostly idle.
    });
    this.consumer = consumer;
    await consumer.run(async (batch, context) => {
      for (const message of batch.messages) {
        if (message.value === null) {
          if (message.key) this.cancelled.delete(message.key);
        } else {
          try {
            const fact = await serde.control.decode(message);
            if (fact.type === 'cancel') {
              this.cancelled.set(fact.batch_id, fact.requested_at);
              for (const listener of this.listeners) listener(fact);
            }
          } catch (error) {
            logger.warn({ err: error, offset: message.offset }, 'skipping an undecodable control message');
          }
        }
        context.resolveOffset(message.offset);
        const end = ends.get(message.partition);
        if (end !== undefined && Number(message.offset) + 1 >= end) {
          ends.delete(message.partition);
          if (ends.size === 0) markCaughtUp();
        }
      }
    });
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([caughtUp, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = null;
  }
}
