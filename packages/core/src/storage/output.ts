import type { ApiKind } from '../contracts/common.js';
import { type CsvColumns, csvHeader, csvRecord, toCsv } from '../csv.js';
import { type OperationsOutputRow, renderOutputLine } from '../render.js';
import { storeKeys } from './layout.js';
import { readResults } from './results.js';
import type { ObjectWriter, Store } from './types.js';

export interface FinalOutputs {
  lines: number;
  succeeded: number;
  failed: number;
  /** Failed lines by error code. */
  failedByCode: Record<string, number>;
  outputBytes: number;
  /** The first model a result names (the batch's `model` when its spec named none). */
  model: string | null;
  /** Keys written: output, index, errors, and when written, succeeded and csv. */
  keys: { output: string; index: string; errors: string; succeeded: string | null; csv: string | null };
}

/**
 * Writes a batch's final files from its recorded results, in input order, in one pass:
 * `output.jsonl` (every line) with `output.idx` (line offsets, for paging), `errors.jsonl` (failed
 * lines), for OpenAI batches `succeeded.jsonl` (the output file OpenAI's clients expect) and for
 * operations jobs with known columns `output.csv`. Each is a multipart upload fed as lines are
 * rendered: no output is staged on local disk or held in memory, and an object appears only once
 * complete (a crash leaves none; a failure aborts every upload).
 */
export async function writeFinalOutputs(
  store: Store,
  batchId: string,
  api: ApiKind,
  /** Operations jobs whose result columns are known: also write `output.csv` in the same pass. */
  csv: CsvColumns | null = null,
): Promise<FinalOutputs> {
  const keys = {
    output: storeKeys.output(batchId),
    index: storeKeys.outputIndex(batchId),
    errors: storeKeys.errors(batchId),
    succeeded: api === 'openai' ? storeKeys.succeeded(batchId) : null,
    csv: api === 'operations' && csv ? storeKeys.outputCsv(batchId) : null,
  };
  const output = store.writer(keys.output);
  const index = store.writer(keys.index);
  const errors = store.writer(keys.errors);
  const succeeded = keys.succeeded ? store.writer(keys.succeeded) : null;
  const csvOut = keys.csv ? store.writer(keys.csv) : null;
  const writers = [output, index, errors, succeeded, csvOut].filter((w): w is ObjectWriter => w !== null);

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
  let csvRecords: (string | number)[][] = [];
  let outputBytes = 0;
  let model: string | null = null;
  try {
    if (csvOut && csv) await csvOut.write(toCsv([csvHeader(csv)]));
    for await (const { ok: isOk, record } of readResults(store, batchId)) {
      model ??= record.model;
      const rendered = renderOutputLine(api, record);
      const line = `${JSON.stringify(rendered)}\n`;
      if (csvOut && csv) {
        csvRecords.push(csvRecord(rendered as OperationsOutputRow, csv));
        if (csvRecords.length === 1000) {
          await csvOut.write(toCsv(csvRecords));
          csvRecords = [];
        }
      }
      await pushOffset(outputBytes);
      await output.write(line);
      outputBytes += Buffer.byteLength(line);
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
    await pushOffset(outputBytes); // the end of the last line
    if (offsetsUsed > 0) await index.write(Buffer.from(offsets.subarray(0, offsetsUsed)));
    // The index last: its presence means the output it describes is complete.
    for (const writer of writers) if (writer !== index) await writer.complete();
    await index.complete();
  } catch (error) {
    await Promise.allSettled(writers.map((w) => w.abort()));
    throw error;
  }
  return { lines, succeeded: ok, failed, failedByCode, outputBytes, model, keys };
}

/**
 * Lines `[offset, offset + limit)` of a finalized batch's output, read through `output.idx`: two
 * ranged reads (the offsets, then the lines) whatever the output's size. Null when the batch has
 * no final output (not finalized yet, or deleted).
 */
export async function readOutputPage(
  store: Store,
  batchId: string,
  offset: number,
  limit: number,
): Promise<{ lines: string[] } | null> {
  const bounds = await store.read(storeKeys.outputIndex(batchId), {
    start: offset * 8,
    end: (offset + Math.max(0, limit) + 1) * 8,
  });
  if (bounds === null) return null;
  const count = bounds.length / 8 - 1;
  if (count <= 0 || limit <= 0) return { lines: [] };
  const start = bounds.readDoubleLE(0);
  const end = bounds.readDoubleLE(count * 8);
  const bytes = await store.read(storeKeys.output(batchId), { start, end });
  if (bytes === null) return null;
  const lines = bytes.toString('utf8').split('\n');
  lines.pop(); // the empty string after the last newline
  return { lines };
}
