/** Lognormal latency: the median and the 99th percentile, in milliseconds. A median of 0 means instant. */
export interface LatencySpec {
  medianMs: number;
  p99Ms: number;
}

/** A seeded PRNG returning floats in [0, 1): the fault and latency draws of one simulator. */
export type Rng = () => number;

/** mulberry32: 32 bits of state, enough for test and benchmark draws. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** z-score of the 99th percentile of a standard normal. */
const Z99 = 2.326;
/** Draws are clamped so that one unlucky sample cannot stall a test or benchmark. */
const CLAMP_FACTOR = 20;

/** Parses `"400"` (p99 defaults to 3× the median) or `"400,2000"` (median, p99), in milliseconds. */
export function parseLatencySpec(text: string): LatencySpec {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length > 2 || parts.some((part) => !/^\d+(\.\d+)?$/u.test(part))) {
    throw new Error(`Invalid latency "${text}": expected "MEDIAN_MS" or "MEDIAN_MS,P99_MS", e.g. "400" or "400,2000".`);
  }
  const medianMs = Number(parts[0]);
  const p99Ms = parts[1] === undefined ? medianMs * 3 : Number(parts[1]);
  if (p99Ms < medianMs) {
    throw new Error(`Invalid latency "${text}": the p99 (${p99Ms} ms) must not be below the median (${medianMs} ms).`);
  }
  return { medianMs, p99Ms };
}

/** A sampler of per-request delays in milliseconds: lognormal, clamped at 20× the median. */
export function latencySampler({ medianMs, p99Ms }: LatencySpec, rng: Rng): () => number {
  if (!Number.isFinite(medianMs) || medianMs < 0 || !Number.isFinite(p99Ms) || p99Ms < medianMs) {
    throw new Error(`Invalid latency {medianMs: ${medianMs}, p99Ms: ${p99Ms}}: need 0 <= medianMs <= p99Ms.`);
  }
  if (medianMs === 0) return () => 0;
  const sigma = Math.log(p99Ms / medianMs) / Z99;
  return () => {
    const normal = Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng()); // Box–Muller
    return Math.min(medianMs * CLAMP_FACTOR, medianMs * Math.exp(sigma * normal));
  };
}
