/**
 * The one retry module (as kafkajs has `src/retry/`): what is retriable, how long to wait, an
 * abortable sleep, and the one retry loop, `retrying(policy, fn)`. Sluice's retries go through
 * that loop, each site with its own named policy declared where it is used: registry
 * calls (`REGISTRY_RETRY`), the Kafka first connect (`KAFKA_CONNECT_RETRY`) and offset reads
 * (`OFFSETS_RETRY`), the embedded log's redelivery (`REDELIVERY_RETRY`), the local store's publish
 * (`PUBLISH_RETRY`), webhooks (`WEBHOOK_RETRY`) and the TypeScript SDK (`REQUEST_RETRY`), which
 * compiles this file in (it imports `@sluice/core/retry`, so this file imports nothing). The
 * processor's upstream calls and result sends take their delays from here and are moving onto
 * `retrying` too. Not loops of ours: kafkajs's retrier for the calls it makes (`KAFKAJS_RETRY`) and
 * the timer that restarts a crashed Kafka consumer (`REJOIN_BACKOFF`, backoff only). The Python SDK
 * mirrors the SDK rule and checks itself against `retriable-statuses.json`.
 *
 * The rules are openai-node's: the server's word first (`retry-after-ms`, then `retry-after` in
 * seconds or as an HTTP date), otherwise capped exponential backoff with jitter.
 */

/**
 * Statuses of an upstream LLM's answer worth retrying: 408 (request timeout), 409 (OpenAI's lock
 * conflict: another request holds the resource a moment), 429 (rate limit) and every 5xx, as
 * openai-node retries. Used by the processor's upstream calls (`upstreamErrorFromResponse`).
 */
export const RETRIABLE_UPSTREAM_STATUSES: readonly number[] = [408, 409, 429];

/**
 * Statuses of Sluice's own API worth retrying, for the SDKs: the upstream rule without 409. A 409
 * from Sluice is a conflict with the resource's state (cancelling a job that already completed,
 * retrying one still running), a final answer that a retry only repeats; an upstream's 409 is a
 * lock conflict that clears.
 */
export const RETRIABLE_SLUICE_API_STATUSES: readonly number[] = [408, 429];

/** From this status up (every 5xx), both rules retry. */
export const RETRIABLE_FROM_STATUS = 500;

/**
 * Whether an upstream LLM's answer with this status is worth retrying. The table, and
 * {@link isRetriableSluiceApiStatus}'s, are also in `retriable-statuses.json` for the Python SDK's
 * tests; a unit test keeps them equal.
 */
export function isRetriableUpstreamStatus(status: number): boolean {
  return RETRIABLE_UPSTREAM_STATUSES.includes(status) || status >= RETRIABLE_FROM_STATUS;
}

/** Whether an answer of Sluice's API with this status is worth retrying (the SDKs' rule). */
export function isRetriableSluiceApiStatus(status: number): boolean {
  return RETRIABLE_SLUICE_API_STATUSES.includes(status) || status >= RETRIABLE_FROM_STATUS;
}

/**
 * The one 409 of Sluice's API that clears by itself: `idempotency_key_in_use`, the answer to a
 * request whose `Idempotency-Key` belongs to a first request still running (the client's own
 * earlier attempt, whose answer it lost). Retried with the same key, it gets that first request's
 * answer once it is done. Every other 409 is a conflict with the resource's state, final.
 */
export const RETRIABLE_SLUICE_API_CONFLICT_CODES: readonly string[] = ['idempotency_key_in_use'];

/** The SDKs' rule on an error answer of Sluice's API: its status, and for a 409 its `error.code`. */
export function isRetriableSluiceApiAnswer(status: number, code: string | null): boolean {
  if (status === 409) return code !== null && RETRIABLE_SLUICE_API_CONFLICT_CODES.includes(code);
  return isRetriableSluiceApiStatus(status);
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

/**
 * How one call site retries. Declared once as a named constant where it is used
 * (`WEBHOOK_RETRY`); the per-call parts (`signal`, `onRetry`) are spread in at the call.
 */
export interface RetryPolicy extends RetryDelayOptions {
  /** Attempts in all, the first included; `Infinity` retries until `signal` aborts (or `giveUpAfterMs`). */
  maxAttempts: number;
  /**
   * Whether another attempt may help after `error`.
   * @defaultValue {@link isRetriableError}: the error's own `retriable` flag, as SluiceError and the SDK's errors carry it
   */
  retriable?: (error: unknown) => boolean;
  /**
   * The delay the server asked for after `error`, in ms, or null; used instead of backoff when sane
   * (see `maxServerDelayMs`).
   * @defaultValue {@link retryAfterMsOf}: the error's own `retryAfterMs`, as UpstreamError and the SDK's SluiceAPIError carry it
   */
  retryAfterMs?: (error: unknown) => number | null;
  /**
   * Give up (throwing the last error) rather than start a wait that would end more than this many
   * ms after the first attempt began: a deadline for sites bounded by time, not by attempts.
   * @defaultValue no deadline
   */
  giveUpAfterMs?: number;
  /** Ends any wait at once, rejecting with the signal's reason. It does not cut short an attempt in flight: hand it to `fn` for that. */
  signal?: AbortSignal;
  /** Told before each wait: the error, the attempt that failed (1-based) and the wait ahead. For logging. */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
}

/** The default of {@link RetryPolicy.retriable}: true when the error says `retriable: true` (SluiceError's flag). */
export function isRetriableError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** The default of {@link RetryPolicy.retryAfterMs}: the error's `retryAfterMs` when it is a delay, else null. */
export function retryAfterMsOf(error: unknown): number | null {
  const value = typeof error === 'object' && error !== null ? (error as { retryAfterMs?: unknown }).retryAfterMs : null;
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null;
}

/**
 * How many attempts `retrying` made before it threw `error`. Kept beside the error, not on it: the
 * error `fn` threw is rethrown as it is (callers and the SDK's users match on its class), and an
 * error that is not ours is not written on.
 */
const attemptsByError = new WeakMap<object, number>();

/** The attempts `retrying` made before giving up with `error` (its last attempt's number), or null if it did not come from `retrying`. */
export function attemptsOf(error: unknown): number | null {
  return typeof error === 'object' && error !== null ? (attemptsByError.get(error) ?? null) : null;
}

/**
 * Calls `fn` (with the attempt number, 1-based) until it returns, retrying what `policy` deems
 * retriable after the server's delay or a backoff, up to `policy.maxAttempts` attempts. Returns
 * `fn`'s value, or throws its last error unchanged ({@link attemptsOf} tells how many attempts it
 * took); an aborted `policy.signal` ends the wait at once with the signal's reason.
 */
export async function retrying<T>(policy: RetryPolicy, fn: (attempt: number) => T | Promise<T>): Promise<T> {
  if (!(policy.maxAttempts >= 1)) throw new RangeError(`maxAttempts must be at least 1, not ${policy.maxAttempts}`);
  const retriable = policy.retriable ?? isRetriableError;
  const serverDelayOf = policy.retryAfterMs ?? retryAfterMsOf;
  const giveUpAt = policy.giveUpAfterMs === undefined ? Infinity : Date.now() + policy.giveUpAfterMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      const delayMs =
        attempt < policy.maxAttempts && retriable(error)
          ? retryDelayMs(attempt - 1, serverDelayOf(error), policy)
          : null;
      if (delayMs === null || Date.now() + delayMs > giveUpAt) {
        if (typeof error === 'object' && error !== null) attemptsByError.set(error, attempt);
        throw error;
      }
      policy.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs, policy.signal);
    }
  }
}
