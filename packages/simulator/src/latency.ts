import { standardNormal, type Rng } from './random.js';

/** Lognormal latency: the median and the 99th percentile, in milliseconds. A median of 0 means instant. */
export interface LatencySpec {
  medianMs: number;
  p99Ms: number;
}

/** z-score of the 99th percentile of a standard normal. */
const Z99 = 2.326;
/** Draws are clamped so that one unlucky sample cannot stall a test or benchmark. */
const CLAMP_FACTOR = 20;

export const INSTANT: LatencySpec = { medianMs: 0, p99Ms: 0 };

/** Parses `"400"` (p99 defaults to 3× the median) or `"400,2000"` (median, p99), in milliseconds. */
export function parseLatencySpec(text: string): LatencySpec {
  const parts = text.split(',').map((part) => part.trim());
  if (parts.length < 1 || parts.length > 2 || parts.some((part) => part === '')) {
    throw new Error(`Invalid latency "${text}": expected "MEDIAN_MS" or "MEDIAN_MS,P99_MS", e.g. "400" or "400,2000".`);
  }
  const numbers = parts.map((part) => {
    const value = Number(part);
    if (!/^\d+(\.\d+)?$/.test(part) || !Number.isFinite(value)) {
      throw new Error(`Invalid latency "${text}": "${part}" is not a non-negative number of milliseconds.`);
    }
    return value;
  });
  const medianMs = numbers[0] ?? 0;
  const p99Ms = numbers[1] ?? medianMs * 3;
  if (p99Ms < medianMs) {
    throw new Error(`Invalid latency "${text}": the p99 (${p99Ms} ms) must not be below the median (${medianMs} ms).`);
  }
  return { medianMs, p99Ms };
}

export function validateLatencySpec(spec: LatencySpec): LatencySpec {
  const { medianMs, p99Ms } = spec;
  if (!Number.isFinite(medianMs) || medianMs < 0 || !Number.isFinite(p99Ms) || p99Ms < medianMs) {
    throw new Error(
      `Invalid latency {medianMs: ${medianMs}, p99Ms: ${p99Ms}}: need 0 <= medianMs <= p99Ms, both finite.`,
    );
  }
  return spec;
}

/** Returns a sampler of per-request delays in milliseconds: lognormal, clamped at 20× the median. */
export function latencySampler(spec: LatencySpec, rng: Rng): () => number {
  const { medianMs, p99Ms } = validateLatencySpec(spec);
  if (medianMs === 0) return () => 0;
  const mu = Math.log(medianMs);
  const sigma = Math.log(p99Ms / medianMs) / Z99;
  const max = medianMs * CLAMP_FACTOR;
  return () => Math.min(max, Math.exp(mu + sigma * standardNormal(rng)));
}
