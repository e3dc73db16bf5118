/**
 * Tracks the offsets of one partition that were dispatched for processing, completes them in any
 * order, and yields the contiguous low watermark: the offset to commit, below which every message
 * is finished. kafkajs' `resolveOffset` is last-write-wins, so with many messages of a partition in
 * flight it cannot say what is safe to commit; this can (the Confluent Parallel Consumer's
 * unordered mode keeps the same books).
 *
 * Offsets are dispatched in increasing order (a partition is read in order), possibly with gaps
 * (compacted or transaction-marker offsets), and kept in a ring of (offset, done) pairs.
 */
export class PartitionTracker {
  private offsets: number[] = [];
  private done: boolean[] = [];
  private head = 0;
  /** Next offset to commit when nothing is outstanding; -1 until the first dispatch. */
  private floor = -1;
  private lastDispatched = -1;
  private outstanding = 0;
  private peakOutstanding = 0;
  private committed = -1;

  /** True when `offset` was dispatched already (in flight or finished): a redelivery to skip. */
  isKnown(offset: number): boolean {
    if (this.floor !== -1 && offset < this.floor) return true;
    return offset <= this.lastDispatched && this.find(offset) !== -1;
  }

  dispatch(offset: number): void {
    if (offset <= this.lastDispatched)
      throw new Error(`offset ${offset} dispatched out of order (last ${this.lastDispatched})`);
    if (this.floor === -1) this.floor = offset;
    this.offsets.push(offset);
    this.done.push(false);
    this.lastDispatched = offset;
    this.outstanding++;
    this.peakOutstanding = Math.max(this.peakOutstanding, this.outstanding);
  }

  complete(offset: number): void {
    const at = this.find(offset);
    if (at === -1 || this.done[at]) return;
    this.done[at] = true;
    this.outstanding--;
    while (this.head < this.offsets.length && this.done[this.head]) this.head++;
    this.floor = this.head < this.offsets.length ? (this.offsets[this.head] as number) : this.lastDispatched + 1;
    // Drop the finished prefix now and then, so the arrays stay as long as the window.
    if (this.head > 1024 && this.head * 2 > this.offsets.length) {
      this.offsets = this.offsets.slice(this.head);
      this.done = this.done.slice(this.head);
      this.head = 0;
    }
  }

  /** The offset to commit (everything below it is finished), or null if nothing was dispatched. */
  watermark(): number | null {
    return this.floor === -1 ? null : this.floor;
  }

  /** The watermark if it moved since the last `markCommitted`. */
  commitCandidate(): number | null {
    const mark = this.watermark();
    return mark !== null && mark > this.committed ? mark : null;
  }

  markCommitted(offset: number): void {
    this.committed = Math.max(this.committed, offset);
  }

  /** Messages dispatched and not finished. */
  get inFlight(): number {
    return this.outstanding;
  }

  get peakInFlight(): number {
    return this.peakOutstanding;
  }

  /** Dispatched offsets not yet below the watermark (finished ones included): the uncommitted window. */
  get window(): number {
    return this.offsets.length - this.head;
  }

  private find(offset: number): number {
    let low = this.head;
    let high = this.offsets.length - 1;
    while (low <= high) {
      const mid = (low + high) >>> 1;
      const value = this.offsets[mid] as number;
      if (value === offset) return mid;
      if (value < offset) low = mid + 1;
      else high = mid - 1;
    }
    return -1;
  }
}
