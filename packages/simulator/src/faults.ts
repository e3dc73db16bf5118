import type { Rng } from './latency.js';

export interface FaultRates {
  rate429?: number;
  errorRate?: number;
  timeoutRate?: number;
  malformedRate?: number;
  flexUnavailableRate?: number;
}

export type Fault = 'none' | 'rate_limit' | 500 | 502 | 503 | 'timeout';

/** Random faults: each kind is drawn independently, in the order 429, 5xx, timeout; the first hit wins. */
export class FaultInjector {
  private readonly rates: Required<FaultRates>;

  constructor(
    rates: FaultRates,
    private readonly rng: Rng,
  ) {
    const probability = (name: keyof FaultRates): number => {
      const value = rates[name] ?? 0;
      if (!Number.isFinite(value) || value < 0 || value > 1) {
        throw new Error(`Invalid ${name} ${value}: expected a probability between 0 and 1.`);
      }
      return value;
    };
    this.rates = {
      rate429: probability('rate429'),
      errorRate: probability('errorRate'),
      timeoutRate: probability('timeoutRate'),
      malformedRate: probability('malformedRate'),
      flexUnavailableRate: probability('flexUnavailableRate'),
    };
  }

  draw(): Fault {
    if (this.hit(this.rates.rate429)) return 'rate_limit';
    if (this.hit(this.rates.errorRate)) return ([500, 502, 503] as const)[Math.floor(this.rng() * 3)] ?? 500;
    if (this.hit(this.rates.timeoutRate)) return 'timeout';
    return 'none';
  }

  /** Drawn for `service_tier: "flex"` calls only, before the other faults: no capacity on flex now. */
  drawFlexUnavailable(): boolean {
    return this.hit(this.rates.flexUnavailableRate);
  }

  drawMalformed(): boolean {
    return this.hit(this.rates.malformedRate);
  }

  private hit(rate: number): boolean {
    // No draw for a disabled fault: without faults the PRNG sequence is spent on latency alone.
    return rate > 0 && this.rng() < rate;
  }
}

/** Truncated content, as when a model stops mid-answer: cut about halfway, and never valid JSON. */
export function malform(content: string): string {
  const cut = content.slice(0, Math.max(1, Math.floor(content.length / 2)));
  try {
    JSON.parse(cut);
  } catch {
    return cut;
  }
  return `${cut}"`; // the prefix was itself valid JSON (e.g. a number): trailing garbage makes it invalid
}
