import { describe, expect, it } from 'vitest';
import { ControlMessage } from './control.js';
import { ResultMessage } from './messages.js';

describe('ControlMessage', () => {
  it('takes a cancel with its batch and time', () => {
    const cancel = { type: 'cancel', batch_id: 'batch_abc', requested_at: 1_795_299_520 };
    expect(ControlMessage.parse(cancel)).toEqual(cancel);
  });

  it('refuses a cancel without a time, a bad batch id, and an unknown fact', () => {
    expect(ControlMessage.safeParse({ type: 'cancel', batch_id: 'batch_abc' }).success).toBe(false);
    expect(ControlMessage.safeParse({ type: 'cancel', batch_id: '../x', requested_at: 1 }).success).toBe(false);
    expect(ControlMessage.safeParse({ type: 'pause', batch_id: 'batch_abc', requested_at: 1 }).success).toBe(false);
  });

  it('is no longer a message of the results topic', () => {
    expect(ResultMessage.safeParse({ type: 'cancel', batch_id: 'batch_abc', requested_at: 1 }).success).toBe(false);
  });
});
