/**
 * Requests-per-minute and tokens-per-minute limits enforced as refilling budgets, as real providers
 * do: each budget refills continuously at its per-minute rate up to a capacity of `burstMs` worth of
 * it (1 s by default), so a client that paces at the limit is served and one that bursts is not —
 * a 60-second window would let a whole minute's quota through in one burst. A request is admitted
 * when every budget holds its cost (a cost larger than the capacity needs a full budget, and leaves
 * it in debt); rejected requests consume nothing.
 */
export interface LimitsOptions {
  rpm?: number;
  tpm?: number;
  /** Capacity of each budget, as time of refill. @defaultValue 1000 */
  burstMs?: number;
  now?: () => number;
}

export type Admission =
  | { ok: true; headers: Record<string, string>; refund(): void }
  | { ok: false; kind: 'requests' | 'tokens'; waitMs: number; message: string; headers: Record<string, string> };

class Budget {
  level: number;
  private last: number;

  constructor(
    readonly perMinute: number,
    readonly capacity: number,
    private readonly now: () => number,
  ) {
    this.level = capacity;
    this.last = now();
  }

  get perMs(): number {
    return this.perMinute / 60_000;
  }

  refill(): void {
    const now = this.now();
    this.level = Math.min(this.capacity, this.level + (now - this.last) * this.perMs);
    this.last = now;
  }

  /** Milliseconds until the budget holds `cost` (a full budget for a cost above the capacity). */
  waitFor(cost: number): number {
    const needed = Math.min(cost, this.capacity);
    return this.level >= needed ? 0 : Math.ceil((needed - this.level) / this.perMs);
  }

  /** Until the budget is full again. */
  resetMs(): number {
    return Math.max(0, (this.capacity - this.level) / this.perMs);
  }
}

export class BudgetLimits {
  private readonly requests: Budget | null;
  private readonly tokens: Budget | null;

  constructor(options: LimitsOptions) {
    const now = options.now ?? (() => performance.now());
    const burstMs = options.burstMs ?? 1000;
    const rpm = positive(options.rpm);
    const tpm = positive(options.tpm);
    this.requests = rpm > 0 ? new Budget(rpm, Math.max(1, (rpm * burstMs) / 60_000), now) : null;
    this.tokens = tpm > 0 ? new Budget(tpm, Math.max(1, (tpm * burstMs) / 60_000), now) : null;
  }

  get enabled(): boolean {
    return this.requests !== null || this.tokens !== null;
  }

  tryAdmit(tokenCost: number): Admission {
    if (!this.enabled) return { ok: true, headers: {}, refund: () => undefined };
    this.requests?.refill();
    this.tokens?.refill();
    const requests = this.requests;
    const tokens = this.tokens;
    if (requests && requests.waitFor(1) > 0) {
      const waitMs = requests.waitFor(1);
      const message =
        `Rate limit reached on requests per min (RPM): Limit ${requests.perMinute}, Remaining ${Math.floor(requests.level)}. ` +
        `Please try again in ${formatDuration(waitMs)}. (simulated)`;
      return { ok: false, kind: 'requests', waitMs, message, headers: this.headers() };
    }
    if (tokens && tokenCost > tokens.perMinute) {
      const message =
        `Request too large on tokens per min (TPM): Limit ${tokens.perMinute}, Requested ${tokenCost}. ` +
        'The input or output tokens must be reduced in order to run successfully. (simulated)';
      return { ok: false, kind: 'tokens', waitMs: 60_000, message, headers: this.headers() };
    }
    if (tokens && tokens.waitFor(tokenCost) > 0) {
      const waitMs = tokens.waitFor(tokenCost);
      const message =
        `Rate limit reached on tokens per min (TPM): Limit ${tokens.perMinute}, Remaining ${Math.floor(tokens.level)}, ` +
        `Requested ${tokenCost}. Please try again in ${formatDuration(waitMs)}. (simulated)`;
      return { ok: false, kind: 'tokens', waitMs, message, headers: this.headers() };
    }
    if (requests) requests.level -= 1;
    if (tokens) tokens.level -= tokenCost;
    const headers = this.headers();
    let refunded = false;
    const refund = (): void => {
      if (refunded) return;
      refunded = true;
      if (requests) requests.level = Math.min(requests.capacity, requests.level + 1);
      if (tokens) tokens.level = Math.min(tokens.capacity, tokens.level + tokenCost);
    };
    return { ok: true, headers, refund };
  }

  /** OpenAI's three header families: `x-ratelimit-limit-*`, `-remaining-*` and `-reset-*` (e.g. `1s`, `6m0s`). */
  private headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [kind, budget] of [
      ['requests', this.requests],
      ['tokens', this.tokens],
    ] as const) {
      if (!budget) continue;
      headers[`x-ratelimit-limit-${kind}`] = String(budget.perMinute);
      headers[`x-ratelimit-remaining-${kind}`] = String(Math.max(0, Math.floor(budget.level)));
      headers[`x-ratelimit-reset-${kind}`] = formatDuration(budget.resetMs());
    }
    return headers;
  }
}

function positive(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}

/** A duration the way OpenAI writes it (Go's format): `120ms`, `8.64s`, `6m0s`, `1h2m3s`. */
export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms));
  if (total < 1000) return `${total}ms`;
  const hours = Math.floor(total / 3_600_000);
  const minutes = Math.floor((total % 3_600_000) / 60_000);
  const seconds = (total % 60_000) / 1000;
  const secondsText = `${Number(seconds.toFixed(3))}s`;
  if (hours > 0) return `${hours}h${minutes}m${secondsText}`;
  if (minutes > 0) return `${minutes}m${secondsText}`;
  return secondsText;
}
