import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStore, type Store, type ValidationIssue } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateDomainLine } from './domain.js';
import { IntakePool, intakeJsonlOffThread } from './intake-pool.js';
import { type IntakeLimits, type IntakeResult, intakeJsonl, type LineValidator } from './jsonl-intake.js';

/**
 * The intake with its lines checked by worker threads against the intake in the request's thread:
 * the same problems (the first one above all), the same result and the same stored input, from
 * which the request messages are spliced (batches/submitter.ts). The workers run the built module
 * (`pnpm run build` first): worker threads do not load TypeScript.
 */

const WORKER = new URL('../../dist/intake/intake-worker.js', import.meta.url);

const limits: IntakeLimits = {
  maxBytes: 1 << 30,
  maxLineBytes: 4096,
  maxItems: 100_000,
  maxReportedErrors: 100,
  maxDepth: 16,
};

const OPERATIONS = ['classify', 'extract', 'summarize'] as const;

function line(index: number): string {
  const model = OPERATIONS[index % 3] as string;
  const body =
    model === 'classify'
      ? { model, text: `Ticket ${index}: charged twice. ✓`, labels: ['billing', 'bug'] }
      : model === 'extract'
        ? { model, text: `Order ${index}`, entities: ['order id'] }
        : { model, text: `Report ${index}` };
  return JSON.stringify({ custom_id: `item-${index}`, body });
}

/** `count` valid lines with `replace` swapping some (by 0-based index) for other text. */
function jsonl(count: number, replace: Record<number, string> = {}, tail = '\n'): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) lines.push(replace[i] ?? line(i));
  return lines.join('\n') + tail;
}

/** The body in pieces of uneven sizes, so lines straddle the pieces and the workers' chunks. */
function* pieces(text: string | Buffer): Generator<Buffer> {
  const bytes = Buffer.from(text);
  let start = 0;
  for (let i = 0; start < bytes.length; i++) {
    const size = [1, 7, 4093, 65_536, 300_001][i % 5] as number;
    yield bytes.subarray(start, start + size);
    start += size;
  }
}

/** As the domain route does: the operation's first line answers for its model; here, summarize is not served. */
function endpointCheck() {
  const seen = new Set<string>();
  return (item: { discriminator: string }, at: number): ValidationIssue[] | null => {
    if (seen.has(item.discriminator)) return null;
    seen.add(item.discriminator);
    return item.discriminator === 'summarize'
      ? [{ line: at, param: 'body.model', code: 'model_not_found', message: 'summarize is not served' }]
      : null;
  };
}

let directory: string;
let store: Store;
let pool: IntakePool;
let run = 0;

beforeAll(async () => {
  directory = await mkdtemp(join(tmpdir(), 'sluice-intake-pool-'));
  store = createLocalStore({ directory });
  pool = new IntakePool(2, WORKER);
});
afterAll(async () => {
  await pool.close();
  await rm(directory, { recursive: true, force: true });
});

interface Outcome {
  result?: IntakeResult;
  error?: string;
  stored: string | null;
}

async function both(
  body: string | Buffer,
  options: { limits?: Partial<IntakeLimits>; refuseSummarize?: boolean } = {},
): Promise<{ inThread: Outcome; offThread: Outcome }> {
  const intakeOptions = { limits: { ...limits, ...options.limits }, itemLimitName: 'SLUICE_MAX_BATCH_ITEMS' };
  const outcome = async (intakeRun: (key: string) => Promise<IntakeResult>): Promise<Outcome> => {
    const key = `inputs/run-${run++}.jsonl`;
    try {
      const result = await intakeRun(key);
      return { result, stored: (await store.read(key))?.toString('utf8') ?? null };
    } catch (error) {
      return { error: `${(error as Error).name}: ${(error as Error).message}`, stored: await readOrNull(key) };
    }
  };
  const inThread = await outcome((key) => {
    const after = options.refuseSummarize ? endpointCheck() : null;
    const validate: LineValidator = (value, at) => {
      const verdict = validateDomainLine(value, at);
      if (!('item' in verdict) || !after) return verdict;
      const refused = after(verdict.item, at);
      return refused ? { issues: refused } : verdict;
    };
    return intakeJsonl(pieces(body), { store, key }, validate, intakeOptions);
  });
  const offThread = await outcome((key) =>
    intakeJsonlOffThread(
      pieces(body),
      { store, key },
      { validator: 'domain', ...(options.refuseSummarize ? { after: endpointCheck() } : {}) },
      intakeOptions,
      pool,
    ),
  );
  return { inThread, offThread };
}

async function readOrNull(key: string): Promise<string | null> {
  return (await store.read(key))?.toString('utf8') ?? null;
}

