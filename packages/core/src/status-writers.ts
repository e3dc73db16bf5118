import type { BatchRecord, StatusWriter } from './contracts/batch.js';
import { BoundedCache } from './cache.js';

/**
 * The status topic's one rule about writers, applied by every reader: a batch's status belongs to
 * ingest while the batch is in intake and to its sink from the seal on, so once a sink record of a
 * batch has been seen, a record written by intake is stale (a hand-over race) and is dropped.
 * `previousWriter` is the writer of the latest record the reader kept for the batch, if any.
 */
export function admitStatusRecord(
  incoming: Pick<BatchRecord, 'written_by'>,
  previousWriter: StatusWriter | null | undefined,
): boolean {
  return !(incoming.written_by === 'intake' && previousWriter === 'sink');
}

/**
 * `admitStatusRecord` for a reader that keeps no records of its own (the webhook notifier, a
 * follower of the topic): remembers which batches a sink has written, in bounded memory (the
 * batches seen last; an intake record after a sink record comes soon after it, if ever).
 */
export class StatusWriterRule {
  private readonly sinkWritten: BoundedCache<true>;

  constructor(maxBatches = 100_000) {
    this.sinkWritten = new BoundedCache({ maxEntries: maxBatches });
  }

  /** Whether to take `record`; remembers a sink record. */
  admit(record: Pick<BatchRecord, 'id' | 'written_by'>): boolean {
    if (!admitStatusRecord(record, this.sinkWritten.has(record.id) ? 'sink' : null)) return false;
    if (record.written_by === 'sink') this.sinkWritten.set(record.id, true);
    return true;
  }

  /** The batch was deleted (a tombstone): a new batch may reuse nothing of it. */
  forget(batchId: string): void {
    this.sinkWritten.delete(batchId);
  }
}
