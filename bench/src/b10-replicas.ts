import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { batchStatus, type BenchInfra, round, sluiceEnv, submitDomain, waitCompleted } from './common.js';
import { type SluiceProcess, sleep, startRole, startSimulatorProcess } from './processes.js';

export interface B10Result {
  /** Part 1: two replicas of one model, each with its own rpm limit. */
  items: number;
  rpmPerReplica: number;
  wallSeconds: number;
  /** Items per minute over the job, against the sum of the replicas' limits. */
  aggregateRpm: number;
  aggregateOverSum: number;
  /** How the items split between the two replicas (requests each answered). */
  split: [number, number];
  /** Part 2: one of two replicas killed mid-job. */
  failover: {
    items: number;
    killedAtCompleted: number;
    failed: number;
    /** The longest time no item completed, from the kill on. */
    longestStallSeconds: number;
    /** Seconds from the kill until the pace is back to the survivor's own (half the pair's). */
    secondsToRouteAround: number;
    wallSeconds: number;
  };
}

interface SimulatorStats {
  requests: number;
  rateLimited: number;
}

/**
 * B10 — several upstreams serving one model (issue 23). Part 1: two simulators, each limited to
 * `rpm` requests a minute and told to Sluice (the upstreams file's `rpm`), serve one job: the
 * pair should give about the sum of the limits, and split the items about evenly. Part 2: two
 * unlimited simulators with 100 ms answers; one is killed when a third of the job is done: how
 * long completions stall, and how soon the survivor carries the job alone; no item may fail.
 */
export async function runB10(infra: BenchInfra, items: number, rpm: number): Promise<B10Result> {
  const paced = await pairOfReplicas(infra, 'b10a', ['--rpm', String(rpm), '--latency', '200,600'], rpm);
  let part1: Omit<B10Result, 'failover'>;
  try {
    const started = performance.now();
    const id = await submitDomain(paced.ingest.url, 'b10a', items);
    await waitCompleted(paced.ingest.url, [id], 3_600_000);
    const wallSeconds = (performance.now() - started) / 1000;
    const split = (await Promise.all(paced.simulators.map(stats))).map((s) => s.requests - s.rateLimited) as [
      number,
      number,
    ];
    const aggregateRpm = (items / wallSeconds) * 60;
    part1 = {
      items,
      rpmPerReplica: rpm,
      wallSeconds: round(wallSeconds, 1),
      aggregateRpm: Math.round(aggregateRpm),
      aggregateOverSum: round(aggregateRpm / (2 * rpm), 3),
      split,
    };
  } finally {
    await paced.stop();
  }

  const failoverItems = Math.max(600, Math.round(items / 2));
  const open = await pairOfReplicas(infra, 'b10b', ['--latency', '100,150'], 0, 16);
  try {
    const started = performance.now();
    const id = await submitDomain(open.ingest.url, 'b10b', failoverItems);
    // Completions over time, sampled every 100 ms, to find the stall and the pace after the kill.
    const samples: { t: number; completed: number }[] = [];
    let killedAt: { t: number; completed: number } | null = null;
    for (;;) {
      const batch = await batchStatus(open.ingest.url, id);
      const completed = batch.request_counts?.completed ?? 0;
      const t = (performance.now() - started) / 1000;
      samples.push({ t, completed });
      if (!killedAt && completed >= failoverItems / 3) {
        killedAt = { t, completed };
        await open.simulators[0]?.stop();
      }
      if (batch.status === 'completed') break;
      if (batch.status === 'failed' || batch.status === 'expired')
        throw new Error(`b10 failover batch ${batch.status}`);
      await sleep(100);
    }
    const final = await batchStatus(open.ingest.url, id);
    const kill = killedAt ?? { t: 0, completed: 0 };
    const after = samples.filter((s) => s.t >= kill.t);
    let longestStallSeconds = 0;
    for (let i = 1, since = after[0]; i < after.length; i++) {
      const sample = after[i] as { t: number; completed: number };
      if (sample.completed > (since?.completed ?? 0)) since = sample;
      else longestStallSeconds = Math.max(longestStallSeconds, sample.t - (since?.t ?? sample.t));
    }
    // The survivor's own pace: its concurrency over its latency; back when a 1 s window reaches 80% of it.
    const survivorPerSecond = open.concurrencyPerReplica / 0.1;
    let secondsToRouteAround = Number.NaN;
    for (const sample of after) {
      const later = after.find((s) => s.t >= sample.t + 1);
      if (!later) break;
      if ((later.completed - sample.completed) / (later.t - sample.t) >= 0.8 * survivorPerSecond) {
        secondsToRouteAround = sample.t - kill.t;
        break;
      }
    }
    return {
      ...part1,
      failover: {
        items: failoverItems,
        killedAtCompleted: kill.completed,
        failed: final.request_counts?.failed ?? -1,
        longestStallSeconds: round(longestStallSeconds, 2),
        secondsToRouteAround: round(secondsToRouteAround, 2),
        wallSeconds: round((performance.now() - started) / 1000, 1),
      },
    };
  } finally {
    await open.stop();
  }
}

/** Two simulators listed as replicas of every model in an upstreams file, and the three roles on it. */
async function pairOfReplicas(
  infra: BenchInfra,
  label: string,
  simulatorFlags: string[],
  rpm: number,
  concurrencyPerReplica = 64,
) {
  const simulators = await Promise.all([startSimulatorProcess(simulatorFlags), startSimulatorProcess(simulatorFlags)]);
  const env = await sluiceEnv(infra, label, { SLUICE_PROCESSOR_CONCURRENCY: '256' });
  const file = join(env.SLUICE_DATA_DIR, 'upstreams.json');
  await writeFile(
    file,
    JSON.stringify(
      simulators.map((simulator, i) => ({
        name: `replica-${i}`,
        base_url: `${simulator.url}/v1`,
        models: ['*'],
        rpm,
        concurrency: concurrencyPerReplica,
      })),
    ),
  );
  const roles: SluiceProcess[] = await Promise.all([
    startRole('sink', { ...env, SLUICE_UPSTREAMS_FILE: file }),
    startRole('processor', { ...env, SLUICE_UPSTREAMS_FILE: file }),
    startRole('ingest', { ...env, SLUICE_UPSTREAMS_FILE: file }),
  ]);
  const [, , ingest] = roles as [SluiceProcess, SluiceProcess, SluiceProcess];
  await Promise.all(simulators.map((simulator) => fetch(`${simulator.url}/sim/reset`, { method: 'POST' })));
  return {
    simulators,
    ingest,
    concurrencyPerReplica,
    stop: () => Promise.all([...roles, ...simulators].map((p) => p.stop())),
  };
}

async function stats(simulator: SluiceProcess): Promise<SimulatorStats> {
  return (await (await fetch(`${simulator.url}/sim/stats`)).json()) as SimulatorStats;
}
