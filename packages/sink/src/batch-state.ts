import {
  BatchRecord,
  BatchSpec,
  type BatchStatus,
  emptyUsage,
  errorFileId,
  type FileStore,
  type ItemResultMessage,
  newBatchRecord,
  type ResultCharge,
  outputFileId,
  putJson,
  readJson,
  ResultWriter,
  type SealMessage,
  type Store,
  storeKeys,
  writeFinalOutputs,
} from '@sluice/core';
import { publishedCost } from './bill.js';
import { ThroughputWindow } from './throughput.js';

/** The sink's own state of a batch, beside the batch's objects (no other role reads them). */
const sinkSpecKey = (batchId: string) => `${storeKeys.batchPrefix(batchId)}sink/spec.json`;
const sinkFinalKey = (batchId: string) => `${storeKeys.batchPrefix(batchId)}sink/final.json`;

/** What the sink keeps about a batch besides its results; persisted so a restart resumes it. */
interface SinkBatchFile {
  /** From the seal; null until it arrives. */
  spec: BatchSpec | null;
  total: number | null;
  /** From the control topic (ControlView); persisted so a restart finalizes the batch `cancelled` even if the view forgot it. */
  cancellingAt: number | null;
}

/** How long what a batch leaves is kept once it is final (see docs/storage.md). */
export interface SinkRetention {
  batchSeconds: number;
  syncSeconds: number;
}

/**
 * One batch as the sink sees it: its spec and size (from the seal), its results (a ResultWriter,
 * which also drops an item's repeated results), and a cancel if the control topic has one. Only the sink that owns the
 * batch's partition touches it. Everything it keeps is in the store, so any sink can take over.
 */
