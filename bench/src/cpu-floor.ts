import { type ChildProcess, fork, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { round } from './common.js';
import type { ProcessCpu } from './cpu-at-exit.js';
import { startSimulatorProcess } from './processes.js';

/**
 * Sluice's own CPU per item against the floor (DESIGN invariant 11, issue 22): the floor is one bare
 * HTTP call to the upstream, and Sluice should spend a small multiple of it per item. Ratios, both
 * sides measured in the same run on the same machine, so a busy machine moves both.
 *
 * The targets: the processor at most 2× the floor, the embedded pipeline (`sluice run`: ingest,
 * processor and sink in one process) at most 4×.
 */
export const TARGET_RATIO = { processor: 2, embedded: 4 } as const;

/**
 * What `pnpm bench --check` fails on. The targets are not reached yet: on 2026-12-07 the processor
 * measured 8–10× the floor and the embedded pipeline 13–17× (docs/benchmarks.md), down from 18–22×
 * and 21–39× before the fixes of issue 22. So the check fails at today's level plus room for a
 * noisy, shared machine: a regression like issue 22's (the processor's CPU per item grew tenfold
 * unnoticed) fails CI, while a busy machine does not. The tree before the fixes measured 16× and
 * 23× in the same run as today's 9.7× and 17.9×: the processor's budget tells them apart; the
 * embedded one (a single run, so noisier) only catches a gross regression for now. It tightens to twice the targets (4×, 8×) as
 * they are reached. Override with `--processor-budget` / `--embedded-budget` for experiments.
 */
export const CHECK_BUDGET = { processor: 14, embedded: 26 } as const;

/** The job's categories: the same as the bench's other `label` items (B8). */
export const LABEL_CATEGORIES = ['billing', 'bug', 'other'];

/** Item `index`'s text: distinct per item, so deduplication finds nothing and every item is a call. */
export const labelText = (index: number) => `Ticket ${index}: I was charged twice for my subscription.`;

/** What the bench asks cpu-floor-processor.ts, over IPC, one ask at a time. */
export type ProcessorAsk =
  | { type: 'warm-up'; items: number }
  | { type: 'round'; items: number }
  /** Checks every item was answered, stops the processor; the process then exits. */
  | { type: 'stop' };

export type ProcessorAnswer =
  | { type: 'ready' }
  | { type: 'warmed-up'; call: CapturedCall }
  /** The processor's CPU (user + system) per item of the round, in ms, the producing taken out. */
  | { type: 'round'; cpuMsPerItem: number }
  | { type: 'stopped'; error: string | null };

/** One upstream call as the processor made it, for the floor to repeat byte for byte. */
export interface CapturedCall {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface FloorOptions {
  /** Items per measured round of the processor. */
  roundItems: number;
  /** Calls per measured round of the floor (cheap: a tenth of the processor's CPU, or less). */
  floorRoundCalls: number;
  /** Measured rounds of the processor and the floor, taken in turns; the median is kept. */
  rounds: number;
  /**
   * Items through the processor, and calls by the floor, before the first round: until then both
   * are still being compiled (the floor's CPU per call halves over its first few thousand calls).
   */
  warmupItems: number;
  floorWarmupCalls: number;
  /** Items of each `sluice run`. */
  embeddedItems: number;
  /** `sluice run`s, one figure each; the median is kept. */
  embeddedRounds: number;
}

/**
 * Sized for about 15 s of CPU in all (with the processor at 2.5 ms per item, as in December 2026),
 * so that the check ends within a minute on a 2-core machine loaded several times over, while
 * every round still measures hundreds of calls (tens to hundreds of ms of CPU). One `sluice run`:
 * each costs a start-up, and a longer one says more than two short ones.
 */
export const FLOOR_DEFAULTS: FloorOptions = {
  roundItems: 300,
  floorRoundCalls: 1000,
  rounds: 3,
  warmupItems: 500,
  floorWarmupCalls: 3000,
  embeddedItems: 1500,
  embeddedRounds: 1,
};

export interface FloorResult {
  /** The bare client's CPU per call (ms), median of the rounds. */
  floorMsPerCall: number;
  /** The processor process's CPU per item (ms), median of the rounds. */
  processorMsPerItem: number;
  /** `sluice run`'s whole-process CPU per item (ms), from its first request to its exit. */
  embeddedMsPerItem: number;
  /** Median of each round's processor / floor (rounds taken in turns, under the same load). */
  processorRatio: number;
  embeddedRatio: number;
  /** Calls the floor client keeps in flight. */
  floorConcurrency: number;
  /** Size of the `label` call's body, the floor's and the processor's. */
  callBytes: number;
  byRound: { floor: number[]; processor: number[]; embedded: number[] };
  seconds: number;
}

const here = dirname(fileURLToPath(import.meta.url));
const CLI = resolve(here, '../../packages/cli/dist/bin.js');

/**
 * Calls the floor client keeps in flight: about as many as the processor's upstream concurrency
 * settles at against an upstream that answers at once (tens), so both batch their socket work alike.
 */
const FLOOR_CONCURRENCY = 32;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
};

const log = (message: string) => process.stderr.write(`[floor] ${message}\n`);

/**
 * The floor, the processor and the embedded pipeline, each against the simulator (a process of its
 * own, answering at once), each as CPU time of the measured process, never wall time.
 */
export async function runFloor(options: FloorOptions = FLOOR_DEFAULTS): Promise<FloorResult> {
  const started = performance.now();
  const since = () => `${((performance.now() - started) / 1000).toFixed(1)} s`;
  const simulator = await startSimulatorProcess([]);
  const scratch = await mkdtemp(join(tmpdir(), 'sluice-bench-floor-'));
  try {
    const upstream = `${simulator.url}/v1`;
    const processor = await ProcessorChild.start(embeddedEnv(upstream, join(scratch, 'processor')));
    const floor: number[] = [];
    const processorRounds: number[] = [];
    let call: CapturedCall;
    try {
      call = (await processor.ask({ type: 'warm-up', items: options.warmupItems }, 'warmed-up')).call;
      const client = new FloorClient(simulator.url, call);
      try {
        await client.calls(options.floorWarmupCalls);
        // In turns, so that a change in the machine's load falls on both sides of a ratio.
        for (let i = 0; i < options.rounds; i++) {
          processorRounds.push(
            (await processor.ask({ type: 'round', items: options.roundItems }, 'round')).cpuMsPerItem,
          );
          floor.push(await client.cpuMsPerCall(options.floorRoundCalls));
        }
      } finally {
        client.close();
      }
      const stopped = await processor.ask({ type: 'stop' }, 'stopped');
      if (stopped.error) throw new Error(stopped.error);
    } finally {
      await processor.close();
    }
    log(`processor and floor measured at ${since()}`);
    const embedded = await embeddedCpu(upstream, scratch, options);
    log(`embedded pipeline measured at ${since()}`);
    const floorMsPerCall = median(floor);
    const embeddedMsPerItem = median(embedded);
    return {
      floorMsPerCall: round(floorMsPerCall, 4),
      processorMsPerItem: round(median(processorRounds), 4),
      embeddedMsPerItem: round(embeddedMsPerItem, 4),
      processorRatio: round(median(processorRounds.map((ms, i) => ms / (floor[i] ?? NaN))), 2),
      embeddedRatio: round(embeddedMsPerItem / floorMsPerCall, 2),
      floorConcurrency: FLOOR_CONCURRENCY,
      callBytes: Buffer.byteLength(call.body),
      byRound: {
        floor: floor.map((v) => round(v, 4)),
        processor: processorRounds.map((v) => round(v, 4)),
        embedded: embedded.map((v) => round(v, 4)),
      },
      seconds: round((performance.now() - started) / 1000, 1),
    };
  } finally {
    await simulator.stop();
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The environment of a Sluice process of this check: embedded (no broker), quiet, on `upstream`. */
function embeddedEnv(upstream: string, dataDir: string): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    OPENAI_BASE_URL: upstream,
    SLUICE_DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'warn',
  };
}

/** The processor in a child process (cpu-floor-processor.ts), asked one thing at a time. */
class ProcessorChild {
  private readonly answers: ProcessorAnswer[] = [];
  private waiting: (() => void) | null = null;

  private constructor(
    private readonly child: ChildProcess,
    private readonly output: () => string,
  ) {
    child.on('message', (answer: ProcessorAnswer) => {
      this.answers.push(answer);
      this.waiting?.();
    });
    child.on('exit', () => this.waiting?.());
  }

  static async start(env: Record<string, string>): Promise<ProcessorChild> {
    const child = fork(join(here, 'cpu-floor-processor.js'), [], { env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    const started = new ProcessorChild(child, captureOutput(child));
    await started.next('ready');
    return started;
  }

  async ask<T extends ProcessorAnswer['type']>(
    ask: ProcessorAsk,
    expected: T,
  ): Promise<Extract<ProcessorAnswer, { type: T }>> {
    this.child.send(ask);
    return this.next(expected);
  }

  private async next<T extends ProcessorAnswer['type']>(expected: T): Promise<Extract<ProcessorAnswer, { type: T }>> {
    while (this.answers.length === 0) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(`the processor exited (${this.child.exitCode ?? this.child.signalCode}): ${this.output()}`);
      }
      await new Promise<void>((resolveWait) => (this.waiting = resolveWait));
      this.waiting = null;
    }
    const answer = this.answers.shift() as ProcessorAnswer;
    if (answer.type !== expected) throw new Error(`the processor answered ${answer.type}, expected ${expected}`);
    return answer as Extract<ProcessorAnswer, { type: T }>;
  }

  /** Waits for the exit that follows `stop`; ends the child on an error path. */
  async close(): Promise<void> {
    const exit = exited(this.child);
    if (this.child.connected) this.child.kill('SIGKILL');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
  }
}

/**
 * The floor: a bare keep-alive `node:http` client, in this process, making the processor's call
 * (same path, headers and body) to the same simulator, reading each answer whole. CPU from
 * `process.cpuUsage()`: nothing else runs in this process meanwhile.
 */
class FloorClient {
  private readonly agent = new Agent({ keepAlive: true, maxSockets: FLOOR_CONCURRENCY });
  private readonly url: URL;

  constructor(
    baseUrl: string,
    private readonly call: CapturedCall,
  ) {
    this.url = new URL(call.path, baseUrl);
  }

  /** `count` calls, FLOOR_CONCURRENCY at a time. */
  async calls(count: number): Promise<void> {
    let left = count;
    await Promise.all(
      Array.from({ length: FLOOR_CONCURRENCY }, async () => {
        while (left-- > 0) await this.one();
      }),
    );
  }

  async cpuMsPerCall(count: number): Promise<number> {
    const before = process.cpuUsage();
    await this.calls(count);
    const used = process.cpuUsage(before);
    return (used.user + used.system) / 1000 / count;
  }

  close(): void {
    this.agent.destroy();
  }

  private one(): Promise<void> {
    return new Promise<void>((resolveCall, reject) => {
      const outgoing = httpRequest(
        this.url,
        { method: 'POST', headers: this.call.headers, agent: this.agent },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            if (response.statusCode === 200) resolveCall();
            else reject(new Error(`the floor's call answered ${response.statusCode}: ${Buffer.concat(chunks)}`));
          });
        },
      );
      outgoing.on('error', reject);
      outgoing.end(this.call.body);
    });
  }
}

