import { createReadStream, createWriteStream } from 'node:fs';
import { finished } from 'node:stream/promises';
import {
  decodeUtf8,
  jsonDepthExceeds,
  SluiceError,
  splitLines,
  startsWithBom,
  type ValidationIssue,
} from '@sluice/core';
import { CustomIdSet } from './custom-id-set.js';

/** One validated input item as stored in `input.jsonl`: everything needed to build its request message. */
export interface StoredItem {
  custom_id: string;
  discriminator: string;
  body: Record<string, unknown>;
}

export type LineVerdict = { item: StoredItem } | { issues: ValidationIssue[] };

/** Checks one parsed line; `line` is 1-based, for messages. */
export type LineValidator = (value: unknown, line: number) => LineVerdict;

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

/** The request body or file is over the size limit (HTTP 413). */
export class PayloadTooLargeError extends SluiceError {
  constructor(limit: number, what = 'request body') {
    super('payload_too_large', `The ${what} is larger than the limit of ${limit} bytes.`);
  }
}

export interface IntakeOptions {
  limits: IntakeLimits;
  /** What `maxItems` is called in messages, e.g. `SLUICE_MAX_BATCH_REQUESTS`. */
  itemLimitName?: string;
}

/**
 * Reads a JSONL stream once: checks every line (size, encoding, JSON, nesting, the validator, a
 * unique custom_id) and writes the valid items to `destination`, one JSON line each, never holding
 * more than one line in memory. Problems are collected with their line numbers; writing stops at
 * the first problem (the input will be refused whole) but checking goes on, up to the report cap.
 */
export async function intakeJsonl(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  destination: string,
  validate: LineValidator,
  options: IntakeOptions,
): Promise<IntakeResult> {
  const { limits } = options;
  const issues: ValidationIssue[] = [];
  let truncated = false;
  const ids = new CustomIdSet();
  /** (line of the duplicate, item index of the earlier use, line of the earlier use). */
  const candidates: { line: number; item: number; earlierItem: number; customId: string }[] = [];
  const out = createWriteStream(destination, { highWaterMark: 1024 * 1024 });
  let writing = true;
  let items = 0;
  /** Blank lines are fine at the very end of a file, not between items. */
  let pendingBlank: number[] = [];

  const report = (issue: ValidationIssue): boolean => {
    if (issues.length >= limits.maxReportedErrors) {
      truncated = true;
      return false;
    }
    issues.push(issue);
    writing = false;
    return true;
  };

  try {
    for await (const raw of splitLines(source, { maxLineBytes: limits.maxLineBytes })) {
      if (raw.offset + raw.length > limits.maxBytes) throw new PayloadTooLargeError(limits.maxBytes);
      if (truncated) break;
      const line = raw.number;
      if (raw.tooLong) {
        report({
          line,
          param: null,
          code: 'line_too_large',
          message: `the line is ${raw.length} bytes; the limit is ${limits.maxLineBytes}`,
        });
        continue;
      }
      let bytes = raw.bytes;
      if (line === 1 && startsWithBom(bytes)) {
        report({
          line,
          param: null,
          code: 'invalid_encoding',
          message: 'the input starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without a BOM',
        });
        bytes = bytes.subarray(3);
      }
      const text = decodeUtf8(bytes);
      if (text === null) {
        report({ line, param: null, code: 'invalid_encoding', message: 'the line is not valid UTF-8' });
        continue;
      }
      if (text.trim() === '') {
        pendingBlank.push(line);
        continue;
      }
      for (const blank of pendingBlank) {
        report({ line: blank, param: null, code: 'blank_line', message: 'blank line between requests; remove it' });
      }
      pendingBlank = [];
      if (items >= limits.maxItems) {
        report({
          line,
          param: null,
          code: 'too_many_requests',
          message: `more than ${limits.maxItems} requests${options.itemLimitName ? ` (${options.itemLimitName})` : ''}; split the input into smaller batches`,
        });
        truncated = true;
        break;
      }
      if (jsonDepthExceeds(text, limits.maxDepth)) {
        report({
          line,
          param: null,
          code: 'too_deeply_nested',
          message: `JSON nested deeper than ${limits.maxDepth} levels`,
        });
        items++;
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        report({
          line,
          param: null,
          code: 'invalid_json_line',
          message: `not valid JSON: ${(error as Error).message}`,
        });
        items++;
        continue;
      }
      const verdict = validate(value, line);
      const index = items++;
      if ('issues' in verdict) {
        for (const issue of verdict.issues) if (!report(issue)) break;
        continue;
      }
      const earlier = ids.add(verdict.item.custom_id, index);
      if (earlier !== -1) {
        if (candidates.length <= limits.maxReportedErrors * 4) {
          candidates.push({ line, item: index, earlierItem: earlier, customId: verdict.item.custom_id });
        }
        // Still stored: the match may be a fingerprint collision, and then this item is valid.
      }
      if (writing && !out.write(`${JSON.stringify(verdict.item)}\n`)) {
        await new Promise<void>((resolve) => out.once('drain', resolve));
      }
    }
  } finally {
    out.end();
    await finished(out).catch(() => undefined);
  }

  if (items === 0 && issues.length === 0) {
    issues.push({ line: null, param: null, code: 'empty_file', message: 'the input has no requests' });
  }
  if (candidates.length > 0) {
    const confirmed = await confirmDuplicates(destination, candidates);
    for (const duplicate of confirmed) {
      report({
        line: duplicate.line,
        param: 'custom_id',
        code: 'duplicate_custom_id',
        message: `custom_id '${duplicate.customId}' was already used on line ${duplicate.earlierItem + 1}`,
      });
    }
    issues.sort((a, b) => (a.line ?? 0) - (b.line ?? 0));
  }
  return { items, issues, truncated };
}

/**
 * Confirms fingerprint matches against the stored custom_ids in one sequential read. Items are
 * stored in order until the first problem; a match whose earlier item was not stored cannot be
 * confirmed, but then the input is refused for that first problem anyway.
 */
async function confirmDuplicates(
  stored: string,
  candidates: { line: number; item: number; earlierItem: number; customId: string }[],
): Promise<{ line: number; earlierItem: number; customId: string }[]> {
  const wanted = new Map<number, string | null>(candidates.map((c) => [c.earlierItem, null]));
  let item = 0;
  for await (const raw of splitLines(createReadStream(stored), { maxLineBytes: Number.MAX_SAFE_INTEGER })) {
    if (wanted.has(item)) wanted.set(item, (JSON.parse(raw.bytes.toString('utf8')) as StoredItem).custom_id);
    item++;
  }
  return candidates.filter((c) => wanted.get(c.earlierItem) === c.customId);
}
