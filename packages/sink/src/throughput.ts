/**
 * A batch's pace as the sink sees it: finished items over a sliding window of observations.
 * Recent enough to follow a change of pace (a rate limit kicking in, a second processor
 * joining), long enough not to jump with every flush. A sink that takes a batch over starts a
 * fresh window: its pace is unknown until two observations.
 */
export class ThroughputWindow {
  private readonly samples: { atMs: number; finished: number }[] = [];

  constructor(private readonly windowMs = 60_000) {}

  /** Records how many items are finished at `atMs`. */
  observe(finished: number, atMs: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && last.finished === finished && this.samples.length > 1) {
      // Nothing finished since: move the newest observation forward, so a stall lowers the pace.
      last.atMs = Math.max(last.atMs, atMs);
    } else if (!last || atMs >= last.atMs) {
      this.samples.push({ atMs, finished });
    }
    // Keep one observation older than the window, so the pace always spans the whole window.
    while (this.samples.length > 2 && (this.samples[1] as { atMs: number }).atMs <= atMs - this.windowMs) {
      this.samples.shift();
    }
  }

  /** Items finished per minute over the window; null before two observations a moment apart. */
  perMinute(): number | null {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.atMs - first.atMs < 250) return null;
    return Math.max(0, ((last.finished - first.finished) * 60_000) / (last.atMs - first.atMs));
  }

  /** Whole seconds until `remaining` items are finished at the current pace; null when the pace is unknown or zero. */
  etaSeconds(remaining: number): number | null {
    if (remaining <= 0) return 0;
    const perMinute = this.perMinute();
    if (perMinute === null || perMinute <= 0) return null;
    return Math.ceil((remaining * 60) / perMinute);
  }
}
