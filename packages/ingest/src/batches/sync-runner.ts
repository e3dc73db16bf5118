import { createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import {
  type BatchSpecInput,
  BatchSpec,
  type DataLayout,
  type ItemResultMessage,
  newBatchId,
  readResults,
  SluiceError,
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
 */
export class SyncRunner {
  constructor(
    private readonly deps: { submitter: BatchSubmitter; view: StatusView; layout: DataLayout; timeoutMs: number },
  ) {}

  async run(
    items: StoredItem[],
    spec: Omit<BatchSpecInput, 'sync'>,
  ): Promise<{ batchId: string; results: ItemResultMessage[] }> {
    const batchId = newBatchId();
    const input = await this.deps.submitter.prepare(batchId);
    const out = createWriteStream(input);
    for (const item of items) out.write(`${JSON.stringify(item)}\n`);
    out.end();
    await finished(out);
    await this.deps.submitter.submit(batchId, BatchSpec.parse({ ...spec, sync: true }), items.length);
    const final = await this.deps.view.waitForTerminal(batchId, this.deps.timeoutMs);
    if (!final) throw new SyncTimeoutError(batchId);
    const results: ItemResultMessage[] = [];
    for await (const stored of readResults(this.deps.layout, batchId)) results.push(stored.record);
    return { batchId, results };
  }
}
