import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runB1 } from './b1-overhead.js';
import { runB2 } from './b2-utilization.js';
import { runB3 } from './b3-scale.js';
import { runB4 } from './b4-reading.js';
import { runB5 } from './b5-horizontal.js';
import { runB6 } from './b6-status-view.js';
import { runB7 } from './b7-learnt-limits.js';
import { runB8 } from './b8-dedup.js';
import { runB9 } from './b9-fairness.js';
import { runB10 } from './b10-replicas.js';
import { type BenchInfra, infraFromEnv } from './common.js';
import { CHECK_BUDGET, runFloor, TARGET_RATIO } from './cpu-floor.js';

/**
 * `pnpm bench [--only B1,B4,FLOOR] [--scale 0.1]`: runs the benchmarks against the broker and registry in
 * KAFKA_BROKERS / SCHEMA_REGISTRY_URL (`pnpm kafka:up`), prints a table with each figure against
 * its target, and writes everything to bench/results/<time>.json. `--scale` shrinks the item
 * counts for a quick look; the documented figures use the full sizes. FLOOR (Sluice's CPU per item
 * against one bare upstream call, cpu-floor.ts) needs no broker.
 *
 * `pnpm bench --check [--processor-budget 4] [--embedded-budget 8]`: FLOOR alone, short (CI runs
 * it), exiting 1 when a ratio passes its budget.
 */
const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    scale: { type: 'string', default: '1' },
    check: { type: 'boolean', default: false },
    'processor-budget': { type: 'string', default: String(CHECK_BUDGET.processor) },
    'embedded-budget': { type: 'string', default: String(CHECK_BUDGET.embedded) },
  },
});
if (values.check) process.exit(await check());

const scale = Number(values.scale);
if (!(scale > 0 && scale <= 1)) throw new Error('--scale: a number in (0, 1]');
const only = new Set((values.only ?? 'FLOOR,B1,B2,B3,B4,B5,B6,B7,B8,B9,B10').toUpperCase().split(','));
const n = (count: number) => Math.max(100, Math.round(count * scale));
let infraOnce: BenchInfra | null = null;
/** The broker and registry, read when a benchmark needs them: FLOOR runs without. */
const infra = () => (infraOnce ??= infraFromEnv());
if ([...only].some((name) => name !== 'FLOOR')) infra(); // fails now, not after FLOOR's minute

/** `--check`: the floor and the two ratios; 1 when a ratio passes its budget. */
async function check(): Promise<number> {
  const budget = {
    processor: positive('--processor-budget', values['processor-budget']),
    embedded: positive('--embedded-budget', values['embedded-budget']),
  };
  const result = await runFloor();
  console.log(
    `floor: ${result.floorMsPerCall} ms CPU per bare upstream call (the ${result.callBytes}-byte label call, ${result.floorConcurrency} in flight; rounds ${result.byRound.floor.join(', ')})`,
  );
  const verdicts = [
    {
      name: 'processor',
      ms: result.processorMsPerItem,
      ratio: result.processorRatio,
      rounds: result.byRound.processor,
      budget: budget.processor,
      target: TARGET_RATIO.processor,
    },
    {
      name: 'embedded pipeline (sluice run)',
      ms: result.embeddedMsPerItem,
      ratio: result.embeddedRatio,
      rounds: result.byRound.embedded,
      budget: budget.embedded,
      target: TARGET_RATIO.embedded,
    },
  ];
  for (const v of verdicts) {
    console.log(
      `${v.name}: ${v.ms} ms CPU per item (rounds ${v.rounds.join(', ')}) = ${v.ratio}× the floor; budget ${v.budget}×, target ${v.target}×: ${v.ratio <= v.budget ? 'ok' : 'OVER BUDGET'}`,
    );
  }
  console.log(`(${result.seconds} s)`);
  return verdicts.every((v) => v.ratio <= v.budget) ? 0 : 1;
}

function positive(flag: string, text: string | undefined): number {
  const value = Number(text);
  if (!(value > 0)) throw new Error(`${flag}: a positive number`);
  return value;
}

interface Row {
  bench: string;
  figure: string;
  value: string;
  target: string;
  met: boolean | null;
}
const rows: Row[] = [];
const results: Record<string, unknown> = {};
const add = (bench: string, figure: string, value: string | number, target = '', met: boolean | null = null) =>
  rows.push({ bench, figure, value: String(value), target, met });

