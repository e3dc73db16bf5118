/**
 * The one retry module (as kafkajs has `src/retry/`): what is retriable, how long to wait, and an
 * abortable sleep. Every retry loop in Sluice takes its delays from here (processor upstream calls
 * and result sends, webhooks, registry calls, the file-backed log, the Kafka first connect) and so
 * does the TypeScript SDK, which compiles this file in (it imports `@sluice/core/retry`, which has no
 * dependencies). The Python SDK mirrors it and checks itself against `retriable-statuses.json`.
 *
 * The rules are openai-node's: the server's word first (`retry-after-ms`, then `retry-after` in
 * seconds or as an HTTP date), otherwise capped exponential backoff with jitter.
 */

/**
 * Statuses worth retrying: 408 (request timeout), 409 (lock conflict), 429 (rate limit) and every
 * 5xx, as openai-node retries. The same table is in `retriable-statuses.json` for the Python SDK's
 * tests; a unit test keeps the two equal.
 */
export const RETRIABLE_STATUSES: readonly number[] = [408, 409, 429];
export const RETRIABLE_FROM_STATUS = 500;

export function isRetriableStatus(status: number): boolean {
  return RETRIABLE_STATUSES.includes(status) || status >= RETRIABLE_FROM_STATUS;
}

export interface BackoffOptions {
  /** Delay before the first retry, before jitter. */
  initialMs: number;
  /** Cap on the exponential delay, before jitter. */
  maxMs: number;
  /** Source of randomness in [0, 1); injectable for tests. */
  random?: () => number;
}

/**
 * Capped exponential backoff with jitter for retry number `retry` (0 for the first): `initialMs`
 * doubling up to `maxMs`, each delay shortened by up to a quarter (openai-node's jitter), so that
 * callers that failed together do not come back together.
 */
export function backoffDelayMs(retry: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const base = Math.min(options.initialMs * 2 ** Math.max(0, retry), options.maxMs);
  return Math.round(base * (1 - random() * 0.25));
}

export interface RetryDelayOptions extends BackoffOptions {
  /** A server delay longer than this is taken as a mistake (openai-node: 60 s), and backoff is used. Default 60 000. */
  maxServerDelayMs?: number;
}

/** The delay before retry number `retry` (0 for the first): the server's (`serverDelayMs`) when sane, else backoff. */
export function retryDelayMs(retry: number, serverDelayMs: number | null, options: RetryDelayOptions): number {
  const cap = options.maxServerDelayMs ?? 60_000;
  if (serverDelayMs !== null && serverDelayMs >= 0 && serverDelayMs <= cap) return serverDelayMs;
  return backoffDelayMs(retry, options);
}

/** The delay a response asked for, in ms: `retry-after-ms`, else `retry-after` (seconds or an HTTP date); null if none or nonsense. */
export function parseRetryAfter(headers: { get(name: string): string | null }, now = Date.now()): number | null {
  const ms = headers.get('retry-after-ms');
  if (ms !== null && ms.trim() !== '') {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return value;
  }
  const after = headers.get('retry-after');
  if (after !== null && after.trim() !== '') {
    const seconds = Number(after);
    if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
    const date = Date.parse(after);
    if (!Number.isNaN(date)) return Math.max(0, date - now);
  }
  return null;
}

/**
 * Waits `ms`, or rejects with the signal's reason as soon as `signal` aborts: a stopping role must
 * never sit out a backoff (issue 11: SIGTERM waited for every sleeping retry).
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
