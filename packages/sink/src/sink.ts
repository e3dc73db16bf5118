import {
  type BatchContext,
  type BatchRecord,
  type Consumer,
  ControlView,
  deadLetter,
  DEFAULT_PRICE_BOOK,
  FileStore,
  HEADERS,
  type IncomingMessage,
  type Logger,
  type MessageBatch,
  MessageDecodeError,
  ORPHANS,
  type OutgoingMessage,
  type Producer,
  readJson,
  readResults,
  type Serde,
  type Store,
  storeKeys,
  type TopicNames,
  type Transport,
  type DependencyHealth,
} from '@sluice/core';
import { Registry } from 'prom-client';
import { BatchState, type SinkRetention } from './batch-state.js';
import { Bill, type BillOptions } from './bill.js';
import { createSinkMetrics, type SinkMetrics } from './metrics.js';

export interface SinkOptions {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  /** Where results, outputs and output File records are kept (shared with ingest through core's readers). */
  store: Store;
  /** How long a final batch's data is kept. */
  retention: SinkRetention;
  /** A batch's buffered results are written as a segment once they reach this size (`SLUICE_SINK_SEGMENT_BYTES`)... */
  segmentBytes: number;
  /** ...or once the oldest is this old; the results topic's offsets are committed after each flush (`SLUICE_SINK_FLUSH_MS`). */
  flushIntervalMs: number;
  /** Least time between two progress records of one batch; state changes are published at once (`SLUICE_STATUS_INTERVAL_MS`). */
  statusIntervalMs: number;
  /**
   * How long results of a batch without a seal are kept (`SLUICE_ORPHAN_TTL_S`, in ms here): then
   * they are dead-lettered and the batch forgotten, so an outside writer's batch that never gets
   * its seal (or a lost seal) does not keep its results, and a sink's state, for ever.
   */
  orphanTtlMs: number;
  /**
   * What results are priced with, for each batch's `cost_usd` and `realtime_cost_usd`: the price
   * table (SLUICE_PRICES_FILE over the shipped one) and the upstreams' `tier_factors`.
   * @defaultValue the shipped prices, no upstream's own factors
   */
  bill?: BillOptions;
  /** @defaultValue 4 */
  partitionsConcurrently?: number;
  /** @defaultValue `<results topic>.sink` */
  groupId?: string;
  /** Consumer session timeout: how soon the group gives a dead sink's partitions to another (`SLUICE_SESSION_TIMEOUT_MS`). */
  sessionTimeoutMs: number;
  logger: Logger;
  metricsRegistry?: Registry;
  /** Whether the store and the broker answer: while one is known down, failed flushes log at debug. @defaultValue none */
  health?: DependencyHealth;
}

