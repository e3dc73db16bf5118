import { Readable } from 'node:stream';
import {
  type BatchRecord,
  csvHeader,
  type CsvColumns,
  csvRecord,
  type OperationsOutputRow,
  ResultColumnScanner,
  toCsv,
  isTerminal,
  type OperationRow,
  readOutputPage,
  readResults,
  renderOutputLine,
  splitLines,
  storeKeys,
  NotFoundError,
} from '@sluice/core';
import type { IngestContext } from '../context.js';

/**
 * True once the batch is final with an output (rows can be paged by line offsets); throws when
 * that output was deleted (with its File).
 */
export async function hasFinalOutput(context: IngestContext, record: BatchRecord): Promise<boolean> {
  return isTerminal(record.status) && record.output_file_id !== null;
}

function outputDeleted(record: BatchRecord): NotFoundError {
  return new NotFoundError('output', record.id, `The output of ${record.id} was deleted.`);
}

/** Every row in input order: from the final file, or the rows finished so far. Memory stays bounded. */
export async function* allRows(context: IngestContext, record: BatchRecord): AsyncGenerator<OperationRow> {
  if (await hasFinalOutput(context, record)) {
    const output = await context.store.stream(storeKeys.output(record.id));
    if (!output) throw outputDeleted(record);
    for await (const line of splitLines(output as AsyncIterable<Buffer>, { maxLineBytes: Number.MAX_SAFE_INTEGER })) {
      if (line.length > 0) yield JSON.parse(line.bytes.toString('utf8')) as OperationRow;
    }
    return;
  }
  for await (const stored of readResults(context.store, record.id)) {
    yield renderOutputLine('operations', stored.record) as OperationRow;
  }
}

/**
 * Rows `[offset, offset + limit)`. A final output is read through its line index (two small
 * reads, whatever the output's size); a running job's page holds the finished items of the range.
 */
export async function pageOfRows(
  context: IngestContext,
  record: BatchRecord,
  offset: number,
  limit: number,
): Promise<OperationRow[]> {
  if (await hasFinalOutput(context, record)) {
    const page = await readOutputPage(context.store, record.id, offset, limit);
    if (!page) throw outputDeleted(record);
    return page.lines.map((line) => JSON.parse(line) as OperationRow);
  }
  const rows: OperationRow[] = [];
  for await (const stored of readResults(context.store, record.id, { fromIndex: offset, toIndex: offset + limit })) {
    rows.push(renderOutputLine('operations', stored.record) as OperationRow);
  }
  return rows;
}

/** The whole output as JSONL, streamed. */
export async function jsonlStream(context: IngestContext, record: BatchRecord): Promise<NodeJS.ReadableStream> {
  if (await hasFinalOutput(context, record)) {
    const output = await context.store.stream(storeKeys.output(record.id));
    if (!output) throw outputDeleted(record);
    return output;
  }
  return Readable.from(
    (async function* () {
      for await (const row of allRows(context, record)) yield `${JSON.stringify(row)}\n`;
    })(),
  );
}

/** CSV columns of a job's output: from its parameters, or read from the rows when the model chose them. */
export async function csvColumns(context: IngestContext, record: BatchRecord): Promise<CsvColumns> {
  const itemFields = record.item_fields ?? [];
  if (record.result_fields) return { itemFields, resultFields: record.result_fields };
  const scanner = new ResultColumnScanner();
  for await (const row of allRows(context, record)) scanner.add(row.result);
  return { itemFields, resultFields: scanner.fields };
}

/**
 * The whole output as CSV with a header row (see core's csv.ts for the columns). A finished job
 * whose columns were known has it written already by the sink (`output.csv`); otherwise it is built
 * here, a thousand rows at a time.
 */
export async function csvStream(context: IngestContext, record: BatchRecord): Promise<NodeJS.ReadableStream> {
  if (await hasFinalOutput(context, record)) {
    if (record.result_fields) {
      const written = await context.store.stream(storeKeys.outputCsv(record.id));
      if (!written) throw outputDeleted(record);
      return written;
    }
    if (!(await context.store.head(storeKeys.output(record.id)))) throw outputDeleted(record);
  }
  const columns = await csvColumns(context, record);
  return Readable.from(
    (async function* () {
      yield toCsv([csvHeader(columns)]);
      let records: (string | number)[][] = [];
      for await (const row of allRows(context, record)) {
        records.push(csvRecord(row as OperationsOutputRow, columns));
        if (records.length === 1000) {
          yield toCsv(records);
          records = [];
        }
      }
      if (records.length > 0) yield toCsv(records);
    })(),
  );
}
