export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (1 = the first retry). A delay the upstream asked for
 * (`retry-after-ms`, `retry-after`) wins when it is given and sane; otherwise capped exponential
 * backoff with jitter, which spreads the retries of many items that failed together.
 */
export function retryDelayMs(attempt: number, retryAfterMs: number | null, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  if (retryAfterMs !== null && retryAfterMs >= 0 && retryAfterMs <= 10 * 60_000) {
    // A little jitter on top, so items told the same instant do not all return at once.
    return retryAfterMs + Math.floor(random() * Math.min(1000, options.baseMs));
  }
  const exponential = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.floor(exponential * (0.5 + random() * 0.5));
}