export interface Sink {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Batches kept open (recorded item indexes, recent index pages) beyond which the least recently
 * used idle ones are closed; others are reopened from the store on demand.
 */
const MAX_OPEN_BATCHES = 256;
/** Buffered results across all batches that force a flush at once. */
const MAX_BUFFERED_SEGMENTS = 4;

/** A batch with results and no seal (`storeKeys.orphan`): since when, and where its results came from. */
interface OrphanMarker {
  batch_id: string;
  /** When the first result without a seal was read; the first mark stands across restarts. */
  since_ms: number;
  topic: string;
  partition: number;
}

/** Results of an orphan dead-lettered per send. */
const ORPHAN_LETTERS_PER_SEND = 500;

/** Items of a batch not finished yet. */
function remainingOf(record: BatchRecord): number {
  const { total, completed, failed, cancelled, expired } = record.request_counts;
  return Math.max(0, total - completed - failed - cancelled - expired);
}

export function createSink(options: SinkOptions): Sink {
  const logger = options.logger;
  const dependencyDown = () => options.health?.isDown('store') === true || options.health?.isDown('broker') === true;
  const store = options.store;
  const files = new FileStore(store);
  // Settings with a default come compiled from the config schema (@sluice/core's env.ts), the one place defaults live.
  const { segmentBytes, flushIntervalMs, statusIntervalMs } = options;
  const metrics: SinkMetrics = createSinkMetrics(options.metricsRegistry ?? new Registry());
  const groupId = options.groupId ?? `${options.topics.results}.sink`;
  const bill = new Bill(options.bill ?? { prices: DEFAULT_PRICE_BOOK });
  /**
   * Open batches, least recently used first (a Map keeps insertion order; `stateOf` re-inserts).
   * Deliberately not core's BoundedCache: that one evicts at once when full, whereas a batch here
   * may be closed only when nobody is using it and nothing of it is unwritten (buffered results, a
   * status not yet published), and closing it is asynchronous. So MAX_OPEN_BATCHES is a soft
   * bound that `evict` restores after each eachBatch; while every batch is busy or dirty it is
   * exceeded (by at most the batches in flight).
   */
  const open = new Map<string, BatchState>();
  let producer: Producer | null = null;
  let consumer: Consumer | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
  let orphanTimer: NodeJS.Timeout | null = null;
  /** One sweep of orphans at a time. */
  let sweeping: Promise<void> | null = null;
  /** Flushes run one at a time; each waits for the one before. */
  let flushing: Promise<void> = Promise.resolve();
  /**
   * Per partition, the offset to commit once everything consumed before it is durable: results
   * sit in memory until their segment is written, so commits follow flushes, never eachBatch.
   */
  const consumed = new Map<string, { topic: string; partition: number; offset: string }>();

  /** States in use by a running eachBatch (partitions run concurrently): never evicted. */
  const busy = new Map<BatchState, number>();

  /**
   * Cancels, from the control topic. A cancel for a batch this sink holds is recorded at once; a
   * batch loaded later (its seal or a result arrives, or another sink's batch moves here) looks
   * itself up when it is loaded.
   */
  const control = new ControlView({
    transport: options.transport,
    serde: options.serde,
    topics: options.topics,
    reader: 'sink',
    logger,
  });
  control.onCancel((fact) => {
    const state = open.get(fact.batch_id);
    if (!state) return;
    cancel(state, fact.requested_at).catch((error: unknown) =>
      logger.warn(
        { err: error, batchId: fact.batch_id },
        'recording a cancel failed; the batch is cancelled when it is next loaded',
      ),
    );
  });

  /** Records a cancel and publishes `cancelling` at once (once the batch is sealed); the batch is finalized `cancelled`. */
  async function cancel(state: BatchState, requestedAt: number): Promise<void> {
    if (await state.cancel(requestedAt)) await publishNow(state);
  }

  /** Publishes a state change without waiting for the progress interval. */
  async function publishNow(state: BatchState): Promise<void> {
    if (state.finalized || state.deleted) return;
    const now = Date.now();
    const record = state.record(now);
    if (!record) return;
    state.lastPublishedMs = now;
    state.changedSincePublish = false;
    await publish([record]);
  }

  async function stateOf(batchId: string): Promise<BatchState> {
    let state = open.get(batchId);
    if (state) {
      // Re-insert: the map's order is the order of use.
      open.delete(batchId);
      open.set(batchId, state);
      return state;
    }
    state = await BatchState.load(store, batchId);
    open.set(batchId, state);
    metrics.openBatches.set(open.size);
    const cancelledAt = control.cancelledAt(batchId);
    if (cancelledAt !== undefined) await cancel(state, cancelledAt);
    return state;
  }

  /** Closes the least recently used batches beyond the limit that nobody is using. */
  async function evict(): Promise<void> {
    for (const [batchId, state] of open) {
      if (open.size <= MAX_OPEN_BATCHES) break;
      if (busy.has(state) || state.results?.dirty || state.changedSincePublish) continue;
      open.delete(batchId);
      await state.close();
    }
    metrics.openBatches.set(open.size);
  }

  /**
   * Writes every batch's buffered results (segment, then index pages), then commits the offsets
   * consumed before the flush began: a result is durable in the store before its offset is
   * committed, so a crash redelivers only what was not written (and the index drops repeats).
   */
  function flushAll(): Promise<void> {
    const run = async () => {
      const commits = [...consumed.values()];
      const dirty = [...open.values()].filter((state) => state.results?.dirty);
      let failure: unknown = null;
      await Promise.all(
        dirty.map((state) =>
          (state.results as NonNullable<BatchState['results']>).flush().catch((error: unknown) => {
            failure ??= error;
          }),
        ),
      );
      if (failure) throw failure;
      const assigned = new Set((consumer?.assignment() ?? []).map((tp) => `${tp.topic}:${tp.partition}`));
      const owned = commits.filter((c) => assigned.has(`${c.topic}:${c.partition}`));
      if (owned.length > 0 && consumer) {
        await consumer.commit(owned);
        for (const c of owned) {
          const key = `${c.topic}:${c.partition}`;
          if (consumed.get(key)?.offset === c.offset) consumed.delete(key);
        }
      }
      await publishProgress(false);
    };
    const next = flushing.then(run);
    flushing = next.catch(() => undefined);
    return next;
  }

  async function publish(records: BatchRecord[]): Promise<void> {
    if (records.length === 0 || !producer) return;
    const messages: OutgoingMessage[] = [];
    for (const record of records) {
      messages.push({ key: record.id, value: await options.serde.status.encode(record) });
    }
    await producer.send(options.topics.status, messages);
  }

  /** Unfinished items per open batch, for the one aggregate gauge (no per-batch series). */
  const unfinished = new Map<string, number>();
  const sum = (values: Iterable<number>) => {
    let total = 0;
    for (const value of values) total += value;
    return total;
  };

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
      unfinished.set(state.batchId, remainingOf(record));
    }
    metrics.itemsUnfinished.set(sum(unfinished.values()));
    await publish(due);
  }

  async function finalize(state: BatchState): Promise<void> {
    const cancelledAt = control.cancelledAt(state.batchId);
    if (cancelledAt !== undefined) await state.cancel(cancelledAt);
    if (!state.finalized) {
      state.markFinalizing();
      const finalizing = state.record();
      if (finalizing) await publish([finalizing]);
    }
    const record = await state.finalize(files, options.retention);
    // Published after final.json is written: a crash in between re-publishes the same record.
    await publish([record]);
    metrics.batchesFinalized.inc({ status: record.status });
    unfinished.delete(state.batchId);
    metrics.itemsUnfinished.set(sum(unfinished.values()));
    logger.info({ batchId: record.id, status: record.status, counts: record.request_counts }, 'batch finalized');
    open.delete(state.batchId);
    await state.close();
    metrics.openBatches.set(open.size);
  }

  /**
   * Marks a batch that has a result and no seal, once per batch (`putIfAbsent`: the first mark's
   * time stands, also after a restart). Written before the result's offset can be committed, so
   * a result kept in the store always has its mark, and the sweep finds it after any restart.
   */
  async function markOrphan(state: BatchState, message: IncomingMessage): Promise<void> {
    if (state.orphanMarked) return;
    const marker: OrphanMarker = {
      batch_id: state.batchId,
      since_ms: Date.now(),
      topic: message.topic,
      partition: message.partition,
    };
    await store.putIfAbsent(storeKeys.orphan(state.batchId), JSON.stringify(marker));
    state.orphanMarked = true;
  }

  /**
   * Dead-letters the results of batches still without a seal `orphanTtlMs` after their first
   * result, on the partitions this sink owns, and forgets them (their results, state and mark).
   * A seal that comes later finds no results; the dead letters hold them, with the reason.
   */
  function sweepOrphans(): Promise<void> {
    sweeping ??= (async () => {
      const assigned = new Set((consumer?.assignment() ?? []).map((tp) => `${tp.topic}:${tp.partition}`));
      for await (const object of store.list(ORPHANS)) {
        const marker = await readJson<OrphanMarker>(store, object.key);
        if (!marker || Date.now() - marker.since_ms < options.orphanTtlMs) continue;
        if (!assigned.has(`${marker.topic}:${marker.partition}`)) continue;
        await dropOrphan(marker);
      }
    })().finally(() => (sweeping = null));
    return sweeping;
  }

  async function dropOrphan(marker: OrphanMarker): Promise<void> {
    const batchId = marker.batch_id;
    const mark = storeKeys.orphan(batchId);
    const held = open.get(batchId);
    if (held && busy.has(held)) return; // results are being added right now: the next sweep
    const state = held ?? (await BatchState.load(store, batchId));
    if (state.total !== null || state.finalized || state.deleted) {
      // Sealed since (by this process after a restart, or by another sink): the mark is stale.
      await store.delete([mark]);
      if (!held) await state.close();
      return;
    }
    // Out of the open batches first: a result of this batch that comes now starts a new mark.
    open.delete(batchId);
    metrics.openBatches.set(open.size);
    await state.results?.flush();
    const reason = `no seal for batch ${batchId} after ${Math.round(options.orphanTtlMs / 1000)} s (SLUICE_ORPHAN_TTL_S)`;
    const headers = {
      [HEADERS.type]: 'item',
      [HEADERS.dlqReason]: reason,
      [HEADERS.dlqTopic]: marker.topic,
      [HEADERS.dlqPartition]: String(marker.partition),
      [HEADERS.dlqStage]: 'sink',
    };
    let letters: OutgoingMessage[] = [];
    let count = 0;
    const send = async () => {
      if (letters.length === 0) return;
      await producer?.send(options.topics.deadLetter, letters);
      metrics.orphansDeadLettered.inc(letters.length);
      metrics.deadLettered.inc({ stage: 'sink' }, letters.length);
      count += letters.length;
      letters = [];
    };
    for await (const stored of readResults(store, batchId)) {
      letters.push({ key: batchId, value: await options.serde.results.encode(stored.record), headers });
      if (letters.length >= ORPHAN_LETTERS_PER_SEND) await send();
    }
    await send();
    // Dead-lettered before anything is deleted: a crash in between dead-letters them again (at least once).
    await BatchState.forget(store, batchId);
    await store.delete([mark]);
    await state.close();
    logger.warn(
      { batchId, results: count, sinceMs: marker.since_ms },
      'dead-lettered the results of a batch never sealed',
    );
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
      // A synchronous call's result is kept only once the call is sealed (it outlived its timeout):
      // a call answered in time leaves nothing. Dropped before decoding: ingest answered it already.
      const key = message.key;
      if (
        message.headers[HEADERS.sync] !== undefined &&
        key !== null &&
        !open.has(key) &&
        !(await BatchState.isSealed(store, key))
      ) {
        metrics.resultsIn.inc({ type: 'unsealed_sync' });
        continue;
      }
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
        if (state.finalized || state.deleted) {
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
        if (state.append(decoded, bill.chargeOf(decoded)))
          metrics.resultsWritten.inc({ outcome: decoded.ok ? 'ok' : 'failed' });
        else metrics.duplicates.inc();
        if (state.total === null) await markOrphan(state, message);
      } else {
        await state.seal(decoded);
        if (state.orphanMarked) {
          await store.delete([storeKeys.orphan(state.batchId)]);
          state.orphanMarked = false;
        }
        // A batch cancelled before its seal: `cancelling` can be published now that it is known.
        if (state.cancelling) await publishNow(state);
      }
      touched.add(state);
    }
    if (dead.length > 0) {
      metrics.deadLettered.inc({ stage: 'sink' }, dead.length);
      await producer?.send(options.topics.deadLetter, dead);
    }
    let buffered = 0;
    let full = false;
    for (const state of open.values()) {
      buffered += state.results?.bufferedBytes ?? 0;
      if ((state.results?.bufferedBytes ?? 0) >= segmentBytes) full = true;
    }
    const completing = [...touched].filter((state) => !state.finalized && !state.deleted && state.complete);
    // A full segment, too much buffered, or a batch with all its results: write now. A complete
    // batch is finalized from durable results, and synchronous calls do not wait for the timer.
    if (full || buffered >= MAX_BUFFERED_SEGMENTS * segmentBytes || completing.length > 0) await flushAll();
    for (const state of touched) {
      if (state.deleted) continue;
      if (state.finalized) await publish([state.finalized]);
      else if (state.complete) await finalize(state);
    }
    // Only now may this batch's offsets be resolved and committed: committed before the batches it
    // completed were finalized, a crash in between would leave them finalizing forever, as no
    // message of theirs would ever be consumed again. Likewise a flush or finalize that fails here
    // (a full disk) throws before the offsets move, so the consumer delivers these messages again
    // and the completion is retried; redelivered, results already buffered are dropped as duplicates
    // and a batch already final re-publishes its record.
    context.resolveOffset(last.offset);
    consumed.set(`${batch.topic}:${batch.partition}`, {
      topic: batch.topic,
      partition: batch.partition,
      offset: String(Number(last.offset) + 1),
    });
  }

  return {
    async start() {
      producer = await options.transport.producer();
      // Cancels written before this sink started are known before its first result.
      await control.start();
      consumer = options.transport.consumer({
        groupId,
        topics: [options.topics.results],
        fromBeginning: true,
        maxWaitTimeMs: 200,
        partitionsConsumedConcurrently: options.partitionsConcurrently ?? 4,
        sessionTimeoutMs: options.sessionTimeoutMs,
        heartbeatIntervalMs: Math.floor(options.sessionTimeoutMs / 10),
      });
      consumer.onAssignment((assignment) => {
        // Another sink may have written a batch while we did not own it: reload from the store.
        // What was buffered and not committed is dropped; its offsets will be consumed again.
        consumed.clear();
        for (const state of open.values()) void state.close();
        open.clear();
        logger.info({ assignment: assignment.map((tp) => `${tp.topic}:${tp.partition}`) }, 'sink assignment');
      });
      await consumer.run(eachBatch);
      flushTimer = setInterval(
        () => {
          const due = [...open.values()].some(
            (state) =>
              (state.results?.bufferedSinceMs ?? 0) > 0 &&
              Date.now() - (state.results?.bufferedSinceMs ?? 0) >= flushIntervalMs,
          );
          if (!due && consumed.size === 0 && ![...open.values()].some((state) => state.changedSincePublish)) return;
          flushAll().catch((error: unknown) => {
            // Every flush interval while the store (or broker) is down: its outage is reported once.
            logger[dependencyDown() ? 'debug' : 'warn']({ err: error }, 'flushing results failed; retrying');
          });
        },
        Math.max(10, Math.min(flushIntervalMs, statusIntervalMs)),
      );
      // A quarter of the TTL (at most a minute): an orphan is dead-lettered at most that late.
      orphanTimer = setInterval(
        () => {
          sweepOrphans().catch((error: unknown) => logger.warn({ err: error }, 'sweeping orphaned results failed'));
        },
        Math.min(60_000, Math.max(10, Math.floor(options.orphanTtlMs / 4))),
      );
      logger.info({ groupId }, 'sink started');
    },
    async stop() {
      if (flushTimer) clearInterval(flushTimer);
      if (orphanTimer) clearInterval(orphanTimer);
      await sweeping?.catch(() => undefined);
      // Flush and commit while still a member of the group; what arrives after is flushed, and
      // consumed again by the next owner (it is not committed).
      await flushAll().catch((error: unknown) => logger.warn({ err: error }, 'flushing results failed'));
      await consumer?.stop();
      await control.stop();
      await flushAll().catch((error: unknown) => logger.warn({ err: error }, 'the last flush failed'));
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
