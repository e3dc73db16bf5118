import { type BenchInfra, round, sluiceEnv, submitDomain, waitCompleted } from './common.js';
import { startRole, startSimulatorProcess } from './processes.js';

export interface B7Result {
  items: number;
  rpmLimit: number;
  requests: number;
  rateLimited: number;
  share429: number;
  wallSeconds: number;
  idealSeconds: number;
  wallOverIdeal: number;
  learntRpm: number;
  /** Answers per second of the run, from the simulator. */
  okPerSecond: number[];
}

interface SimulatorStats {
  requests: number;
  rateLimited: number;
  perSecond: { second: number; ok: number }[];
}

/**
 * B7 — limits learnt from the upstream: the simulator enforces `rpm` as a refilling budget (one
 * second's worth of capacity) and sends OpenAI's x-ratelimit-* headers; Sluice is told no limit
 * (SLUICE_UPSTREAM_RPM / TPM unset) and must learn it from the headers instead of from 429s.
 * Reported: the share of the simulator's answers that were 429s, and the wall time (submit → batch
 * completed) against the ideal, items / limit.
 */
export async function runB7(infra: BenchInfra, items: number, rpm: number): Promise<B7Result> {
  const simulator = await startSimulatorProcess(['--rpm', String(rpm), '--latency', '200,1000']);
  const env = await sluiceEnv(infra, 'b6', {
    OPENAI_BASE_URL: `${simulator.url}/v1`,
    SLUICE_PROCESSOR_CONCURRENCY: '256',
  });
  const [sink, processor, ingest] = await Promise.all([
    startRole('sink', env),
    startRole('processor', env),
    startRole('ingest', env),
  ]);
  try {
    await fetch(`${simulator.url}/sim/reset`, { method: 'POST' });
    const started = performance.now();
    const id = await submitDomain(ingest.url, 'b6', items);
    await waitCompleted(ingest.url, [id], 3_600_000);
    const wallSeconds = (performance.now() - started) / 1000;
    const stats = (await (await fetch(`${simulator.url}/sim/stats`)).json()) as SimulatorStats;
    const idealSeconds = (items / rpm) * 60;
    return {
      items,
      rpmLimit: rpm,
      requests: stats.requests,
      rateLimited: stats.rateLimited,
      share429: round(stats.requests === 0 ? 0 : stats.rateLimited / stats.requests, 4),
      wallSeconds: round(wallSeconds, 1),
      idealSeconds: round(idealSeconds, 1),
      wallOverIdeal: round(wallSeconds / idealSeconds, 3),
      learntRpm: await processor.metric('sluice_upstream_learnt_limit', { budget: 'requests' }),
      okPerSecond: stats.perSecond.map((s) => s.ok),
    };
  } finally {
    await Promise.all([ingest.stop(), processor.stop(), sink.stop(), simulator.stop()]);
  }
}