/**
 * `sluice run` (ingest, processor and sink in one process, embedded) on a `label` job of
 * `embeddedItems` items: the whole process's CPU per item, from its first HTTP request (the job's
 * upload; before it, start-up) to its exit (the output written, everything stopped).
 */
async function embeddedCpu(upstream: string, scratch: string, options: FloorOptions): Promise<number[]> {
  const perItem: number[] = [];
  for (let i = 0; i < options.embeddedRounds; i++) {
    const cpu = await sluiceRunCpu(upstream, join(scratch, `run-${i}`), options.embeddedItems);
    if (cpu.firstRequestMicros === null) throw new Error('sluice run took no HTTP request');
    perItem.push((cpu.atExitMicros - cpu.firstRequestMicros) / 1000 / options.embeddedItems);
  }
  return perItem;
}

/** One `sluice run --operation label` on `items` items, with cpu-at-exit.ts preloaded. */
async function sluiceRunCpu(upstream: string, directory: string, items: number): Promise<ProcessCpu> {
  const dataDir = join(directory, 'data');
  const input = join(directory, 'items.jsonl');
  const output = join(directory, 'labels.jsonl');
  const cpuFile = join(directory, 'cpu');
  await mkdir(directory, { recursive: true });
  await writeFile(
    input,
    Array.from({ length: items }, (_, i) => `${JSON.stringify({ id: `t-${i}`, content: labelText(i) })}\n`).join(''),
  );
  const child = spawn(
    process.execPath,
    [
      '--import',
      pathToFileURL(join(here, 'cpu-at-exit.js')).href,
      CLI,
      'run',
      input,
      '--operation',
      'label',
      '--categories',
      LABEL_CATEGORIES.join(','),
      '-o',
      output,
    ],
    { env: { ...embeddedEnv(upstream, dataDir), SLUICE_BENCH_CPU_FILE: cpuFile }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const outputText = captureOutput(child);
  const code = await exited(child);
  if (code !== 0) throw new Error(`sluice run exited (${code}): ${outputText().slice(-2000)}`);
  // Every item must have been answered: failing items fast would look cheap.
  const errors = await stat(join(directory, 'labels.errors.jsonl')).catch(() => null);
  const lines = (await readFile(output, 'utf8')).split('\n').filter(Boolean).length;
  if (errors || lines !== items) throw new Error(`sluice run answered ${lines} of ${items} items`);
  return JSON.parse(await readFile(cpuFile, 'utf8')) as ProcessCpu;
}

/** The last lines a child wrote to stdout and stderr, for the error when it fails. */
function captureOutput(child: ChildProcess): () => string {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString()).slice(-8000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return () => text;
}

function exited(child: ChildProcess): Promise<number | string> {
  if (child.exitCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolveExit) => child.once('exit', (code, signal) => resolveExit(code ?? signal ?? 'unknown')));
}
