import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { infra, s3Env } from '../harness/context.js';
import { Cluster, finishedItems, recordFigures, submitBatches, verifyExactlyOnce } from '../harness/cluster.js';
import { expectNoRoleExited, outageLogs, seenDown, dependencyUp } from '../harness/dependency-checks.js';
import { FaultProxy } from '../harness/fault-proxy.js';

/**
 * Faults between the parts (issue 25), through a TCP fault proxy in front of the store, the broker
 * and the upstream, while a job runs on separate ingest, processor and sink processes. In each:
 * every item ends exactly once, no role exits, each process logs the outage once (not per item or
 * per retry), `sluice_dependency_up` and `/readyz` show it while it lasts, and work resumes by
 * itself when the dependency is back.
 */
const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let cluster: Cluster | undefined;
let proxy: FaultProxy | undefined;
afterEach(async (context) => {
  // The roles' logs, to read after a failure.
  if (cluster && process.env.SLUICE_TEST_KEEP_LOGS) {
    for (const [i, member] of cluster.members.entries())
      await writeFile(
        join(process.env.SLUICE_TEST_KEEP_LOGS, `${context.task.name.slice(4, 20)}-${member.role}-${i}.log`),
        member.process.output.join('\n'),
      );
  }
  await cluster?.stop();
  await proxy?.close();
  cluster = undefined;
  proxy = undefined;
});

function hostPort(address: string): { host: string; port: number } {
  const url = new URL(address.includes('://') ? address : `tcp://${address}`);
  return { host: url.hostname, port: Number(url.port) };
}

/** Finished items, or undefined while the status cannot be read. */
async function finishedOrUndefined(url: string, ids: string[]): Promise<number | undefined> {
  try {
    return await finishedItems(url, ids);
  } catch {
    return undefined;
  }
}

/** Milliseconds from now until the finished count passes what it was now (0 when all `total` are finished). */
async function msUntilProgress(url: string, ids: string[], total: number): Promise<number> {
  const started = performance.now();
  const before = (await finishedOrUndefined(url, ids)) ?? 0;
  if (before >= total) return 0;
  for (;;) {
    const now = await finishedOrUndefined(url, ids);
    if (now !== undefined && now > before) return Math.round(performance.now() - started);
    if (performance.now() - started > 60_000)
      throw new Error(`no progress within 60 s of the fault ending (${before} of ${total} finished)`);
    await sleep(100);
  }
}

const portOf = (c: Cluster, role: 'ingest' | 'processor' | 'sink') => c.members[c.indexesOf(role)[0] as number]!.port;

async function waitForFinished(c: Cluster, ids: string[], count: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (((await finishedOrUndefined(c.url, ids)) ?? 0) < count) {
    if (Date.now() > deadline) throw new Error(`fewer than ${count} items finished within 60 s`);
    await sleep(100);
  }
}

