import { type BenchInfra, round, sluiceEnv, submitDomain, waitCompleted } from './common.js';
import { type SluiceProcess, startRole, startSimulatorProcess } from './processes.js';

export interface B5Run {
  processors: number;
  itemsPerSecond: number;
  seconds: number;
}

export interface B5Result {
  batches: number;
  itemsPerBatch: number;
  latencyMs: number;
  concurrencyPerProcessor: number;
  runs: B5Run[];
  ratio2: number;
  ratio4: number;
}

/**
 * B5 — horizontal scale: a fixed upstream latency and no rate limit, many batches spread over the
 * requests topic's 8 partitions, worked by 1, 2 and 4 processor processes (each its own consumer
 * group member): throughput ratios against one processor.
 */
export async function runB5(
  infra: BenchInfra,
  batches: number,
  itemsPerBatch: number,
  latencyMs: number,
  concurrency: number,
): Promise<B5Result> {
  const simulator = await startSimulatorProcess(['--latency', `${latencyMs},${latencyMs}`]);
  const runs: B5Run[] = [];
  try {
    for (const count of [1, 2, 4]) {
      const env = await sluiceEnv(infra, `b5x${count}`, {
        OPENAI_BASE_URL: `${simulator.url}/v1`,
        SLUICE_PROCESSOR_CONCURRENCY: String(concurrency),
        SLUICE_PROCESSOR_PARTITIONS_CONCURRENCY: '8',
      });
      const roles: SluiceProcess[] = [await startRole('ingest', env), await startRole('sink', env)];
      for (let i = 0; i < count; i++) roles.push(await startRole('processor', env));
      // Let the group settle on its final assignment before timing.
      await new Promise((r) => setTimeout(r, 4000));
      try {
        const ingest = roles[0] as SluiceProcess;
        const started = performance.now();
        const ids = await Promise.all(
          Array.from({ length: batches }, (_, b) => submitDomain(ingest.url, `b5-${count}-${b}`, itemsPerBatch)),
        );
        await waitCompleted(ingest.url, ids, 1_800_000);
        const seconds = (performance.now() - started) / 1000;
        runs.push({
          processors: count,
          itemsPerSecond: Math.round((batches * itemsPerBatch) / seconds),
          seconds: round(seconds, 1),
        });
      } finally {
        await Promise.all(roles.map((r) => r.stop()));
      }
    }
  } finally {
    await simulator.stop();
  }
  const base = runs[0]?.itemsPerSecond ?? 1;
  return {
    batches,
    itemsPerBatch,
    latencyMs,
    concurrencyPerProcessor: concurrency,
    runs,
    ratio2: round((runs[1]?.itemsPerSecond ?? 0) / base, 2),
    ratio4: round((runs[2]?.itemsPerSecond ?? 0) / base, 2),
  };
}