describe('intake with its lines checked by worker threads', () => {
  it('stores the same input, from which the same messages are made', async () => {
    const { inThread, offThread } = await both(jsonl(5000));
    expect(inThread.result).toEqual({ items: 5000, issues: [], truncated: false });
    expect(offThread).toEqual(inThread);
    expect(offThread.stored?.split('\n')[4321]).toContain('"custom_id":"item-4321"');
  });

  it('reports the same first error for a bad line in the middle, and keeps nothing', async () => {
    const body = jsonl(5000, { 2500: '{"custom_id": "item-2500", "body": {"model": "classify", "text": ' });
    const { inThread, offThread } = await both(body, { limits: { maxReportedErrors: 1 } });
    expect(inThread.result?.issues).toEqual([
      {
        line: 2501,
        param: null,
        code: 'invalid_json_line',
        message: expect.stringMatching(/^not valid JSON: /) as unknown as string,
      },
    ]);
    expect(inThread.result?.truncated).toBe(false);
    expect(inThread.stored).toBeNull();
    expect(offThread).toEqual(inThread);
  });

  it('reports every kind of problem the same way, in the same order', async () => {
    const body = jsonl(
      6000,
      {
        0: `\uFEFF${line(0)}`,
        10: '',
        11: '   ',
        300: line(299), // a repeated custom_id
        1024: '[1, 2]',
        1500: '{"custom_id": "x"}',
        2047: '{"body": {"model": "nope"}}',
        2048: '{"custom_id": 1, "body": {"model": "classify", "text": 3}}',
        3000: `{"custom_id": "deep", "body": {"model": "classify", "text": ${'['.repeat(40)}${']'.repeat(40)}}}`,
        4000: 'x'.repeat(5000),
        5000: '{"custom_id": "late-dup", "body": {"model": "classify", "text": "a", "labels": ["a"]}}',
        5001: '{"custom_id": "late-dup", "body": {"model": "classify", "text": "a", "labels": ["a"]}}',
      },
      '\n\n\n',
    );
    const { inThread, offThread } = await both(Buffer.concat([Buffer.from(body), Buffer.from([0xff, 0x0a])]));
    expect(inThread.result?.issues.length).toBeGreaterThan(9);
    expect(offThread).toEqual(inThread);
  });

  it('confirms a repeated custom_id against the stored items alike', async () => {
    const { inThread, offThread } = await both(jsonl(3000, { 2999: line(5) }));
    expect(inThread.result?.issues).toEqual([
      {
        line: 3000,
        param: 'custom_id',
        code: 'duplicate_custom_id',
        message: "custom_id 'item-5' was already used on line 6",
      },
    ]);
    expect(offThread).toEqual(inThread);
  });

  it('applies the check across lines in order (an operation whose model is not served)', async () => {
    const { inThread, offThread } = await both(jsonl(4000), { refuseSummarize: true });
    expect(inThread.result?.issues.map((issue) => issue.line)).toEqual([3]);
    expect(offThread).toEqual(inThread);
  });

  it('stops at the item limit, and at the problems cap, alike', async () => {
    const overLimit = await both(jsonl(3000), { limits: { maxItems: 2500 } });
    expect(overLimit.inThread.result?.issues.map((issue) => issue.code)).toEqual(['too_many_requests']);
    expect(overLimit.offThread).toEqual(overLimit.inThread);
    const bad: Record<number, string> = {};
    for (let i = 100; i < 3000; i += 7) bad[i] = '{}';
    const capped = await both(jsonl(3000, bad), { limits: { maxReportedErrors: 50 } });
    expect(capped.inThread.result?.truncated).toBe(true);
    expect(capped.offThread).toEqual(capped.inThread);
  });

  it('refuses a body over its limit with the same error, unless the problems cap came first', async () => {
    const tooBig = await both(jsonl(4000), { limits: { maxBytes: 200_000 } });
    expect(tooBig.inThread.error).toMatch(/^PayloadTooLargeError: /);
    expect(tooBig.offThread).toEqual(tooBig.inThread);
    const bad: Record<number, string> = {};
    for (let i = 0; i < 20; i++) bad[i] = '{}';
    const capFirst = await both(jsonl(4000, bad), { limits: { maxBytes: 200_000, maxReportedErrors: 5 } });
    expect(capFirst.inThread.result?.truncated).toBe(true);
    expect(capFirst.offThread).toEqual(capFirst.inThread);
  });

  it('answers an empty body alike', async () => {
    const { inThread, offThread } = await both('\n\n');
    expect(inThread.result?.issues.map((issue) => issue.code)).toEqual(['empty_file']);
    expect(offThread).toEqual(inThread);
  });
});
