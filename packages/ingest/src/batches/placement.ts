import type { Logger, Transport } from '@sluice/core';

/** How old a backlog reading may be before it is read again from the log. */
const READING_TTL_MS = 1000;

/**
 * Chooses the requests partition for a new batch: the one with the least backlog, i.e. the
 * processor group's lag (end offset minus committed offset), plus what this ingest placed since it
 * last looked. A batch's messages all go to its one partition, in order, as with key hashing; but
 * a new batch (and every synchronous call) no longer lands behind another tenant's backlog when a
 * partition with less work exists (docs/fairness.md). Ties go to a random partition, so concurrent
 * small batches spread out. When the log cannot say, the key decides (Kafka's partitioner).
 */
export class PartitionPlacer {
  private reading: { at: number; backlog: number[] } | null = null;
  private refreshing: Promise<void> | null = null;
  private warned = false;

  constructor(
    private readonly deps: {
      transport: Transport;
      topic: string;
      groupId: string;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  /** The partition for a batch of `items` messages; undefined: let the key decide. */
  async place(items: number): Promise<number | undefined> {
    const now = (this.deps.now ?? Date.now)();
    if (!this.reading || now - this.reading.at > READING_TTL_MS) {
      this.refreshing ??= this.refresh(now).finally(() => (this.refreshing = null));
      await this.refreshing;
    }
    const backlog = this.reading?.backlog;
    if (!backlog || backlog.length === 0) return undefined;
    const least = Math.min(...backlog);
    const candidates = backlog.flatMap((value, partition) => (value === least ? [partition] : []));
    const partition = candidates[Math.floor(Math.random() * candidates.length)] as number;
    backlog[partition] = (backlog[partition] as number) + items;
    return partition;
  }

  private async refresh(now: number): Promise<void> {
    try {
      const [offsets, committed] = await Promise.all([
        this.deps.transport.offsets(this.deps.topic),
        this.deps.transport.committedOffsets(this.deps.groupId, this.deps.topic),
      ]);
      const committedAt = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
      const backlog: number[] = [];
      for (const { partition, low, high } of offsets) {
        // A partition the processor never committed on: everything still in it is backlog.
        backlog[partition] = Math.max(0, Number(high) - (committedAt.get(partition) ?? Number(low)));
      }
      // Partitions are numbered 0..n-1; a gap would be a log that is not Kafka's.
      this.reading = { at: now, backlog: backlog.length === offsets.length ? backlog : [] };
      this.warned = false;
    } catch (error) {
      if (!this.warned) {
        this.deps.logger.warn(
          { err: error },
          `reading the backlog of ${this.deps.topic} failed; new batches go by key for now`,
        );
        this.warned = true;
      }
      this.reading = { at: now, backlog: [] };
    }
  }
}
