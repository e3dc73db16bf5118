import { describe, expect, it } from 'vitest';
import { arrayEntries, intake, type LineValidator, type StoredItem } from './jsonl-intake.js';

const limits = { maxBytes: 1 << 20, maxLineBytes: 1 << 16, maxItems: 10, maxReportedErrors: 10, maxDepth: 16 };

const byText: LineValidator = (value, line) =>
  typeof value === 'object' && value !== null && typeof (value as { text?: unknown }).text === 'string'
    ? {
        item: {
          custom_id: String((value as { id?: unknown }).id ?? line),
          discriminator: 'x',
          body: { text: (value as { text: string }).text },
        },
      }
    : { issues: [{ line, param: 'text', code: 'invalid_item', message: 'text is required' }] };

describe('intake into memory (a synchronous call)', () => {
  it('keeps the valid items in order', async () => {
    const memory: StoredItem[] = [];
    const result = await intake(arrayEntries([{ text: 'a' }, { text: 'b' }]), { memory }, byText, { limits });
    expect(result).toEqual({ items: 2, issues: [], truncated: false });
    expect(memory.map((item) => item.body.text)).toEqual(['a', 'b']);
  });

  it('keeps nothing of a refused input', async () => {
    const memory: StoredItem[] = [];
    const result = await intake(arrayEntries([{ text: 'a' }, { nope: 1 }]), { memory }, byText, { limits });
    expect(result.issues.map((issue) => issue.code)).toEqual(['invalid_item']);
    expect(memory).toEqual([]);
  });

  it('names a repeated id, confirmed against the items kept in memory', async () => {
    const memory: StoredItem[] = [];
    const result = await intake(
      arrayEntries([
        { id: 'x', text: 'a' },
        { id: 'y', text: 'b' },
        { id: 'x', text: 'c' },
      ]),
      { memory },
      byText,
      { limits },
    );
    expect(result.issues).toEqual([
      { line: 3, param: 'custom_id', code: 'duplicate_custom_id', message: "custom_id 'x' was already used on line 1" },
    ]);
  });
});
