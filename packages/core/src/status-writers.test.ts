import { describe, expect, it } from 'vitest';
import { BatchRecord, StatusWriter } from './contracts/batch.js';
import { admitStatusRecord, StatusWriterRule } from './status-writers.js';

describe('the status writer rule', () => {
  it('drops an intake record once a sink record of the batch was seen, and nothing else', () => {
    expect(admitStatusRecord({ written_by: 'intake' }, 'sink')).toBe(false);
    expect(admitStatusRecord({ written_by: 'intake' }, 'intake')).toBe(true);
    expect(admitStatusRecord({ written_by: 'intake' }, null)).toBe(true);
    expect(admitStatusRecord({ written_by: 'sink' }, 'intake')).toBe(true);
    expect(admitStatusRecord({ written_by: 'sink' }, 'sink')).toBe(true);
  });

  it('remembers per batch that a sink wrote it, and forgets a deleted batch', () => {
    const rule = new StatusWriterRule();
    expect(rule.admit({ id: 'batch_a', written_by: 'intake' })).toBe(true);
    expect(rule.admit({ id: 'batch_a', written_by: 'sink' })).toBe(true);
    expect(rule.admit({ id: 'batch_a', written_by: 'intake' })).toBe(false);
    // Another batch is not affected.
    expect(rule.admit({ id: 'batch_b', written_by: 'intake' })).toBe(true);
    rule.forget('batch_a');
    expect(rule.admit({ id: 'batch_a', written_by: 'intake' })).toBe(true);
  });

  it('reads a record from before the field as written by the sink', () => {
    expect(StatusWriter.options).toEqual(['intake', 'sink']);
    const shape = BatchRecord.shape.written_by;
    expect(shape.parse(undefined)).toBe('sink');
  });
});
