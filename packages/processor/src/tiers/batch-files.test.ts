import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inputLine, writeBatchFiles, type ProviderBatchItem } from './batch-files.js';
import { parseOutputLine } from './provider-batches.js';

const item = (i: number, text = `item ${i}`): ProviderBatchItem => ({
  customId: `c-${i}`,
  body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: text }] },
});

describe('writeBatchFiles', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sluice-batch-files-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("splits by requests per file, writes the provider's JSONL lines, and leaves no file behind", async () => {
    const items = Array.from({ length: 45 }, (_, i) => item(i));
    const seen: { ids: string[]; lines: unknown[] }[] = [];
    for await (const part of writeBatchFiles(
      items,
      '/v1/chat/completions',
      { maxRequestsPerFile: 20, maxBytesPerFile: 1e9 },
      dir,
    )) {
      const text = await readFile(part.path, 'utf8');
      expect(Buffer.byteLength(text)).toBe(part.bytes);
      expect(part.filename).toBe(`${part.journalId}.jsonl`);
      seen.push({
        ids: part.customIds,
        lines: text
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l)),
      });
      expect(await readdir(dir)).toEqual([part.filename]); // one file on disk at a time
    }
    expect(seen.map((p) => p.ids.length)).toEqual([20, 20, 5]);
    expect(seen.flatMap((p) => p.ids)).toEqual(items.map((i) => i.customId));
    expect(seen[0]?.lines[0]).toEqual({
      custom_id: 'c-0',
      method: 'POST',
      url: '/v1/chat/completions',
      body: items[0]?.body,
    });
    expect(await readdir(dir)).toEqual([]);
  });

  it('splits by bytes per file, and refuses a request larger than a file or a custom_id used twice', async () => {
    const items = Array.from({ length: 10 }, (_, i) => item(i, 'x'.repeat(100)));
    const lineBytes = Buffer.byteLength(inputLine(items[0] as ProviderBatchItem, '/v1/chat/completions'));
    const sizes: number[] = [];
    for await (const part of writeBatchFiles(
      items,
      '/v1/chat/completions',
      { maxRequestsPerFile: 100, maxBytesPerFile: lineBytes * 3 + 1 },
      dir,
    )) {
      expect(part.bytes).toBeLessThanOrEqual(lineBytes * 3 + 1);
      sizes.push(part.customIds.length);
    }
    expect(sizes).toEqual([3, 3, 3, 1]);
    const tooBig = writeBatchFiles(
      [item(0, 'y'.repeat(500))],
      '/v1/chat/completions',
      { maxRequestsPerFile: 10, maxBytesPerFile: 200 },
      dir,
    );
    await expect(tooBig.next()).rejects.toThrow(/more than a provider file may hold/);
    const twice = writeBatchFiles(
      [item(1), item(1)],
      '/v1/chat/completions',
      { maxRequestsPerFile: 10, maxBytesPerFile: 1e6 },
      dir,
    );
    await expect(twice.next()).rejects.toThrow(/used twice/);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('parseOutputLine', () => {
  it('reads successes, failures with the upstream status, never-sent lines, and skips what is not a line', () => {
    expect(
      parseOutputLine(
        JSON.stringify({
          custom_id: 'a',
          response: { status_code: 200, request_id: 'r', body: { id: 'x' } },
          error: null,
        }),
      ),
    ).toEqual({ customId: 'a', ok: true, statusCode: 200, body: { id: 'x' }, requestId: 'r' });
    expect(
      parseOutputLine(
        JSON.stringify({
          custom_id: 'b',
          response: { status_code: 400, body: { error: { code: 'bad', message: 'no' } } },
          error: null,
        }),
      ),
    ).toMatchObject({ customId: 'b', ok: false, statusCode: 400, error: { code: 'bad', message: 'no' } });
    expect(
      parseOutputLine(
        JSON.stringify({ custom_id: 'c', response: null, error: { code: 'batch_expired', message: 'late' } }),
      ),
    ).toMatchObject({ customId: 'c', ok: false, statusCode: null, error: { code: 'batch_expired' } });
    expect(parseOutputLine('not json')).toBeNull();
    expect(parseOutputLine('{"response": {}}')).toBeNull();
  });
});
