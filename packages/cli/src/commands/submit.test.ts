import { describe, expect, it } from 'vitest';
import { EXIT } from '../cli-errors.js';
import { checkSubmitFlags } from './submit.js';

describe('checkSubmitFlags', () => {
  it.each([
    [{ categories: 'a,b' }, '--categories: only with --operation (a file of items)'],
    [{ operation: 'label', output: 'out.jsonl' }, '--output: only with --wait'],
    [{ operation: 'label', timeout: '10' }, '--timeout: only with --wait'],
    [{ operation: 'label', wait: true, format: 'csv' }, '--format: only with --output'],
    [
      { operation: 'label', wait: true, output: 'o.txt', format: 'xml' },
      "--format: expected one of json, jsonl, csv, got 'xml'",
    ],
    [{ tier: 'cheapest' }, '--tier: expected auto, realtime, flex, batch; got "cheapest"'],
  ])('refuses %o', (flags, message) => {
    expect(() => checkSubmitFlags({ pollInterval: '1', ...flags })).toThrow(
      expect.objectContaining({ message, exitCode: EXIT.usage }),
    );
  });

  it('accepts operation flags with --operation, and --output with --wait', () => {
    expect(() =>
      checkSubmitFlags({ pollInterval: '1', operation: 'label', categories: 'a,b', wait: true, output: 'o.csv' }),
    ).not.toThrow();
  });
});
