import type { ServerResponse } from 'node:http';

/**
 * Timers for latency and hangs. A wait ends early when the client goes away or the simulator closes, so no
 * timer outlives its request or keeps a closed simulator's process alive.
 */
export class Waits {
  private readonly pending = new Set<() => void>();

  /** Resolves true after `ms`, or false when the response closed first or `cancelAll` was called. */
  sleep(ms: number, response: ServerResponse): Promise<boolean> {
    if (response.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      const finish = (completed: boolean): void => {
        clearTimeout(timer);
        response.off('close', abort);
        this.pending.delete(abort);
        resolve(completed);
      };
      const abort = (): void => finish(false);
      const timer = setTimeout(() => finish(true), ms);
      response.once('close', abort);
      this.pending.add(abort);
    });
  }

  cancelAll(): void {
    for (const abort of [...this.pending]) abort();
  }
}
