import {
  BatchRecord,
  BatchSpec,
  type BatchStatus,
  type CancelMessage,
  type DataLayout,
  emptyUsage,
  errorFileId,
  type FileStore,
  type ItemResultMessage,
  newBatchRecord,
  outputFileId,
  readJsonFile,
  ResultWriter,
  type SealMessage,
  writeFileAtomic,
  writeFinalOutputs,
} from '@sluice/core';

/** What the sink keeps about a batch besides its results; persisted so a restart resumes it. */
interface SinkBatchFile {
  /** From the seal; null until it arrives. */
  spec: BatchSpec | null;
  total: number | null;
  /** A cancel request may come before the seal (outside producers seal last). */
  cancellingAt: number | null;
}

/**
 * One batch as the sink sees it: its spec and size (from the seal), its results (a ResultWriter,
 * which is also the dedup set), and a cancel request if one came. Only the sink that owns the
 * batch's partition touches it.
 */
export class BatchState {
  private meta: SinkBatchFile;
  private finalRecord: BatchRecord | null;
  private finalizingAt: number | null = null;
  /** When the last status record was published, and whether anything changed since. */
  lastPublishedMs = 0;
  changedSincePublish = true;

  private constructor(
    readonly batchId: string,
    private readonly layout: DataLayout,
    readonly results: ResultWriter,
    meta: SinkBatchFile,
    finalRecord: BatchRecord | null,
  ) {
    this.meta = meta;
    this.finalRecord = finalRecord;
  }

  static async load(layout: DataLayout, batchId: string): Promise<BatchState> {
    const results = await ResultWriter.open(layout, batchId);
    const raw = await readJsonFile<{ spec: unknown; total: number | null; cancellingAt: number | null }>(
      layout.spec(batchId),
    );
    const meta: SinkBatchFile = raw
      ? { spec: raw.spec ? BatchSpec.parse(raw.spec) : null, total: raw.total, cancellingAt: raw.cancellingAt }
      : { spec: null, total: null, cancellingAt: null };
    const final = await readJsonFile<unknown>(layout.finalMarker(batchId));
    return new BatchState(batchId, layout, results, meta, final ? BatchRecord.parse(final) : null);
  }

  get total(): number | null {
    return this.meta.total;
  }

  get finalized(): BatchRecord | null {
    return this.finalRecord;
  }

  get complete(): boolean {
    return this.meta.total !== null && this.results.counts.received >= this.meta.total;
  }

  /** Records a result unless its index was recorded before. */
  append(result: ItemResultMessage): boolean {
    const added = this.results.append(result);
    if (added) this.changedSincePublish = true;
    return added;
  }

  async seal(message: SealMessage): Promise<void> {
    if (this.meta.spec) return; // a redelivered seal
    this.meta = { ...this.meta, spec: message.spec, total: message.total };
    await writeFileAtomic(this.layout.spec(this.batchId), JSON.stringify(this.meta));
    this.changedSincePublish = true;
  }

  /** Records a cancel request; returns false when it came too late (the batch is final) or twice. */
  async cancel(message: CancelMessage): Promise<boolean> {
    if (this.finalRecord || this.meta.cancellingAt !== null) return false;
    this.meta = { ...this.meta, cancellingAt: message.requested_at };
    await writeFileAtomic(this.layout.spec(this.batchId), JSON.stringify(this.meta));
    this.changedSincePublish = true;
    return true;
  }

  /** The batch record now, or null before the seal (the sink does not know what the batch is yet). */
  record(nowMs = Date.now()): BatchRecord | null {
    if (this.finalRecord) return this.finalRecord;
    const { spec, total, cancellingAt } = this.meta;
    if (!spec || total === null) return null;
    const counts = this.results.counts;
    const status: BatchStatus =
      this.finalizingAt !== null ? 'finalizing' : cancellingAt !== null ? 'cancelling' : 'in_progress';
    const record = newBatchRecord(this.batchId, spec, total, 'in_progress', nowMs);
    record.status = status;
    record.cancelling_at = cancellingAt;
    record.finalizing_at = this.finalizingAt;
    record.request_counts = { total, completed: counts.completed, failed: counts.failed };
    record.usage = {
      ...emptyUsage(),
      input_tokens: counts.inputTokens,
      output_tokens: counts.outputTokens,
      total_tokens: counts.inputTokens + counts.outputTokens,
    };
    return record;
  }

  markFinalizing(nowMs = Date.now()): void {
    this.finalizingAt = Math.floor(nowMs / 1000);
  }

  /**
   * Writes the final files, registers them as Files, and fixes the final record (written to
   * final.json before it is published, so a restart re-publishes the same record, never another).
   */
  async finalize(files: FileStore, nowMs = Date.now()): Promise<BatchRecord> {
    if (this.finalRecord) return this.finalRecord;
    const base = this.record(nowMs);
    const spec = this.meta.spec;
    if (!base || !spec) throw new Error(`batch ${this.batchId} cannot be finalized before its seal`);
    const csv = spec.result_fields ? { itemFields: spec.item_fields ?? [], resultFields: spec.result_fields } : null;
    const outputs = await writeFinalOutputs(this.layout, this.batchId, spec.api, csv);
    const now = Math.floor(nowMs / 1000);
    const expiresAt = spec.output_expires_after_seconds ? now + spec.output_expires_after_seconds : null;
    const outputId = outputFileId(this.batchId);
    await files.register({
      id: outputId,
      tenant: spec.tenant,
      filename: `${this.batchId}_output.jsonl`,
      purpose: 'batch_output',
      path: spec.api === 'openai' ? this.layout.succeeded(this.batchId) : this.layout.output(this.batchId),
      expiresAt,
      batchId: this.batchId,
      createdAt: now,
    });
    let errorsId: string | null = null;
    if (outputs.failed > 0) {
      errorsId = errorFileId(this.batchId);
      await files.register({
        id: errorsId,
        tenant: spec.tenant,
        filename: `${this.batchId}_errors.jsonl`,
        purpose: 'batch_output',
        path: this.layout.errors(this.batchId),
        expiresAt,
        batchId: this.batchId,
        createdAt: now,
      });
    }
    const expired = (outputs.failedByCode.batch_expired ?? 0) > 0;
    const status: BatchStatus = this.meta.cancellingAt !== null ? 'cancelled' : expired ? 'expired' : 'completed';
    const record: BatchRecord = {
      ...base,
      status,
      output_file_id: outputId,
      error_file_id: errorsId,
      finalizing_at: base.finalizing_at ?? now,
      completed_at: status === 'completed' ? now : null,
      cancelled_at: status === 'cancelled' ? now : null,
      expired_at: status === 'expired' ? now : null,
      request_counts: { total: base.request_counts.total, completed: outputs.succeeded, failed: outputs.failed },
      updated_at_ms: nowMs,
    };
    await writeFileAtomic(this.layout.finalMarker(this.batchId), JSON.stringify(record));
    this.finalRecord = record;
    return record;
  }

  async close(): Promise<void> {
    await this.results.close();
  }
}