async function step<T>(name: string, run: () => Promise<T>): Promise<T | null> {
  if (!only.has(name)) return null;
  process.stderr.write(`[bench] ${name}…\n`);
  const started = performance.now();
  try {
    const result = await run();
    results[name] = result;
    process.stderr.write(`[bench] ${name} done in ${((performance.now() - started) / 1000).toFixed(0)} s\n`);
    return result;
  } catch (error) {
    results[name] = { error: error instanceof Error ? error.message : String(error) };
    process.stderr.write(`[bench] ${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    return null;
  }
}

const floor = await step('FLOOR', () => runFloor());
if (floor) {
  add('FLOOR', 'CPU ms per bare upstream call (the floor)', floor.floorMsPerCall);
  add(
    'FLOOR',
    `processor CPU per item / floor (${floor.processorMsPerItem} ms)`,
    floor.processorRatio,
    `≤ ${TARGET_RATIO.processor}`,
    floor.processorRatio <= TARGET_RATIO.processor,
  );
  add(
    'FLOOR',
    `embedded pipeline (sluice run) CPU per item / floor (${floor.embeddedMsPerItem} ms)`,
    floor.embeddedRatio,
    `≤ ${TARGET_RATIO.embedded}`,
    floor.embeddedRatio <= TARGET_RATIO.embedded,
  );
}
const b1 = await step('B1', () => runB1(infra(), n(100_000)));
if (b1) {
  add(
    'B1',
    'Sluice items/s (submit → last output line)',
    b1.sluiceItemsPerSecond,
    '≥ 10,000',
    b1.sluiceItemsPerSecond >= 10_000,
  );
  add('B1', 'raw kafkajs messages/s (same count and size)', b1.rawMessagesPerSecond);
  add('B1', 'Sluice / raw', b1.ratio, '≥ 0.5', b1.ratio >= 0.5);
  add(
    'B1',
    'CPU ms per item, by process',
    Object.entries(b1.cpuMsPerItem)
      .map(([name, ms]) => `${name} ${ms}`)
      .join(', '),
  );
}
const b2 = await step('B2', () => runB2(infra(), n(10_000), 6000));
if (b2) {
  add(
    'B2',
    'achieved requests/min / limit',
    `${b2.achievedRpm} / ${b2.rpmLimit} = ${b2.utilization}`,
    '≥ 0.97',
    b2.utilization >= 0.97,
  );
  add(
    'B2',
    '429s after the first 10 s',
    `${(b2.share429AfterWarmup * 100).toFixed(2)}%`,
    '< 1%',
    b2.share429AfterWarmup < 0.01,
  );
  add('B2', 'wall time / ideal', `${b2.wallSeconds} s / ${b2.idealSeconds} s = ${b2.wallOverIdeal}`);
}
const b3 = await step('B3', () => runB3(infra(), n(1_000_000), 4096, 30));
if (b3) {
  add('B3', 'lines/s through validation and produce', b3.linesPerSecond, '≥ 50,000', b3.linesPerSecond >= 50_000);
  add(
    'B3',
    'CPU µs per line: ingest, broker, client',
    `${b3.cpuMicrosPerLine.ingest}, ${b3.cpuMicrosPerLine.broker}, ${b3.cpuMicrosPerLine.client}`,
  );
  add('B3', 'ingest peak RSS (MB)', b3.ingestPeakRssMb, '≤ 256', b3.ingestPeakRssMb <= 256);
  add(
    'B3',
    `processor peak in flight, one partition (of ${b3.processorConcurrency})`,
    b3.processorPeakInFlightOnePartition,
    'thousands',
    b3.processorPeakInFlightOnePartition >= 1000,
  );
  add('B3', 'processor peak RSS (MB)', b3.processorPeakRssMb, '≤ 512', b3.processorPeakRssMb <= 512);
  add('B3', 'sink peak RSS (MB)', b3.sinkPeakRssMb);
}
// B4 on each store: the local directory, and S3 (the S3Proxy of `pnpm infra:up`, from AWS_ENDPOINT_URL).
const s3 = process.env.AWS_ENDPOINT_URL
  ? {
      SLUICE_STORAGE_URL: `s3://sluice-bench/b4-${Date.now()}`,
      AWS_ENDPOINT_URL: process.env.AWS_ENDPOINT_URL,
      AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'sluice',
      AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'sluice-secret',
      AWS_REGION: process.env.AWS_REGION ?? 'us-east-1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    }
  : null;
for (const [name, storeEnv] of [
  ['local', {}],
  ['s3', s3],
] as const) {
  const b4 = await step('B4', async () => {
    if (!storeEnv)
      throw new Error('no S3 endpoint: run `pnpm infra:up` and export AWS_ENDPOINT_URL and the AWS_* keys');
    return runB4(infra(), n(1_000_000), storeEnv);
  });
  if (b4) {
    results[`B4-${name}`] = b4;
    add(
      `B4 ${name}`,
      `page of 1,000 rows from the middle of ${b4.rows.toLocaleString('en-US')} (median, ms)`,
      `${b4.pageMedianMs} (p95 ${b4.pageP95Ms})`,
      '≤ 50',
      b4.pageMedianMs <= 50,
    );
    add(`B4 ${name}`, 'CSV export (MB/s)', b4.csvMbPerSecond, '≥ 100', b4.csvMbPerSecond >= 100);
    add(`B4 ${name}`, 'JSONL export (MB/s)', b4.jsonlMbPerSecond);
  } else if (only.has('B4')) {
    results[`B4-${name}`] = results.B4;
  }
}
const b5 = await step('B5', () => runB5(infra(), 256, n(64), 200, 32));
if (b5) {
  for (const run of b5.runs) {
    add(
      'B5',
      `${run.processors} processor(s): items/s (whole workload; processing)`,
      `${run.itemsPerSecond}; ${run.processingItemsPerSecond}`,
    );
  }
  add('B5', 'throughput 2 / 1 (whole workload)', b5.ratio2, '≥ 1.8', b5.ratio2 >= 1.8);
  add('B5', 'throughput 2 / 1 (processing)', b5.processingRatio2, '≥ 1.8', b5.processingRatio2 >= 1.8);
  add('B5', 'throughput 4 / 1 (whole workload; processing)', `${b5.ratio4}; ${b5.processingRatio4}`);
}
const b6 = await step('B6', () => runB6(infra(), n(200_000)));
if (b6) {
  add('B6', `terminal batches in the status topic (${b6.tenants} tenants)`, b6.batches);
  add('B6', 'new ingest: seconds until the newest is served', b6.catchUpSeconds);
  add('B6', 'ingest peak RSS (MB)', b6.ingestPeakRssMb, '< 256', b6.ingestPeakRssMb < 256);
  add(
    'B6',
    'list page of 100, up to 30 pages deep (median, ms)',
    `${b6.listPageMedianMs} (p95 ${b6.listPageP95Ms})`,
    '< 50',
    b6.listPageMedianMs < 50,
  );
  add('B6', 'status read (median, ms)', b6.statusReadMedianMs);
  add(
    'B6',
    'restarted ingest: seconds until its first status read',
    b6.restartFirstReadSeconds,
    'seconds',
    b6.restartFirstReadSeconds < 10,
  );
}

const b7 = await step('B7', () => runB7(infra(), n(1000), 1200));
if (b7) {
  add(
    'B7',
    `429s, no limit configured (simulator: ${b7.rpmLimit} rpm budget; learnt ${b7.learntRpm})`,
    `${(b7.share429 * 100).toFixed(2)}% (${b7.rateLimited} of ${b7.requests})`,
    '< 2%',
    b7.share429 < 0.02,
  );
  add(
    'B7',
    `wall time / ideal (${b7.items} items / ${b7.rpmLimit} per minute)`,
    `${b7.wallSeconds} s / ${b7.idealSeconds} s = ${b7.wallOverIdeal}`,
    '≤ 1.15',
    b7.wallOverIdeal <= 1.15,
  );
}
const b8 = await step('B8', () => runB8(infra(), n(10_000), Math.round(n(10_000) * 0.6)));
if (b8) {
  add(
    'B8',
    `upstream calls, ${b8.items} items of which ${b8.distinct} distinct`,
    `${b8.first.upstreamCalls} (${b8.first.cachedItems} cached items, ${b8.first.wallSeconds} s)`,
    `${b8.distinct}`,
    b8.first.upstreamCalls === b8.distinct,
  );
  add(
    'B8',
    'upstream calls, the same job again within the window, on the other processor',
    `${b8.again.upstreamCalls} (${b8.again.cachedItems} cached items, ${b8.again.wallSeconds} s; answers from the store: ${b8.again.fromStoreByProcessor.join(', ')})`,
    '0',
    b8.again.upstreamCalls === 0,
  );
}

const b9 = await step('B9', async () => ({
  // A's items in one job, then in 16 jobs: twice the 8 requests partitions, so every partition could hold A's backlog.
  one: await runB9(infra(), { bigItems: n(20_000), bigJobs: 1, smallItems: n(500), rpm: 1200 }),
  many: await runB9(infra(), { bigItems: n(20_000), bigJobs: 16, smallItems: n(500), rpm: 1200 }),
}));
for (const run of b9 ? [b9.one, b9.many] : []) {
  const a =
    run.bigJobs === 1 ? `A's ${run.bigJobItems}-item job` : `A's ${run.bigJobItems} items in ${run.bigJobs} jobs`;
  add(
    'B9',
    `tenant B's ${run.smallJobItems}-item job beside ${a}: items/min (limit ${run.rpmLimit})`,
    `${run.smallJobRpm} (${run.smallJobSeconds} s; A meanwhile ${run.bigJobRpmMeanwhile}; upstream ${run.upstreamRpm})`,
    `≥ ${Math.round(run.rpmLimit / 3)}`,
    run.smallJobRpm >= run.rpmLimit / 3,
  );
  add(
    'B9',
    `tenant C's sync classify calls meanwhile (${run.syncCalls}, ${run.syncFailures} failed): p95 ms`,
    `${run.syncP95Ms} (p50 ${run.syncP50Ms}, max ${run.syncMaxMs})`,
    '< 2000',
    run.syncP95Ms < 2000 && run.syncFailures === 0,
  );
}

const b10 = await step('B10', () => runB10(infra(), n(2400), 600));
if (b10) {
  add(
    'B10',
    `two replicas at ${b10.rpmPerReplica} rpm each: items/min over a ${b10.items}-item job (split ${b10.split.join(' / ')})`,
    `${b10.aggregateRpm} = ${b10.aggregateOverSum} of ${2 * b10.rpmPerReplica} (${b10.wallSeconds} s)`,
    '≥ 0.85 of the sum',
    b10.aggregateOverSum >= 0.85,
  );
  const f = b10.failover;
  add(
    'B10',
    `one of two replicas killed at ${f.killedAtCompleted} of ${f.items} items: failed, longest stall, back to the survivor's pace`,
    `${f.failed} failed, ${f.longestStallSeconds} s, ${f.secondsToRouteAround} s (${f.wallSeconds} s in all)`,
    '0 failed, < 5 s',
    f.failed === 0 && f.secondsToRouteAround < 5,
  );
}

const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
};
const width = (key: keyof Row) => Math.max(key.length, ...rows.map((r) => String(r[key]).length));
const widths = { bench: width('bench'), figure: width('figure'), value: width('value'), target: width('target') };
const line = (r: Record<keyof Row, string>) =>
  `${r.bench.padEnd(widths.bench)}  ${r.figure.padEnd(widths.figure)}  ${r.value.padStart(widths.value)}  ${r.target.padEnd(widths.target)}  ${r.met}`;
console.log(
  `\nmachine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGiB} GiB, Node ${machine.node}; scale ${scale}\n`,
);
console.log(line({ bench: 'bench', figure: 'figure', value: 'value', target: 'target', met: 'met' }));
for (const r of rows) console.log(line({ ...r, met: r.met === null ? '' : r.met ? 'yes' : 'NO' }));

const out = join(
  resolve(dirname(fileURLToPath(import.meta.url)), '..'),
  'results',
  `${new Date().toISOString().replace(/[:.]/g, '-')}.json`,
);
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify({ machine, scale, results, table: rows }, null, 2)}\n`);
console.log(`\nwritten: ${out}`);
process.exit(0);
