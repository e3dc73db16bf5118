import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { Cluster, finishedItems, recordFigures, submitBatches, verifyExactlyOnce } from '../harness/cluster.js';

/** kill -9 the sink mid-batch and restart it: nothing lost, nothing duplicated, finalized once. */
let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.start({
    label: 'chaos-sink',
    processors: 1,
    simulator: { latency: { medianMs: 60, p99Ms: 200 } },
    env: { SLUICE_PROCESSOR_CONCURRENCY: '16' },
  });
});
afterAll(async () => {
  await cluster?.stop();
});

describe('sink crashes', () => {
  it('each batch completes with every custom_id exactly once after the sink is killed and restarted', async () => {
    const TRIALS = 3;
    const figures = { trials: TRIALS, kills: 0, items: 0, lost: 0, duplicated: 0 };
    for (let trial = 0; trial < TRIALS; trial++) {
      const batches = await submitBatches(cluster.url, 3, 300, `s${trial}`);
      const killAt = Math.floor(900 * (0.15 + Math.random() * 0.5));
      await eventually(
        async () =>
          (await finishedItems(
            cluster.url,
            batches.map((b) => b.id),
          )) >= killAt
            ? true
            : undefined,
        { timeoutMs: 120_000, intervalMs: 50, what: `${killAt} finished items` },
      );
      await cluster.crashAndRestart(cluster.indexesOf('sink')[0] as number);
      figures.kills++;
      const result = await verifyExactlyOnce(cluster.url, batches);
      figures.items += result.items;
      figures.lost += result.lost;
      figures.duplicated += result.duplicated;
      expect(result).toEqual({ items: 900, lost: 0, duplicated: 0 });
    }
    await recordFigures('sink-crash', figures);
  });
});
