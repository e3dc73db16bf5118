import { BATCH_LANE, FairQueue, type Lane, type LaneWaiter } from '../fairness/fair-queue.js';
import type { AdaptiveConcurrency, CallOutcome } from './concurrency.js';
import type { LearntLimits } from './learnt-limits.js';
import type { RateLimiter, Reservation } from './rate-limiter.js';

/** One call let through to the upstream; finished once, with how it went. */
export interface Admitted {
  /** The call goes out now: latency is measured from here. */
  begin(): void;
  /** Gives back the concurrency slot and settles the token reservation with what the answer used. */
  finish(outcome: CallOutcome, tokensUsed: number): void;
}

interface Waiter extends LaneWaiter {
  tokens: number;
  resolve: (admitted: Admitted) => void;
  reject: (reason: unknown) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

/**
 * The one fair queue in front of one upstream. A call waits here until every policy of the
 * upstream lets it go: the calls in flight are under the adaptive concurrency limit (and under the
 * probe cap while the rate limits are still being learnt), and the rate budget has a request and
 * the estimated tokens. Waiters are served by the fairness policy (`Lane`: interactive first, then
 * tenants and batches in turn), so what a tenant gets of the upstream does not depend on how many
 * of its items the processor has read.
 *
 * The policies keep no queues of their own (issue 21: three stacked fair queues before); they only
 * answer "may one more go, and when".
 */
export class Admission {
  private readonly queue = new FairQueue<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private timerAt = 0;
  private closed: Error | null = null;

  constructor(
    private readonly policies: {
      concurrency: AdaptiveConcurrency;
      rate: RateLimiter;
      learnt: LearntLimits;
    },
  ) {}

  get waiting(): number {
    return this.queue.length;
  }

  /** Resolves when the call may go; rejects with the signal's reason if it aborts first. */
  acquire(estimatedTokens: number, signal: AbortSignal, lane: Lane = BATCH_LANE): Promise<Admitted> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<Admitted>((resolve, reject) => {
      const waiter: Waiter = {
        lane,
        tokens: Math.max(0, estimatedTokens),
        resolve,
        reject,
        signal,
        onAbort: () => {
          this.queue.remove(waiter);
          reject(signal.reason);
        },
      };
      // The signal is the call's own (see Stopper), so this listener goes with the call.
      signal.addEventListener('abort', waiter.onAbort, { once: true });
      this.queue.push(waiter);
      this.pump();
    });
  }

  /**
   * Lets nobody through any more: every waiter and every later call is refused with `reason`. A
   * stopping processor drains only the calls already out, not the ones still queued here.
   */
  close(reason: Error): void {
    this.closed = reason;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.refuseWaiting(reason);
  }

  /**
   * Refuses every call waiting now with `reason`, and keeps taking new ones: the upstream went out
   * of rotation, and its waiters are placed again on the replicas still in it.
   */
  refuseWaiting(reason: Error): void {
    for (let waiter = this.queue.shift(); waiter; waiter = this.queue.shift()) {
      waiter.signal.removeEventListener('abort', waiter.onAbort);
      waiter.reject(reason);
    }
  }

  /** Lets through every waiter the policies allow now, in fair order; schedules a look for later otherwise. */
  pump(): void {
    if (this.closed) return;
    const { concurrency, rate, learnt } = this.policies;
    for (;;) {
      const next = this.queue.peek();
      if (!next) return;
      if (!concurrency.hasRoom || concurrency.inFlight >= learnt.callCap) return; // a release pumps again
      const wait = rate.waitMs(next.tokens);
      if (wait > 0) return this.schedule(wait);
      this.queue.shift();
      next.signal.removeEventListener('abort', next.onAbort);
      next.resolve(this.admit(rate.take(next.tokens)));
    }
  }

  private admit(reservation: Reservation): Admitted {
    const permit = this.policies.concurrency.start();
    let finished = false;
    return {
      begin: () => permit.begin(),
      finish: (outcome, tokensUsed) => {
        if (finished) return;
        finished = true;
        reservation.settle(tokensUsed);
        permit.release(outcome);
        this.pump();
      },
    };
  }

  private schedule(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.pump();
      },
      Math.max(1, Math.min(delayMs, 60_000)),
    );
  }
}
