/**
 * The role's stop, reaching every wait and call in flight without a listener on one shared signal.
 *
 * Issues 22 and 25: every upstream call used to hand the role's one long-lived `AbortSignal` to the
 * `openai` client, which adds an abort listener to it and never removes it. Each call left its
 * listener, and with it its own AbortController and closures, on that signal for the life of the
 * process (a heap that grew by about one controller per item until the process died), and adding a
 * listener scans the list (13% of the processor's CPU with 256 calls in flight). Here every call
 * gets a signal of its own, from a scope kept in a Set while the call runs: O(1) to open and close,
 * nothing left behind, and `stop()` aborts every open scope at once.
 */
export class Stopper {
  private readonly open = new Set<AbortController>();
  private reason: Error | null = null;

  get stopped(): boolean {
    return this.reason !== null;
  }

  /** Why it stopped, or null while running. */
  get stopReason(): Error | null {
    return this.reason;
  }

  /**
   * A signal for one call or wait, aborted when the role stops. Call `close()` when it ends, however
   * it ends (a `finally`), so the scope is forgotten.
   */
  scope(): StopScope {
    const controller = new AbortController();
    if (this.reason) {
      controller.abort(this.reason);
      return { signal: controller.signal, close: () => undefined };
    }
    this.open.add(controller);
    return { signal: controller.signal, close: () => void this.open.delete(controller) };
  }

  /** Aborts every open scope, and every scope opened from now on, with `reason`. */
  stop(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    const open = [...this.open];
    this.open.clear();
    for (const controller of open) controller.abort(reason);
  }

  /** Scopes open now (a test and leak check: it returns to 0 when nothing is in flight). */
  get openScopes(): number {
    return this.open.size;
  }
}

export interface StopScope {
  readonly signal: AbortSignal;
  close(): void;
}
