import {
  type BatchContext,
  type BatchRecord,
  type Consumer,
  DataLayout,
  deadLetter,
  FileStore,
  type Logger,
  type MessageBatch,
  MessageDecodeError,
  type OutgoingMessage,
  type Producer,
  type Serde,
  type TopicNames,
  type Transport,
} from '@sluice/core';
import { Registry } from 'prom-client';
import { BatchState } from './batch-state.js';
import { createSinkMetrics, type SinkMetrics } from './metrics.js';

export interface SinkOptions {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  /** The data directory shared with ingest. */
  dataDir: string;
  /**
   * Least time between two progress records of one batch; state changes are published at once.
   * @defaultValue 500
   */
  statusIntervalMs?: number;
  /** @defaultValue 4 */
  partitionsConcurrently?: number;
  /** @defaultValue `<results topic>.sink` */
  groupId?: string;
  /** Consumer session timeout: how soon the group gives a dead sink's partitions to another. @defaultValue 30000 */
  sessionTimeoutMs?: number;
  logger: Logger;
  metricsRegistry?: Registry;
}

export interface Sink {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Batches kept open (result files, dedup set) at once; others are reopened from disk on demand. */
const MAX_OPEN_BATCHES = 256;

export function createSink(options: SinkOptions): Sink {
  const logger = options.logger;
  const layout = new DataLayout(options.dataDir);
  const files = new FileStore(layout);
  const metrics: SinkMetrics = createSinkMetrics(options.metricsRegistry ?? new Registry());
  const statusIntervalMs = options.statusIntervalMs ?? 500;
  const groupId = options.groupId ?? `${options.topics.results}.sink`;
  const open = new Map<string, BatchState>();
  let producer: Producer | null = null;
  let consumer: Consumer | null = null;
  let progressTimer: NodeJS.Timeout | null = null;
  let publishing: Promise<void> = Promise.resolve();

  /** States in use by a running eachBatch (partitions run concurrently): never evicted. */
  const busy = new Map<BatchState, number>();

  async function stateOf(batchId: string): Promise<BatchState> {
    let state = open.get(batchId);
    if (state) {
      // Re-insert: the map's order is the LRU order.
      open.delete(batchId);
      open.set(batchId, state);
      return state;
    }
    state = await BatchState.load(layout, batchId);
    open.set(batchId, state);
    metrics.openBatches.set(open.size);
    return state;
  }

  /** Closes the least recently used batches beyond the limit that nobody is using. */
  async function evict(): Promise<void> {
    for (const [batchId, state] of open) {
      if (open.size <= MAX_OPEN_BATCHES) break;
      if (busy.has(state) || state.results.dirty || state.changedSincePublish) continue;
      open.delete(batchId);
      await state.close();
    }
    metrics.openBatches.set(open.size);
  }

  async function publish(records: BatchRecord[]): Promise<void> {
    if (records.length === 0 || !producer) return;
    const messages: OutgoingMessage[] = [];
    for (const record of records) {
      messages.push({ key: record.id, value: await options.serde.status.encode(record) });
    }
    await producer.send(options.topics.status, messages);
  }

  /** Publishes progress for batches that changed, at most once per interval each. */
  async function publishProgress(force: boolean): Promise<void> {
    const now = Date.now();
    const due: BatchRecord[] = [];
    for (const state of open.values()) {
      if (!state.changedSincePublish || state.finalized) continue;
      if (!force && now - state.lastPublishedMs < statusIntervalMs) continue;
      const record = state.record(now);
      if (!record) continue;
      due.push(record);
      state.lastPublishedMs = now;
      state.changedSincePublish = false;
      metrics.batchProgress.set(
        { batch_id: state.batchId },
        record.request_counts.total === 0
          ? 1
          : (record.request_counts.completed + record.request_counts.failed) / record.request_counts.total,
      );
    }
    await publish(due);
  }

  async function finalize(state: BatchState): Promise<void> {
    if (!state.finalized) {
      state.markFinalizing();
      const finalizing = state.record();
      if (finalizing) await publish([finalizing]);
    }
    const record = await state.finalize(files);
    // Published after final.json is written: a crash in between re-publishes the same record.
    await publish([record]);
    metrics.batchesFinalized.inc({ status: record.status });
    metrics.batchProgress.remove({ batch_id: state.batchId });
    logger.info({ batchId: record.id, status: record.status, counts: record.request_counts }, 'batch finalized');
    open.delete(state.batchId);
    await state.close();
    metrics.openBatches.set(open.size);
  }

  async function eachBatch(batch: MessageBatch, context: BatchContext): Promise<void> {
    const touched = new Set<BatchState>();
    const dead: OutgoingMessage[] = [];
    try {
      await consumeBatch(batch, context, touched, dead);
    } finally {
      for (const state of touched) {
        const count = (busy.get(state) ?? 1) - 1;
        if (count <= 0) busy.delete(state);
        else busy.set(state, count);
      }
    }
    await evict();
  }

  async function consumeBatch(
    batch: MessageBatch,
    context: BatchContext,
    touched: Set<BatchState>,
    dead: OutgoingMessage[],
  ): Promise<void> {
    const last = batch.messages[batch.messages.length - 1];
    if (!last) return;
    metrics.consumerLag.set(
      { group: groupId, topic: batch.topic, partition: String(batch.partition) },
      Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1),
    );
    for (const message of batch.messages) {
      let decoded;
      try {
        decoded = await options.serde.results.decode(message);
      } catch (error) {
        if (!(error instanceof MessageDecodeError)) throw error;
        logger.warn({ reason: error.reason, offset: message.offset }, 'dead-lettering a result');
        dead.push(deadLetter(message, error.reason, 'sink'));
        continue;
      }
      metrics.resultsIn.inc({ type: decoded.type });
      const state = await stateOf(decoded.batch_id);
      if (!touched.has(state)) busy.set(state, (busy.get(state) ?? 0) + 1);
      if (decoded.type === 'item') {
        if (state.finalized) {
          metrics.duplicates.inc();
          touched.add(state); // re-publish its final record: a crash may have cut the first publish
          continue;
        }
        if (state.total !== null && decoded.index >= state.total) {
          dead.push(
            deadLetter(message, `item index ${decoded.index} is beyond the batch's total ${state.total}`, 'sink'),
          );
          touched.add(state);
          continue;
        }
        if (state.append(decoded)) metrics.resultsWritten.inc({ outcome: decoded.ok ? 'ok' : 'failed' });
        else metrics.duplicates.inc();
      } else if (decoded.type === 'seal') {
        await state.seal(decoded);
      } else {
        await state.cancel(decoded);
      }
      touched.add(state);
    }
    if (dead.length > 0) {
      metrics.deadLettered.inc({ stage: 'sink' }, dead.length);
      await producer?.send(options.topics.deadLetter, dead);
    }
    // Durable before anything is published or committed.
    for (const state of touched) await state.results.flush();
    for (const state of touched) {
      if (state.finalized) await publish([state.finalized]);
      else if (state.complete) await finalize(state);
    }
    await (publishing = publishing.then(() => publishProgress(false)));
    context.resolveOffset(last.offset);
    await consumer?.commit([
      { topic: batch.topic, partition: batch.partition, offset: String(Number(last.offset) + 1) },
    ]);
  }

