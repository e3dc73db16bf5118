import { type BatchRecord, isTerminal, type Job } from '@sluice/core';

/** Finished share of a batch, in [0, 1]. */
export function progressOf(record: BatchRecord): number {
  const { total, completed, failed, cancelled, expired } = record.request_counts;
  return total === 0 ? (record.status === 'completed' ? 1 : 0) : (completed + failed + cancelled + expired) / total;
}

/** Pace, time left and cost so far, as the sink measured them; a final batch has nothing left. */
function paceOf(record: BatchRecord) {
  return {
    throughput_per_minute: record.throughput_per_minute,
    eta_seconds: isTerminal(record.status) ? 0 : record.eta_seconds,
    retries: record.retries,
    rate_limited: record.rate_limited,
    cost_usd: record.cost_usd,
    realtime_cost_usd: record.realtime_cost_usd,
  };
}

/**
 * The OpenAI Batch object, for OpenAI and domain batches alike (one batch model). Extra fields
 * the OpenAI SDKs ignore: `progress`, `throughput_per_minute`, `eta_seconds`, `retries`, `rate_limited`, `cost_usd`, `realtime_cost_usd`,
 * `request_counts.cancelled`, `request_counts.expired` and `tier`; for jobs also `operation`, `parameters` and `request_timeout_seconds`.
 */
export function publicBatch(record: BatchRecord) {
  return {
    id: record.id,
    object: 'batch' as const,
    endpoint: record.endpoint,
    model: record.model,
    errors: record.errors,
    input_file_id: record.input_file_id,
    completion_window: record.completion_window,
    status: record.status,
    output_file_id: record.output_file_id,
    error_file_id: record.error_file_id,
    created_at: record.created_at,
    in_progress_at: record.in_progress_at,
    expires_at: record.expires_at,
    finalizing_at: record.finalizing_at,
    completed_at: record.completed_at,
    failed_at: record.failed_at,
    expired_at: record.expired_at,
    cancelling_at: record.cancelling_at,
    cancelled_at: record.cancelled_at,
    request_counts: record.request_counts,
    usage: record.usage,
    metadata: record.metadata,
    progress: progressOf(record),
    ...paceOf(record),
    request_timeout_seconds: record.request_timeout_seconds,
    tier: record.tier,
    ...(record.api === 'operations' ? { operation: record.operation, parameters: record.parameters } : {}),
  };
}

/** The operations API's job object: the same batch, in this API's words. */
export function publicJob(record: BatchRecord): Job {
  return {
    id: record.id,
    object: 'job',
    operation: record.operation ?? 'unknown',
    name: record.name,
    model: record.model,
    status: record.status,
    total_items: record.request_counts.total,
    completed_items: record.request_counts.completed,
    failed_items: record.request_counts.failed,
    cancelled_items: record.request_counts.cancelled,
    expired_items: record.request_counts.expired,
    progress: progressOf(record),
    ...paceOf(record),
    parameters: record.parameters,
    completion_window: record.completion_window,
    request_timeout_seconds: record.request_timeout_seconds,
    tier: record.tier,
    created_at: record.created_at,
    completed_at: record.completed_at,
    cancelled_at: record.cancelled_at,
    expires_at: record.expires_at,
    output_file_id: record.output_file_id,
    error_file_id: record.error_file_id,
    usage: record.usage,
    metadata: record.metadata,
  };
}

/** A page of a listing, in OpenAI's list shape. */
export function listPage<T extends { id: string }>(data: T[], hasMore: boolean) {
  return {
    object: 'list' as const,
    data,
    first_id: data[0]?.id ?? null,
    last_id: data[data.length - 1]?.id ?? null,
    has_more: hasMore,
  };
}
