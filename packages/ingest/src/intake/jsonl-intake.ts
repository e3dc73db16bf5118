import { PayloadTooLargeError, splitLines, type Store, type ValidationIssue } from '@sluice/core';
import { parse as parseCsv } from 'csv-parse';
import { CustomIdSet, fingerprint } from './custom-id-set.js';
import { blankLineIssue, decodeJsonlLine } from './jsonl-lines.js';

/** One validated input item as stored in `input.jsonl`: everything needed to build its request message. */
export interface StoredItem {
  custom_id: string;
  discriminator: string;
  body: Record<string, unknown>;
}

export type LineVerdict = { item: StoredItem } | { issues: ValidationIssue[] };

/** Checks one parsed record; `line` is 1-based, for messages; `index` is the item's 0-based position. */
export type LineValidator = (value: unknown, line: number, index: number) => LineVerdict;

export interface IntakeLimits {
  /** Total bytes; over it the request is refused with 413. */
  maxBytes: number;
  maxLineBytes: number;
  maxItems: number;
  maxReportedErrors: number;
  /** JSON nesting depth per line. */
  maxDepth: number;
}

export interface IntakeResult {
  items: number;
  issues: ValidationIssue[];
  /** More problems exist than were reported. */
  truncated: boolean;
}

export interface IntakeOptions {
  limits: IntakeLimits;
  /** What `maxItems` is called in messages, e.g. `SLUICE_MAX_BATCH_REQUESTS`. */
  itemLimitName?: string;
  /** How a repeated custom_id is reported; default: `custom_id` of line N, first used on line M. */
  duplicateIssue?: (duplicate: { line: number; earlierLine: number; customId: string }) => ValidationIssue;
}

const duplicateCustomId = (duplicate: { line: number; earlierLine: number; customId: string }): ValidationIssue => ({
  line: duplicate.line,
  param: 'custom_id',
  code: 'duplicate_custom_id',
  message: `custom_id '${duplicate.customId}' was already used on line ${duplicate.earlierLine}`,
});

/**
 * A decoded record of an input, or the reason its line could not be decoded. Decoders (JSONL,
 * CSV, an in-memory array) produce these; `intake` checks and stores them the same way.
 */
export type IntakeEntry = { line: number; value: unknown } | { line: number; issue: ValidationIssue };

type Bytes = AsyncIterable<Buffer | string> | Iterable<Buffer | string>;

/**
 * Decodes JSONL bytes: size, encoding, blank lines, nesting and JSON are checked per line, never
 * holding more than one line in memory. A byte-order mark is refused; CRLF line ends and blank
 * lines at the very end are accepted.
 */
export async function* jsonlEntries(source: Bytes, limits: IntakeLimits): AsyncGenerator<IntakeEntry> {
  let pendingBlank: number[] = [];
  for await (const raw of splitLines(source, { maxLineBytes: limits.maxLineBytes })) {
    if (raw.offset + raw.length > limits.maxBytes) throw bodyTooLarge(limits);
    const decoded = decodeJsonlLine(raw, limits);
    for (const issue of decoded.first) yield { line: raw.number, issue };
    const then = decoded.then;
    if (then === null) continue;
    if ('blank' in then) {
      pendingBlank.push(raw.number);
      continue;
    }
    for (const blank of pendingBlank) yield { line: blank, issue: blankLineIssue(blank) };
    pendingBlank = [];
    yield 'value' in then ? { line: raw.number, value: then.value } : { line: raw.number, issue: then.issue };
  }
}

/** A streamed body over `maxBytes`: the whole request is refused with 413. */
export const bodyTooLarge = (limits: Pick<IntakeLimits, 'maxBytes'>) =>
  new PayloadTooLargeError(limits.maxBytes, 'request body (SLUICE_MAX_BODY_BYTES)');

/**
 * Decodes CSV bytes (a header row, then one record per row) into objects keyed by the header.
 * Every value is a string. Line numbers are the file's, the header being line 1.
 */
