/** What one replica can take now, as the router sees it when a call is to be placed. */
export interface ReplicaLoad {
  /** In rotation for a call now (its circuit: up, or probing with no probe out). */
  available: boolean;
  /** Probing: the next call placed on it is the single probe that may bring it back. */
  probing: boolean;
  /** Calls waiting in its queue. */
  waiting: number;
  inFlight: number;
  /** Most calls in flight it is allowed now (adaptive concurrency, and the probe cap while its limits are learnt). */
  concurrencyLimit: number;
  /** Its recent answer latency (a moving average); null before its first answer. */
  latencyMs: number | null;
  /** Until its rate budget lets the next call go (0: now). */
  rateWaitMs: number;
  /** Requests per millisecond its rate budget allows now; Infinity when not limited. */
  requestsPerMs: number;
}

/** A latency to assume for a replica that has not answered yet, when no other has either. */
const UNKNOWN_LATENCY_MS = 1000;

/**
 * Picks the replica that would finish one more call soonest, or -1 when none is available. Not
 * round robin: each replica's expected time for one more call is the longer of what its
 * concurrency and its rate budget make it wait, so a replica at half the speed (twice the
 * latency, or half the rate limit) gets about half the calls once both have queues, and two
 * replicas at 600 rpm each are both kept at their limit. A probing replica gets the next call
 * (its single probe), so a replica that came back is tried at once.
 *
 * - concurrency: the calls ahead of it (in flight and waiting) drain `limit` at a time, one
 *   latency each: `latency × max(1, (inFlight + waiting + 1) / limit)`;
 * - rate: `rateWaitMs + waiting / requestsPerMs`.
 *
 * A replica that has not answered yet is assumed as slow as the others' average (or 1 s), so the
 * first calls spread by load rather than piling on an unknown one.
 *
 * O(replicas) with no allocation: it runs once per call over the few replicas of one model.
 */
export function chooseReplica(loads: readonly ReplicaLoad[]): number {
  let knownSum = 0;
  let known = 0;
  for (const load of loads) {
    if (load.latencyMs !== null) {
      knownSum += load.latencyMs;
      known++;
    }
  }
  const assumedLatencyMs = known > 0 ? knownSum / known : UNKNOWN_LATENCY_MS;
  let best = -1;
  let bestMs = Infinity;
  for (let i = 0; i < loads.length; i++) {
    const load = loads[i] as ReplicaLoad;
    if (!load.available) continue;
    if (load.probing) return i;
    const ms = expectedMs(load, assumedLatencyMs);
    if (ms < bestMs) {
      best = i;
      bestMs = ms;
    }
  }
  return best;
}

/** Milliseconds until one more call placed on `load` would be answered. */
export function expectedMs(load: ReplicaLoad, assumedLatencyMs: number): number {
  const latency = load.latencyMs ?? assumedLatencyMs;
  const limit = Math.max(1, load.concurrencyLimit);
  const byConcurrency = latency * Math.max(1, (load.inFlight + load.waiting + 1) / limit);
  const byRate = load.requestsPerMs === Infinity ? 0 : load.rateWaitMs + load.waiting / load.requestsPerMs;
  return Math.max(byConcurrency, byRate + latency);
}
