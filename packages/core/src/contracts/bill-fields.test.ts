import { describe, expect, it } from 'vitest';
import { BatchRecord, BatchSpec, newBatchRecord } from './batch.js';
import { ResultMessage } from './messages.js';

/** The bill's fields are additions: what was written before them still decodes (docs/costs.md). */
describe('the bill in the contracts', () => {
  it('decodes a status record from before the bill: cost unknown (null)', () => {
    const spec = BatchSpec.parse({ api: 'openai', created_at: 1 });
    const record = newBatchRecord('batch_old', spec, 1, 'in_progress', 'sink', 1);
    const { cost_usd: _cost, realtime_cost_usd: _realtime, ...old } = record;
    expect(BatchRecord.parse(old)).toMatchObject({ cost_usd: null, realtime_cost_usd: null });
  });

  it('decodes a result whose usage has no cached input tokens, and keeps them when given', () => {
    const result = {
      type: 'item',
      batch_id: 'batch_old',
      index: 0,
      custom_id: 'c0',
      id: 'batch_req_0',
      api: 'openai',
      discriminator: '/v1/chat/completions',
      ok: true,
      response: null,
      error: null,
      usage: { input_tokens: 10, output_tokens: 2 },
      attempts: 1,
      finished_at: 1,
    };
    expect(ResultMessage.parse(result)).toMatchObject({ usage: { input_tokens: 10, output_tokens: 2 } });
    const cached = ResultMessage.parse({ ...result, usage: { ...result.usage, cached_input_tokens: 8 } });
    expect(cached).toMatchObject({ usage: { cached_input_tokens: 8 } });
  });
});
