import { type BenchInfra, round, sluiceEnv, submitDomain, waitCompleted } from './common.js';
import { type SluiceProcess, startRole, startSimulatorProcess } from './processes.js';

export interface B5Run {
  processors: number;
  /** Whole workload: first submit to the last batch completed (submission and finalization included). */
  itemsPerSecond: number;
  seconds: number;
  /** The processors' own rate while they were busy: items out between 10% and 90% of the work. */
  processingItemsPerSecond: number;
}

export interface B5Result {
  batches: number;
  itemsPerBatch: number;
  latencyMs: number;
  concurrencyPerProcessor: number;
  runs: B5Run[];
  ratio2: number;
  ratio4: number;
  /** The same ratios on the processors' rate while busy. */
  processingRatio2: number;
  processingRatio4: number;
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
        const processors = roles.slice(2);
        const total = batches * itemsPerBatch;
        const samples: { at: number; done: number }[] = [];
        let sampling = true;
        const sampler = (async () => {
          while (sampling) {
            const counts = await Promise.all(processors.map((p) => p.metric('sluice_processor_items_out_total')));
            samples.push({ at: performance.now(), done: counts.reduce((a, b) => a + b, 0) });
            await new Promise((r) => setTimeout(r, 250));
          }
        })();
        const started = performance.now();
        const ids = await Promise.all(
          Array.from({ length: batches }, (_, b) => submitDomain(ingest.url, `b5-${count}-${b}`, itemsPerBatch)),
        );
        await waitCompleted(ingest.url, ids, 1_800_000);
        const seconds = (performance.now() - started) / 1000;
        sampling = false;
        await sampler;
        const at = (share: number) => samples.find((s) => s.done >= total * share);
        const from = at(0.1);
        const to = at(0.9);
        const processing = from && to && to.at > from.at ? ((to.done - from.done) * 1000) / (to.at - from.at) : 0;
        runs.push({
          processors: count,
          itemsPerSecond: Math.round(total / seconds),
          seconds: round(seconds, 1),
          processingItemsPerSecond: Math.round(processing),
        });
      } finally {
        await Promise.all(roles.map((r) => r.stop()));
      }
    }
  } finally {
    await simulator.stop();
  }
  const base = runs[0]?.itemsPerSecond ?? 1;
  const processingBase = runs[0]?.processingItemsPerSecond || 1;
  return {
    batches,
    itemsPerBatch,
    latencyMs,
    concurrencyPerProcessor: concurrency,
    runs,
    ratio2: round((runs[1]?.itemsPerSecond ?? 0) / base, 2),
    ratio4: round((runs[2]?.itemsPerSecond ?? 0) / base, 2),
    processingRatio2: round((runs[1]?.processingItemsPerSecond ?? 0) / processingBase, 2),
    processingRatio4: round((runs[2]?.processingItemsPerSecond ?? 0) / processingBase, 2),
  };
}
