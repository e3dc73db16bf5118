import { BATCH_LANE, FairQueue, type Lane, type LaneWaiter } from '../fairness/fair-queue.js';

interface SlotWaiter extends LaneWaiter {
  ready: () => boolean;
  granted: boolean;
  wake: (() => void) | null;
}

/**
 * Bounds the items a processor has in flight. `acquire` waits for a free slot (and for an extra
 * condition, such as a partition's uncommitted window being small enough), calling `heartbeat`
 * while it waits so the consumer keeps its group membership. Free slots go by the fairness policy
 * (`Lane`): interactive items first, then the waiting lanes in turn, so one partition's backlog
 * cannot hold every slot while another partition waits.
 */
export class WorkPool {
  private used = 0;
  private peak = 0;
  private readonly queue = new FairQueue<SlotWaiter>();
  private idleWaiters: (() => void)[] = [];

  constructor(readonly capacity: number) {}

  get inUse(): number {
    return this.used;
  }

  get peakInUse(): number {
    return this.peak;
  }

  /** Resolves true once a slot is taken, or false when `isRunning` turns false or `deadline` (epoch ms) passes first. */
  async acquire(options: {
    heartbeat: () => Promise<void>;
    isRunning: () => boolean;
    ready?: () => boolean;
    lane?: Lane;
    deadline?: number;
  }): Promise<boolean> {
    const deadline = options.deadline ?? Infinity;
    if (!options.isRunning()) return false;
    const waiter: SlotWaiter = {
      lane: options.lane ?? BATCH_LANE,
      ready: options.ready ?? (() => true),
      granted: false,
      wake: null,
    };
    this.queue.push(waiter);
    let handedOver = false;
    try {
      for (;;) {
        this.grant();
        if (!options.isRunning()) return false;
        if (waiter.granted) return (handedOver = true);
        const left = deadline - Date.now();
        if (left <= 0) return false;
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          waiter.wake = resolve;
          // Conditions such as a partition's window change without a release: look again each second.
          timer = setTimeout(resolve, Math.min(1000, left));
        });
        clearTimeout(timer);
        waiter.wake = null;
        if (waiter.granted && options.isRunning()) return (handedOver = true);
        await options.heartbeat();
      }
    } finally {
      if (!handedOver) {
        if (waiter.granted) this.release();
        else this.queue.remove(waiter);
      }
    }
  }

  release(): void {
    this.used--;
    this.grant();
    if (this.used === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  /** Wakes every waiter to re-check its conditions (e.g. the role is stopping). */
  signal(): void {
    this.grant();
    for (const waiter of this.queue.all()) waiter.wake?.();
  }

  /** Resolves when nothing is in flight. */
  idle(): Promise<void> {
    if (this.used === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Hands free slots to the waiters the policy picks among those ready. */
  private grant(): void {
    while (this.used < this.capacity) {
      const next = this.queue.next((waiter) => waiter.ready());
      if (!next) return;
      this.queue.take(next);
      this.used++;
      this.peak = Math.max(this.peak, this.used);
      next.granted = true;
      next.wake?.();
    }
  }
}
