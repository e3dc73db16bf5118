import { randomUUID } from 'node:crypto';
import type { BatchRecord } from '../contracts/batch.js';
import type { Logger } from '../logger.js';
import type { TopicNames } from '../topics.js';
import type { Consumer, IncomingMessage, Transport } from '../transport/types.js';
import type { Serde } from './codec.js';

/**
 * Reads the whole status topic into this process, from the beginning, as a consumer group of its
 * own that never commits: every reader (ingest's view of all batches, a processor's view of
 * cancellations) sees every record. Undecodable records are skipped with a warning.
 */
export async function followStatusTopic(options: {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  /** Names the reader in its group id, e.g. `ingest-view`. */
  reader: string;
  logger: Logger;
  onRecord: (record: BatchRecord) => void;
  /** Called after each message, decoded or not (e.g. to tell when the reader has caught up). */
  afterMessage?: (message: IncomingMessage) => void;
}): Promise<Consumer> {
  const consumer = options.transport.consumer({
    groupId: `${options.topics.status}.${options.reader}.${randomUUID()}`,
    topics: [options.topics.status],
    fromBeginning: true,
    maxWaitTimeMs: 100,
  });
  await consumer.run(async (batch, context) => {
    for (const message of batch.messages) {
      try {
        options.onRecord(await options.serde.status.decode(message));
      } catch (error) {
        options.logger.warn({ err: error, offset: message.offset }, 'skipping an undecodable status record');
      }
      context.resolveOffset(message.offset);
      options.afterMessage?.(message);
    }
  });
  return consumer;
}
