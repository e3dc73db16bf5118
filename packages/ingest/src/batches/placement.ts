import type { Logger, Transport } from '@sluice/core';

/** How old a backlog reading may be before it is read again from the log. */
const READING_TTL_MS = 1000;

/** What the placer knows of one partition. */
export interface PartitionState {
  /** Messages written and not yet committed by the processor group (as last read, plus placed since). */
  backlog: number;
  /** The processor group's committed offset, as last read. */
  committed: number;
  /** The partition's end offset, as last read, plus what this ingest placed since. */
  end: number;
}

/**
 * The placement policy, apart from the log: the partition for a new batch of `tenant`.
 *
 * - A partition is **taken by** a tenant while the processor has not committed past the last
 *   message placed there for that tenant (`until`).
 * - A tenant may take at most `partitions - 1` partitions: a tenant whose backlog already takes
 *   that many queues its new batch behind its own work (on the least backlogged of its partitions),
 *   so every other tenant always finds at least one partition free of its backlog.
 * - Otherwise the partition with the least backlog, ties broken by `random`.
 */
export function choosePartition(
  partitions: readonly PartitionState[],
  until: ReadonlyMap<number, number> | undefined,
  random: () => number = Math.random,
): number {
  const taken = partitions.flatMap((state, partition) =>
    (until?.get(partition) ?? -1) > state.committed ? [partition] : [],
  );
  const candidates =
    partitions.length > 1 && taken.length >= partitions.length - 1
      ? taken
      : partitions.map((_, partition) => partition);
  const least = Math.min(...candidates.map((partition) => (partitions[partition] as PartitionState).backlog));
  const best = candidates.filter((partition) => (partitions[partition] as PartitionState).backlog === least);
  return best[Math.floor(random() * best.length)] as number;
}

/**
 * Chooses the partition of a topic for a new batch by `choosePartition`: the processor group's
 * lag (end offset minus committed offset) read from the log at most once a second, plus what this
 * ingest placed since it last looked. A batch's messages all go to its one partition, in order, as
 * with key hashing; but a new batch no longer lands behind another tenant's backlog when a
 * partition without one exists, and one tenant's many batches cannot take every partition
 * (docs/fairness.md). When the log cannot say, the key decides (Kafka's partitioner).
 */
export class PartitionPlacer {
  private reading: { at: number; partitions: PartitionState[] } | null = null;
  private refreshing: Promise<void> | null = null;
  private warned = false;
  /** Per tenant: partition → the end offset of the last batch placed there for it. */
  private readonly until = new Map<string, Map<number, number>>();

  constructor(
    private readonly deps: {
      transport: Transport;
      topic: string;
      groupId: string;
      logger: Logger;
      now?: () => number;
    },
  ) {}

  /** The partition for a batch of `items` messages of `tenant`; undefined: let the key decide. */
  async place(items: number, tenant: string): Promise<number | undefined> {
    const now = (this.deps.now ?? Date.now)();
    if (!this.reading || now - this.reading.at > READING_TTL_MS) {
      this.refreshing ??= this.refresh(now).finally(() => (this.refreshing = null));
      await this.refreshing;
    }
    const partitions = this.reading?.partitions;
    if (!partitions || partitions.length === 0) return undefined;
    const partition = choosePartition(partitions, this.until.get(tenant));
    const state = partitions[partition] as PartitionState;
    state.backlog += items;
    state.end += items;
    let own = this.until.get(tenant);
    if (!own) this.until.set(tenant, (own = new Map()));
    own.set(partition, state.end);
    return partition;
  }

  private async refresh(now: number): Promise<void> {
    try {
      const [offsets, committed] = await Promise.all([
        this.deps.transport.offsets(this.deps.topic),
        this.deps.transport.committedOffsets(this.deps.groupId, this.deps.topic),
      ]);
      const committedAt = new Map(committed.map((c) => [c.partition, Number(c.offset)]));
      const partitions: PartitionState[] = [];
      for (const { partition, low, high } of offsets) {
        // A partition the processor never committed on: everything still in it is backlog.
        const done = committedAt.get(partition) ?? Number(low);
        partitions[partition] = { backlog: Math.max(0, Number(high) - done), committed: done, end: Number(high) };
      }
      // Partitions are numbered 0..n-1; a gap would be a log that is not Kafka's.
      this.reading = { at: now, partitions: partitions.length === offsets.length ? partitions : [] };
      this.forgetFinished(partitions);
      this.warned = false;
    } catch (error) {
      if (!this.warned) {
        this.deps.logger.warn(
          { err: error },
          `reading the backlog of ${this.deps.topic} failed; new batches go by key for now`,
        );
        this.warned = true;
      }
      this.reading = { at: now, partitions: [] };
    }
  }

  /** Drops what the processor has committed past, so the map holds only tenants with a backlog. */
  private forgetFinished(partitions: PartitionState[]): void {
    for (const [tenant, own] of this.until) {
      for (const [partition, end] of own) {
        const state = partitions[partition];
        if (!state || state.committed >= end) own.delete(partition);
      }
      if (own.size === 0) this.until.delete(tenant);
    }
  }
}
