import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, isRetriableStatus, parseRetryAfter, retryDelayMs, sleep } from './index.js';

const table = JSON.parse(readFileSync(new URL('./retriable-statuses.json', import.meta.url), 'utf8')) as {
  retriable: { statuses: number[]; atLeast: number };
  examples: Record<string, boolean>;
};

describe('the retry rules', () => {
  it('retry what the shared table says (the Python SDK checks the same table)', () => {
    for (const [status, retriable] of Object.entries(table.examples)) {
      expect([status, isRetriableStatus(Number(status))]).toEqual([status, retriable]);
    }
    for (let status = 100; status < 600; status++) {
      const expected = table.retriable.statuses.includes(status) || status >= table.retriable.atLeast;
      expect([status, isRetriableStatus(status)]).toEqual([status, expected]);
    }
  });

  it('back off exponentially, capped, shortened by up to a quarter', () => {
    const options = { initialMs: 500, maxMs: 8000 };
    expect([0, 1, 2, 3, 4, 5].map((r) => backoffDelayMs(r, { ...options, random: () => 0 }))).toEqual([
      500, 1000, 2000, 4000, 8000, 8000,
    ]);
    expect(backoffDelayMs(1, { ...options, random: () => 1 })).toBe(750);
  });

  it("take the server's delay when it is sane", () => {
    const options = { initialMs: 500, maxMs: 8000, random: () => 0 };
    expect(retryDelayMs(0, 250, options)).toBe(250);
    expect(retryDelayMs(0, 3_600_000, options)).toBe(500);
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(parseRetryAfter(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(parseRetryAfter(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'Tue, 01 Jan 2030 00:00:03 GMT' }), now)).toBe(3000);
    expect(parseRetryAfter(new Headers({ 'retry-after': 'soon' }), now)).toBeNull();
  });

  it('sleep ends at once when its signal aborts', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const sleeping = sleep(60_000, controller.signal);
    setTimeout(() => controller.abort(new Error('stopping')), 20);
    await expect(sleeping).rejects.toThrow('stopping');
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(sleep(10)).resolves.toBeUndefined();
  });
});
