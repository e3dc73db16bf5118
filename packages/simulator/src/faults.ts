import type { Rng } from './random.js';

export interface FaultRates {
  rate429?: number;
  errorRate?: number;
  timeoutRate?: number;
  malformedRate?: number;
}

export type Fault =
  { kind: 'none' } | { kind: 'rate_limit' } | { kind: 'server_error'; status: number } | { kind: 'timeout' };

const SERVER_STATUSES = [500, 502, 503] as const;

/** Random faults: each kind is drawn independently, in the order 429, 5xx, timeout; the first hit wins. */
export class FaultInjector {
  private readonly rate429: number;
  private readonly errorRate: number;
  private readonly timeoutRate: number;
  private readonly malformedRate: number;

  constructor(
    rates: FaultRates,
    private readonly rng: Rng,
  ) {
    this.rate429 = probability('rate429', rates.rate429);
    this.errorRate = probability('errorRate', rates.errorRate);
    this.timeoutRate = probability('timeoutRate', rates.timeoutRate);
    this.malformedRate = probability('malformedRate', rates.malformedRate);
  }

  draw(): Fault {
    if (this.hit(this.rate429)) return { kind: 'rate_limit' };
    if (this.hit(this.errorRate)) {
      const status = SERVER_STATUSES[Math.floor(this.rng() * SERVER_STATUSES.length)] ?? 500;
      return { kind: 'server_error', status };
    }
    if (this.hit(this.timeoutRate)) return { kind: 'timeout' };
    return { kind: 'none' };
  }

  drawMalformed(): boolean {
    return this.hit(this.malformedRate);
  }

  private hit(rate: number): boolean {
    // No draw for a disabled fault: without faults the PRNG sequence is spent on latency alone.
    return rate > 0 && this.rng() < rate;
  }
}

function probability(name: string, value: number | undefined): number {
  if (value === undefined) return 0;
  if (!Number.isFinite(value) || value < 0 || value > 1) {
    throw new Error(`Invalid ${name} ${value}: expected a probability between 0 and 1.`);
  }
  return value;
}

/**
 * Truncated content, as when a model stops mid-answer: cut about halfway, and guaranteed not to parse as JSON.
 */
export function malform(content: string): string {
  const cut = content.slice(0, Math.max(1, Math.floor(content.length / 2)));
  try {
    JSON.parse(cut);
  } catch {
    return cut;
  }
  return `${cut}"`; // the prefix was itself valid JSON (e.g. a number): trailing garbage makes it invalid
}
