import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  attemptsOf,
  backoffDelayMs,
  isRetriableSluiceApiAnswer,
  isRetriableSluiceApiStatus,
  isRetriableUpstreamStatus,
  parseRetryAfter,
  retryDelayMs,
  retrying,
  type RetryPolicy,
  sleep,
} from './index.js';

interface StatusRule {
  retriable: { statuses: number[]; atLeast: number };
  examples: Record<string, boolean>;
}
const table = JSON.parse(readFileSync(new URL('./retriable-statuses.json', import.meta.url), 'utf8')) as {
  upstream: StatusRule;
  sluiceApi: StatusRule & { retriableCodes: { '409': string[] } };
};

function expectRule(rule: StatusRule, isRetriable: (status: number) => boolean) {
  for (const [status, retriable] of Object.entries(rule.examples)) {
    expect([status, isRetriable(Number(status))]).toEqual([status, retriable]);
  }
  for (let status = 100; status < 600; status++) {
    const expected = rule.retriable.statuses.includes(status) || status >= rule.retriable.atLeast;
    expect([status, isRetriable(status)]).toEqual([status, expected]);
  }
}

describe('the retry rules', () => {
  it("retry an upstream's answers as the shared table says (408, 409, 429, 5xx)", () => {
    expectRule(table.upstream, isRetriableUpstreamStatus);
  });

  it('retry Sluice API answers as the shared table says, never a 409 (the Python SDK checks the same table)', () => {
    expectRule(table.sluiceApi, isRetriableSluiceApiStatus);
    expect(isRetriableSluiceApiStatus(409)).toBe(false);
  });

  it('retry a 409 idempotency_key_in_use (the first request with the key still runs) and no other 409', () => {
    expect(table.sluiceApi.retriableCodes['409']).toEqual(['idempotency_key_in_use']);
    for (const code of table.sluiceApi.retriableCodes['409']) expect(isRetriableSluiceApiAnswer(409, code)).toBe(true);
    for (const code of ['idempotency_key_reused', 'conflict', 'batch_not_retriable', null]) {
      expect([code, isRetriableSluiceApiAnswer(409, code)]).toEqual([code, false]);
    }
    // Without a code it is the status rule; the code changes nothing for another status.
    expectRule(table.sluiceApi, (status) => isRetriableSluiceApiAnswer(status, null));
    expect(isRetriableSluiceApiAnswer(400, 'idempotency_key_in_use')).toBe(false);
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

/** An error as Sluice's taxonomy shapes them: a `retriable` flag and, for 429s, the server's delay. */
class FlaggedError extends Error {
  constructor(
    readonly retriable: boolean,
    readonly retryAfterMs: number | null = null,
  ) {
    super(retriable ? 'try again' : 'give up');
  }
}

const QUICK: RetryPolicy = { maxAttempts: 3, initialMs: 1, maxMs: 1 };

describe('retrying', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("returns fn's value, handing it the attempt number", async () => {
    const seen: number[] = [];
    const value = await retrying(QUICK, (attempt) => {
      seen.push(attempt);
      if (attempt < 3) throw new FlaggedError(true);
      return `done on ${attempt}`;
    });
    expect(value).toBe('done on 3');
    expect(seen).toEqual([1, 2, 3]);
  });

  it('stops at maxAttempts and throws the last error as it is, with the attempts made', async () => {
    const thrown: FlaggedError[] = [];
    const failing = retrying(QUICK, () => {
      thrown.push(new FlaggedError(true));
      throw thrown.at(-1);
    });
    const error = await failing.catch((e: unknown) => e);
    expect(thrown).toHaveLength(3);
    expect(error).toBe(thrown[2]);
    expect(attemptsOf(error)).toBe(3);
  });

  it('stops at once on an error that is not retriable (by its flag, or by the policy)', async () => {
    let calls = 0;
    const notRetriable = await retrying(QUICK, () => {
      calls++;
      throw new FlaggedError(false);
    }).catch((e: unknown) => e);
    expect(calls).toBe(1);
    expect(attemptsOf(notRetriable)).toBe(1);

    calls = 0;
    await expect(
      retrying(QUICK, () => {
        calls++;
        throw new Error('no flag at all');
      }),
    ).rejects.toThrow('no flag at all');
    expect(calls).toBe(1);

    calls = 0;
    const policy = { ...QUICK, retriable: (e: unknown) => e instanceof TypeError };
    await expect(
      retrying(policy, () => {
        calls++;
        throw calls === 1 ? new TypeError('transient') : new FlaggedError(true);
      }),
    ).rejects.toThrow('try again');
    expect(calls).toBe(2);
  });

  it("waits the server's delay instead of the backoff", async () => {
    vi.useFakeTimers();
    const waits: number[] = [];
    let calls = 0;
    const policy: RetryPolicy = {
      maxAttempts: 2,
      initialMs: 10,
      maxMs: 10,
      onRetry: (_error, _attempt, delayMs) => waits.push(delayMs),
    };
    const done = retrying(policy, () => {
      calls++;
      if (calls === 1) throw new FlaggedError(true, 5000);
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(4999);
    expect(calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await expect(done).resolves.toBe('ok');
    expect(waits).toEqual([5000]);

    // A site whose errors do not carry the delay says where it is.
    waits.length = 0;
    const asked = retrying({ ...policy, retryAfterMs: () => 300 }, (attempt) => {
      if (attempt === 1) throw new FlaggedError(true);
      return 'ok';
    });
    await vi.advanceTimersByTimeAsync(300);
    await expect(asked).resolves.toBe('ok');
    expect(waits).toEqual([300]);
  });

  it('tells onRetry the error, the failed attempt and the wait, with backoff growing', async () => {
    const told: [unknown, number, number][] = [];
    const error = new FlaggedError(true);
    const policy: RetryPolicy = {
      maxAttempts: 4,
      initialMs: 2,
      maxMs: 5,
      random: () => 0,
      onRetry: (e, attempt, delayMs) => told.push([e, attempt, delayMs]),
    };
    await expect(
      retrying(policy, () => {
        throw error;
      }),
    ).rejects.toBe(error);
    expect(told).toEqual([
      [error, 1, 2],
      [error, 2, 4],
      [error, 3, 5],
    ]);
  });

  it('ends a wait at once when the signal aborts, with its reason', async () => {
    const controller = new AbortController();
    let calls = 0;
    const started = performance.now();
    const policy: RetryPolicy = { maxAttempts: 5, initialMs: 60_000, maxMs: 60_000, signal: controller.signal };
    const failing = retrying(policy, () => {
      calls++;
      throw new FlaggedError(true);
    });
    setTimeout(() => controller.abort(new Error('stopping')), 20);
    await expect(failing).rejects.toThrow('stopping');
    expect(calls).toBe(1);
    expect(performance.now() - started).toBeLessThan(1000);
  });

  it('keeps going with Infinity until the signal aborts', async () => {
    const controller = new AbortController();
    let calls = 0;
    const policy: RetryPolicy = {
      maxAttempts: Infinity,
      initialMs: 0,
      maxMs: 0,
      signal: controller.signal,
      onRetry: (_error, attempt) => {
        if (attempt === 50) controller.abort(new Error('stopped after 50'));
      },
    };
    await expect(
      retrying(policy, () => {
        calls++;
        throw new FlaggedError(true);
      }),
    ).rejects.toThrow('stopped after 50');
    expect(calls).toBe(50);
  });

  it('gives up rather than start a wait past giveUpAfterMs', async () => {
    vi.useFakeTimers();
    let calls = 0;
    const error = new FlaggedError(true);
    const policy: RetryPolicy = {
      maxAttempts: Infinity,
      initialMs: 1000,
      maxMs: 1000,
      random: () => 0,
      giveUpAfterMs: 2500,
    };
    const failing = retrying(policy, () => {
      calls++;
      throw error;
    }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(2000);
    // Attempts at 0, 1000 and 2000 ms; the next wait would end at 3000, past the deadline.
    expect(await failing).toBe(error);
    expect(calls).toBe(3);
    expect(attemptsOf(error)).toBe(3);
  });

  it('refuses a policy without an attempt', async () => {
    await expect(retrying({ ...QUICK, maxAttempts: 0 }, () => 'never')).rejects.toThrow(RangeError);
  });
});
