import {
  type Consumer,
  followStatusTopic,
  type Logger,
  type Serde,
  type TopicNames,
  type Transport,
} from '@sluice/core';

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
    this.consumer = await followStatusTopic({
      transport: this.transport,
      serde: this.serde,
      topics: this.topics,
      reader: 'processor-view',
      logger: this.logger,
      onRecord: (record) => {
        if (record.status === 'cancelling' || record.status === 'cancelled') this.cancelled.add(record.id);
        else this.cancelled.delete(record.id);
      },
      onDelete: (batchId) => this.cancelled.delete(batchId),
    });
  }

  async stop(): Promise<void> {
    await this.consumer?.stop();
    this.consumer = null;
  }
}
