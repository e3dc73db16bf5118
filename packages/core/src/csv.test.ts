import { describe, expect, it } from 'vitest';
import { csvHeader, csvRecord, neutraliseCsvCell, toCsv } from './csv.js';

describe('CSV formula injection (OWASP)', () => {
  it('prefixes a quote to text that a spreadsheet would run', () => {
    for (const dangerous of ['=1+1', '+1', '-1', '@SUM(A1)', '\tx', '\rx', '=HYPERLINK("http://x")']) {
      expect(neutraliseCsvCell(dangerous)).toBe(`'${dangerous}`);
    }
    for (const safe of ['bug', '', 'a=b', ' =1', '1-2']) expect(neutraliseCsvCell(safe)).toBe(safe);
    expect(neutraliseCsvCell(-5)).toBe(-5);
  });

  it('neutralises every cell of every row written, the header included', () => {
    const columns = { itemFields: ['=name'], resultFields: ['label'] };
    const text = toCsv([
      csvHeader(columns),
      csvRecord(
        { index: 0, custom_id: '@id', item: { '=name': '+cmd' }, result: { label: '=2+5' }, usage: null, error: null },
        columns,
      ),
      csvRecord(
        {
          index: 1,
          custom_id: 'b',
          item: { '=name': 'fine' },
          result: null,
          usage: null,
          error: { code: 'x', message: '-oops' },
        },
        columns,
      ),
    ]);
    expect(text.split('\n')).toEqual([
      "index,custom_id,'=name,label,error_code,error_message",
      "0,'@id,'+cmd,'=2+5,,",
      "1,b,fine,,x,'-oops",
      '',
    ]);
  });
});
