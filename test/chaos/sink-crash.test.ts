import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, s3Env } from '../harness/context.js';
import { Cluster, finishedItems, recordFigures, submitBatches, verifyExactlyOnce } from '../harness/cluster.js';

/**
 * kill -9 the sink mid-batch and restart it: nothing lost, nothing duplicated, finalized once. On
 * the local store (members share a directory) and on the S3 store (each member its own empty
 * directory, as on separate machines).
 */
const STORES = {
  local: { env: {}, ownDirectories: false, figures: 'sink-crash' },
  s3: { env: null, ownDirectories: true, figures: 'sink-crash-s3' },
} as const;

describe.each(Object.keys(STORES) as (keyof typeof STORES)[])('sink crashes (%s store)', (kind) => {
  let cluster: Cluster;
  beforeAll(async () => {
    const store = STORES[kind];
    cluster = await Cluster.start({
      label: `chaos-sink-${kind}`,
      processors: 1,
      simulator: { latency: { medianMs: 60, p99Ms: 200 } },
      ownDirectories: store.ownDirectories,
      env: { SLUICE_PROCESSOR_CONCURRENCY: '16', ...(store.env ?? s3Env(`chaos-sink`)) },
    });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

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
    await recordFigures(STORES[kind].figures, figures);
  });
});
