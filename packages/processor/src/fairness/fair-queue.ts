/**
 * Who a wait is for. Every scarce thing the processor hands out (its work slots, the upstream's
 * concurrency slots, the rate limiter's requests and tokens) is handed out by this policy
 * (docs/fairness.md):
 *
 * 1. interactive work (a synchronous call) before any batch work, in arrival order;
 * 2. batch work shared equally between tenants, and within a tenant between its batches: whoever
 *    was served longest ago goes next (round robin), in arrival order within one batch.
 */
export interface Lane {
  interactive: boolean;
  tenant: string;
  batch: string;
}

/** Work with no known owner: one shared batch lane. */
export const BATCH_LANE: Lane = { interactive: false, tenant: '', batch: '' };

export interface LaneWaiter {
  readonly lane: Lane;
}

/**
 * The waiters of one resource, served by the policy of `Lane`. Waiting sets are small (bounded by
 * the processor's concurrency), so choosing is a scan. The serving history of a tenant or batch is
 * kept only while it has waiters: one that comes back after a pause is served like a new one.
 */
export class FairQueue<W extends LaneWaiter> {
  private readonly waiters: W[] = [];
  /** Turn at which a tenant (`t:<tenant>`) or a batch (`b:<tenant>\0<batch>`) was last served. */
  private readonly servedAt = new Map<string, number>();
  /** Waiters per tenant and batch key, so history goes when they have none. */
  private readonly waiting = new Map<string, number>();
  private turn = 0;

  get length(): number {
    return this.waiters.length;
  }

  push(waiter: W): void {
    this.waiters.push(waiter);
    for (const key of keysOf(waiter.lane)) this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
  }

  /** Removes a waiter that stopped waiting; false when it was not queued. */
  remove(waiter: W): boolean {
    const at = this.waiters.indexOf(waiter);
    if (at === -1) return false;
    this.waiters.splice(at, 1);
    for (const key of keysOf(waiter.lane)) {
      const left = (this.waiting.get(key) ?? 1) - 1;
      if (left > 0) {
        this.waiting.set(key, left);
      } else {
        this.waiting.delete(key);
        this.servedAt.delete(key);
      }
    }
    return true;
  }

  /** The waiter to serve next among those `eligible` accepts (all by default), without removing it. */
  next(eligible: (waiter: W) => boolean = () => true): W | undefined {
    let best: W | undefined;
    let bestTenant = Infinity;
    let bestBatch = Infinity;
    for (const waiter of this.waiters) {
      if (!eligible(waiter)) continue;
      if (waiter.lane.interactive) return waiter;
      const [tenantKey, batchKey] = keysOf(waiter.lane);
      const tenant = this.servedAt.get(tenantKey) ?? -1;
      const batch = this.servedAt.get(batchKey) ?? -1;
      if (tenant < bestTenant || (tenant === bestTenant && batch < bestBatch)) {
        best = waiter;
        bestTenant = tenant;
        bestBatch = batch;
      }
    }
    return best;
  }

  /** Removes `waiter` as the one served now. */
  take(waiter: W): void {
    if (!this.remove(waiter)) return;
    this.turn++;
    for (const key of keysOf(waiter.lane)) if (this.waiting.has(key)) this.servedAt.set(key, this.turn);
  }

  /** Every waiter, in arrival order (e.g. to wake them all). */
  all(): readonly W[] {
    return this.waiters;
  }
}

function keysOf(lane: Lane): [string, string] {
  return [`t:${lane.tenant}`, `b:${lane.tenant}\u0000${lane.batch}`];
}
