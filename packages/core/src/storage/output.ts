import { createWriteStream, type WriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import type { ApiKind } from '../contracts/common.js';
import { type CsvColumns, csvHeader, csvRecord, toCsv } from '../csv.js';
import { type OperationsOutputRow, renderOutputLine } from '../render.js';
import { isNotFound } from './fs.js';
import type { DataLayout } from './layout.js';
import { readResults } from './results.js';

export interface FinalOutputs {
  lines: number;
  succeeded: number;
  failed: number;
  /** Failed lines by error code. */
  failedByCode: Record<string, number>;
  outputBytes: number;
}

/**
 * Writes a batch's final files from its recorded results, in input order: `output.jsonl` (every
 * line) with `output.idx` (line offsets, for paging), `errors.jsonl` (failed lines) and, for
 * OpenAI batches, `succeeded.jsonl` (the output file OpenAI's clients expect). Each file is written
 * under a temporary name, synced, then renamed, so a crash never leaves a half file in place.
 */
export async function writeFinalOutputs(
  layout: DataLayout,
  batchId: string,
  api: ApiKind,
  /** Operations jobs whose result columns are known: also write `output.csv` in the same pass. */
  csv: CsvColumns | null = null,
): Promise<FinalOutputs> {
  const targets = {
    output: layout.output(batchId),
    index: layout.outputIndex(batchId),
    errors: layout.errors(batchId),
    succeeded: api === 'openai' ? layout.succeeded(batchId) : null,
    csv: api === 'operations' && csv ? layout.outputCsv(batchId) : null,
  };
  const temp = (path: string) => `${path}.partial`;
  const output = new SyncedWriter(temp(targets.output));
  const index = new SyncedWriter(temp(targets.index));
  const errors = new SyncedWriter(temp(targets.errors));
  const succeeded = targets.succeeded ? new SyncedWriter(temp(targets.succeeded)) : null;
  const csvOut = targets.csv ? new SyncedWriter(temp(targets.csv)) : null;
  const writers = [output, index, errors, succeeded, csvOut].filter((w): w is SyncedWriter => w !== null);
  let csvRecords: (string | number)[][] = [];
  if (csvOut && csv) await csvOut.write(toCsv([csvHeader(csv)]));

  let lines = 0;
  let ok = 0;
  let failed = 0;
  const failedByCode: Record<string, number> = {};
  const offsets = Buffer.alloc(8 * 1024);
  let offsetsUsed = 0;
  const pushOffset = async (offset: number) => {
    offsets.writeDoubleLE(offset, offsetsUsed);
    offsetsUsed += 8;
    if (offsetsUsed === offsets.length) {
      await index.write(Buffer.from(offsets));
      offsetsUsed = 0;
    }
  };
  try {
    for await (const { ok: isOk, record } of readResults(layout, batchId)) {
      const rendered = renderOutputLine(api, record);
      const line = `${JSON.stringify(rendered)}\n`;
      if (csvOut && csv) {
        csvRecords.push(csvRecord(rendered as OperationsOutputRow, csv));
        if (csvRecords.length === 1000) {
          await csvOut.write(toCsv(csvRecords));
          csvRecords = [];
        }
      }
      await pushOffset(output.bytes);
      await output.write(line);
      lines++;
      if (isOk) {
        ok++;
        await succeeded?.write(line);
      } else {
        failed++;
        const code = record.error?.code ?? 'unknown';
        failedByCode[code] = (failedByCode[code] ?? 0) + 1;
        await errors.write(line);
      }
    }
    if (csvOut && csvRecords.length > 0) await csvOut.write(toCsv(csvRecords));
    await pushOffset(output.bytes); // the end of the last line
    if (offsetsUsed > 0) await index.write(offsets.subarray(0, offsetsUsed));
    for (const writer of writers) await writer.close();
  } catch (error) {
    await Promise.allSettled(writers.map((w) => w.abort()));
    throw error;
  }
  await rename(temp(targets.output), targets.output);
  await rename(temp(targets.index), targets.index);
  await rename(temp(targets.errors), targets.errors);
  if (targets.succeeded) await rename(temp(targets.succeeded), targets.succeeded);
  if (targets.csv) await rename(temp(targets.csv), targets.csv);
  return { lines, succeeded: ok, failed, failedByCode, outputBytes: output.bytes };
}

/**
 * Reads lines `[offset, offset + limit)` of a finalized batch's output using `output.idx`: two
 * small reads whatever the size of the output. Returns null when the batch has no final output.
 */
export async function readOutputPage(
  layout: DataLayout,
  batchId: string,
  offset: number,
  limit: number,
): Promise<{ lines: string[]; total: number } | null> {
  let index;
  try {
    index = await open(layout.outputIndex(batchId), 'r');
  } catch (error) {
    if (isNotFound(error)) return null;
    throw error;
  }
  try {
    const total = (await index.stat()).size / 8 - 1;
    if (offset >= total || limit <= 0) return { lines: [], total: Math.max(0, total) };
    const count = Math.min(limit, total - offset);
    const bounds = Buffer.alloc(8 * (count + 1));
    await index.read(bounds, 0, bounds.length, offset * 8);
    const start = bounds.readDoubleLE(0);
    const end = bounds.readDoubleLE(count * 8);
    const output = await open(layout.output(batchId), 'r');
    try {
      const bytes = Buffer.alloc(end - start);
      await output.read(bytes, 0, bytes.length, start);
      const lines = bytes.toString('utf8').split('\n');
      lines.pop(); // the empty string after the last newline
      return { lines, total };
    } finally {
      await output.close();
    }
  } finally {
    await index.close();
  }
}

/** A write stream that respects back-pressure and is fsynced before it is closed. */
class SyncedWriter {
  private readonly stream: WriteStream;
  bytes = 0;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { highWaterMark: 256 * 1024 });
  }

  async write(data: string | Buffer): Promise<void> {
    this.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    if (!this.stream.write(data)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        this.stream.once('error', onError);
        this.stream.once('drain', () => {
          this.stream.off('error', onError);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
    );
    const handle = await open(this.path, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async abort(): Promise<void> {
    this.stream.destroy();
    await rm(this.path, { force: true });
  }
}
