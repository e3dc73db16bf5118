import {
  type BatchSpecInput,
  BatchSpec,
  HEADERS,
  type ItemResultMessage,
  type Logger,
  newBatchId,
  newBatchRecord,
  nowSeconds,
  type OutgoingMessage,
  type Producer,
  type Serde,
  SyncTimeoutError,
  type TopicNames,
} from '@sluice/core';
import type { StoredItem } from '../intake/jsonl-intake.js';
import type { IngestMetrics } from '../metrics.js';
import type { PartitionPlacer } from './placement.js';
import type { BatchSubmitter } from './submitter.js';
import type { SyncResultsFollower, SyncWaiter } from './sync-results.js';

/**
 * Longest a timed-out call waits for its own seal to come back through the results topic (then the
 * results read before it are produced again after it); past it the call is left to the sweeper.
 */
const HAND_OVER_MS = 120_000;

/**
 * Runs a synchronous call (the realtime and synchronous endpoints) through the pipeline on two
 * topics only: its items, validated in memory, go to the interactive topic marked synchronous
 * (`sluice-sync`), and its results are read back off the results topic by this process's
 * SyncResultsFollower. Ingest never calls the upstream itself: a call takes the same path as a
 * batch's items, with the same retries and rate limits. A call answered in time writes nothing to
 * the store and nothing to the status topic (the sink drops a synchronous result it has no seal for).
 *
 * A call that outlives SLUICE_SYNC_TIMEOUT_MS answers 504 with its id and goes on as a hidden
 * batch: ingest writes its expiry mark, its hand-over status record and its seal (spec `sync:
 * true`) to the results topic, and once it reads that seal back it produces again every result of
 * the call it read before it (the sink dropped those; it drops repeats by index). Its tenant polls
 * it (`GET /v1/jobs/{id}` for operations, `GET /v1/batches/{id}` for the realtime endpoints) and
 * reads its results from `/output`, until the sweeper deletes it SLUICE_SYNC_RETENTION_S after it
 * finished. Its items' deadline (`expires_at`) is that retention, not the timeout, so the work is
 * not cut short.
 */
export class SyncRunner {
  constructor(
    private readonly deps: {
      producer: Producer;
      serde: Serde;
      topics: TopicNames;
      /** For the expiry mark, the hand-over record and the seal of a call that times out. */
      submitter: BatchSubmitter;
      results: SyncResultsFollower;
      /** Chooses each call's partition of the interactive topic (null: the key decides). */
      placer: PartitionPlacer | null;
      timeoutMs: number;
      /** Seconds before the sweeper deletes a call nobody collected. */
      retentionSeconds: number;
      logger: Logger;
      counters: IngestMetrics;
    },
  ) {}

  /**
   * Runs one call: `validate` checks its items in memory (it throws to refuse them) and returns
   * them.
   */
  async run(
    spec: Omit<BatchSpecInput, 'sync' | 'tier' | 'expires_at' | 'created_at' | 'in_progress_at'>,
    validate: (batchId: string) => Promise<StoredItem[]>,
  ): Promise<{ batchId: string; results: ItemResultMessage[] }> {
    const batchId = newBatchId();
    const items = await validate(batchId);
    const now = nowSeconds();
    const keepSeconds = Math.ceil(this.deps.timeoutMs / 1000) + this.deps.retentionSeconds;
    const sealed = BatchSpec.parse({
      ...spec,
      created_at: now,
      in_progress_at: now,
      expires_at: now + keepSeconds,
      sync: true,
      tier: 'realtime',
    });
    this.deps.counters.batches.inc({ api: sealed.api, outcome: 'accepted' });
    // Waiting before producing: no result can come before the reader looks for it.
    const waiter = this.deps.results.wait(batchId, items.length);
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      this.produce(batchId, sealed, items).then(() => waiter.complete.then(() => true)),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.deps.timeoutMs))),
    ]).catch((error: unknown) => {
      this.deps.results.forget(batchId);
      throw error;
    });
    clearTimeout(timer);
    if (inTime) {
      this.deps.results.forget(batchId);
      return { batchId, results: waiter.ordered() };
    }
    await this.handOver(batchId, sealed, items.length, waiter);
    throw new SyncTimeoutError(batchId, sealed.api === 'operations' ? `/v1/jobs/${batchId}` : `/v1/batches/${batchId}`);
  }

  private async produce(batchId: string, spec: BatchSpec, items: StoredItem[]): Promise<void> {
    const { serde, topics, producer } = this.deps;
    const partition = (await this.deps.placer?.place(items.length, spec.tenant)) ?? undefined;
    const headers = {
      [HEADERS.type]: 'item',
      [HEADERS.tenant]: spec.tenant,
      [HEADERS.priority]: 'interactive',
      [HEADERS.sync]: 'true',
    };
    const messages: OutgoingMessage[] = [];
    for (const [index, item] of items.entries()) {
      const value = await serde.interactive.encode({
        type: 'item',
        batch_id: batchId,
        index,
        custom_id: item.custom_id,
        api: spec.api,
        discriminator: item.discriminator,
        body: item.body,
        expires_at: spec.expires_at,
        tenant: spec.tenant,
        dedup: spec.dedup,
        // A synchronous call is always answered by the ordinary endpoint.
        tier: spec.tier,
        timeout_ms: null,
      });
      messages.push({ key: batchId, value, headers, partition });
    }
    await producer.send(topics.interactive, messages);
    this.deps.counters.itemsProduced.inc(messages.length);
  }

  /**
   * Turns a call that timed out into a hidden batch the sink keeps: the expiry mark (whatever
   * happens next, the sweeper deletes what is left), the hand-over record (the caller's first poll
   * finds it), the seal; then, in the background, the results read before the seal again.
   */
  private async handOver(batchId: string, spec: BatchSpec, total: number, waiter: SyncWaiter): Promise<void> {
    const { submitter, logger } = this.deps;
    let sealSeen: () => void = () => undefined;
    const sealRead = new Promise<void>((resolve) => (sealSeen = resolve));
    waiter.whenSealed(() => sealSeen());
    try {
      await submitter.markProvisionalExpiry(batchId, spec.tenant, this.deps.retentionSeconds);
      await submitter.publishStatus(newBatchRecord(batchId, spec, total, 'in_progress', 'intake'));
      await submitter.status.seal(batchId, spec, total);
    } catch (error) {
      this.deps.results.forget(batchId);
      throw error;
    }
    let timer: NodeJS.Timeout | undefined;
    const read = Promise.race([
      sealRead.then(() => true),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), HAND_OVER_MS))),
    ]);
    void read
      .then(async (seen) => {
        clearTimeout(timer);
        this.deps.results.forget(batchId);
        if (!seen) {
          logger.warn({ batchId }, 'a timed-out synchronous call never read its own seal back; the sweeper deletes it');
          return;
        }
        // Every result before the seal in the partition has been read by now (one partition, in order).
        const before = waiter.ordered();
        if (before.length === 0) return;
        const messages: OutgoingMessage[] = [];
        for (const result of before) {
          messages.push({
            key: batchId,
            value: await this.deps.serde.results.encode(result),
            headers: { [HEADERS.type]: 'item' },
          });
        }
        await this.deps.producer.send(this.deps.topics.results, messages);
      })
      .catch((error: unknown) =>
        logger.error({ err: error, batchId }, 'handing a timed-out synchronous call over failed'),
      );
  }
}
