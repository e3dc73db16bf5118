import { RequestItemMessage } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { requestMessagePrefix } from './submitter.js';

describe('request messages spliced from stored lines', () => {
  it('are the same message the full encode would write', () => {
    const stored = {
      custom_id: 'a "quoted" id',
      discriminator: 'classify',
      body: { model: 'classify', text: 'x\ny', labels: ['a', 'b'] },
    };
    const spliced = `${requestMessagePrefix('batch_x', {
      api: 'domain',
      expires_at: 1_800_000_000,
      tenant: 'acme "co"',
      dedup: false,
      tier: 'flex',
      request_timeout_seconds: 2.5,
    })}7,${JSON.stringify(stored).slice(1)}`;
    const parsed = RequestItemMessage.parse(JSON.parse(spliced));
    expect(parsed).toEqual({
      type: 'item',
      batch_id: 'batch_x',
      index: 7,
      custom_id: stored.custom_id,
      api: 'domain',
      discriminator: 'classify',
      body: stored.body,
      expires_at: 1_800_000_000,
      tenant: 'acme "co"',
      dedup: false,
      tier: 'flex',
      timeout_ms: 2500,
    });
  });
});
