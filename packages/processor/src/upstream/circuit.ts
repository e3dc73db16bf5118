/** Whether an upstream is in rotation: `up`, `probing` (one call at a time tries it), `down` (none). */
export type CircuitState = 'up' | 'probing' | 'down';

export const CIRCUIT_STATES: readonly CircuitState[] = ['up', 'probing', 'down'];

/**
 * How a call to the upstream ended, for the circuit: `answered` (any HTTP answer but a 5xx: the
 * upstream is there, a 4xx or a 429 included), `fault` (unreachable, reset, timed out, or a 5xx),
 * `none` (it never reached the upstream, or was abandoned: says nothing).
 */
export type CircuitOutcome = 'answered' | 'fault' | 'none';

export interface CircuitOptions {
  /** Faults among the last 20 outcomes that take it down, all of the last few included. @defaultValue 18 */
  faultsToTrip?: number;
  /** Faults in a row it also takes: a storm, not a scatter of random 5xx. @defaultValue 8 */
  consecutiveToTrip?: number;
  /** The first time out of rotation before a probe; doubled after each failed probe. @defaultValue 1000 ms */
  firstDownMs?: number;
  /** @defaultValue 30 000 ms */
  maxDownMs?: number;
  now?: () => number;
  onChange?: (state: CircuitState) => void;
}

/** Outcomes remembered, as bits of an integer (1 = fault). */
const WINDOW = 20;
const WINDOW_MASK = (1 << WINDOW) - 1;

/**
 * One upstream's circuit breaker: takes it out of rotation when it stops answering, and lets it
 * back with single calls. Up, it goes down when at least `faultsToTrip` of the last twenty calls
 * and the last `consecutiveToTrip` in a row were faults (or as many as it made, from a fresh
 * start): a dead replica (connection refused, every call fails in milliseconds) is out within
 * twenty calls, while an upstream that fails one call in three at random stays in (its items are
 * retried as before; 18 of 20 at that rate is one window in millions). Down, it waits `firstDownMs`
 * (doubling per failed probe up to `maxDownMs`), then lets exactly one call through (probing): an
 * answer brings it up, a fault takes it down again.
 *
 * Pure policy: it decides nothing about items; the router asks `available` and reports outcomes.
 */
export class Circuit {
  private stateValue: CircuitState = 'up';
  private recent = 0;
  private inRow = 0;
  /** Outcomes in the window (up to its size): a fresh circuit judges by what it has seen. */
  private seen = 0;
  private downMs: number;
  private retryAt = 0;
  private probeOut = false;
  private readonly faultsToTrip: number;
  private readonly consecutiveToTrip: number;
  private readonly firstDownMs: number;
  private readonly maxDownMs: number;
  private readonly now: () => number;

  constructor(private readonly options: CircuitOptions = {}) {
    this.faultsToTrip = options.faultsToTrip ?? 18;
    this.consecutiveToTrip = options.consecutiveToTrip ?? 8;
    this.firstDownMs = options.firstDownMs ?? 1000;
    this.maxDownMs = options.maxDownMs ?? 30_000;
    this.downMs = this.firstDownMs;
    this.now = options.now ?? Date.now;
  }

  get state(): CircuitState {
    return this.stateValue;
  }

  /** Whether a call may be sent now: up, or probing with no probe out (a down one turns probing once its time is up). */
  get available(): boolean {
    if (this.stateValue === 'up') return true;
    if (this.stateValue === 'down') {
      if (this.now() < this.retryAt) return false;
      this.set('probing');
    }
    return !this.probeOut;
  }

  /** Milliseconds until a down upstream may be probed (0 when it may be now, or is not down). */
  get msUntilProbe(): number {
    return this.stateValue === 'down' ? Math.max(0, this.retryAt - this.now()) : 0;
  }

  /**
   * A call goes to it now (the caller saw `available`). While probing, the call is the probe and
   * nothing else is let through until it is reported. Returns whether it is the probe.
   */
  take(): boolean {
    if (this.stateValue !== 'probing') return false;
    this.probeOut = true;
    return true;
  }

  /** How a call ended; `probe` is what `take` returned for it. */
  report(outcome: CircuitOutcome, probe: boolean): void {
    if (probe) this.probeOut = false;
    if (outcome === 'none') return;
    const fault = outcome === 'fault' ? 1 : 0;
    this.recent = ((this.recent << 1) | fault) & WINDOW_MASK;
    this.inRow = fault ? this.inRow + 1 : 0;
    if (this.seen < WINDOW) this.seen++;
    if (this.stateValue === 'up') {
      const faults = popcount(this.recent);
      if (fault && this.inRow >= this.consecutiveToTrip && faults >= Math.min(this.faultsToTrip, this.seen)) {
        this.goDown(this.firstDownMs);
      }
      return;
    }
    // A late answer of a call sent before the upstream went down does not bring it back; a probe's does.
    if (!probe && this.stateValue === 'down') return;
    if (fault) {
      if (probe) this.goDown(Math.min(this.maxDownMs, this.downMs * 2));
      return;
    }
    this.downMs = this.firstDownMs;
    this.recent = 0;
    this.seen = 0;
    this.set('up');
  }

  private goDown(forMs: number): void {
    this.downMs = forMs;
    this.retryAt = this.now() + forMs;
    this.set('down');
  }

  private set(state: CircuitState): void {
    if (state === this.stateValue) return;
    this.stateValue = state;
    this.options.onChange?.(state);
  }
}

function popcount(bits: number): number {
  let count = 0;
  for (let rest = bits; rest !== 0; rest &= rest - 1) count++;
  return count;
}
