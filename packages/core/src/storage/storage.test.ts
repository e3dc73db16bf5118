import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ItemResultMessage } from '../contracts/messages.js';
import { requestLineId } from '../ids.js';
import { DataLayout } from './layout.js';
import { readOutputPage, writeFinalOutputs } from './output.js';
import { readResults, ResultWriter } from './results.js';

let root: string;
let layout: DataLayout;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'sluice-storage-'));
  layout = new DataLayout(root);
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function result(index: number, ok = true): ItemResultMessage {
  return {
    type: 'item',
    batch_id: 'batch_x',
    index,
    custom_id: `c${index}`,
    id: requestLineId('batch_x', index),
    api: 'domain',
    discriminator: 'classify',
    ok,
    response: ok ? { status_code: 200, request_id: `r${index}`, body: { n: index } } : null,
    error: ok ? null : { code: 'upstream_bad_request', message: 'no' },
    usage: { input_tokens: 10, output_tokens: index },
    attempts: 1,
    finished_at: 1,
    item: null,
  };
}

describe('ResultWriter', () => {
  it('dedups by item index, also after reopening', async () => {
    const writer = await ResultWriter.open(layout, 'batch_x');
    expect(writer.append(result(2))).toBe(true);
    expect(writer.append(result(0, false))).toBe(true);
    expect(writer.append(result(2))).toBe(false);
    await writer.flush();
    await writer.close();

    const reopened = await ResultWriter.open(layout, 'batch_x');
    expect(reopened.counts).toEqual({ received: 2, completed: 1, failed: 1, inputTokens: 20, outputTokens: 2 });
    expect(reopened.append(result(0))).toBe(false);
    expect(reopened.append(result(1))).toBe(true);
    await reopened.flush();
    await reopened.close();

    const read = [];
    for await (const r of readResults(layout, 'batch_x')) read.push([r.index, r.ok]);
    expect(read).toEqual([
      [0, false],
      [1, true],
      [2, true],
    ]);
  });

  it('ignores unflushed results after a crash (reopen without flush)', async () => {
    const writer = await ResultWriter.open(layout, 'batch_x');
    writer.append(result(0));
    await writer.flush();
    writer.append(result(1)); // never flushed
    const reopened = await ResultWriter.open(layout, 'batch_x');
    expect(reopened.counts.received).toBe(1);
    expect(reopened.has(1)).toBe(false);
    await Promise.all([writer.close(), reopened.close()]);
  });
});

describe('final outputs', () => {
  it('writes input order, splits failures, and pages without reading everything', async () => {
    const writer = await ResultWriter.open(layout, 'batch_x');
    for (const index of [4, 1, 3, 0, 2]) writer.append(result(index, index !== 3));
    await writer.flush();
    await writer.close();

    const final = await writeFinalOutputs(layout, 'batch_x', 'openai');
    expect(final).toMatchObject({ lines: 5, succeeded: 4, failed: 1 });
    const output = (await readFile(layout.output('batch_x'), 'utf8')).trim().split('\n');
    expect(output.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual([
      'c0',
      'c1',
      'c2',
      'c3',
      'c4',
    ]);
    const errors = (await readFile(layout.errors('batch_x'), 'utf8')).trim().split('\n');
    expect(errors.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(['c3']);
    const succeeded = (await readFile(layout.succeeded('batch_x'), 'utf8')).trim().split('\n');
    expect(succeeded).toHaveLength(4);

    const page = await readOutputPage(layout, 'batch_x', 1, 2);
    expect(page?.total).toBe(5);
    expect(page?.lines.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(['c1', 'c2']);
    expect((await readOutputPage(layout, 'batch_x', 4, 10))?.lines).toHaveLength(1);
    expect((await readOutputPage(layout, 'batch_x', 9, 10))?.lines).toEqual([]);
  });
});
