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
  /** Called when calls may go sooner than they were told (new limits): the caller's queue looks again. */
  onChange?: () => void;
}

export interface Reservation {
  /** Corrects the token reservation with the usage the upstream reported. */
  settle(actualTokens: number): void;
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
 * A requests-per-minute and tokens-per-minute budget for one upstream: two token buckets refilled
 * continuously. Tokens are reserved from an estimate (prompt + max tokens) and settled with the
 * reported usage. A 429 blocks every call until the upstream's retry-after and lowers the rate by
 * 10% (multiplicative decrease); quiet time raises it back 2% per second (additive increase), so
 * consumption pauses instead of piling up retries.
 *
 * It keeps no queue: the upstream's one fair queue (`Admission`) asks it how long the next call
 * must wait (`waitMs`) and takes from it (`take`) when the call goes.
 */
export class RateLimiter {
  private requests: Bucket | null;
  private tokens: Bucket | null;
  private readonly headroom: number;
  private readonly now: () => number;
  private blockedUntil = 0;
  /** Multiplier on the configured rate, lowered on 429s. */
  private factor = 1;
  private lastThrottleAt = 0;
  private lastRecoveryAt = 0;

  constructor(private readonly options: RateLimiterOptions) {
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

  /** Requests per millisecond the budget lets through now (after 429 slow-downs); Infinity when requests are not limited. */
  get requestsPerMs(): number {
    return this.requests ? this.rate(this.requests) : Infinity;
  }

  /** Milliseconds until a call estimated at `estimatedTokens` may go (0: now). */
  waitMs(estimatedTokens: number): number {
    const now = this.now();
    if (now < this.blockedUntil) return this.blockedUntil - now;
    if (!this.enabled) return 0;
    if (this.factor < 1) {
      // Additive increase, 2% of the rate per quiet second: an isolated 429 costs a few seconds
      // at 90%, while an upstream whose real limit is lower keeps pushing the rate back down.
      this.factor = Math.min(1, this.factor + (0.02 * (now - this.lastRecoveryAt)) / 1000);
      this.lastRecoveryAt = now;
    }
    this.requests?.refill(this.rate(this.requests));
    this.tokens?.refill(this.rate(this.tokens));
    return Math.max(this.shortfall(this.requests, 1), this.shortfall(this.tokens, Math.max(0, estimatedTokens)));
  }

  /** Takes one request and the estimated tokens (call only when `waitMs` said 0). */
  take(estimatedTokens: number): Reservation {
    const reserved = Math.max(0, estimatedTokens);
    if (this.requests) this.requests.level -= 1;
    const tokens = this.tokens;
    if (!tokens) return NO_RESERVATION;
    tokens.level -= reserved;
    let settled = false;
    return {
      settle: (actual: number) => {
        if (settled) return;
        settled = true;
        tokens.level += reserved - actual;
      },
    };
  }

  /**
   * Replaces the per-minute limits (0 = none) given, e.g. with the ones learnt from the upstream's
   * `x-ratelimit-limit-*` headers; a new bucket starts full, as a fresh limiter does.
   */
  setLimits(limits: { requestsPerMinute?: number; tokensPerMinute?: number }): void {
    const bucket = (perMinute: number) => (perMinute > 0 ? new Bucket(perMinute, this.now) : null);
    if (limits.requestsPerMinute !== undefined) this.requests = bucket(limits.requestsPerMinute);
    if (limits.tokensPerMinute !== undefined) this.tokens = bucket(limits.tokensPerMinute);
    this.options.onChange?.();
  }

  /** Holds every call until `untilMs` (epoch ms of `now`) without slowing down: a budget is spent until then. */
  holdUntil(untilMs: number): void {
    if (untilMs > this.blockedUntil) this.blockedUntil = untilMs;
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
  }

  private rate(bucket: Bucket): number {
    return ((bucket.perMinute * (1 - this.headroom)) / 60_000) * this.factor;
  }

  /** Milliseconds until `bucket` can give `amount` (a request larger than the bucket waits for a full bucket). */
  private shortfall(bucket: Bucket | null, amount: number): number {
    if (!bucket) return 0;
    const needed = Math.min(amount, bucket.capacity);
    if (bucket.level >= needed) return 0;
    return Math.ceil((needed - bucket.level) / this.rate(bucket));
  }
}

const NO_RESERVATION: Reservation = { settle: () => undefined };
