/** What one answer's `x-ratelimit-*` headers say about one budget (requests or tokens). */
export interface BudgetHeaders {
  limit: number | null;
  remaining: number | null;
  /** Until the budget is full again. */
  resetMs: number | null;
}

export interface RateLimitHeaders {
  requests: BudgetHeaders;
  tokens: BudgetHeaders;
}

interface HeaderSource {
  get(name: string): string | null;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 1e-6 };

/**
 * A reset time as upstreams write it: OpenAI's Go-style durations (`1s`, `6m0s`, `8.64s`, `120ms`,
 * `1h2m3.5s`), or plain seconds (`20`, `0.5`). Null when unreadable.
 */
export function parseResetDuration(text: string | null): number | null {
  if (text === null) return null;
  const value = text.trim();
  if (value === '') return null;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const parts = /^(?:\d+(?:\.\d+)?(?:h|ms|m|s|us|µs|ns))+$/.test(value)
    ? [...value.matchAll(/(\d+(?:\.\d+)?)(h|ms|m|s|us|µs|ns)/g)]
    : [];
  if (parts.length === 0) return null;
  return parts.reduce((sum, [, amount, unit]) => sum + Number(amount) * (UNIT_MS[unit as string] ?? 0), 0);
}

function count(headers: HeaderSource, name: string): number | null {
  const text = headers.get(name);
  if (text === null || text.trim() === '') return null;
  const value = Number(text);
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/** The `x-ratelimit-{limit,remaining,reset}-{requests,tokens}` headers OpenAI, Azure, Groq, Together and others send. */
export function readRateLimitHeaders(headers: HeaderSource): RateLimitHeaders | null {
  const budget = (kind: 'requests' | 'tokens'): BudgetHeaders => ({
    limit: count(headers, `x-ratelimit-limit-${kind}`),
    remaining: count(headers, `x-ratelimit-remaining-${kind}`),
    resetMs: parseResetDuration(headers.get(`x-ratelimit-reset-${kind}`)),
  });
  const read = { requests: budget('requests'), tokens: budget('tokens') };
  const any = [read.requests, read.tokens].some((b) => b.limit !== null || b.remaining !== null);
  return any ? read : null;
}

const spent = (budget: BudgetHeaders) => budget.remaining !== null && budget.remaining <= 0 && budget.resetMs !== null;

/** Calls let out before the first answer: a few, not a burst of hundreds (nor one, which costs a latency). */
export const MAX_PROBES = 4;

/** What the limits learnt from the headers ask the rate limiter to do. */
export interface LearntLimitsTarget {
  /** New per-minute limits (0 = none) for the budgets Sluice was not told. */
  setLimits(limits: { requestsPerMinute?: number; tokensPerMinute?: number }): void;
  /** Hold every caller until `untilMs` (epoch ms): a budget is spent until then. */
  holdUntil(untilMs: number): void;
}

export interface LearntLimitsOptions {
  /** Learn the requests budget (SLUICE_UPSTREAM_RPM unset). */
  requests: boolean;
  /** Learn the tokens budget (SLUICE_UPSTREAM_TPM unset). */
  tokens: boolean;
  target: LearntLimitsTarget;
  now?: () => number;
  onLearnt?: (limits: { requestsPerMinute: number | null; tokensPerMinute: number | null }) => void;
  /** The first answer came: calls held back until then may go. */
  onKnown?: () => void;
}

/**
 * Limits learnt from the upstream when none were configured. Until the first answer arrives only
 * a few calls go out (probes), so a job does not open with a burst of hundreds of calls that the
 * upstream answers with 429s; the answer's `x-ratelimit-limit-*` headers then set the rate
 * limiter's per-minute limits (as OpenAI documents them: per minute), and on every later answer a
 * spent budget (`remaining` 0) holds every caller until a unit is back. An upstream that sends no such
 * headers is not limited, as before.
 */
export class LearntLimits {
  private knownValue: boolean;
  private requestsPerMinute: number | null = null;
  private tokensPerMinute: number | null = null;
  private readonly now: () => number;

  constructor(private readonly options: LearntLimitsOptions) {
    this.now = options.now ?? Date.now;
    this.knownValue = !options.requests && !options.tokens;
  }

  get learnt(): { requestsPerMinute: number | null; tokensPerMinute: number | null } {
    return { requestsPerMinute: this.requestsPerMinute, tokensPerMinute: this.tokensPerMinute };
  }

  /** Whether an answer told the limits yet (or none were to be learnt). */
  get known(): boolean {
    return this.knownValue;
  }

  /** Most calls in flight while the limits are not known: `MAX_PROBES` until the first answer. */
  get callCap(): number {
    return this.knownValue ? Infinity : MAX_PROBES;
  }

  /** Every upstream answer's headers, success or error. */
  observe(headers: HeaderSource): void {
    if (!this.options.requests && !this.options.tokens) return;
    const read = readRateLimitHeaders(headers);
    const first = !this.knownValue;
    this.knownValue = true;
    if (read) this.apply(read);
    if (first) this.options.onKnown?.();
  }

  private apply(read: RateLimitHeaders): void {
    const changes: { requestsPerMinute?: number; tokensPerMinute?: number } = {};
    if (this.options.requests && read.requests.limit !== null && read.requests.limit !== this.requestsPerMinute) {
      this.requestsPerMinute = read.requests.limit;
      changes.requestsPerMinute = read.requests.limit;
    }
    if (this.options.tokens && read.tokens.limit !== null && read.tokens.limit !== this.tokensPerMinute) {
      this.tokensPerMinute = read.tokens.limit;
      changes.tokensPerMinute = read.tokens.limit;
    }
    if (Object.keys(changes).length > 0) {
      this.options.target.setLimits(changes);
      this.options.onLearnt?.(this.learnt);
    }
    // A spent budget refills continuously: hold for the first unit's return (one request at the
    // learnt rate, at most a second for tokens), or until the reset when that is sooner. Holding
    // until a full reset would stall a client that paces at the limit and merely touched it.
    const now = this.now();
    if (this.options.requests && spent(read.requests)) {
      const perRequestMs = read.requests.limit ? 60_000 / read.requests.limit : 1000;
      this.options.target.holdUntil(now + Math.min(read.requests.resetMs as number, perRequestMs));
    }
    if (this.options.tokens && spent(read.tokens)) {
      this.options.target.holdUntil(now + Math.min(read.tokens.resetMs as number, 1000));
    }
  }
}