export async function* csvEntries(source: Bytes, limits: IntakeLimits): AsyncGenerator<IntakeEntry> {
  const parser = parseCsv({
    columns: (header: string[]) => header.map((name) => name.trim()),
    bom: true,
    skip_empty_lines: true,
    info: true,
    max_record_size: limits.maxLineBytes,
  });
  let bytes = 0;
  const feed = (async () => {
    try {
      for await (const chunk of source) {
        bytes += chunk.length;
        if (bytes > limits.maxBytes) throw new PayloadTooLargeError(limits.maxBytes, 'file');
        if (!parser.write(chunk)) await new Promise((resolve) => parser.once('drain', resolve));
      }
      parser.end();
    } catch (error) {
      parser.destroy(error as Error);
    }
  })();
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: Record<string, string>;
      info: { lines: number };
    }>) {
      yield { line: info.lines, value: record };
    }
  } catch (error) {
    if (error instanceof PayloadTooLargeError) throw error;
    const message = error instanceof Error ? error.message : String(error);
    const line = Number((error as { lines?: number }).lines ?? 0) || null;
    yield { line: line ?? 0, issue: { line, param: null, code: 'invalid_csv', message: `not valid CSV: ${message}` } };
  } finally {
    await feed;
  }
}

/** An in-memory list (a JSON request's `items`): entry `n` is item `n - 1`. */
export function* arrayEntries(values: readonly unknown[]): Generator<IntakeEntry> {
  for (let i = 0; i < values.length; i++) yield { line: i + 1, value: values[i] };
}

/**
 * Where validated items go: one object in the store (a batch's input), or a list in memory (a
 * synchronous call's few items, which keeps nothing in the store unless it outlives its timeout).
 */
export type IntakeDestination = { store: Store; key: string } | { memory: StoredItem[] };

/** Writes validated items to a destination; nothing is visible there after `abort`. */
interface ItemWriter {
  write(item: StoredItem): Promise<void>;
  /** Items already written out as stored lines (JSON and "\n" each), by an intake worker. */
  writeStored(lines: Buffer): Promise<void>;
  complete(): Promise<void>;
  abort(): Promise<void>;
}

function itemWriter(destination: IntakeDestination): ItemWriter {
  if ('memory' in destination) {
    const items = destination.memory;
    return {
      write: async (item) => void items.push(item),
      writeStored: async (lines) => {
        for (const line of lines.toString('utf8').split('\n')) if (line !== '') items.push(JSON.parse(line));
      },
      complete: async () => undefined,
      abort: async () => void items.splice(0),
    };
  }
  const out = destination.store.writer(destination.key);
  return {
    write: (item) => out.write(`${JSON.stringify(item)}\n`),
    writeStored: (lines) => out.write(lines),
    complete: async () => void (await out.complete()),
    abort: () => out.abort(),
  };
}

/** A custom_id seen before (by fingerprint): confirmed against the stored items at the end. */
interface DuplicateCandidate {
  line: number;
  item: number;
  earlierItem: number;
  earlierLine: number;
  customId: string;
}

/**
 * One intake's bookkeeping, whichever thread checked its records: the problems (up to the report
 * cap), the item count and limit, the custom_ids seen, and the writer, which stops at the first
 * problem (the input will be refused whole, and nothing is stored) while checking goes on. Records
 * must be given in input order.
 */
export class IntakeRun {
  readonly issues: ValidationIssue[] = [];
  /** More problems exist than were reported. */
  truncated = false;
  /** Records counted as items so far (the next item's index). */
  items = 0;
  /** No problem yet: valid items are written. */
  writing = true;
  private readonly ids = new CustomIdSet();
  private readonly candidates: DuplicateCandidate[] = [];
  readonly out: ItemWriter;

  constructor(
    private readonly destination: IntakeDestination,
    private readonly options: IntakeOptions,
  ) {
    this.out = itemWriter(destination);
  }

  /** Records a problem; false once the report is full. */
  report(issue: ValidationIssue): boolean {
    if (this.issues.length >= this.options.limits.maxReportedErrors) {
      this.truncated = true;
      return false;
    }
    this.issues.push(issue);
    this.writing = false;
    return true;
  }

  /** Whether the record on `line` is taken at all: not once the report is full or past the item limit (reported here). */
  admits(line: number): boolean {
    if (this.truncated) return false;
    const { limits, itemLimitName } = this.options;
    if (this.items < limits.maxItems) return true;
    this.report({
      line,
      param: null,
      code: 'too_many_requests',
      message: `more than ${limits.maxItems} requests${itemLimitName ? ` (${itemLimitName})` : ''}; split the input into smaller batches`,
    });
    this.truncated = true;
    return false;
  }

  /** A line that could not be decoded: a problem, and an item (a blank line is not one). */
  undecodable(issue: ValidationIssue): void {
    this.report(issue);
    if (issue.code !== 'blank_line') this.items++;
  }

