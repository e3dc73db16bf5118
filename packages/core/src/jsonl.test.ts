import { describe, expect, it } from 'vitest';
import { decodeUtf8, invalidUtf8Offset, jsonDepthExceeds, splitLines, type RawLine } from './jsonl.js';

async function collect(chunks: (string | Buffer)[], maxLineBytes = 1024): Promise<RawLine[]> {
  const lines: RawLine[] = [];
  for await (const line of splitLines(chunks, { maxLineBytes })) lines.push(line);
  return lines;
}

describe('splitLines', () => {
  it('splits across chunk boundaries and keeps byte offsets', async () => {
    const lines = await collect(['{"a"', ':1}\n{"b":2', '}\n', '{"c":3}']);
    expect(lines.map((l) => l.bytes.toString())).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(lines.map((l) => l.offset)).toEqual([0, 8, 16]);
    expect(lines.map((l) => l.number)).toEqual([1, 2, 3]);
  });

  it('strips CRLF and says so', async () => {
    const [line] = await collect(['x\r\n']);
    expect(line?.bytes.toString()).toBe('x');
    expect(line?.crlf).toBe(true);
  });

  it('reports blank lines and does not invent a line after the final newline', async () => {
    const lines = await collect(['a\n\nb\n']);
    expect(lines.map((l) => l.bytes.toString())).toEqual(['a', '', 'b']);
  });

  it('drops the bytes of an over-long line but keeps counting lines', async () => {
    const long = 'x'.repeat(50);
    const lines = await collect([`ok\n${long.slice(0, 20)}`, `${long.slice(20)}\nnext\n`], 10);
    expect(lines.map((l) => [l.number, l.tooLong, l.length])).toEqual([
      [1, false, 2],
      [2, true, 50],
      [3, false, 4],
    ]);
  });
});

describe('decodeUtf8 and jsonDepthExceeds', () => {
  it('rejects invalid UTF-8 instead of replacing it', () => {
    expect(decodeUtf8(Buffer.from([0x7b, 0xff, 0x7d]))).toBeNull();
    expect(decodeUtf8(Buffer.from('é'))).toBe('é');
  });

  it('names the offset of the first byte that is not well-formed UTF-8, as the strict decoder judges it', () => {
    const cases: [number[], number | null][] = [
      [[...Buffer.from('aé€😀')], null],
      [[0x61, 0xff], 1],
      [[0x61, 0xc0, 0xaf], 1], // overlong '/'
      [[0xe0, 0x80, 0x80], 0], // overlong
      [[0xed, 0xa0, 0x80], 0], // a surrogate
      [[0xf4, 0x90, 0x80, 0x80], 0], // above U+10FFFF
      [[0x61, 0x62, 0xe2, 0x82], 2], // truncated at the end
      [[0xc3, 0x41], 0], // a lead without its continuation
    ];
    for (const [bytes, offset] of cases) {
      expect(invalidUtf8Offset(Uint8Array.from(bytes)), JSON.stringify(bytes)).toBe(offset);
      expect(decodeUtf8(Buffer.from(bytes)) === null, JSON.stringify(bytes)).toBe(offset !== null);
    }
  });

  it('counts nesting outside strings only', () => {
    expect(jsonDepthExceeds('[[[1]]]', 3)).toBe(false);
    expect(jsonDepthExceeds('[[[[1]]]]', 3)).toBe(true);
    expect(jsonDepthExceeds('{"a":"[[[[[["}', 2)).toBe(false);
  });
});
