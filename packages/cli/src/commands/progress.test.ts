import { describe, expect, it } from 'vitest';
import {
  formatDuration,
  formatProgressLine,
  LineReporter,
  type ProgressSnapshot,
  TerminalReporter,
} from './progress.js';

const snapshot = (done: number, overrides: Partial<ProgressSnapshot> = {}): ProgressSnapshot => ({
  id: 'batch_1',
  status: 'in_progress',
  total: 1000,
  completed: done - 3,
  failed: 3,
  cancelled: 0,
  expired: 0,
  throughputPerMinute: null,
  etaSeconds: null,
  costUsd: null,
  realtimeCostUsd: null,
  ...overrides,
});

const longId = 'batch_0123456789abcdef0123456789abcdef';

describe('formatProgressLine', () => {
  it("shows the server's counts, pace and time left", () => {
    expect(formatProgressLine(snapshot(120, { throughputPerMinute: 2473.8, etaSeconds: 21 }))).toBe(
      'batch_1: in_progress 120/1000 done, 3 failed · eta 21s · 41.2 items/s',
    );
  });

  it('counts cancelled and expired items apart from failed ones', () => {
    const line = formatProgressLine(
      snapshot(1000, { status: 'cancelled', completed: 600, failed: 3, cancelled: 390, expired: 7 }),
    );
    expect(line).toBe('batch_1: cancelled 1000/1000 done, 3 failed, 390 cancelled, 7 expired');
  });

  it('says the time left is unknown until the server knows it, and leaves it out once final', () => {
    expect(formatProgressLine(snapshot(3))).toBe('batch_1: in_progress 3/1000 done, 3 failed · eta ?');
    expect(formatProgressLine(snapshot(1000, { status: 'completed', throughputPerMinute: 3000, etaSeconds: 0 }))).toBe(
      'batch_1: completed 1000/1000 done, 3 failed · 50.0 items/s',
    );
  });

  it('shows the cost so far, and what a cheaper tier saved against realtime', () => {
    expect(formatProgressLine(snapshot(1000, { status: 'completed', costUsd: 0.42, realtimeCostUsd: 0.82 }))).toBe(
      'batch_1: completed 1000/1000 done, 3 failed · $0.42 (saved $0.40 vs realtime)',
    );
    // All at realtime: nothing saved, nothing said about it; a fraction of a cent keeps two digits.
    expect(formatProgressLine(snapshot(3, { costUsd: 0.000123, realtimeCostUsd: 0.000123 }))).toBe(
      'batch_1: in_progress 3/1000 done, 3 failed · eta ? · $0.00012',
    );
    // No price for the model: no cost shown.
    expect(formatProgressLine(snapshot(3))).not.toContain('$');
  });

  it('fits a narrow terminal: shortens the id, then drops the pace, never exceeding the width', () => {
    const wide = formatProgressLine(snapshot(120, { id: longId, throughputPerMinute: 600, etaSeconds: 88 }), 200);
    expect(wide).toBe(`${longId}: in_progress 120/1000 done, 3 failed · eta 1m28s · 10.0 items/s`);
    for (const columns of [79, 60, 50, 40, 30]) {
      const line = formatProgressLine(snapshot(120, { id: longId, throughputPerMinute: 600, etaSeconds: 88 }), columns);
      expect(line.length).toBeLessThanOrEqual(columns);
      // The numbers that matter survive as long as anything does.
      if (columns >= 50) expect(line).toContain('120/1000 done, 3 failed');
    }
    const sixty = formatProgressLine(snapshot(120, { id: longId, throughputPerMinute: 600, etaSeconds: 88 }), 60);
    expect(sixty).toContain('eta 1m28s');
    expect(sixty).toMatch(/^batch_…/);
  });
});

describe('TerminalReporter', () => {
  const reporterAt = (columns: number) => {
    const writes: string[] = [];
    const reporter = new TerminalReporter({ columns, write: (chunk: string) => writes.push(chunk) > 0 } as never);
    reporter.update(snapshot(120, { id: longId, throughputPerMinute: 600, etaSeconds: 88 }));
    reporter.stop();
    return writes.join('').replace('\r\x1b[K', '').trimEnd();
  };

  it('fits the line to the terminal: a narrow one and a wide one', () => {
    const narrow = reporterAt(50);
    expect(narrow.length).toBeLessThan(50);
    expect(narrow).toContain('120/1000 done');
    const wide = reporterAt(160);
    expect(wide).toContain(longId);
    expect(wide).toContain('10.0 items/s');
  });
});

describe('formatDuration', () => {
  it('uses the two largest units', () => {
    expect([0, 21.4, 59.6, 185, 3600, 3725, 90_000].map(formatDuration)).toEqual([
      '0s',
      '21s',
      '1m00s',
      '3m05s',
      '1h00m',
      '1h02m',
      '25h00m',
    ]);
  });
});

describe('LineReporter', () => {
  it('prints at most one line per second, and every change of status at once', () => {
    const lines: string[] = [];
    let now = 0;
    const reporter = new LineReporter(
      (line) => lines.push(line),
      1000,
      () => now,
    );
    reporter.update(snapshot(3, { status: 'validating' }));
    now = 200;
    reporter.update(snapshot(10));
    now = 400;
    reporter.update(snapshot(20));
    now = 1300;
    reporter.update(snapshot(30));
    now = 1500;
    reporter.update(snapshot(1000, { status: 'completed' }));
    expect(lines.map((line) => line.split(' ').slice(0, 3).join(' '))).toEqual([
      'batch_1: validating 3/1000',
      'batch_1: in_progress 10/1000',
      'batch_1: in_progress 30/1000',
      'batch_1: completed 1000/1000',
    ]);
  });
});
