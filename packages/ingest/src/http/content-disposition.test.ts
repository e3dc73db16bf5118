import { describe, expect, it } from 'vitest';
import { attachment } from './content-disposition.js';

describe('attachment (RFC 6266 / 5987)', () => {
  it('keeps a plain ASCII name as it is', () => {
    expect(attachment('input.jsonl')).toBe('attachment; filename="input.jsonl"');
  });

  it('gives a non-Latin-1 name an ASCII fallback and a UTF-8 filename*', () => {
    const header = attachment('données_日本語.jsonl');
    expect(header).toBe(
      `attachment; filename="donn_es____.jsonl"; filename*=UTF-8''donn%C3%A9es_%E6%97%A5%E6%9C%AC%E8%AA%9E.jsonl`,
    );
    // Node only sends header values of Latin-1 characters: this one is plain ASCII.
    expect(/^[\x20-\x7e]*$/.test(header)).toBe(true);
  });

  it('cannot be broken by quotes, backslashes or line breaks', () => {
    const header = attachment('a"b\\c\r\nX-Evil: 1.jsonl');
    expect(header).not.toMatch(/[\r\n]/);
    expect(header.startsWith('attachment; filename="a_b_c__X-Evil: 1.jsonl"; filename*=UTF-8\'\'')).toBe(true);
    expect(decodeURIComponent(header.split("UTF-8''")[1] ?? '')).toBe('a"b\\c\r\nX-Evil: 1.jsonl');
  });
});
