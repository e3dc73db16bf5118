import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { Cluster, finishedItems, recordFigures, submitBatches, verifyExactlyOnce } from '../harness/cluster.js';

/** kill -9 one of two processors at a random point mid-batch, five times: nothing lost, nothing duplicated. */
let cluster: Cluster;
beforeAll(async () => {
  cluster = await Cluster.start({
    label: 'chaos-proc',
    processors: 2,
    simulator: { latency: { medianMs: 120, p99Ms: 300 } },
    env: { SLUICE_PROCESSOR_CONCURRENCY: '8' },
  });
});
afterAll(async () => {
  await cluster?.stop();
});

describe('processor crashes', () => {
  it('each batch completes with every custom_id exactly once, over 5 trials', async () => {
    const TRIALS = 5;
    const figures = { trials: TRIALS, kills: 0, items: 0, lost: 0, duplicated: 0, killedAtShare: [] as number[] };
    for (let trial = 0; trial < TRIALS; trial++) {
      const batches = await submitBatches(cluster.url, 4, 200, `t${trial}`);
      const total = 800;
      const killAt = Math.floor(total * (0.1 + Math.random() * 0.6));
      const done = await eventually(
        async () => {
          const finished = await finishedItems(
            cluster.url,
            batches.map((b) => b.id),
          );
          return finished >= killAt ? finished : undefined;
        },
        { timeoutMs: 120_000, intervalMs: 50, what: `${killAt} finished items` },
      );
      const processors = cluster.indexesOf('processor');
      const victim = processors[Math.floor(Math.random() * processors.length)] as number;
      await cluster.crashAndRestart(victim);
      figures.kills++;
      figures.killedAtShare.push(Math.round((done / total) * 100) / 100);
      const result = await verifyExactlyOnce(cluster.url, batches);
      figures.items += result.items;
      figures.lost += result.lost;
      figures.duplicated += result.duplicated;
      expect(result).toEqual({ items: 800, lost: 0, duplicated: 0 });
    }
    await recordFigures('processor-crash', {
      ...figures,
      redeliveredResultsDropped: await cluster.metric('sluice_sink_duplicates_total'),
    });
  });
});
