/**
 * The SDK's retry policy: Sluice's one retry module (`@sluice/core/retry`, compiled into the published
 * bundle, as the contracts are) with the client's own numbers: 0.5 s doubling, capped at 8 s, each
 * delay shortened by up to a quarter; the server's `retry-after-ms` / `retry-after` first, unless it
 * asks for more than a minute (taken as a mistake, as openai-node does). What is retried is the
 * Sluice API rule, shared with the Python SDK: `isRetriableSluiceApiAnswer` (408, 429, 5xx; not 409, which
 * from Sluice is a conflict with the job's state, not a lock that clears, except the 409
 * `idempotency_key_in_use`: the first request with the same key is still running) and lost connections, as
 * each error's `retriable` flag says; the server's delay is the error's `retryAfterMs`.
 */
import { parseRetryAfter, retryDelayMs as delayFor, type RetryPolicy } from '@sluice/core/retry';

export { isRetriableSluiceApiAnswer, retrying, sleep } from '@sluice/core/retry';

/** One call: `maxAttempts` is the caller's `maxRetries` + 1 (see `HttpClient.request`). */
export const REQUEST_RETRY = {
  initialMs: 500,
  maxMs: 8_000,
  /** A server delay longer than this is taken as a mistake (as openai-node does), and backoff is used. */
  maxServerDelayMs: 60_000,
} as const satisfies Omit<RetryPolicy, 'maxAttempts'>;

/** `retry` is 0 for the first retry; `askedMs` is the server's delay ({@link serverDelayMs}), if any. */
export function retryDelayMs(retry: number, askedMs: number | null, random = Math.random): number {
  return delayFor(retry, askedMs, { ...REQUEST_RETRY, random });
}

/** The delay the server asked for, in ms, or null when it asked for none (or said nonsense). */
export const serverDelayMs: (headers: Headers, nowMs?: number) => number | null = parseRetryAfter;
