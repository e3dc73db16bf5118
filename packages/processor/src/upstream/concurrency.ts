export interface AdaptiveConcurrencyOptions {
  /** The cap: never more calls in flight than this (`SLUICE_UPSTREAM_CONCURRENCY`). */
  max: number;
  /** Where the limit starts; it doubles while more concurrency brings more answers. @defaultValue min(max, 8) */
  initial?: number;
  /** Least answers per measurement window. @defaultValue 16 */
  minSamples?: number;
  now?: () => number;
  onChange?: (limit: number, reason: string) => void;
}

/**
 * How a call ended: `answer` (the upstream answered: a throughput and latency sample), `timeout`
 * (no answer in time: the limit is halved at once), `ignore` (says nothing about the upstream's queue).
 */
export type CallOutcome = 'answer' | 'timeout' | 'ignore';

/** Held by one upstream call; released once, with how it went. */
export interface ConcurrencyPermit {
  /** The call goes out now (after any rate-limit wait): latency is measured from here. */
  begin(): void;
  release(outcome: CallOutcome): void;
}

interface Measurement {
  limit: number;
  /** Answers per second. */
  throughput: number;
  /** Median latency of the answers, ms. */
  latencyMs: number;
}

/** How many windows the limit stays put after a probe found nothing better. */
const HOLD_WINDOWS = 8;

/**
 * A cap on the calls in flight to one upstream, adapted to what the upstream does with them, so
 * that items wait in Sluice, not in the upstream's queue (a llama.cpp-style server works on one or
 * a few requests at a time; 256 concurrent calls would sit in its queue until they time out).
 *
 * It hill-climbs on measurements of whole windows (at least `minSamples` answers): while more
 * concurrency brings more answers per second it grows (doubling at first, then by a quarter); when
 * latency grew with concurrency and nothing else improved (throughput within 10%), it steps back
 * and probes lower, halving while the throughput holds. Windows in which the callers did not fill
 * the limit say nothing about the upstream and are not compared. After a settled step it holds
 * for a few windows, then probes upwards again, so a faster or freed-up upstream is found.
 */
export class AdaptiveConcurrency {
  private limitValue: number;
  private readonly max: number;
  private readonly minSamples: number;
  private readonly now: () => number;
  private inFlightCount = 0;
  private phase: 'growing' | 'probing-down' | 'holding' = 'growing';
  /** The measurement the current window is compared with. */
  private base: Measurement | null = null;
  private holdLeft = 0;
  private grownOnce = false;
  /** The window after a change still holds calls sent under the old limit: it is not compared. */
  private settling = false;
  private lastTimeoutCut = -Infinity;
  // The current window.
  private windowStart: number;
  private lastChange: number;
  private busyIntegral = 0;
  private answers = 0;
  private latencies: number[] = [];

  constructor(private readonly options: AdaptiveConcurrencyOptions) {
    this.max = Math.max(1, Math.floor(options.max));
    this.limitValue = Math.max(1, Math.min(this.max, Math.floor(options.initial ?? 8)));
    this.minSamples = options.minSamples ?? 16;
    this.now = options.now ?? (() => performance.now());
    this.windowStart = this.now();
    this.lastChange = this.windowStart;
  }

  get limit(): number {
    return this.limitValue;
  }

  get inFlight(): number {
    return this.inFlightCount;
  }

  /** Whether one more call may go now. */
  get hasRoom(): boolean {
    return this.inFlightCount < this.limitValue;
  }

  /**
   * Counts a call that goes now (the caller checked `hasRoom`). It keeps no queue: the upstream's
   * one fair queue (`Admission`) decides who goes, and looks again when a permit is released or the
   * limit changes (`onChange`).
   */
  start(): ConcurrencyPermit {
    return this.grant();
  }

  private grant(): ConcurrencyPermit {
    this.account();
    this.inFlightCount++;
    let started = this.now();
    let released = false;
    return {
      begin: () => {
        started = this.now();
      },
      release: (outcome) => {
        if (released) return;
        released = true;
        this.account();
        this.inFlightCount--;
        if (outcome === 'timeout') this.onTimeout();
        else if (outcome === 'answer') {
          this.answers++;
          this.latencies.push(this.now() - started);
          this.maybeCloseWindow();
        }
      },
    };
  }

  /**
   * A call got no answer in time: the upstream's queue is too long for the timeout (and it will
   * still work on the abandoned call). Halve at once, as TCP does on a loss, and measure afresh.
   */
  private onTimeout(): void {
    const now = this.now();
    if (now - this.lastTimeoutCut < 1000) return; // calls that timed out together are one signal
    this.lastTimeoutCut = now;
    this.windowStart = now;
    this.busyIntegral = 0;
    this.answers = 0;
    this.latencies = [];
    this.set(Math.max(1, Math.floor(this.limitValue / 2)), 'a call timed out');
    this.hold();
  }

