/**
 * Who a wait is for. The one scarce thing the processor hands out, an upstream call, is handed out
 * by this policy (docs/fairness.md):
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

/** A first-in first-out list with O(1) push and shift (an array with a moving head). */
class Fifo<T> {
  private items: (T | undefined)[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    // Drop the consumed prefix now and then, so the array stays as long as what waits.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}

/** A tenant's waiting batches, each a FIFO, served in turn. */
interface TenantLine<W> {
  batches: Map<string, Fifo<W>>;
  /** Batches with waiters, the one served longest ago first. */
  turn: Fifo<string>;
}

/**
 * The waiters of one resource, served by the policy of `Lane`, in O(1) per operation: interactive
 * waiters in one FIFO; batch waiters per tenant and per batch, with a rotation of tenants and, in
 * each tenant, a rotation of its batches. Serving takes the tenant at the front of the rotation and
 * its front batch, then puts both at the back: whoever was served longest ago goes next. A tenant or
 * batch is known only while it has waiters, so nothing is kept for lanes that went quiet (memory
 * does not grow with the number of tenants or batches ever seen).
 *
 * A waiter that stops waiting (its call was aborted) is `remove`d in O(1): it is marked and
 * skipped when its turn comes.
 */
export class FairQueue<W extends LaneWaiter> {
  private readonly interactive = new Fifo<W>();
  private readonly tenants = new Map<string, TenantLine<W>>();
  /** Tenants with waiters, the one served longest ago first. */
  private readonly tenantTurn = new Fifo<string>();
  private readonly removed = new WeakSet<W>();
  private count = 0;

  /** Waiters still waiting. */
  get length(): number {
    return this.count;
  }

  push(waiter: W): void {
    this.count++;
    const lane = waiter.lane;
    if (lane.interactive) {
      this.interactive.push(waiter);
      return;
    }
    let tenant = this.tenants.get(lane.tenant);
    if (!tenant) {
      tenant = { batches: new Map(), turn: new Fifo() };
      this.tenants.set(lane.tenant, tenant);
      this.tenantTurn.push(lane.tenant);
    }
    let batch = tenant.batches.get(lane.batch);
    if (!batch) {
      batch = new Fifo();
      tenant.batches.set(lane.batch, batch);
      tenant.turn.push(lane.batch);
    }
    batch.push(waiter);
  }

  /** A waiter that stopped waiting; it is skipped when its turn comes. */
  remove(waiter: W): void {
    if (this.removed.has(waiter)) return;
    this.removed.add(waiter);
    this.count--;
  }

  /** The waiter to serve next, without taking it. */
  peek(): W | undefined {
    return this.take(false);
  }

  /** Takes the waiter to serve next. */
  shift(): W | undefined {
    return this.take(true);
  }

  private take(consume: boolean): W | undefined {
    for (;;) {
      const head = this.interactive.peek();
      if (head === undefined) break;
      if (this.removed.has(head)) {
        this.interactive.shift();
        continue;
      }
      if (consume) {
        this.interactive.shift();
        this.count--;
      }
      return head;
    }
    for (;;) {
      const tenantName = this.tenantTurn.peek();
      if (tenantName === undefined) return undefined;
      const tenant = this.tenants.get(tenantName) as TenantLine<W>;
      const batchName = tenant.turn.peek();
      if (batchName === undefined) {
        this.tenantTurn.shift();
        this.tenants.delete(tenantName);
        continue;
      }
      const batch = tenant.batches.get(batchName) as Fifo<W>;
      const waiter = batch.peek();
      if (waiter === undefined || this.removed.has(waiter)) {
        if (waiter !== undefined) batch.shift();
        if (batch.length === 0) {
          tenant.turn.shift();
          tenant.batches.delete(batchName);
        }
        continue;
      }
      if (!consume) return waiter;
      batch.shift();
      this.count--;
      // Served now: the batch goes to the back of its tenant's turn, the tenant to the back of all.
      tenant.turn.shift();
      if (batch.length > 0) tenant.turn.push(batchName);
      else tenant.batches.delete(batchName);
      this.tenantTurn.shift();
      if (tenant.turn.length > 0) this.tenantTurn.push(tenantName);
      else this.tenants.delete(tenantName);
      return waiter;
    }
  }
}
