import { BatchRecord } from '@sluice/core';
import type { Job, Sluice } from '@sluice/sdk';
import { CliError, EXIT } from '../cli-errors.js';
import type { ProgressSnapshot } from './progress.js';

/**
 * The batch object (`GET /v1/batches/{id}`), the fields the CLI reads. Every id has one: a job
 * is a batch too, with `endpoint` `/v1/jobs`. Derived from the batch record, not redeclared.
 */
export const BatchObject = BatchRecord.pick({
  id: true,
  endpoint: true,
  model: true,
  status: true,
  request_counts: true,
  output_file_id: true,
  error_file_id: true,
  errors: true,
  created_at: true,
  throughput_per_minute: true,
  eta_seconds: true,
  cost_usd: true,
  realtime_cost_usd: true,
});
export type BatchObject = ReturnType<typeof BatchObject.parse>;

/** Which API a batch came through, and so which routes serve it. */
export type BatchKind = 'job' | 'domain' | 'openai';

export function kindOf(batch: Pick<BatchObject, 'endpoint'>): BatchKind {
  if (batch.endpoint === '/v1/jobs') return 'job';
  if (batch.endpoint === '/v1/batches') return 'domain';
  return 'openai';
}

/** Where a batch stands, with the object the server sent (the job for a job, else the batch). */
export interface BatchState extends ProgressSnapshot {
  kind: BatchKind;
  json: unknown;
  /** The first of the batch's errors (an OpenAI batch whose file had bad lines), when any. */
  reason: string | null;
}

export const batchPath = (id: string) => `/v1/batches/${encodeURIComponent(id)}`;

export function parseBatchObject(raw: unknown, where: string): BatchObject {
  const parsed = BatchObject.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(`${where}: unexpected answer: ${issue?.path.join('.')}: ${issue?.message}`, EXIT.failure);
  }
  return parsed.data;
}

/** Finds out what kind of batch `id` is. */
export async function inspectBatch(
  client: Sluice,
  id: string,
): Promise<{ kind: BatchKind; batch: BatchObject; raw: unknown }> {
  const raw = await client.requestJSON({ method: 'GET', path: batchPath(id) });
  const batch = parseBatchObject(raw, `GET ${batchPath(id)}`);
  return { kind: kindOf(batch), batch, raw };
}

export async function readState(client: Sluice, id: string, kind: BatchKind): Promise<BatchState> {
  if (kind === 'job') return stateOfJob(await client.batches.retrieve(id));
  const raw = await client.requestJSON({ method: 'GET', path: batchPath(id) });
  return stateOfBatch(raw, `GET ${batchPath(id)}`);
}

export function stateOfJob(job: Job): BatchState {
  return {
    kind: 'job',
    id: job.id,
    status: job.status,
    total: job.total_items,
    completed: job.completed_items,
    failed: job.failed_items,
    cancelled: job.cancelled_items,
    expired: job.expired_items,
    throughputPerMinute: job.throughput_per_minute,
    etaSeconds: job.eta_seconds,
    costUsd: job.cost_usd ?? null,
    realtimeCostUsd: job.realtime_cost_usd ?? null,
    json: job,
    reason: null,
  };
}

export function stateOfBatch(raw: unknown, where: string): BatchState {
  const batch = parseBatchObject(raw, where);
  const error = batch.errors?.data[0];
  return {
    kind: kindOf(batch),
    id: batch.id,
    status: batch.status,
    ...batch.request_counts,
    throughputPerMinute: batch.throughput_per_minute,
    etaSeconds: batch.eta_seconds,
    costUsd: batch.cost_usd,
    realtimeCostUsd: batch.realtime_cost_usd,
    json: raw,
    reason: error ? `${error.line ? `line ${error.line}: ` : ''}${error.message}` : null,
  };
}

/** Exit 0 for a completed batch; a failed, expired or cancelled one is the command's failure. */
export function requireCompleted(state: BatchState): void {
  if (state.status === 'completed') return;
  const extra = [
    ...(state.cancelled > 0 ? [`${state.cancelled} cancelled`] : []),
    ...(state.expired > 0 ? [`${state.expired} expired`] : []),
  ];
  const done = state.completed + state.failed + state.cancelled + state.expired;
  const counts = [`${done}/${state.total} done`, `${state.failed} failed`, ...extra].join(', ');
  throw new CliError(
    `${state.id} ended ${state.status} (${counts})${state.reason ? `: ${state.reason}` : ''}`,
    EXIT.failure,
  );
}

export const printJson = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
