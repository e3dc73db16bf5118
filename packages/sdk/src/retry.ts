/**
 * How long to wait before a retry. The server's word first (`retry-after-ms`, then
 * `retry-after` in seconds or as an HTTP date), else exponential backoff with jitter: 0.5 s
 * doubling, capped at 8 s, each delay shortened by up to a quarter so that clients that failed
 * together do not come back together.
 */
export const BACKOFF = {
  initialDelayMs: 500,
  maxDelayMs: 8_000,
  /** A server delay longer than this is taken as a mistake (as openai-node does), and backoff is used. */
  maxServerDelayMs: 60_000,
} as const;

/** `retry` is 0 for the first retry; `askedMs` is the server's delay ({@link serverDelayMs}), if any. */
export function retryDelayMs(retry: number, askedMs: number | null, random = Math.random): number {
  if (askedMs !== null && askedMs <= BACKOFF.maxServerDelayMs) return askedMs;
  const base = Math.min(BACKOFF.initialDelayMs * 2 ** retry, BACKOFF.maxDelayMs);
  return base * (1 - random() * 0.25);
}

/** The delay the server asked for, in ms, or null when it asked for none (or said nonsense). */
export function serverDelayMs(headers: Headers, nowMs = Date.now()): number | null {
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
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  return null;
}
