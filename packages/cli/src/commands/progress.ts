import type { BatchStatus } from '@sluice/core';
import { SingleBar } from 'cli-progress';

/** Where a batch stands: the counts both the job object and the batch object carry. */
export interface ProgressSnapshot {
  id: string;
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
}

export interface Throughput {
  /** Finished items per second over the recent window; null before two reads. */
  itemsPerSecond: number | null;
  /** Seconds to finish at that rate; null when unknown (no rate yet, or no progress). */
  etaSeconds: number | null;
}

/**
 * Finished items per second over the last `windowMs`: recent enough to follow a change of pace
 * (a rate limit kicking in), long enough not to jump with every poll.
 */
export class RateMeter {
  private readonly samples: { atMs: number; done: number }[] = [];

  constructor(private readonly windowMs = 30_000) {}

  sample(snapshot: ProgressSnapshot, atMs: number): Throughput {
    const done = snapshot.completed + snapshot.failed;
    this.samples.push({ atMs, done });
    // Keep one sample older than the window, so the rate always spans at least the window.
    while (this.samples.length > 2 && (this.samples[1]?.atMs ?? atMs) <= atMs - this.windowMs) this.samples.shift();
    const first = this.samples[0];
    if (!first || atMs <= first.atMs) return { itemsPerSecond: null, etaSeconds: null };
    const itemsPerSecond = Math.max(0, (done - first.done) / ((atMs - first.atMs) / 1000));
    const remaining = Math.max(0, snapshot.total - done);
    return { itemsPerSecond, etaSeconds: itemsPerSecond > 0 ? remaining / itemsPerSecond : null };
  }
}

/** `batch_…: in_progress 120/1000 done (3 failed) 41.2 items/s eta 21s`. */
export function formatProgressLine(snapshot: ProgressSnapshot, throughput: Throughput): string {
  const done = snapshot.completed + snapshot.failed;
  let line = `${snapshot.id}: ${snapshot.status} ${done}/${snapshot.total} done (${snapshot.failed} failed)`;
  const running = snapshot.status === 'in_progress';
  const rate = throughput.itemsPerSecond;
  // Once the batch stopped running, a rate of 0 says only that nothing finished since the last read.
  if (rate !== null && (running || rate > 0)) line += ` ${rate.toFixed(1)} items/s`;
  if (rate !== null && running)
    line += ` eta ${throughput.etaSeconds === null ? '?' : formatDuration(throughput.etaSeconds)}`;
  return line;
}

/** `21s`, `3m05s`, `1h02m`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressReporter {
  update(snapshot: ProgressSnapshot): void;
  /** Leaves the last state on screen. */
  stop(): void;
}

/** A live bar on a terminal; elsewhere (logs, CI), plain lines. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  return stream.isTTY ? new BarReporter(stream) : new LineReporter((line) => stream.write(`${line}\n`));
}

/** Plain progress lines, at most one per `minIntervalMs`, plus one for every change of status. */
export class LineReporter implements ProgressReporter {
  private readonly meter = new RateMeter();
  private lastPrintedAtMs = -Infinity;
  private lastStatus: BatchStatus | null = null;

  constructor(
    private readonly print: (line: string) => void,
    private readonly minIntervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  update(snapshot: ProgressSnapshot): void {
    const atMs = this.now();
    const throughput = this.meter.sample(snapshot, atMs);
    if (snapshot.status === this.lastStatus && atMs - this.lastPrintedAtMs < this.minIntervalMs) return;
    this.lastStatus = snapshot.status;
    this.lastPrintedAtMs = atMs;
    this.print(formatProgressLine(snapshot, throughput));
  }

  stop(): void {}
}

class BarReporter implements ProgressReporter {
  private readonly meter = new RateMeter();
  private readonly bar: SingleBar;
  private started = false;

  constructor(stream: NodeJS.WriteStream) {
    this.bar = new SingleBar({
      stream,
      format: '{id} {status} [{bar}] {value}/{total} done | {failed} failed | {rate} items/s | eta {left}',
      barsize: 30,
      emptyOnZero: true,
      hideCursor: false,
    });
  }

  update(snapshot: ProgressSnapshot): void {
    const throughput = this.meter.sample(snapshot, Date.now());
    const done = snapshot.completed + snapshot.failed;
    const payload = {
      id: snapshot.id,
      status: snapshot.status,
      failed: snapshot.failed,
      rate: throughput.itemsPerSecond === null ? '-' : throughput.itemsPerSecond.toFixed(1),
      // Not `eta`: cli-progress fills that one itself, from its own estimate.
      left: throughput.etaSeconds === null ? '?' : formatDuration(throughput.etaSeconds),
    };
    if (!this.started) {
      this.bar.start(snapshot.total, done, payload);
      this.started = true;
      return;
    }
    this.bar.setTotal(snapshot.total);
    this.bar.update(done, payload);
  }

  stop(): void {
    if (this.started) this.bar.stop();
  }
}
