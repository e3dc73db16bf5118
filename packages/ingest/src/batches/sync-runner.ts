import {
  type BatchSpecInput,
  BatchSpec,
  type ItemResultMessage,
  newBatchId,
  nowSeconds,
  readResults,
  type Store,
  SyncTimeoutError,
} from '@sluice/core';
import type { StatusView } from '../view/status-view.js';
import type { BatchSubmitter } from './submitter.js';

/**
 * Runs already-validated items as a hidden batch through the pipeline and waits for their
 * results, for the realtime and synchronous endpoints. Ingest never calls the upstream itself:
 * synchronous work takes the same path as batches, with the same retries and rate limits.
 *
 * Nothing of a synchronous call can be listed (no Files, hidden from batch lists), and its data
 * is deleted as soon as its answer is read. One that outlives SLUICE_SYNC_TIMEOUT_MS answers 504
 * with its id and goes on: its tenant polls it (`GET /v1/jobs/{id}` for operations,
 * `GET /v1/batches/{id}` for the realtime endpoints) and reads its results from `/output`, until
 * the sweeper deletes it SLUICE_SYNC_RETENTION_S after it finished. Its items' deadline
 * (`expires_at`) is that retention, not the timeout, so the work is not cut short.
 */
export class SyncRunner {
  constructor(
    private readonly deps: {
      submitter: BatchSubmitter;
      view: StatusView;
      store: Store;
      timeoutMs: number;
      /** Deletes a batch's data and status once its answer is read. */
      forget: (batchId: string, tenant: string) => Promise<void>;
      /** Seconds before the sweeper deletes a call nobody collected. */
      retentionSeconds: number;
    },
  ) {}

  /**
   * Runs one call: `storeInput` validates and stores its items as the batch's input (it throws to
   * refuse them) and returns their number.
   */
  async run(
    spec: Omit<BatchSpecInput, 'sync' | 'expires_at' | 'created_at' | 'in_progress_at'>,
    storeInput: (batchId: string) => Promise<number>,
  ): Promise<{ batchId: string; results: ItemResultMessage[] }> {
    const batchId = newBatchId();
    const tenant = spec.tenant ?? 'default';
    const keepSeconds = Math.ceil(this.deps.timeoutMs / 1000) + this.deps.retentionSeconds;
    // The expiry mark first: whatever happens from here on, the sweeper deletes what is left.
    await this.deps.submitter.markProvisionalExpiry(batchId, tenant, keepSeconds);
    const total = await storeInput(batchId);
    const now = nowSeconds();
    const sealed = BatchSpec.parse({
      ...spec,
      created_at: now,
      in_progress_at: now,
      expires_at: now + keepSeconds,
      sync: true,
    });
    await this.deps.submitter.submit(batchId, sealed, total);
    const final = await this.deps.view.waitForTerminal(batchId, this.deps.timeoutMs);
    if (!final) {
      throw new SyncTimeoutError(
        batchId,
        sealed.api === 'operations' ? `/v1/jobs/${batchId}` : `/v1/batches/${batchId}`,
      );
    }
    const results: ItemResultMessage[] = [];
    for await (const stored of readResults(this.deps.store, batchId)) results.push(stored.record);
    // Deleted after the answer is read, without making the caller wait; should it fail (or the
    // process stop), the expiry mark written first makes the sweeper delete it.
    void this.deps.forget(batchId, tenant).catch(() => undefined);
    return { batchId, results };
  }
}
