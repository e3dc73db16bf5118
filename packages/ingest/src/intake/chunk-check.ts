import type { ValidationIssue } from '@sluice/core';
import { fingerprint } from './custom-id-set.js';
import { validateDomainLine } from './domain.js';
import { decodeJsonlLine, type LineLimits } from './jsonl-lines.js';
import type { LineVerdict } from './jsonl-intake.js';

/**
 * The part of a JSONL intake that needs no state beyond one line, done for a chunk of lines at a
 * time by an intake worker (intake-pool.ts): decoding, JSON parsing, a validator without state,
 * the custom_id's fingerprint, and the stored line. What depends on the lines before (blank lines,
 * the item limit, duplicates, the problems' cap, a validator's check across lines) stays with the
 * intake, which takes the chunks back in order.
 */

/** Validators with no state across lines, by the name a request to a worker gives. */
export const CHUNK_VALIDATORS = {
  domain: (value: unknown, line: number): LineVerdict => validateDomainLine(value, line),
} as const;
export type ChunkValidatorName = keyof typeof CHUNK_VALIDATORS;

/** Per line, in `layout` below. */
export const LINE_FIELDS = 4;
/** A line's fields in `ChunkRequest.layout`: its number, where its bytes end in `bytes`, its length, too long (1/0). */
const NUMBER = 0;
const END = 1;
const LENGTH = 2;
const TOO_LONG = 3;

/** A chunk of lines to check: their bytes one after another, and per line LINE_FIELDS numbers. */
export interface ChunkRequest {
  validator: ChunkValidatorName;
  limits: LineLimits;
  bytes: Uint8Array;
  layout: Float64Array;
  lines: number;
}

/** What a line turned out to be (`CheckedChunk.kinds`). */
export const LINE_KIND = {
  /** Nothing more than its `first` problems. */
  none: 0,
  /** Blank: refused only if a request follows. */
  blank: 1,
  /** Not decodable (not JSON, too deep): its one problem. */
  undecodable: 2,
  /** Decoded, and refused by the validator: its problems. */
  refused: 3,
  /** A valid item. */
  item: 4,
} as const;

export interface CheckedChunk {
  /** Per line: a LINE_KIND. */
  kinds: Uint8Array;
  /** The problems reported at once, before anything else of the line (a line's position in the chunk, its problems). */
  first: [number, ValidationIssue[]][];
  /** The problems of lines `undecodable` or `refused` (position, problems). */
  problems: [number, ValidationIssue[]][];
  /** Per valid item, in order: its custom_id's fingerprint, its discriminator. */
  fingerprints: Float64Array;
  discriminators: string[];
  /** The valid items as stored (JSON and "\n" each), one after another, and where each one's ends. */
  stored: Uint8Array;
  storedEnds: Float64Array;
}

export function checkChunk(request: ChunkRequest): CheckedChunk {
  const { layout, lines, limits } = request;
  const validate = CHUNK_VALIDATORS[request.validator];
  const source = Buffer.from(request.bytes.buffer, request.bytes.byteOffset, request.bytes.byteLength);
  const kinds = new Uint8Array(lines);
  const first: [number, ValidationIssue[]][] = [];
  const problems: [number, ValidationIssue[]][] = [];
  const fingerprints: number[] = [];
  const discriminators: string[] = [];
  const stored: string[] = [];
  let start = 0;
  for (let i = 0; i < lines; i++) {
    const at = i * LINE_FIELDS;
    const end = layout[at + END] as number;
    const number = layout[at + NUMBER] as number;
    const decoded = decodeJsonlLine(
      {
        number,
        bytes: source.subarray(start, end),
        length: layout[at + LENGTH] as number,
        tooLong: layout[at + TOO_LONG] === 1,
      },
      limits,
    );
    start = end;
    if (decoded.first.length > 0) first.push([i, decoded.first]);
    const then = decoded.then;
    if (then === null) kinds[i] = LINE_KIND.none;
    else if ('blank' in then) kinds[i] = LINE_KIND.blank;
    else if ('issue' in then) {
      kinds[i] = LINE_KIND.undecodable;
      problems.push([i, [then.issue]]);
    } else {
      const verdict = validate(then.value, number);
      if ('issues' in verdict) {
        kinds[i] = LINE_KIND.refused;
        problems.push([i, verdict.issues]);
      } else {
        kinds[i] = LINE_KIND.item;
        fingerprints.push(fingerprint(verdict.item.custom_id));
        discriminators.push(verdict.item.discriminator);
        stored.push(`${JSON.stringify(verdict.item)}\n`);
      }
    }
  }
  const storedEnds = new Float64Array(stored.length);
  let bytes = 0;
  for (let i = 0; i < stored.length; i++) storedEnds[i] = bytes += Buffer.byteLength(stored[i] as string);
  return {
    kinds,
    first,
    problems,
    fingerprints: Float64Array.from(fingerprints),
    discriminators,
    stored: exclusiveUtf8(stored.join('')),
    storedEnds,
  };
}

/** `text` as UTF-8 in an ArrayBuffer of its own (Buffer.from may share its pool), so it can be transferred. */
function exclusiveUtf8(text: string): Buffer {
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(text));
  bytes.write(text);
  return bytes;
}
