import {
  type BatchRecord,
  type BatchSpec,
  BoundedCache,
  HEADERS,
  type Producer,
  type Serde,
  type TopicNames,
} from '@sluice/core';

/** What the writer needs of ingest's status view: read-your-writes, and what the topic says now. */
export interface IntakeStatusView {
  apply(record: BatchRecord): Promise<void>;
  get(id: string): Promise<BatchRecord | undefined>;
}

/** Thrown when ingest would write the status of a batch the sink owns (see IntakeStatusWriter). */
export class StatusOwnedBySinkError extends Error {
  constructor(batchId: string) {
    super(`batch ${batchId} is sealed: its status records are the sink's to write, not ingest's`);
    this.name = 'StatusOwnedBySinkError';
  }
}

/**
 * Ingest's only way to write the status topic and the seal, so the status writer rule is a check
 * rather than a convention: ingest writes a batch's status while the batch is in intake
 * (validating, refused, cancelled before its seal, and the hand-over `in_progress` record written
 * just before the seal); from the seal on the sink writes it. So `publish` refuses a batch this
 * process sealed, or one the view already shows written by a sink, and every record it writes is
 * marked `written_by: intake` (readers drop such a record once they have seen a sink record of the
 * batch: core's `admitStatusRecord`).
 */
export class IntakeStatusWriter {
  /** Batches this process sealed lately (bounded: a batch is sealed once, soon after its intake). */
  private readonly sealed = new BoundedCache<true>({ maxEntries: 100_000 });

  constructor(
    private readonly deps: { producer: Producer; serde: Serde; topics: TopicNames; view: IntakeStatusView },
  ) {}

  /** Publishes a record of a batch in intake. @throws StatusOwnedBySinkError once the batch is sealed. */
  async publish(record: BatchRecord): Promise<BatchRecord> {
    if (this.sealed.has(record.id) || (await this.deps.view.get(record.id))?.written_by === 'sink') {
      throw new StatusOwnedBySinkError(record.id);
    }
    const own: BatchRecord = { ...record, written_by: 'intake' };
    await this.deps.producer.send(this.deps.topics.status, [
      { key: own.id, value: await this.deps.serde.status.encode(own) },
    ]);
    await this.deps.view.apply(own);
    return own;
  }

  /**
   * Writes the batch's seal to the results topic (key = batch id: the batch's results partition,
   * ahead of its first result). From here on the batch's status is the sink's.
   */
  async seal(batchId: string, spec: BatchSpec, total: number): Promise<void> {
    this.sealed.set(batchId, true);
    await this.deps.producer.send(this.deps.topics.results, [
      {
        key: batchId,
        value: await this.deps.serde.results.encode({ type: 'seal', batch_id: batchId, total, spec }),
        headers: { [HEADERS.type]: 'seal' },
      },
    ]);
  }
}
