import { type BenchInfra, round, sluiceEnv, submitDomain, waitCompleted } from './common.js';
import { startRole, startSimulatorProcess } from './processes.js';

export interface B2Result {
  items: number;
  rpmLimit: number;
  tpmLimit: number;
  achievedRpm: number;
  utilization: number;
  share429AfterWarmup: number;
  wallSeconds: number;
  idealSeconds: number;
  wallOverIdeal: number;
  processor429s: number;
  retries: number;
}

interface SimulatorStats {
  perSecond: { second: number; ok: number; rateLimited: number }[];
}

/**
 * B2 — upstream utilization: the simulator enforces a requests-per-minute and a tokens-per-minute
 * limit and answers with lognormal latency (median 400 ms, p99 2 s); the processor is told the same
 * limits. Achieved requests per minute after the first 10 seconds against the limit, the share of
 * 429s after those 10 seconds, and the wall time against the ideal (items / limit).
 */
export async function runB2(infra: BenchInfra, items: number, rpm: number): Promise<B2Result> {
  // Classify answers here cost about 100 tokens and reserve about 180: the token limit is set so
  // it is enforced but the request limit binds.
  const tpm = rpm * 200;
  const simulator = await startSimulatorProcess(['--rpm', String(rpm), '--tpm', String(tpm), '--latency', '400,2000']);
  const env = await sluiceEnv(infra, 'b2', {
    OPENAI_BASE_URL: `${simulator.url}/v1`,
    SLUICE_PROCESSOR_CONCURRENCY: '512',
    SLUICE_UPSTREAM_RPM: String(rpm),
    SLUICE_UPSTREAM_TPM: String(tpm),
  });
  const [sink, processor, ingest] = await Promise.all([
    startRole('sink', env),
    startRole('processor', env),
    startRole('ingest', env),
  ]);
  try {
    await fetch(`${simulator.url}/sim/reset`, { method: 'POST' });
    const started = performance.now();
    const id = await submitDomain(ingest.url, 'b2', items);
    await waitCompleted(ingest.url, [id], 3_600_000);
    const wallSeconds = (performance.now() - started) / 1000;
    const stats = (await (await fetch(`${simulator.url}/sim/stats`)).json()) as SimulatorStats;
    // The steady state: after the first 10 seconds, up to the last second with answers.
    const seconds = stats.perSecond.filter((s) => s.second >= 10);
    const lastBusy = Math.max(...seconds.filter((s) => s.ok > 0).map((s) => s.second));
    const window = seconds.filter((s) => s.second <= lastBusy - 2);
    const ok = window.reduce((sum, s) => sum + s.ok, 0);
    const limited = window.reduce((sum, s) => sum + s.rateLimited, 0);
    const windowMinutes = window.length / 60;
    const achievedRpm = windowMinutes > 0 ? ok / windowMinutes : 0;
    const idealSeconds = (items / rpm) * 60;
    return {
      items,
      rpmLimit: rpm,
      tpmLimit: tpm,
      achievedRpm: Math.round(achievedRpm),
      utilization: round(achievedRpm / rpm, 3),
      share429AfterWarmup: round(ok + limited === 0 ? 0 : limited / (ok + limited), 4),
      wallSeconds: round(wallSeconds, 1),
      idealSeconds: round(idealSeconds, 1),
      wallOverIdeal: round(wallSeconds / idealSeconds, 3),
      processor429s: await processor.metric('sluice_upstream_429_total'),
      retries: await processor.metric('sluice_upstream_retries_total'),
    };
  } finally {
    await Promise.all([ingest.stop(), processor.stop(), sink.stop(), simulator.stop()]);
  }
}
