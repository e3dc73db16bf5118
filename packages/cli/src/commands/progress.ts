import { type BatchStatus, isTerminal } from '@sluice/core';

/**
 * Where a batch stands, as the server reports it: the counts both the job object and the batch
 * object carry, and the pace and time left the sink measured. The CLI shows these numbers, not
 * its own, so a user sees what the dashboard and the SDKs see.
 */
export interface ProgressSnapshot {
  id: string;
  status: BatchStatus;
  total: number;
  completed: number;
  failed: number;
  cancelled: number;
  expired: number;
  /** Items finished per minute lately; null until the server knows. */
  throughputPerMinute: number | null;
  /** Seconds left; null until the server knows. */
  etaSeconds: number | null;
  /** USD so far at each item's tier, and the same tokens at realtime; null when unknown (docs/costs.md). */
  costUsd: number | null;
  realtimeCostUsd: number | null;
}

/** Columns when the stream is not a terminal (logs, CI): long enough never to cut anything useful. */
const UNLIMITED = Number.POSITIVE_INFINITY;
const ELLIPSIS = '…';

/**
 * `batch_…: in_progress 120/1000 done, 3 failed, 2 cancelled · eta 21s · 41.2 items/s · $0.42 (saved
 * $0.40 vs realtime)`, cut to `columns`: the id is shortened in the middle first (its tail tells
 * batches apart), then the cost goes, then the pace, then the eta (the counts stay, cancelled and
 * expired included), and only then is the line cut.
 */
export function formatProgressLine(snapshot: ProgressSnapshot, columns: number = UNLIMITED): string {
  const done = snapshot.completed + snapshot.failed + snapshot.cancelled + snapshot.expired;
  const running = !isTerminal(snapshot.status);
  const counts = [
    `${done}/${snapshot.total} done`,
    `${snapshot.failed} failed`,
    ...(snapshot.cancelled > 0 ? [`${snapshot.cancelled} cancelled`] : []),
    ...(snapshot.expired > 0 ? [`${snapshot.expired} expired`] : []),
  ];
  const rate = snapshot.throughputPerMinute;
  // Optional parts, most useful first; dropped from the end to fit.
  const optional: string[] = [];
  if (running) optional.push(`eta ${snapshot.etaSeconds === null ? '?' : formatDuration(snapshot.etaSeconds)}`);
  if (rate !== null && (running || rate > 0)) optional.push(`${(rate / 60).toFixed(1)} items/s`);
  if (snapshot.costUsd !== null) optional.push(formatCost(snapshot.costUsd, snapshot.realtimeCostUsd));
  const build = (id: string, parts: string[]) =>
    `${id}: ${snapshot.status} ${counts.join(', ')}${parts.map((part) => ` · ${part}`).join('')}`;
  const shortened = (parts: string[]) => {
    // Head and tail of the id, at least `batch_…` and 4 characters of its tail.
    const overflow = build(snapshot.id, parts).length - columns;
    const keep = Math.max(11, snapshot.id.length - overflow);
    return keep < snapshot.id.length
      ? build(`${snapshot.id.slice(0, 6)}${ELLIPSIS}${snapshot.id.slice(-(keep - 7))}`, parts)
      : build(snapshot.id, parts);
  };
  let line = build(snapshot.id, optional);
  for (let kept = optional.length; kept >= 0; kept--) {
    const parts = optional.slice(0, kept);
    line = build(snapshot.id, parts);
    if (line.length <= columns) return line;
    line = shortened(parts);
    if (line.length <= columns) return line;
  }
  return line.length > columns ? `${line.slice(0, Math.max(0, columns - 1))}${ELLIPSIS}` : line;
}

/** `$0.42 (saved $0.40 vs realtime)`: a cost, and what a cheaper tier saved on it (when anything). */
export function formatCost(costUsd: number, realtimeCostUsd: number | null): string {
  const saved = realtimeCostUsd === null ? 0 : realtimeCostUsd - costUsd;
  return saved >= 0.00005 ? `${usd(costUsd)} (saved ${usd(saved)} vs realtime)` : usd(costUsd);
}

/** Cents from a cent up; below, two significant digits (a small job costs fractions of a cent). */
function usd(value: number): string {
  return `$${value >= 0.01 || value === 0 ? value.toFixed(2) : value.toPrecision(2)}`;
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

/** One line rewritten in place on a terminal, as wide as the terminal; elsewhere (logs, CI), plain lines. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  return stream.isTTY ? new TerminalReporter(stream) : new LineReporter((line) => stream.write(`${line}\n`));
}

/** Plain progress lines, at most one per `minIntervalMs`, plus one for every change of status. */
export class LineReporter implements ProgressReporter {
  private lastPrintedAtMs = -Infinity;
  private lastStatus: BatchStatus | null = null;

  constructor(
    private readonly print: (line: string) => void,
    private readonly minIntervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  update(snapshot: ProgressSnapshot): void {
    const atMs = this.now();
    if (snapshot.status === this.lastStatus && atMs - this.lastPrintedAtMs < this.minIntervalMs) return;
    this.lastStatus = snapshot.status;
    this.lastPrintedAtMs = atMs;
    this.print(formatProgressLine(snapshot));
  }

  stop(): void {}
}

/**
 * The progress line on a terminal, redrawn in place and fitted to `stream.columns` at every
 * update (the window may be resized). One column is left free: writing the last column makes
 * some terminals wrap, and the next redraw would then leave a line behind.
 */
export class TerminalReporter implements ProgressReporter {
  private drawn = false;

  constructor(private readonly stream: Pick<NodeJS.WriteStream, 'write' | 'columns'>) {}

  update(snapshot: ProgressSnapshot): void {
    const columns = Math.max(20, (this.stream.columns || 80) - 1);
    this.stream.write(`\r\x1b[K${formatProgressLine(snapshot, columns)}`);
    this.drawn = true;
  }

  stop(): void {
    if (this.drawn) this.stream.write('\n');
    this.drawn = false;
  }
}
