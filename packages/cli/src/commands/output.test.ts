import { describe, expect, it } from 'vitest';
import { EXIT } from '../cli-errors.js';
import { formatOfPath, outputRequestFrom } from './output.js';

describe('outputRequestFrom', () => {
  it('defaults to JSONL, and asks for one page only when --offset or --limit is given', () => {
    expect(outputRequestFrom({})).toEqual({ format: 'jsonl', explicitFormat: false, page: undefined });
    expect(outputRequestFrom({ format: 'json' })).toEqual({ format: 'json', explicitFormat: true, page: undefined });
    expect(outputRequestFrom({ format: 'json', limit: '50' })).toEqual({
      format: 'json',
      explicitFormat: true,
      page: { offset: 0, limit: 50 },
    });
  });

  it.each([
    [{ format: 'xml' }, "--format: expected one of json, jsonl, csv, got 'xml'"],
    [{ format: 'csv', offset: '10' }, '--offset: only with --format json'],
    [{ limit: '10' }, '--limit: only with --format json'],
    [{ format: 'json', limit: '0' }, "--limit: expected an integer >= 1 and <= 10000, got '0'"],
    [{ format: 'json', offset: '-1' }, "--offset: expected an integer >= 0, got '-1'"],
  ])('refuses %o', (flags, message) => {
    expect(() => outputRequestFrom(flags)).toThrow(expect.objectContaining({ message, exitCode: EXIT.usage }));
  });
});

describe('formatOfPath', () => {
  it('reads the format from the file name', () => {
    expect(['out.json', 'OUT.CSV', 'out.jsonl', 'out.txt'].map(formatOfPath)).toEqual([
      'json',
      'csv',
      'jsonl',
      'jsonl',
    ]);
  });
});
