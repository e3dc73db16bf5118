import { type BatchRecord, ConflictError, HEADERS, isTerminal, nowSeconds } from '@sluice/core';
import type { IngestContext } from '../context.js';

/**
 * Cancels a batch, for the batch and job routes and for an OpenAI batch cancelled while its items
 * were being produced. A batch ingest still owns (e.g. OpenAI `validating`) is cancelled by
 * `cancelOwned`, which answers undefined when the sink owns it; otherwise the sink is asked
 * through the results topic, so the cancel arrives after the batch's results so far.
 */
export async function cancelBatch(
  context: IngestContext,
  record: BatchRecord,
  cancelOwned?: (record: BatchRecord) => Promise<BatchRecord | undefined>,
): Promise<BatchRecord> {
  if (record.status === 'cancelling' || record.status === 'cancelled') return record;
  if (isTerminal(record.status)) {
    throw new ConflictError(`Batch ${record.id} is already ${record.status} and cannot be cancelled.`);
  }
  const owned = await cancelOwned?.(record);
  if (owned) return owned;
  const requestedAt = nowSeconds();
  await context.producer.send(context.topics.results, [
    {
      key: record.id,
      value: await context.serde.results.encode({ type: 'cancel', batch_id: record.id, requested_at: requestedAt }),
      headers: { [HEADERS.type]: 'cancel' },
    },
  ]);
  context.view.markCancelRequested(record.id, requestedAt);
  return (await context.view.get(record.id)) ?? record;
}
