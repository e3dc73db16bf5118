import { type BatchStatus, isTerminal } from '@sluice/core/contracts';
import { WaitTimeoutError } from './errors.js';
import { sleep } from './http.js';

export interface WaitOptions<T> {
  /**
   * Milliseconds to wait for a terminal status before throwing {@link WaitTimeoutError}.
   * @defaultValue `Infinity`: wait until the batch is final
   */
  timeoutMs?: number;
  /**
   * Milliseconds between two status reads.
   * @defaultValue 1_000
   */
  pollIntervalMs?: number;
  /** Called with every status read, the final one included. */
  onProgress?: (current: T) => void;
  /** Stops waiting (the promise rejects with the signal's reason). */
  signal?: AbortSignal;
}

export const DEFAULT_POLL_INTERVAL_MS = 1_000;

/**
 * Reads a batch's status until it is `completed`, `failed`, `cancelled` or `expired`, and
 * returns that last read. Works for anything with an `id` and a `status`: a job, or the batch
 * object of the domain and OpenAI APIs.
 */
export async function pollUntilTerminal<T extends { id: string; status: BatchStatus }>(
  read: () => Promise<T>,
  options: WaitOptions<T> = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? Infinity;
  const pollIntervalMs = options.pollIntervalMs ?? DEFAULT_POLL_INTERVAL_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await read();
    options.onProgress?.(current);
    if (isTerminal(current.status)) return current;
    const left = deadline - Date.now();
    if (left <= 0) throw new WaitTimeoutError(current.id, timeoutMs, current);
    // The last sleep ends at the deadline, so the final read happens right at it.
    await sleep(Math.min(pollIntervalMs, left), options.signal);
  }
}
