/**
 * Bounds the items a processor has in flight. `acquire` waits for a free slot (and for an extra
 * condition, such as a partition's uncommitted window being small enough), calling `heartbeat`
 * while it waits so the consumer keeps its group membership.
 */
export class WorkPool {
  private used = 0;
  private peak = 0;
  private wake: (() => void) | null = null;
  private changed: Promise<void> = this.nextChange();
  private idleWaiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  get peakInUse(): number {
    return this.peak;
  }

  /** Resolves true once a slot is taken, or false when `isRunning` turns false first. */
  async acquire(options: {
    heartbeat: () => Promise<void>;
    isRunning: () => boolean;
    ready?: () => boolean;
  }): Promise<boolean> {
    for (;;) {
      if (!options.isRunning()) return false;
      if (this.used < this.capacity && (options.ready?.() ?? true)) {
        this.used++;
        this.peak = Math.max(this.peak, this.used);
        return true;
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([this.changed, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
      await options.heartbeat();
    }
  }

  release(): void {
    this.used--;
    this.signal();
    if (this.used === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Wakes waiters to re-check their conditions (e.g. after a partition's window moved). */
  signal(): void {
    const wake = this.wake;
    this.changed = this.nextChange();
    wake?.();
  }

  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    if (this.used === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private nextChange(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }
}
