/**
 * Requests-per-minute and tokens-per-minute limits over a sliding window (60 s by default): a request is
 * admitted when the requests and tokens admitted during the last window, plus its own, stay within the limits.
 * Rejected requests consume nothing.
 */
export interface LimitsOptions {
  rpm?: number;
  tpm?: number;
  windowMs: number;
  now?: () => number;
}

export type Admission =
  | { ok: true; headers: Record<string, string>; refund(): void }
  | { ok: false; kind: 'requests' | 'tokens'; waitMs: number; message: string; headers: Record<string, string> };

interface Entry {
  at: number;
  requests: number;
  tokens: number;
}

export class SlidingWindowLimits {
  private readonly rpm: number;
  private readonly tpm: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private entries: Entry[] = [];
  private head = 0;
  private requests = 0;
  private tokens = 0;

  constructor(options: LimitsOptions) {
    this.rpm = positive(options.rpm);
    this.tpm = positive(options.tpm);
    this.windowMs = options.windowMs;
    this.now = options.now ?? (() => performance.now());
  }

  get enabled(): boolean {
    return this.rpm > 0 || this.tpm > 0;
  }

  tryAdmit(tokenCost: number): Admission {
    if (!this.enabled) return { ok: true, headers: {}, refund: () => undefined };
    const now = this.now();
    this.expire(now);
    const windowText = this.windowMs === 60_000 ? 'min' : `${this.windowMs} ms`;
    if (this.rpm > 0 && this.requests + 1 > this.rpm) {
      const waitMs = this.waitUntilFreed(now, (e) => e.requests, this.requests + 1 - this.rpm);
      const message =
        `Rate limit reached on requests per ${windowText} (RPM): Limit ${this.rpm}, Used ${this.requests}, ` +
        `Requested 1. Please try again in ${formatWait(waitMs)}. (simulated)`;
      return { ok: false, kind: 'requests', waitMs, message, headers: this.headers() };
    }
    if (this.tpm > 0 && this.tokens + tokenCost > this.tpm) {
      if (tokenCost > this.tpm) {
        const message =
          `Request too large on tokens per ${windowText} (TPM): Limit ${this.tpm}, Requested ${tokenCost}. ` +
          'The input or output tokens must be reduced in order to run successfully. (simulated)';
        return { ok: false, kind: 'tokens', waitMs: this.windowMs, message, headers: this.headers() };
      }
      const waitMs = this.waitUntilFreed(now, (e) => e.tokens, this.tokens + tokenCost - this.tpm);
      const message =
        `Rate limit reached on tokens per ${windowText} (TPM): Limit ${this.tpm}, Used ${this.tokens}, ` +
        `Requested ${tokenCost}. Please try again in ${formatWait(waitMs)}. (simulated)`;
      return { ok: false, kind: 'tokens', waitMs, message, headers: this.headers() };
    }
    const entry: Entry = { at: now, requests: 1, tokens: tokenCost };
    this.entries.push(entry);
    this.requests += 1;
    this.tokens += tokenCost;
    const headers = this.headers();
    const refund = (): void => {
      this.requests -= entry.requests;
      this.tokens -= entry.tokens;
      entry.requests = 0;
      entry.tokens = 0;
    };
    return { ok: true, headers, refund };
  }

  private expire(now: number): void {
    const cutoff = now - this.windowMs;
    while (this.head < this.entries.length) {
      const entry = this.entries[this.head];
      if (entry === undefined || entry.at > cutoff) break;
      this.requests -= entry.requests;
      this.tokens -= entry.tokens;
      entry.requests = 0; // a late refund of an expired entry must not change the sums
      entry.tokens = 0;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  /** Milliseconds until the oldest admitted entries have freed at least `needed` units. */
  private waitUntilFreed(now: number, units: (entry: Entry) => number, needed: number): number {
    let freed = 0;
    for (let i = this.head; i < this.entries.length; i++) {
      const entry = this.entries[i];
      if (entry === undefined) break;
      freed += units(entry);
      if (freed >= needed) return Math.max(1, entry.at + this.windowMs - now);
    }
    return this.windowMs;
  }

  private headers(): Record<string, string> {
    const headers: Record<string, string> = {};
    if (this.rpm > 0) {
      headers['x-ratelimit-limit-requests'] = String(this.rpm);
      headers['x-ratelimit-remaining-requests'] = String(Math.max(0, this.rpm - this.requests));
    }
    if (this.tpm > 0) {
      headers['x-ratelimit-limit-tokens'] = String(this.tpm);
      headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, this.tpm - this.tokens));
    }
    return headers;
  }
}

function positive(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : 0;
}

function formatWait(ms: number): string {
  return ms < 1000 ? `${Math.ceil(ms)}ms` : `${(ms / 1000).toFixed(3)}s`;
}