  /** Integrates calls in flight over time: the window's average concurrency. */
  private account(): void {
    const now = this.now();
    this.busyIntegral += this.inFlightCount * (now - this.lastChange);
    this.lastChange = now;
  }

  private maybeCloseWindow(): void {
    const now = this.now();
    const elapsed = now - this.windowStart;
    const samples = this.latencies.length;
    const sorted = this.latencies.sort((a, b) => a - b);
    const latencyMs = sorted[Math.floor(sorted.length / 2)] ?? 0;
    // At least minSamples answers and a few latencies long, so one window is not one batch of calls.
    const enough =
      (samples >= Math.max(this.minSamples, this.limitValue) && elapsed >= 3 * latencyMs) ||
      (samples >= 4 && elapsed >= 60_000);
    if (!enough || elapsed <= 0) return;
    this.account();
    const averageInFlight = this.busyIntegral / elapsed;
    const measurement: Measurement = {
      limit: this.limitValue,
      throughput: (this.answers * 1000) / elapsed,
      latencyMs,
    };
    this.windowStart = now;
    this.busyIntegral = 0;
    this.answers = 0;
    this.latencies = [];
    // Callers that did not fill the limit tell nothing about the upstream's capacity.
    const saturated = averageInFlight >= 0.8 * this.limitValue;
    if (this.settling) {
      this.settling = false;
      return;
    }
    this.decide(measurement, saturated);
  }

  private decide(current: Measurement, saturated: boolean): void {
    const base = this.base;
    switch (this.phase) {
      case 'holding':
        if (--this.holdLeft > 0) return;
        if (!saturated) return;
        this.phase = 'growing';
        this.grow(current, 'probing for more concurrency');
        return;
      case 'growing': {
        if (!saturated) return;
        if (base && base.limit < current.limit && this.noBetter(current, base)) {
          this.phase = 'probing-down';
          this.set(base.limit, 'latency grew with concurrency and throughput did not');
          this.base = null;
          return;
        }
        this.grow(current, 'more concurrency, more answers');
        return;
      }
      case 'probing-down': {
        if (!saturated) return;
        if (!base) {
          // First window back at the level that was better: measure it, then try lower.
          this.base = current;
          if (current.limit > 1) this.set(Math.max(1, Math.floor(current.limit / 2)), 'probing a lower concurrency');
          else this.hold();
          return;
        }
        if (current.throughput >= 0.9 * base.throughput) {
          // As many answers with fewer calls in flight: keep the lower level, try lower still. The
          // throughput to hold stays the best seen, so small losses do not add up step by step.
          this.base = { ...current, throughput: Math.max(current.throughput, base.throughput) };
          if (current.limit > 1) this.set(Math.max(1, Math.floor(current.limit / 2)), 'fewer calls, same answers');
          else this.hold();
          return;
        }
        this.set(base.limit, 'lower concurrency lost throughput');
        this.hold();
        return;
      }
    }
  }

  /**
   * The step up from `lower` bought latency, not answers: throughput grew by less than half the
   * concurrency's growth while latency grew by more than half of it (a queue: latency in
   * proportion to concurrency, throughput flat).
   */
  private noBetter(current: Measurement, lower: Measurement): boolean {
    const half = (current.limit / lower.limit - 1) / 2;
    return current.throughput < (1 + half) * lower.throughput && current.latencyMs > (1 + half) * lower.latencyMs;
  }

  private grow(current: Measurement, reason: string): void {
    this.base = current;
    if (this.limitValue >= this.max) return;
    const next = this.grownOnce
      ? Math.max(this.limitValue + 1, Math.ceil(this.limitValue * 1.25))
      : this.limitValue * 2;
    this.set(Math.min(this.max, next), reason);
  }

  private hold(): void {
    this.phase = 'holding';
    this.holdLeft = HOLD_WINDOWS;
    this.grownOnce = true;
    this.base = null;
  }

  /**
   * Starts from a limit learnt before (by this upstream's earlier measurements, e.g. before a
   * restart) instead of the initial guess; the climb goes on from there.
   */
  resume(limit: number): void {
    this.grownOnce = true;
    this.set(Math.max(1, Math.min(this.max, Math.floor(limit))), 'resumed from what was learnt before');
  }

  private set(limit: number, reason: string): void {
    if (limit === this.limitValue) return;
    this.limitValue = limit;
    this.settling = true;
    this.options.onChange?.(limit, reason);
  }
}
