import { describe, expect, it } from 'vitest';
import { type BatchObject } from './batch-target.js';
import { formatBatchTable } from './list.js';

const batch = (overrides: Partial<BatchObject>): BatchObject => ({
  id: 'batch_a',
  endpoint: '/v1/jobs',
  model: null,
  status: 'in_progress',
  request_counts: { total: 1000, completed: 117, failed: 3, cancelled: 0, expired: 0 },
  throughput_per_minute: null,
  eta_seconds: null,
  cost_usd: null,
  realtime_cost_usd: null,
  output_file_id: null,
  error_file_id: null,
  errors: null,
  created_at: 1_795_299_520,
  ...overrides,
});

describe('formatBatchTable', () => {
  it('shows one aligned row per batch, with its kind', () => {
    expect(
      formatBatchTable([
        batch({}),
        batch({ id: 'batch_openai_1', endpoint: '/v1/chat/completions', status: 'completed' }),
        batch({
          id: 'batch_d',
          endpoint: '/v1/batches',
          request_counts: { total: 3, completed: 0, failed: 0, cancelled: 0, expired: 0 },
        }),
      ]).split('\n'),
    ).toEqual([
      'ID              KIND                         STATUS       DONE      FAILED  CREATED',
      'batch_a         job                          in_progress  120/1000  3       2026-11-21T22:18:40Z',
      'batch_openai_1  openai /v1/chat/completions  completed    120/1000  3       2026-11-21T22:18:40Z',
      'batch_d         domain                       in_progress  0/3       0       2026-11-21T22:18:40Z',
    ]);
  });
});
