import type { ValidationIssue } from '@sluice/core';
import { decodeUtf8, invalidUtf8Offset, jsonDepthExceeds, startsWithBom } from '@sluice/core/jsonl';

/**
 * Decoding of one JSONL line, shared by the intake in the request's thread and its workers
 * (intake-worker.ts): this module loads only core's light `jsonl` entry point, so a worker starts
 * without Kafka, S3 or the registry client.
 */

/** What decoding needs of one of core's `RawLine`s. */
export interface LineBytes {
  /** 1-based line number. */
  number: number;
  bytes: Buffer;
  /** Length in bytes without the line ending. */
  length: number;
  tooLong: boolean;
}

/** The limits decoding applies to each line. */
export interface LineLimits {
  maxLineBytes: number;
  /** JSON nesting depth per line. */
  maxDepth: number;
}

/**
 * One line decoded: `first`, problems reported at once (its length, a byte-order mark, its
 * encoding); then, unless it ended there, a blank line (reported only if a request follows it), a
 * parsed value, or why it is not JSON.
 */
export interface DecodedLine {
  first: ValidationIssue[];
  then: { blank: true } | { value: unknown } | { issue: ValidationIssue } | null;
}

const NOTHING_FIRST: ValidationIssue[] = [];

export function decodeJsonlLine(raw: LineBytes, limits: LineLimits): DecodedLine {
  const line = raw.number;
  const issue = (code: string, message: string): ValidationIssue => ({ line, param: null, code, message });
  if (raw.tooLong) {
    return {
      first: [issue('line_too_large', `the line is ${raw.length} bytes; the limit is ${limits.maxLineBytes}`)],
      then: null,
    };
  }
  let first = NOTHING_FIRST;
  let bytes = raw.bytes;
  let bomBytes = 0;
  if (line === 1 && startsWithBom(bytes)) {
    first = [
      issue('invalid_encoding', 'the input starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without a BOM'),
    ];
    bytes = bytes.subarray(3);
    bomBytes = 3;
  }
  const text = decodeUtf8(bytes);
  if (text === null) {
    const offset = (invalidUtf8Offset(bytes) ?? 0) + bomBytes;
    return {
      first: [
        ...first,
        issue('invalid_encoding', `the line is not valid UTF-8 (at byte offset ${offset} of the line)`),
      ],
      then: null,
    };
  }
  if (text.trim() === '') return { first, then: { blank: true } };
  if (jsonDepthExceeds(text, limits.maxDepth)) {
    return { first, then: { issue: issue('too_deeply_nested', `JSON nested deeper than ${limits.maxDepth} levels`) } };
  }
  try {
    return { first, then: { value: JSON.parse(text) } };
  } catch (error) {
    return { first, then: { issue: issue('invalid_json_line', `not valid JSON: ${(error as Error).message}`) } };
  }
}

/** A blank line followed by a request: refused (blank lines at the very end are accepted). */
export const blankLineIssue = (line: number): ValidationIssue => ({
  line,
  param: null,
  code: 'blank_line',
  message: 'blank line between requests; remove it',
});
