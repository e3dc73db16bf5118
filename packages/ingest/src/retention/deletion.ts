import { errorFileId, nowSeconds, outputFileId, putJson, storeKeys } from '@sluice/core';
import type { IngestContext } from '../context.js';

/**
 * How long the mark of a deleted batch stays: longer than the results topic keeps messages (7
 * days by default), so a result redelivered late is dropped by the sink instead of bringing the
 * batch's data back. The mark holds no content.
 */
export const DELETED_MARK_SECONDS = 8 * 24 * 60 * 60;

/** What deleting a batch touches: named, not the whole IngestContext. */
export type BatchDeletionDeps = Pick<IngestContext, 'store' | 'files' | 'submitter' | 'producer' | 'topics' | 'view'>;

/**
 * Deletes everything a batch left: its input copy, results, outputs and error file (bytes and
 * File records), then tombstones its status record and its control facts. The batch is marked deleted first, so the
 * sink drops any late result for it; each step can be repeated, so a failure part-way is mended
 * by deleting again (or by the sweeper).
 */
export async function deleteBatch(deps: BatchDeletionDeps, batchId: string, tenant: string): Promise<void> {
  const { store } = deps;
  await putJson(store, storeKeys.expiry(nowSeconds() + DELETED_MARK_SECONDS, 'deleted', batchId), {
    kind: 'deleted',
    id: batchId,
    tenant,
  });
  await store.put(storeKeys.deleted(batchId), '');
  await store.deletePrefix(storeKeys.batchPrefix(batchId));
  for (const id of [outputFileId(batchId), errorFileId(batchId)]) {
    const record = await deps.files.get(tenant, id);
    if (record) await deps.files.delete(record);
  }
  await deps.submitter.release(batchId);
  // A null value on the compacted topics: Kafka drops the key at the next compaction, and every
  // ControlView forgets a cancel of the batch.
  await deps.producer.send(deps.topics.status, [{ key: batchId, value: null }]);
  await deps.producer.send(deps.topics.control, [{ key: batchId, value: null }]);
  await deps.view.remove(batchId);
}
