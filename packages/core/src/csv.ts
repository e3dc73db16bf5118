import { stringify } from 'csv-stringify/sync';
import type { OperationsOutputRow } from './render.js';

/**
 * The CSV form of an operations job's output: `index`, `custom_id`, one column per item field, one
 * per result field (nested objects one level down, `scores.billing`; prefixed `result.` when an
 * item field has the same name), `error_code`, `error_message`. Shared by the sink (which writes
 * `output.csv` when a job is finalized) and ingest (which builds it on the fly for a running job).
 */
export interface CsvColumns {
  itemFields: string[];
  resultFields: string[];
}

export function csvHeader({ itemFields, resultFields }: CsvColumns): string[] {
  const itemSet = new Set(itemFields);
  return [
    'index',
    'custom_id',
    ...itemFields,
    ...resultFields.map((f) => (itemSet.has(f) || f === 'index' || f === 'custom_id' ? `result.${f}` : f)),
    'error_code',
    'error_message',
  ];
}

/** A value as one CSV cell: primitives as they are, structures as JSON, absent as empty. */
function cell(value: unknown): string | number {
  if (value === null || value === undefined) return '';
  if (typeof value === 'object') return JSON.stringify(value);
  if (typeof value === 'boolean') return String(value);
  return value as string | number;
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

export function csvRecord(row: OperationsOutputRow, { itemFields, resultFields }: CsvColumns): (string | number)[] {
  return [
    row.index,
    row.custom_id,
    ...itemFields.map((f) => cell(row.item?.[f])),
    ...resultFields.map((f) => cell(resultCell(row.result, f))),
    row.error?.code ?? '',
    row.error?.message ?? '',
  ];
}

/** The first characters that make a spreadsheet read a cell as a formula (OWASP's list). */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A text cell as a spreadsheet will not run it: one that begins with `=`, `+`, `-`, `@`, a tab or a
 * carriage return gets a leading `'` (OWASP, "CSV Injection"). Model-written values (a `label`) and
 * item fields are attacker-controlled text; numbers stay numbers.
 */
export function neutraliseCsvCell<T extends string | number>(value: T): T {
  return (typeof value === 'string' && FORMULA_START.test(value) ? `'${value}` : value) as T;
}

/**
 * CSV text of some records (with a trailing newline). Every CSV Sluice writes goes through here,
 * header rows included (their names come from item fields), so every cell is neutralised.
 */
export function toCsv(records: (string | number)[][]): string {
  return stringify(records.map((record) => record.map(neutraliseCsvCell)));
}

/** Result columns when the parameters do not fix them: the rows' top-level keys, objects one level down. */
export class ResultColumnScanner {
  private readonly columns = new Set<string>();
  constructor(private readonly cap = 200) {}

  add(result: unknown): void {
    if (this.columns.size >= this.cap) return;
    if (typeof result !== 'object' || result === null || Array.isArray(result)) {
      if (result !== null && result !== undefined) this.columns.add('result');
      return;
    }
    for (const [key, value] of Object.entries(result)) {
      if (value && typeof value === 'object' && !Array.isArray(value)) {
        for (const inner of Object.keys(value)) this.columns.add(`${key}.${inner}`);
      } else this.columns.add(key);
    }
  }

  get fields(): string[] {
    return [...this.columns].slice(0, this.cap);
  }
}
