import { BATCH_LANE, FairQueue, type Lane, type LaneWaiter } from '../fairness/fair-queue.js';

export interface RateLimiterOptions {
  /** 0 = unlimited. */
  requestsPerMinute: number;
  /** 0 = unlimited. */
  tokensPerMinute: number;
  /**
   * Share of the limit kept in reserve. Together with a half-second burst it keeps any 60-second
   * window under the limit (0.5 s + 99% of 60 s < 60 s), so a sliding-window upstream is touched,
   * not tripped. Default 0.01.
   */
  headroom?: number;
  now?: () => number;
}

export interface Reservation {
  /** Corrects the token reservation with the usage the upstream reported. */
  settle(actualTokens: number): void;
}

interface Waiter extends LaneWaiter {
  tokens: number;
  resolve: (reservation: Reservation) => void;
  reject: (error: unknown) => void;
  signal: AbortSignal | undefined;
}

class Bucket {
  level: number;
  private last: number;

  constructor(
    readonly perMinute: number,
    private readonly now: () => number,
  ) {
    this.level = this.capacity;
    this.last = now();
  }

  /** Half a second's worth, at least one request's. */
  get capacity(): number {
    return Math.max(1, this.perMinute / 120);
  }

  refill(ratePerMs: number): void {
    const now = this.now();
    this.level = Math.min(this.capacity, this.level + (now - this.last) * ratePerMs);
    this.last = now;
  }
}

/**
 * A requests-per-minute and tokens-per-minute limiter for one upstream: two token buckets
 * refilled continuously. Tokens are reserved from an estimate (prompt + max tokens) and settled
 * with the reported usage. A 429 blocks every caller until the upstream's retry-after and lowers
 * the rate by 10% (multiplicative decrease); quiet time raises it back 2% per second (additive
 * increase), so consumption pauses instead of piling up retries. Waiters are served by the
 * fairness policy (interactive first, then equal shares per tenant and batch; see `Lane`).
 */
export class RateLimiter {
  private requests: Bucket | null;
  private tokens: Bucket | null;
  private readonly headroom: number;
  private readonly now: () => number;
  private readonly queue = new FairQueue<Waiter>();
  private timer: NodeJS.Timeout | null = null;
  private blockedUntil = 0;
  /** Multiplier on the configured rate, lowered on 429s. */
  private factor = 1;
  private lastThrottleAt = 0;
  private lastRecoveryAt = 0;

  constructor(options: RateLimiterOptions) {
    this.now = options.now ?? Date.now;
    this.headroom = options.headroom ?? 0.01;
    this.requests = options.requestsPerMinute > 0 ? new Bucket(options.requestsPerMinute, this.now) : null;
    this.tokens = options.tokensPerMinute > 0 ? new Bucket(options.tokensPerMinute, this.now) : null;
  }

  get enabled(): boolean {
    return this.requests !== null || this.tokens !== null;
  }

  /** Current share of the configured rate in use (1 = full). */
  get rateFactor(): number {
    return this.factor;
  }

  get waiting(): number {
    return this.queue.length;
  }

  acquire(estimatedTokens: number, signal?: AbortSignal, lane: Lane = BATCH_LANE): Promise<Reservation> {
    // Without limits there is nothing to reserve, but a 429's retry-after still holds everyone.
    if (!this.enabled && this.queue.length === 0 && this.now() >= this.blockedUntil) {
      return Promise.resolve({ settle: () => undefined });
    }
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<Reservation>((resolve, reject) => {
      const waiter: Waiter = { tokens: Math.max(0, estimatedTokens), resolve, reject, signal, lane };
      this.queue.push(waiter);
      // Leave the queue the moment the caller stops waiting, not when the waiter reaches its head.
      signal?.addEventListener(
        'abort',
        () => {
          if (this.queue.remove(waiter)) reject(signal.reason);
        },
        { once: true },
      );
      this.pump();
    });
  }

  /**
   * Replaces the per-minute limits (0 = none) given, e.g. with the ones learnt from the upstream's
   * `x-ratelimit-limit-*` headers; a new bucket starts full, as a fresh limiter does.
   */
  setLimits(limits: { requestsPerMinute?: number; tokensPerMinute?: number }): void {
    const bucket = (perMinute: number) => (perMinute > 0 ? new Bucket(perMinute, this.now) : null);
    if (limits.requestsPerMinute !== undefined) this.requests = bucket(limits.requestsPerMinute);
    if (limits.tokensPerMinute !== undefined) this.tokens = bucket(limits.tokensPerMinute);
    this.pump();
  }

  /** Holds every caller until `untilMs` (epoch ms of `now`) without slowing down: a budget is spent until then. */
  holdUntil(untilMs: number): void {
    const now = this.now();
    if (untilMs <= this.blockedUntil || untilMs <= now) return;
    this.blockedUntil = untilMs;
    this.schedule(untilMs - now);
  }

  /** The upstream answered 429: stop everyone until `retryAfterMs` and slow down. */
  onRateLimited(retryAfterMs: number | null): void {
    const now = this.now();
    this.blockedUntil = Math.max(this.blockedUntil, now + (retryAfterMs ?? 1000));
    // One decrease per second at most: a burst of 429s from one moment is one signal.
    if (now - this.lastThrottleAt > 1000) {
      this.factor = Math.max(0.2, this.factor * 0.9);
      this.lastThrottleAt = now;
      this.lastRecoveryAt = now;
    }
    this.schedule(this.blockedUntil - now);
  }

  private rate(bucket: Bucket): number {
    return ((bucket.perMinute * (1 - this.headroom)) / 60_000) * this.factor;
  }

  private pump(): void {
    const now = this.now();
    if (this.factor < 1) {
      // Additive increase, 2% of the rate per quiet second: an isolated 429 costs a few seconds
      // at 90%, while an upstream whose real limit is lower keeps pushing the rate back down.
      this.factor = Math.min(1, this.factor + (0.02 * (now - this.lastRecoveryAt)) / 1000);
      this.lastRecoveryAt = now;
    }
    for (;;) {
      const waiter = this.queue.next();
      if (!waiter) return;
      if (waiter.signal?.aborted) {
        this.queue.remove(waiter);
        waiter.reject(waiter.signal.reason);
        continue;
      }
      if (now < this.blockedUntil) return this.schedule(this.blockedUntil - now);
      this.requests?.refill(this.rate(this.requests));
      this.tokens?.refill(this.rate(this.tokens));
      const wait = Math.max(this.shortfall(this.requests, 1), this.shortfall(this.tokens, waiter.tokens));
      if (wait > 0) return this.schedule(wait);
      this.queue.take(waiter);
      if (this.requests) this.requests.level -= 1;
      if (this.tokens) this.tokens.level -= waiter.tokens;
      const reserved = waiter.tokens;
      const tokens = this.tokens;
      let settled = false;
      waiter.resolve({
        settle: (actual: number) => {
          if (settled || !tokens) return;
          settled = true;
          tokens.level += reserved - actual;
        },
      });
    }
  }

  /** Milliseconds until `bucket` can give `amount` (a request larger than the bucket waits for a full bucket). */
  private shortfall(bucket: Bucket | null, amount: number): number {
    if (!bucket) return 0;
    const needed = Math.min(amount, bucket.capacity);
    if (bucket.level >= needed) return 0;
    return Math.ceil((needed - bucket.level) / this.rate(bucket));
  }

  private schedule(delayMs: number): void {
    if (this.timer) return;
    this.timer = setTimeout(
      () => {
        this.timer = null;
        this.pump();
      },
      Math.max(1, Math.min(delayMs, 60_000)),
    );
  }
}
