import { execFile } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { Cluster, finishedItems, recordFigures, submitBatches, verifyExactlyOnce } from '../harness/cluster.js';
import { expectNoRoleExited, outageLogs, seenDown } from '../harness/dependency-checks.js';

/**
 * Stop and restart the Kafka broker mid-batch: every role reconnects by itself and each batch
 * completes exactly once. Needs the broker that `pnpm kafka:up` started (the test restarts it).
 */
const run = promisify(execFile);
const script = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'scripts/infra/kafka.sh');
const kafkaSh = (command: string) => run('bash', [script, command], { env: process.env, timeout: 180_000 });

let cluster: Cluster;
beforeAll(async () => {
  const { stdout } = await kafkaSh('status');
  if (!/kafka: running/.test(stdout)) {
    throw new Error(
      'The broker-restart test restarts the broker that `pnpm kafka:up` (scripts/infra/kafka.sh) started, and none is running here. Run it via `bash scripts/test-all.sh`, or `pnpm kafka:up` first.',
    );
  }
  cluster = await Cluster.start({
    label: 'chaos-broker',
    processors: 2,
    simulator: { latency: { medianMs: 80, p99Ms: 200 } },
    env: { SLUICE_PROCESSOR_CONCURRENCY: '8' },
  });
});
afterAll(async () => {
  await cluster?.stop();
});

describe('broker restart', () => {
  it('each batch completes exactly once with no manual step', async () => {
    const batches = await submitBatches(cluster.url, 4, 250, 'b');
    await eventually(
      async () =>
        (await finishedItems(
          cluster.url,
          batches.map((b) => b.id),
        )) >= 200
          ? true
          : undefined,
      { timeoutMs: 120_000, intervalMs: 50, what: '200 finished items' },
    );
    const stoppedAt = performance.now();
    const faultAt = Date.now();
    await kafkaSh('broker-stop');
    // While it is down, a processor's gauge and /readyz say so (issue 25).
    const processor = cluster.members[cluster.indexesOf('processor')[0] as number]!.port;
    const shown = await seenDown(processor, 'broker', 3000);
    await new Promise((resolveWait) => setTimeout(resolveWait, Math.max(0, 3000 - (Date.now() - faultAt))));
    await kafkaSh('broker-start');
    const outageMs = Math.round(performance.now() - stoppedAt);
    const result = await verifyExactlyOnce(cluster.url, batches);
    const logs = outageLogs(cluster, 'broker', faultAt);
    expectNoRoleExited(cluster);
    await recordFigures('broker-restart', {
      trials: 1,
      outageMs,
      ...result,
      shownDown: shown ? { gauge: shown.gauge, readyz: shown.readyz.check } : null,
      ...logs,
    });
    expect(result).toEqual({ items: 1000, lost: 0, duplicated: 0 });
    expect(shown?.readyz.check?.error).toMatch(/unreachable/);
    // Each process says once that the broker is gone, not once per client, retry or item.
    expect(logs.mostReportsInOneProcess).toBeLessThanOrEqual(1);
  });
});
