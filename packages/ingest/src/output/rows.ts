import { createReadStream } from 'node:fs';
import { access } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  type BatchRecord,
  isTerminal,
  type OperationRow,
  readOutputPage,
  readResults,
  renderOutputLine,
  splitLines,
} from '@sluice/core';
import { stringify } from 'csv-stringify';
import type { IngestContext } from '../context.js';

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** True once the batch's final output file is written (rows can be paged by line offsets). */
export async function hasFinalOutput(context: IngestContext, record: BatchRecord): Promise<boolean> {
  return isTerminal(record.status) && (await exists(context.layout.output(record.id)));
}

/** Every row in input order: from the final file, or the rows finished so far. Memory stays bounded. */
export async function* allRows(context: IngestContext, record: BatchRecord): AsyncGenerator<OperationRow> {
  if (await hasFinalOutput(context, record)) {
    for await (const line of splitLines(createReadStream(context.layout.output(record.id)), {
      maxLineBytes: Number.MAX_SAFE_INTEGER,
    })) {
      if (line.length > 0) yield JSON.parse(line.bytes.toString('utf8')) as OperationRow;
    }
    return;
  }
  for await (const stored of readResults(context.layout, record.id)) {
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
    const page = await readOutputPage(context.layout, record.id, offset, limit);
    if (page) return page.lines.map((line) => JSON.parse(line) as OperationRow);
  }
  const rows: OperationRow[] = [];
  for await (const stored of readResults(context.layout, record.id, { fromIndex: offset, toIndex: offset + limit })) {
    rows.push(renderOutputLine('operations', stored.record) as OperationRow);
  }
  return rows;
}

/** The whole output as JSONL, streamed. */
export function jsonlStream(context: IngestContext, record: BatchRecord): Readable {
  return Readable.from(
    (async function* () {
      if (await hasFinalOutput(context, record)) {
        yield* createReadStream(context.layout.output(record.id));
        return;
      }
      for await (const row of allRows(context, record)) yield `${JSON.stringify(row)}\n`;
    })(),
  );
}

/** A value as one CSV cell: primitives as they are, structures as JSON, absent as empty. */
function cell(value: unknown): string | number | boolean {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  return value as string | number | boolean;
}

/** Reads a result column: `field`, or `field.key` one level down (the key may itself contain dots). */
function resultCell(result: unknown, column: string): unknown {
  if (typeof result !== 'object' || result === null || Array.isArray(result))
    return column === 'result' ? result : undefined;
  const record = result as Record<string, unknown>;
  if (column in record) return record[column];
  const dot = column.indexOf('.');
  if (dot === -1) return undefined;
  const parent = record[column.slice(0, dot)];
  return parent && typeof parent === 'object' ? (parent as Record<string, unknown>)[column.slice(dot + 1)] : undefined;
}

/** Result columns when the parameters do not fix them: the rows' top-level keys, objects one level down. */
async function scanResultColumns(rows: AsyncIterable<OperationRow>, cap = 200): Promise<string[]> {
  const columns = new Set<string>();
  for await (const row of rows) {
    const result = row.result;
    if (typeof result !== 'object' || result === null || Array.isArray(result)) {
      if (result !== null && result !== undefined) columns.add('result');
      continue;
    }
    for (const [key, value] of Object.entries(result)) {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const inner of Object.keys(value)) columns.add(`${key}.${inner}`);
      } else columns.add(key);
      if (columns.size >= cap) return [...columns];
    }
  }
  return [...columns];
}

/** CSV columns of a job's output: the row's index and id, the item's fields, the result's fields, the error. */
export async function csvColumns(context: IngestContext, record: BatchRecord) {
  const itemFields = record.item_fields ?? [];
  const resultFields = record.result_fields ?? (await scanResultColumns(allRows(context, record)));
  return { itemFields, resultFields };
}

/**
 * The whole output as CSV with a header row: `index`, `custom_id`, one column per item field, one
 * per result field (prefixed `result.` when an item field has the same name), `error_code`,
 * `error_message`. Streamed row by row.
 */
export async function csvStream(context: IngestContext, record: BatchRecord): Promise<Readable> {
  const { itemFields, resultFields } = await csvColumns(context, record);
  const itemSet = new Set(itemFields);
  const header = [
    'index',
    'custom_id',
    ...itemFields,
    ...resultFields.map((f) => (itemSet.has(f) || f === 'index' || f === 'custom_id' ? `result.${f}` : f)),
    'error_code',
    'error_message',
  ];
  const rows = Readable.from(
    (async function* () {
      for await (const row of allRows(context, record)) {
        yield [
          row.index,
          row.custom_id,
          ...itemFields.map((f) => cell(row.item?.[f])),
          ...resultFields.map((f) => cell(resultCell(row.result, f))),
          row.error?.code ?? '',
          row.error?.message ?? '',
        ];
      }
    })(),
  );
  return rows.pipe(stringify({ header: true, columns: header, cast: { boolean: (value) => String(value) } }));
}