  return {
    async start() {
      producer = await options.transport.producer();
      consumer = options.transport.consumer({
        groupId,
        topics: [options.topics.results],
        fromBeginning: true,
        maxWaitTimeMs: 200,
        partitionsConsumedConcurrently: options.partitionsConcurrently ?? 4,
        sessionTimeoutMs: options.sessionTimeoutMs,
        heartbeatIntervalMs: options.sessionTimeoutMs ? Math.floor(options.sessionTimeoutMs / 10) : undefined,
      });
      consumer.onAssignment((assignment) => {
        // Another sink may have written a batch while we did not own it: reload from disk.
        for (const state of open.values()) void state.close();
        open.clear();
        logger.info({ assignment: assignment.map((tp) => `${tp.topic}:${tp.partition}`) }, 'sink assignment');
      });
      await consumer.run(eachBatch);
      progressTimer = setInterval(() => {
        publishing = publishing
          .then(() => publishProgress(true))
          .catch((error: unknown) => {
            logger.warn({ err: error }, 'publishing progress failed');
          });
      }, statusIntervalMs);
      logger.info({ groupId }, 'sink started');
    },
    async stop() {
      if (progressTimer) clearInterval(progressTimer);
      await consumer?.stop();
      await publishing.catch(() => undefined);
      await publishProgress(true).catch(() => undefined);
      for (const state of open.values()) await state.close();
      open.clear();
      await producer?.disconnect();
      consumer = null;
      producer = null;
      logger.info('sink stopped');
    },
  };
}
