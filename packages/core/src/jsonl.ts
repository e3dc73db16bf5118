/**
 * Splits a byte stream into lines without decoding it first, so that byte limits, byte offsets
 * and invalid UTF-8 are all seen exactly. (Text-based splitters decode with replacement
 * characters, which would hide non-UTF-8 input.)
 */
export interface RawLine {
  /** 1-based line number. */
  number: number;
  /** The line's bytes without the line ending (`\n` or `\r\n`); empty when `tooLong`. */
  bytes: Buffer;
  /** Byte offset of the line's start in the stream. */
  offset: number;
  /** Length in bytes without the line ending. */
  length: number;
  /** The line exceeded `maxLineBytes`; its bytes were dropped. */
  tooLong: boolean;
  /** The line ended with `\r\n`. */
  crlf: boolean;
}

export interface SplitOptions {
  maxLineBytes: number;
}

const NEWLINE = 0x0a;
const CR = 0x0d;

export async function* splitLines(
  source: AsyncIterable<Buffer | string> | Iterable<Buffer | string>,
  options: SplitOptions,
): AsyncGenerator<RawLine> {
  const { maxLineBytes } = options;
  let parts: Buffer[] = [];
  let partsLength = 0;
  let tooLong = false;
  let lineStart = 0;
  let position = 0;
  let number = 0;

  const finish = (tail: Buffer | null): RawLine => {
    number++;
    let bytes = tail && parts.length === 0 ? tail : Buffer.concat(tail ? [...parts, tail] : parts);
    let length = tooLong ? partsLength + (tail?.length ?? 0) : bytes.length;
    let crlf = false;
    if (!tooLong && bytes.length > 0 && bytes[bytes.length - 1] === CR) {
      bytes = bytes.subarray(0, bytes.length - 1);
      length--;
      crlf = true;
    }
    // The +1 allowance above leaves room for a `\r`; a line that is still over the limit is too long.
    if (length > maxLineBytes) tooLong = true;
    const line: RawLine = {
      number,
      bytes: tooLong ? Buffer.alloc(0) : bytes,
      offset: lineStart,
      length,
      tooLong,
      crlf,
    };
    parts = [];
    partsLength = 0;
    tooLong = false;
    return line;
  };

  for await (const input of source) {
    const chunk = typeof input === 'string' ? Buffer.from(input) : input;
    let start = 0;
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) break;
      const piece = chunk.subarray(start, end);
      if (!tooLong && partsLength + piece.length > maxLineBytes + 1) tooLong = true;
      if (tooLong) partsLength += piece.length;
      yield finish(tooLong ? null : piece);
      position += end - start + 1;
      lineStart = position;
      start = end + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length > 0) {
      // Copy: the source may reuse its buffer for the next chunk.
      if (!tooLong && partsLength + rest.length > maxLineBytes + 1) {
        tooLong = true;
        parts = [];
      }
      if (!tooLong) parts.push(Buffer.from(rest));
      partsLength += rest.length;
      position += rest.length;
    }
  }
  if (partsLength > 0 || tooLong) yield finish(null);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Decodes UTF-8 strictly; returns null for invalid bytes. */
export function decodeUtf8(bytes: Buffer): string | null {
  try {
    return UTF8.decode(bytes);
  } catch {
    return null;
  }
}

/**
 * Where UTF-8 decoding fails: the offset of the first byte that does not begin or continue a
 * well-formed sequence (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF);
 * null when every byte is well formed. For messages only: `decodeUtf8` is the fast check.
 */
export function invalidUtf8Offset(bytes: Uint8Array): number | null {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i] as number;
    if (lead < 0x80) {
      i++;
      continue;
    }
    // The sequence's length and the range of its second byte (the others are 80..BF).
    let length: number;
    let low = 0x80;
    let high = 0xbf;
    if (lead >= 0xc2 && lead <= 0xdf) length = 2;
    else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      if (lead === 0xe0) low = 0xa0;
      if (lead === 0xed) high = 0x9f;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      if (lead === 0xf0) low = 0x90;
      if (lead === 0xf4) high = 0x8f;
    } else return i;
    if (i + length > bytes.length) return i;
    const second = bytes[i + 1] as number;
    if (second < low || second > high) return i;
    for (let k = 2; k < length; k++) {
      const next = bytes[i + k] as number;
      if (next < 0x80 || next > 0xbf) return i;
    }
    i += length;
  }
  return null;
}

export function startsWithBom(bytes: Buffer): boolean {
  return bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
}

/** The nesting depth of a JSON text, counted without parsing it (guards against stack-exhausting input). */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  // Each level needs an opening and a closing bracket: a short text cannot be too deep.
  if (text.length <= maxDepth * 2) return false;
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}