export class BatchState {
  private meta: SinkBatchFile;
  private finalRecord: BatchRecord | null;
  private finalizingAt: number | null = null;
  /** When the last status record was published, and whether anything changed since. */
  lastPublishedMs = 0;
  changedSincePublish = true;
  /** The batch's pace while this sink has it (see ThroughputWindow). */
  private readonly pace = new ThroughputWindow();
  /** Writes of the batch file, one after the other, so the last one written holds the latest state. */
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    readonly batchId: string,
    private readonly store: Store,
    /** Null once the batch is final or deleted: nothing more is recorded. */
    readonly results: ResultWriter | null,
    meta: SinkBatchFile,
    finalRecord: BatchRecord | null,
    /** The batch was deleted: its late results are dropped, nothing is written or published. */
    readonly deleted: boolean,
  ) {
    this.meta = meta;
    this.finalRecord = finalRecord;
  }

  static async load(store: Store, batchId: string): Promise<BatchState> {
    const empty: SinkBatchFile = { spec: null, total: null, cancellingAt: null };
    if (await store.head(storeKeys.deleted(batchId))) {
      return new BatchState(batchId, store, null, empty, null, true);
    }
    const final = await readJson<unknown>(store, sinkFinalKey(batchId));
    if (final) return new BatchState(batchId, store, null, empty, BatchRecord.parse(final), false);
    const raw = await readJson<{ spec: unknown; total: number | null; cancellingAt: number | null }>(
      store,
      sinkSpecKey(batchId),
    );
    const meta: SinkBatchFile = raw
      ? { spec: raw.spec ? BatchSpec.parse(raw.spec) : null, total: raw.total, cancellingAt: raw.cancellingAt }
      : empty;
    return new BatchState(batchId, store, await ResultWriter.open(store, batchId), meta, null, false);
  }

  /**
   * Whether a seal of the batch was recorded (by any sink, at any time): a synchronous call's
   * result is kept only then (a call answered in time is never sealed, and keeps nothing).
   */
  static async isSealed(store: Store, batchId: string): Promise<boolean> {
    const raw = await readJson<{ spec: unknown }>(store, sinkSpecKey(batchId));
    return raw !== null && raw.spec !== null;
  }

  /**
   * Deletes everything the sink keeps of a batch (its results and its own state), for a batch
   * never sealed: its results are dead-lettered, and nothing of it is finalized.
   */
  static async forget(store: Store, batchId: string): Promise<void> {
    await store.deletePrefix(storeKeys.resultsPrefix(batchId));
    await store.deletePrefix(`${storeKeys.batchPrefix(batchId)}sink/`);
  }

  /** This process has marked the batch as an orphan (results, no seal) in the store. */
  orphanMarked = false;

  get total(): number | null {
    return this.meta.total;
  }

  get finalized(): BatchRecord | null {
    return this.finalRecord;
  }

  get complete(): boolean {
    return this.meta.total !== null && this.results !== null && this.results.counts.received >= this.meta.total;
  }

  /**
   * Records a result and what it cost (see Bill) unless its index was recorded before (or the
   * batch is final or deleted).
   */
  append(result: ItemResultMessage, charge: ResultCharge | null = null): boolean {
    const added = this.results?.append(result, charge) ?? false;
    if (added) this.changedSincePublish = true;
    this.modelUsed ??= result.model;
    return added;
  }

  /**
   * The model the batch's results name, for a batch whose spec names none (domain batches, jobs
   * on the configured default): seen on the results as they come, and read again from all of them
   * when the final files are written (a sink restarted mid-batch has not seen the early ones).
   */
  private modelUsed: string | null = null;

  async seal(message: SealMessage): Promise<void> {
    if (this.meta.spec || this.deleted || this.finalRecord) return; // a redelivered seal
    this.meta = { ...this.meta, spec: message.spec, total: message.total };
    await this.save();
    this.changedSincePublish = true;
  }

  /** Records a cancel (requested at `requestedAt`, unix seconds); false when it came too late (the batch is final) or twice. */
  async cancel(requestedAt: number): Promise<boolean> {
    if (this.finalRecord || this.deleted || this.meta.cancellingAt !== null) return false;
    this.meta = { ...this.meta, cancellingAt: requestedAt };
    // Only a sealed batch's file is written: a cancel known before the seal is found again in the
    // control view when the seal comes (and an unsealed synchronous call must leave nothing).
    if (this.meta.spec) await this.save();
    this.changedSincePublish = true;
    return true;
  }

  get cancelling(): boolean {
    return this.meta.cancellingAt !== null;
  }

  private save(): Promise<void> {
    const next = this.saving.then(() => putJson(this.store, sinkSpecKey(this.batchId), this.meta));
    this.saving = next.catch(() => undefined);
    return next;
  }

  /** The batch record now, or null before the seal (the sink does not know what the batch is yet). */
  record(nowMs = Date.now()): BatchRecord | null {
    if (this.finalRecord) return this.finalRecord;
    const { spec, total, cancellingAt } = this.meta;
    if (!spec || total === null || !this.results) return null;
    const counts = this.results.counts;
    const status: BatchStatus =
      this.finalizingAt !== null ? 'finalizing' : cancellingAt !== null ? 'cancelling' : 'in_progress';
    const record = newBatchRecord(this.batchId, spec, total, 'in_progress', 'sink', nowMs);
    record.model = spec.model ?? this.modelUsed;
    record.status = status;
    record.cancelling_at = cancellingAt;
    record.finalizing_at = this.finalizingAt;
    record.request_counts = {
      total,
      completed: counts.completed,
      failed: counts.failed,
      cancelled: counts.cancelled,
      expired: counts.expired,
    };
    const finished = counts.completed + counts.failed + counts.cancelled + counts.expired;
    this.pace.observe(finished, nowMs);
    record.throughput_per_minute = roundPace(this.pace.perMinute());
    record.eta_seconds = this.pace.etaSeconds(total - finished);
    record.usage = {
      ...emptyUsage(),
      input_tokens: counts.inputTokens,
      input_tokens_details: { cached_tokens: counts.cachedTokens },
      output_tokens: counts.outputTokens,
      total_tokens: counts.inputTokens + counts.outputTokens,
      cached_items: counts.cachedItems,
    };
    record.retries = counts.retries;
    record.rate_limited = counts.rateLimited;
    const bill = this.results.bill;
    record.cost_usd = publishedCost(bill.costUsd, bill.unpricedItems);
    record.realtime_cost_usd = publishedCost(bill.realtimeCostUsd, bill.unpricedItems);
    return record;
  }

  markFinalizing(nowMs = Date.now()): void {
    this.finalizingAt = Math.floor(nowMs / 1000);
  }

  /**
   * Writes the final files, registers them as Files, and fixes the final record (stored before it
   * is published, so a restart re-publishes the same record, never another). A synchronous call's
   * batch gets no files: its caller reads the results, and nothing of it can be listed.
   */
  async finalize(files: FileStore, retention: SinkRetention, nowMs = Date.now()): Promise<BatchRecord> {
    if (this.finalRecord) return this.finalRecord;
    const base = this.record(nowMs);
    const spec = this.meta.spec;
    if (!base || !spec) throw new Error(`batch ${this.batchId} cannot be finalized before its seal`);
    const now = Math.floor(nowMs / 1000);
    const keepSeconds = spec.sync ? retention.syncSeconds : retention.batchSeconds;
    let succeeded = base.request_counts.completed;
    let failed = base.request_counts.failed;
    let cancelled = base.request_counts.cancelled;
    let expiredItems = base.request_counts.expired;
    let expired = false;
    let outputId: string | null = null;
    let errorsId: string | null = null;
    if (!spec.sync) {
      const csv = spec.result_fields ? { itemFields: spec.item_fields ?? [], resultFields: spec.result_fields } : null;
      const outputs = await writeFinalOutputs(this.store, this.batchId, spec.api, csv);
      cancelled = outputs.failedByCode.batch_cancelled ?? 0;
      expiredItems = outputs.failedByCode.batch_expired ?? 0;
      succeeded = outputs.succeeded;
      failed = outputs.failed - cancelled - expiredItems;
      base.model = spec.model ?? outputs.model ?? this.modelUsed;
      expired = expiredItems > 0;
      const outputExpiry = now + Math.min(spec.output_expires_after_seconds ?? keepSeconds, keepSeconds);
      const results = storeKeys.resultsPrefix(this.batchId);
      // Every object holding a copy of a file's lines goes with the file (docs/storage.md).
      const outputKey = outputs.keys.succeeded ?? outputs.keys.output;
      const allLines = outputs.keys.succeeded ? [outputs.keys.output, outputs.keys.index] : [];
      outputId = outputFileId(this.batchId);
      await files.register({
        id: outputId,
        tenant: spec.tenant,
        filename: `${this.batchId}_output.jsonl`,
        purpose: 'batch_output',
        key: outputKey,
        bytes: outputs.keys.succeeded ? await byteSize(this.store, outputKey) : outputs.outputBytes,
        expiresAt: outputExpiry,
        batchId: this.batchId,
        createdAt: now,
        copies: [
          results,
          ...allLines,
          ...(outputs.keys.succeeded ? [] : [outputs.keys.index]),
          ...(outputs.keys.csv ? [outputs.keys.csv] : []),
        ],
      });
      if (outputs.failed > 0) {
        errorsId = errorFileId(this.batchId);
        await files.register({
          id: errorsId,
          tenant: spec.tenant,
          filename: `${this.batchId}_errors.jsonl`,
          purpose: 'batch_output',
          key: outputs.keys.errors,
          bytes: await byteSize(this.store, outputs.keys.errors),
          expiresAt: outputExpiry,
          batchId: this.batchId,
          createdAt: now,
          copies: [results, ...allLines],
        });
      }
    }
    // An item fails `batch_cancelled` only in a cancelled batch: should the processor have read the
    // cancel before this sink did, the batch is still finalized as cancelled.
    if (this.meta.cancellingAt === null && cancelled > 0) this.meta = { ...this.meta, cancellingAt: now };
    const status: BatchStatus = this.meta.cancellingAt !== null ? 'cancelled' : expired ? 'expired' : 'completed';
    const record: BatchRecord = {
      ...base,
      status,
      output_file_id: outputId,
      error_file_id: errorsId,
      finalizing_at: base.finalizing_at ?? now,
      cancelling_at: this.meta.cancellingAt,
      completed_at: status === 'completed' ? now : null,
      cancelled_at: status === 'cancelled' ? now : null,
      expired_at: status === 'expired' ? now : null,
      request_counts: {
        total: base.request_counts.total,
        completed: succeeded,
        failed,
        cancelled,
        expired: expiredItems,
      },
      eta_seconds: 0,
      updated_at_ms: nowMs,
    };
    // When everything the batch left is deleted; ingest's sweeper acts on it.
    await putJson(this.store, storeKeys.expiry(now + keepSeconds, 'batch', this.batchId), {
      kind: 'batch',
      id: this.batchId,
      tenant: spec.tenant,
    });
    await putJson(this.store, sinkFinalKey(this.batchId), record);
    this.finalRecord = record;
    return record;
  }

  async close(): Promise<void> {
    this.results?.discard();
  }
}

async function byteSize(store: Store, key: string): Promise<number> {
  return (await store.head(key))?.bytes ?? 0;
}

/** Items per minute to one decimal: the pace is an estimate, more digits would be noise. */
function roundPace(perMinute: number | null): number | null {
  return perMinute === null ? null : Math.round(perMinute * 10) / 10;
}
