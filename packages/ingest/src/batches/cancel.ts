import { type BatchRecord, ConflictError, HEADERS, isTerminal, nowSeconds } from '@sluice/core';
import type { IngestContext } from '../context.js';

/**
 * How long a cancel waits for the sink to confirm it (`cancelling` on the status topic). The sink
 * of a batch it holds confirms within a fraction of a second; one that has not read the batch's
 * seal yet confirms when it does, after the answer.
 */
export const CANCEL_CONFIRM_MS = 3000;

/**
 * Cancels a batch, for the batch and job routes and for an OpenAI batch cancelled while its items
 * were being produced. A batch ingest still owns (e.g. OpenAI `validating`) is cancelled by
 * `cancelOwned`, which answers undefined when the sink owns it; otherwise the cancel is written to
 * the control topic, where every processor (no more upstream calls for the batch) and the batch's
 * sink (which publishes `cancelling`, then finalizes the batch `cancelled`) read it. The answer is
 * the record the sink publishes, or, if it does not within CANCEL_CONFIRM_MS, the record as it is
 * with status `cancelling` (for this answer only: the status topic stays the sink's).
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
  await context.producer.send(context.topics.control, [
    {
      key: record.id,
      value: await context.serde.control.encode({ type: 'cancel', batch_id: record.id, requested_at: requestedAt }),
      headers: { [HEADERS.type]: 'cancel' },
    },
  ]);
  const confirmed = await context.view.waitFor(
    record.id,
    (current) => current.status === 'cancelling' || isTerminal(current.status),
    CANCEL_CONFIRM_MS,
  );
  return confirmed ?? { ...record, status: 'cancelling', cancelling_at: requestedAt, updated_at_ms: Date.now() };
}
