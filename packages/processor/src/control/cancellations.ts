import { randomUUID } from 'node:crypto';
import type { Consumer, Logger, Serde, TopicNames, Transport } from '@sluice/core';

/**
 * The batches this processor must not spend upstream calls on: read from the status topic, where
 * the sink records `cancelling` once it has seen a cancel request. Every processor reads the whole
 * topic (its own consumer group, never committed), so each one learns of every cancel.
 */
export class CancellationView {
  private readonly cancelled = new Set<string>();
  private consumer: Consumer | null = null;

  constructor(
    private readonly transport: Transport,
    private readonly serde: Serde,
    private readonly topics: TopicNames,
    private readonly logger: Logger,
  ) {}

  has(batchId: string): boolean {
    return this.cancelled.has(batchId);
  }

  async start(): Promise<void> {
    this.consumer = this.transport.consumer({
      groupId: `${this.topics.status}.processor-view.${randomUUID()}`,
      topics: [this.topics.status],
      fromBeginning: true,
      maxWaitTimeMs: 100,
    });
    await this.consumer.run(async (batch, context) => {
      for (const message of batch.messages) {
        try {
          const record = await this.serde.status.decode(message);
          if (record.status === 'cancelling' || record.status === 'cancelled') this.cancelled.add(record.id);
          else this.cancelled.delete(record.id);
        } catch (error) {
          this.logger.warn({ err: error }, 'skipping an undecodable status record');
        }
        context.resolveOffset(message.offset);
      }
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = null;
  }
}