describe('faults between the parts', () => {
  it('the S3 store unreachable for 10 s, then slow for 6 s, mid-job', async () => {
    const s3 = infra().s3;
    proxy = await FaultProxy.start(hostPort(s3.endpoint));
    const store = proxy;
    cluster = await Cluster.start({
      label: 'fault-store',
      processors: 1,
      simulator: { latency: { medianMs: 150, p99Ms: 300 } },
      ownDirectories: true,
      env: {
        ...s3Env('fault-store'),
        AWS_ENDPOINT_URL: `http://${store.address}`,
        SLUICE_PROCESSOR_CONCURRENCY: '16',
      },
    });
    const batches = await submitBatches(cluster.url, 3, 250, 'store');
    const ids = batches.map((b) => b.id);
    await waitForFinished(cluster, ids, 150);

    const faultAt = Date.now();
    await store.down();
    const sink = portOf(cluster, 'sink');
    const shown = await seenDown(sink, 'store', 9000);
    await sleep(Math.max(0, 10_000 - (Date.now() - faultAt)));
    // Back, but slow: every chunk held 400 ms each way for 6 s.
    store.delay(400);
    await store.up();
    const slowFrom = Date.now();
    const resumeMs = await msUntilProgress(cluster.url, ids, 750);
    await sleep(Math.max(0, 6000 - (Date.now() - slowFrom)));
    store.heal();

    const result = await verifyExactlyOnce(cluster.url, batches);
    const logs = outageLogs(cluster, 'store', faultAt);
    const backUp = await dependencyUp(sink, 'store');
    expectNoRoleExited(cluster);
    await recordFigures('fault-store', {
      outage: 'unreachable 10 s, then 400 ms per chunk for 6 s',
      ...result,
      resumeMsAfterOutage: resumeMs,
      shownDown: shown ? { gauge: shown.gauge, readyz: shown.readyz.check } : null,
      ...logs,
    });
    expect(result).toEqual({ items: 750, lost: 0, duplicated: 0 });
    expect(shown?.readyz.check?.error).toMatch(/unreachable/);
    expect(backUp).toBe(1);
    expect(logs.mostReportsInOneProcess).toBeLessThanOrEqual(1);
    expect(logs.warnings).toBeLessThanOrEqual(12);
  });

  it('connections to the broker reset, three times, mid-job', async () => {
    const broker = hostPort(infra().brokers[0] as string);
    proxy = await FaultProxy.start(broker);
    const bootstrap = proxy;
    cluster = await Cluster.start({
      label: 'fault-broker',
      processors: 1,
      simulator: { latency: { medianMs: 200, p99Ms: 400 } },
      env: { KAFKA_BROKERS: bootstrap.address, SLUICE_PROCESSOR_CONCURRENCY: '16' },
    });
    const batches = await submitBatches(cluster.url, 3, 250, 'broker');
    const ids = batches.map((b) => b.id);
    await waitForFinished(cluster, ids, 150);

    // kafkajs reaches the bootstrap address (the proxy) first, then the broker's advertised
    // listener directly: resetting the proxy's connections alone would leave the clients'
    // working connections alone. So each round also resets every connection the Sluice
    // processes hold to the broker itself, with `ss -K` (the kernel's socket destroy, real RSTs).
    const pids = cluster.members.map((m) => m.process.child.pid as number);
    const faultAt = Date.now();
    const processor = portOf(cluster, 'processor');
    let reset = 0;
    let shown: Awaited<ReturnType<typeof seenDown>>;
    let firstResume: Promise<number> | undefined;
    for (let round = 0; round < 3; round++) {
      const roundAt = Date.now();
      reset += bootstrap.resetAll();
      reset += await resetConnections(pids, broker.port);
      firstResume ??= msUntilProgress(cluster.url, ids, 750);
      // The broker is down for the roles until their probe gets an answer (a second later).
      if (round === 0) shown = await seenDown(processor, 'broker', 1500);
      await sleep(Math.max(0, 1500 - (Date.now() - roundAt)));
    }
    const resumeMs = await msUntilProgress(cluster.url, ids, 750);

    const result = await verifyExactlyOnce(cluster.url, batches);
    const logs = outageLogs(cluster, 'broker', faultAt);
    expectNoRoleExited(cluster);
    await recordFigures('fault-broker', {
      outage: '3 rounds, 1.5 s apart, of resetting every connection of the roles to the broker',
      connectionsReset: reset,
      ...result,
      resumeMsAfterFirstReset: await firstResume,
      resumeMsAfterLastReset: resumeMs,
      shownDown: shown ? { gauge: shown.gauge, readyz: shown.readyz.check } : null,
      ...logs,
    });
    expect(reset).toBeGreaterThanOrEqual(9);
    expect(shown?.readyz.check?.error).toMatch(/unreachable/);
    expect(result).toEqual({ items: 750, lost: 0, duplicated: 0 });
    expect(logs.mostReportsInOneProcess).toBeLessThanOrEqual(1);
    expect(logs.warnings).toBeLessThanOrEqual(15);
  });

  it('upstream connections refused, stalled, and answered half-way, mid-job', async () => {
    cluster = await Cluster.start({
      label: 'fault-upstream',
      processors: 1,
      simulator: { latency: { medianMs: 100, p99Ms: 200 } },
      env: async (simulator) => {
        proxy = await FaultProxy.start(hostPort(new URL(simulator.url).host));
        return {
          OPENAI_BASE_URL: `http://${proxy.address}/v1`,
          SLUICE_PROCESSOR_CONCURRENCY: '16',
          SLUICE_UPSTREAM_TIMEOUT_MS: '2000',
        };
      },
    });
    const upstream = proxy as FaultProxy;
    const batches = await submitBatches(cluster.url, 3, 250, 'upstream');
    const ids = batches.map((b) => b.id);
    await waitForFinished(cluster, ids, 150);
    const processor = portOf(cluster, 'processor');

    const faultAt = Date.now();
    // Refused (and the open connections reset) for 6 s.
    await upstream.down();
    const shown = await seenDown(processor, 'upstream', 5000);
    await sleep(Math.max(0, 6000 - (Date.now() - faultAt)));
    await upstream.up();
    const afterRefused = await msUntilProgress(cluster.url, ids, 750);
    // Stalled: nothing passes for 5 s (the calls time out at 2 s); then what was held goes on.
    upstream.stall();
    await sleep(5000);
    upstream.heal();
    const afterStall = await msUntilProgress(cluster.url, ids, 750);
    // Every answer cut after 100 bytes (inside its headers) for 5 s.
    upstream.cutResponses(100);
    await sleep(5000);
    upstream.heal();
    const afterCut = await msUntilProgress(cluster.url, ids, 750);

    const result = await verifyExactlyOnce(cluster.url, batches);
    let failed = 0;
    for (const id of ids) {
      const { request_counts } = (await (await fetch(`${cluster.url}/v1/batches/${id}`)).json()) as {
        request_counts: { failed: number };
      };
      failed += request_counts.failed;
    }
    const logs = outageLogs(cluster, 'upstream', faultAt);
    expectNoRoleExited(cluster);
    await recordFigures('fault-upstream', {
      outage: 'refused 6 s; stalled 5 s (2 s call timeout); answers cut after 100 bytes for 5 s',
      ...result,
      failedItems: failed,
      resumeMs: { afterRefused, afterStall, afterCut },
      shownDown: shown ? { gauge: shown.gauge, readyz: shown.readyz.check } : null,
      ...logs,
    });
    expect(result).toEqual({ items: 750, lost: 0, duplicated: 0 });
    // An outage spends at most an attempt or two of an item, not all of them.
    expect(failed).toBe(0);
    expect(shown?.readyz.check?.error).toMatch(/unreachable/);
    expect(logs.mostReportsInOneProcess).toBeLessThanOrEqual(1);
    expect(logs.warnings).toBeLessThanOrEqual(12);
  });
});

/**
 * Resets (kernel socket destroy, `ss -K`) every TCP connection the processes `pids` hold to
 * `port` on the loopback; returns how many. Only these processes' connections: the broker is
 * shared with every other test on the machine.
 */
async function resetConnections(pids: number[], port: number): Promise<number> {
  const { stdout } = await run('ss', ['-tnpH', 'state', 'established', `dport = :${port}`]);
  const ours = stdout
    .split('\n')
    .filter((line) => pids.some((pid) => line.includes(`pid=${pid},`)))
    .map((line) => line.trim().split(/\s+/)[2] as string)
    .filter(Boolean);
  for (const local of ours) {
    const localPort = local.slice(local.lastIndexOf(':') + 1);
    await run('ss', ['-K', '-tn', 'state', 'established', `sport = :${localPort}`, 'and', `dport = :${port}`]);
  }
  return ours.length;
}
