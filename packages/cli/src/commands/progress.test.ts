import { describe, expect, it } from 'vitest';
import { formatDuration, formatProgressLine, LineReporter, RateMeter, type ProgressSnapshot } from './progress.js';

const snapshot = (done: number, overrides: Partial<ProgressSnapshot> = {}): ProgressSnapshot => ({
  id: 'batch_1',
  status: 'in_progress',
  total: 1000,
  completed: done - 3,
  failed: 3,
  ...overrides,
});

describe('formatProgressLine', () => {
  it('shows done/total, failures, rate and ETA', () => {
    expect(formatProgressLine(snapshot(120), { itemsPerSecond: 41.23, etaSeconds: 21.3 })).toBe(
      'batch_1: in_progress 120/1000 done (3 failed) 41.2 items/s eta 21s',
    );
  });

  it('leaves the rate out before it is known, and the ETA once the batch is no longer running', () => {
    expect(
      formatProgressLine(snapshot(0, { failed: 0, completed: 0 }), { itemsPerSecond: null, etaSeconds: null }),
    ).toBe('batch_1: in_progress 0/1000 done (0 failed)');
    expect(formatProgressLine(snapshot(500), { itemsPerSecond: 0, etaSeconds: null })).toBe(
      'batch_1: in_progress 500/1000 done (3 failed) 0.0 items/s eta ?',
    );
    expect(formatProgressLine(snapshot(1000, { status: 'completed' }), { itemsPerSecond: 50, etaSeconds: 0 })).toBe(
      'batch_1: completed 1000/1000 done (3 failed) 50.0 items/s',
    );
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

describe('RateMeter', () => {
  it('measures items per second over the recent window, and the time left at that rate', () => {
    const meter = new RateMeter(10_000);
    expect(meter.sample(snapshot(3), 0)).toEqual({ itemsPerSecond: null, etaSeconds: null });
    expect(meter.sample(snapshot(103), 2_000)).toEqual({ itemsPerSecond: 50, etaSeconds: 897 / 50 });
    meter.sample(snapshot(203), 10_000);
    // The window now starts at 2s: the pace of the last 10 s is 10 items/s.
    expect(meter.sample(snapshot(203), 12_000).itemsPerSecond).toBe(10);
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