  /** A record's problems, as its validator found them. */
  refuse(issues: ValidationIssue[]): void {
    for (const issue of issues) if (!this.report(issue)) break;
  }

  /**
   * A valid item's custom_id (by its fingerprint, custom-id-set.ts); `customId` gives the id
   * itself, asked for only when the fingerprint was seen before.
   */
  remember(fingerprint: number, index: number, line: number, customId: () => string): void {
    const earlier = this.ids.addFingerprint(fingerprint, index, line);
    if (earlier && this.candidates.length <= this.options.limits.maxReportedErrors * 4) {
      // Still stored: the match may be a fingerprint collision, and then this item is valid.
      this.candidates.push({
        line,
        item: index,
        earlierItem: earlier.item,
        earlierLine: earlier.line,
        customId: customId(),
      });
    }
  }

  async abort(): Promise<void> {
    await this.out.abort();
  }

  /** Publishes the stored items (or discards them when refused) and confirms duplicate custom_ids. */
  async finish(): Promise<IntakeResult> {
    const { issues, candidates, out } = this;
    if (this.items === 0 && issues.length === 0) {
      issues.push({ line: null, param: null, code: 'empty_file', message: 'the input has no requests' });
    }
    // A refused input leaves nothing behind (the caller discards what duplicates are checked against).
    if (issues.length > 0 && candidates.length === 0) await out.abort();
    else {
      await out.complete().catch(async (error: unknown) => {
        await out.abort();
        throw error;
      });
    }
    if (candidates.length > 0) {
      const confirmed = await confirmDuplicates(this.destination, candidates);
      for (const duplicate of confirmed) this.report((this.options.duplicateIssue ?? duplicateCustomId)(duplicate));
      issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
    }
    return { items: this.items, issues, truncated: this.truncated };
  }
}

/**
 * Checks every record (the validator, a unique custom_id, the item limit) and writes the valid
 * items to `destination`, one JSON line each. Problems are collected with their line numbers;
 * writing stops at the first problem (the input will be refused whole, and nothing is stored) but
 * checking goes on, up to the report cap.
 */
export async function intake(
  entries: AsyncIterable<IntakeEntry> | Iterable<IntakeEntry>,
  destination: IntakeDestination,
  validate: LineValidator,
  options: IntakeOptions,
): Promise<IntakeResult> {
  const run = new IntakeRun(destination, options);
  try {
    for await (const entry of entries) {
      if (!run.admits(entry.line)) break;
      if ('issue' in entry) {
        run.undecodable(entry.issue);
        continue;
      }
      const index = run.items++;
      const verdict = validate(entry.value, entry.line, index);
      if ('issues' in verdict) {
        run.refuse(verdict.issues);
        continue;
      }
      const customId = verdict.item.custom_id;
      run.remember(fingerprint(customId), index, entry.line, () => customId);
      if (run.writing) await run.out.write(verdict.item);
    }
  } catch (error) {
    await run.abort();
    throw error;
  }
  return run.finish();
}

/** Intake of a JSONL byte stream. */
export function intakeJsonl(
  source: Bytes,
  destination: IntakeDestination,
  validate: LineValidator,
  options: IntakeOptions,
) {
  return intake(jsonlEntries(source, options.limits), destination, validate, options);
}

/**
 * Confirms fingerprint matches against the stored custom_ids in one sequential read. Items are
 * stored in order until the first problem; a match whose earlier item was not stored cannot be
 * confirmed, but then the input is refused for that first problem anyway.
 */
async function confirmDuplicates<C extends { earlierItem: number; customId: string }>(
  stored: IntakeDestination,
  candidates: C[],
): Promise<C[]> {
  const wanted = new Map<number, string | null>(candidates.map((c) => [c.earlierItem, null]));
  if ('memory' in stored) {
    return candidates.filter((c) => stored.memory[c.earlierItem]?.custom_id === c.customId);
  }
  let item = 0;
  const content = await stored.store.stream(stored.key);
  if (!content) return [];
  for await (const raw of splitLines(content as AsyncIterable<Buffer>, { maxLineBytes: Number.MAX_SAFE_INTEGER })) {
    if (wanted.has(item)) wanted.set(item, (JSON.parse(raw.bytes.toString('utf8')) as StoredItem).custom_id);
    item++;
  }
  return candidates.filter((c) => wanted.get(c.earlierItem) === c.customId);
}
