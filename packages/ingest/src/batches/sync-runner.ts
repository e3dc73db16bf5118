import {
  type BatchSpecInput,
  BatchSpec,
  type ItemResultMessage,
  newBatchId,
  readResults,
  SluiceError,
  type Store,
  storeKeys,
} from '@sluice/core';
import type { StoredItem } from '../intake/jsonl-intake.js';
import type { StatusView } from '../view/status-view.js';
import type { BatchSubmitter } from './submitter.js';

/** A synchronous call outlived its time limit; the batch goes on and can be polled. */
export class SyncTimeoutError extends SluiceError {
  constructor(readonly batchId: string) {
    super(
      'sync_timeout',
      `The request did not finish in time; it continues as batch ${batchId} (GET /v1/batches/${batchId}).`,
    );
  }
}

/**
 * Runs already-validated items as a hidden batch through the pipeline and waits for their
 * results, for the realtime and synchronous endpoints. Ingest never calls the upstream itself:
 * synchronous work takes the same path as batches, with the same retries and rate limits.
 *
 * Nothing of a synchronous call can be listed (no Files, hidden from batch lists), and its data
 * is deleted as soon as its answer is read; one that timed out is deleted by the sweeper after
 * SLUICE_SYNC_RETENTION_S.
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

  async run(
    items: StoredItem[],
    spec: Omit<BatchSpecInput, 'sync'>,
  ): Promise<{ batchId: string; results: ItemResultMessage[] }> {
    const batchId = newBatchId();
    const tenant = spec.tenant ?? 'default';
    await this.deps.submitter.markProvisionalExpiry(
      batchId,
      tenant,
      Math.ceil(this.deps.timeoutMs / 1000) + this.deps.retentionSeconds,
    );
    await this.deps.store.put(storeKeys.input(batchId), items.map((item) => `${JSON.stringify(item)}\n`).join(''));
    await this.deps.submitter.submit(batchId, BatchSpec.parse({ ...spec, sync: true }), items.length);
    const final = await this.deps.view.waitForTerminal(batchId, this.deps.timeoutMs);
    if (!final) throw new SyncTimeoutError(batchId);
    const results: ItemResultMessage[] = [];
    for await (const stored of readResults(this.deps.store, batchId)) results.push(stored.record);
    // Deleted after the answer is read, without making the caller wait; should it fail (or the
    // process stop), the expiry mark written first makes the sweeper delete it.
    void this.deps.forget(batchId, tenant).catch(() => undefined);
    return { batchId, results };
  }
}
