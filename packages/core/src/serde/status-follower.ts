import { randomUUID } from 'node:crypto';
import type { BatchRecord } from '../contracts/batch.js';
import type { Logger } from '../logger.js';
import { StatusWriterRule } from '../status-writers.js';
import type { TopicNames } from '../topics.js';
import type { Consumer, IncomingMessage, Transport } from '../transport/types.js';
import type { Serde } from './codec.js';

/** One change on the status topic: a batch's new record, or `null` for a deleted batch (a tombstone). */
export interface StatusChange {
  id: string;
  record: BatchRecord | null;
}

/**
 * Reads the status topic into this process, from the beginning. By default as a consumer group of
 * its own that never commits, so every such reader sees every record. With `groupId` the reader keeps its place: offsets are committed
 * after `onBatch` has made a fetched batch durable (ingest's view, persisted on local disk, resumes
 * where it stopped instead of reading the whole topic again). A record with a null value is a
 * deleted batch. Undecodable records are skipped with a warning, and so is an intake record that
 * comes after a sink record of its batch (`admitStatusRecord`: the status writer rule).
 */
export async function followStatusTopic(options: {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  /** Names the reader in its group id, e.g. `ingest-view`. */
  reader: string;
  logger: Logger;
  /** A group that keeps its committed offsets (see above); default: a new group per call. */
  groupId?: string;
  /** Called for each change, in order. */
  onRecord?: (record: BatchRecord) => void;
  onDelete?: (batchId: string) => void;
  /** Called once per fetched batch of changes; its offsets are committed (with `groupId`) once it resolves. */
  onBatch?: (changes: StatusChange[], partition: number, nextOffset: string) => Promise<void>;
  /** Called after each message, decoded or not (e.g. to tell when the reader has caught up). */
  afterMessage?: (message: IncomingMessage) => void;
}): Promise<Consumer> {
  const consumer = options.transport.consumer({
    groupId: options.groupId ?? `${options.topics.status}.${options.reader}.${randomUUID()}`,
    topics: [options.topics.status],
    fromBeginning: true,
    maxWaitTimeMs: 100,
  });
  const writers = new StatusWriterRule();
  await consumer.run(async (batch, context) => {
    const changes: StatusChange[] = [];
    for (const message of batch.messages) {
      if (message.value === null) {
        if (message.key) {
          writers.forget(message.key);
          changes.push({ id: message.key, record: null });
        }
        continue;
      }
      try {
        const record = await options.serde.status.decode(message);
        if (writers.admit(record)) changes.push({ id: record.id, record });
      } catch (error) {
        options.logger.warn({ err: error, offset: message.offset }, 'skipping an undecodable status record');
      }
    }
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    const nextOffset = String(Number(last.offset) + 1);
    await options.onBatch?.(changes, batch.partition, nextOffset);
    for (const change of changes) {
      if (change.record) options.onRecord?.(change.record);
      else options.onDelete?.(change.id);
    }
    context.resolveOffset(last.offset);
    for (const message of batch.messages) options.afterMessage?.(message);
    if (options.groupId) {
      await consumer.commit([{ topic: batch.topic, partition: batch.partition, offset: nextOffset }]);
    }
  });
  return consumer;
}
