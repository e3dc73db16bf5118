import { describe, expect, it } from 'vitest';
import { ThroughputWindow } from './throughput.js';

describe('ThroughputWindow', () => {
  it('is unknown until two observations, then gives the pace and the time left', () => {
    const window = new ThroughputWindow(60_000);
    window.observe(0, 0);
    expect(window.perMinute()).toBeNull();
    expect(window.etaSeconds(100)).toBeNull();
    window.observe(30, 10_000); // 30 items in 10 s = 180 per minute
    expect(window.perMinute()).toBe(180);
    expect(window.etaSeconds(90)).toBe(30);
    expect(window.etaSeconds(0)).toBe(0);
  });

  it('follows a change of pace: old observations leave the window', () => {
    const window = new ThroughputWindow(10_000);
    window.observe(0, 0);
    window.observe(1000, 10_000); // fast: 6000 per minute
    window.observe(1010, 20_000);
    window.observe(1020, 30_000); // slow: 60 per minute over the last 10 s (or so)
    expect(window.perMinute()).toBeLessThan(200);
    expect(window.perMinute()).toBeGreaterThan(0);
  });

  it('a stall lowers the pace instead of keeping the last one', () => {
    const window = new ThroughputWindow(60_000);
    window.observe(0, 0);
    window.observe(60, 10_000);
    const before = window.perMinute() as number;
    window.observe(60, 50_000);
    expect(window.perMinute()).toBeLessThan(before);
    expect(window.etaSeconds(10)).toBeGreaterThan(window.etaSeconds(5) as number);
  });
});
