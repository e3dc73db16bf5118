import {
  type BatchRecord,
  BatchSpec,
  ConflictError,
  DOMAIN_OPERATIONS,
  REALTIME_ENDPOINTS,
  type ValidationIssue,
  isTerminal,
  newBatchId,
  nowSeconds,
  readResults,
  splitLines,
  storeKeys,
  ValidationError,
  type DryRun,
} from '@sluice/core';
import type { IngestContext } from '../context.js';
import { DryRunMeter } from '../estimate/dry-run.js';
import { tokenCounters } from '../estimate/tokenizer.js';
import type { StoredItem } from '../intake/jsonl-intake.js';

/**
 * "Retry failed" (`POST /v1/batches/{id}/retry`, `POST /v1/jobs/{id}/retry`): resubmits, as a new
 * batch, exactly the items of a finished batch that did not complete (failed, expired or cancelled), with the same API,
 * endpoint, operation, parameters, model, window and timeout, and `metadata.retry_of` = the old
 * id. The items keep their `custom_id`s (so outputs join back), not their indexes.
 *
 * With `?dry_run=true` (`estimateRetry`), the same items are estimated and nothing is created.
 *
 * Not to be confused with core's `retry` (backoff of one failed call): this runs nothing again by
 * itself; it submits a new batch that goes through the pipeline like any other.
 */
export async function resubmitIncompleteItems(
  context: IngestContext,
  source: BatchRecord,
  resource: 'batches' | 'jobs',
): Promise<BatchRecord> {
  const lines = await incompleteItems(context, source, resource);
  const batchId = newBatchId();
  const out = context.store.writer(context.submitter.inputKey(batchId));
  let resubmitted = 0;
  try {
    for await (const line of lines) {
      await out.write(Buffer.concat([line, Buffer.from('\n')]));
      resubmitted++;
    }
  } catch (error) {
    await out.abort();
    throw error;
  }
  if (resubmitted === 0) {
    await out.abort();
    await context.submitter.discard(batchId);
    throw nothingToRetry(source);
  }
  try {
    await out.complete();
  } catch (error) {
    await out.abort();
    throw error;
  }
  const now = nowSeconds();
  // The source's window as it was granted (its completion_window was checked when it was created).
  const windowSeconds =
    source.expires_at !== null && source.expires_at > source.created_at
      ? source.expires_at - source.created_at
      : 24 * 3600;
  const spec = BatchSpec.parse({
    api: source.api,
    tenant: source.tenant,
    endpoint: source.endpoint,
    operation: source.operation,
    model: source.model,
    input_file_id: source.input_file_id,
    completion_window: source.completion_window,
    created_at: now,
    in_progress_at: now,
    expires_at: now + windowSeconds,
    // Sluice's own key (SLUICE_METADATA_KEYS): never one of the caller's 16, and a retry of a
    // retry points at the batch it retries.
    metadata: { ...(source.metadata ?? {}), retry_of: source.id },
    output_expires_after_seconds: source.output_expires_after_seconds,
    item_fields: source.item_fields,
    result_fields: source.result_fields,
    name: source.name,
    parameters: source.parameters,
    request_timeout_seconds: source.request_timeout_seconds,
    tier: source.tier,
  });
  return context.submitter.submit(batchId, spec, resubmitted);
}

/**
 * `?dry_run=true` on a retry: what resubmitting would send (the same items, model and prices as a
 * create's dry run estimates them), and nothing created. The same refusals as the retry itself.
 */
export async function estimateRetry(
  context: IngestContext,
  source: BatchRecord,
  resource: 'batches' | 'jobs',
): Promise<DryRun> {
  const lines = await incompleteItems(context, source, resource);
  // As at create: OpenAI lines name their model; the others run on the batch's, else the configured one.
  const model = source.api === 'openai' ? null : context.catalog.modelOf(source.operation ?? 'run', source.model);
  const meter = new DryRunMeter(source.api, await tokenCounters(), model);
  for await (const line of lines) meter.add(JSON.parse(line.toString('utf8')) as StoredItem);
  if (meter.items === 0) throw nothingToRetry(source);
  return meter.result(context.upstream, context.catalog);
}

/**
 * The stored input lines of a finished batch's items that did not complete, in order: one pass
 * over the input beside the results in index order, so memory stays flat whatever the batch's
 * size. Refuses a batch still running (409) and one whose input is not kept (409).
 */
async function incompleteItems(
  context: IngestContext,
  source: BatchRecord,
  resource: 'batches' | 'jobs',
): Promise<AsyncGenerator<Buffer>> {
  if (!isTerminal(source.status)) {
    throw new ConflictError(
      `${source.id} is ${source.status}; only a finished batch can be retried. Wait for it to finish (or cancel it: POST /v1/${resource}/${source.id}/cancel), then retry.`,
    );
  }
  const unserved = unservedModels(context, source);
  if (unserved.length > 0) throw new ValidationError(unserved);
  const input = await context.store.stream(storeKeys.input(source.id));
  if (!input) {
    throw new ConflictError(
      `${source.id} cannot be retried: its input is not kept (it was produced straight to Kafka, or it was deleted).`,
    );
  }
  return (async function* () {
    const results = readResults(context.store, source.id)[Symbol.asyncIterator]();
    try {
      let next = await results.next();
      let index = 0;
      for await (const line of splitLines(input as AsyncIterable<Buffer>, { maxLineBytes: Number.MAX_SAFE_INTEGER })) {
        while (!next.done && next.value.index < index) next = await results.next();
        // No result at all counts as not done: it cannot happen to a final batch, but must not be lost.
        const completed = !next.done && next.value.index === index && next.value.ok;
        if (!completed) yield line.bytes;
        index++;
      }
    } finally {
      await results.return?.(undefined);
    }
  })();
}

/**
 * The retry runs on the models the source ran on (an OpenAI batch's `body.model`, a job's model or
 * its operation's configured default, a domain batch's operations' defaults): refused like a
 * create when no upstream serves one of them any more.
 */
function unservedModels(context: IngestContext, source: BatchRecord): ValidationIssue[] {
  const where = { line: null, param: 'model' };
  if (source.api === 'openai') {
    const issue = source.model
      ? context.catalog.refusal(source.model, { ...where, origin: `the model of ${source.id}` })
      : null;
    return issue ? [issue] : [];
  }
  const operations =
    source.api === 'operations'
      ? [source.operation ?? 'run']
      : // A domain batch's endpoint names the operations of its lines (`/classify,/extract`).
        DOMAIN_OPERATIONS.filter((operation) => source.endpoint.split(',').includes(REALTIME_ENDPOINTS[operation]));
  return operations
    .map((operation) => context.catalog.operationRefusal(operation, source.model, where))
    .filter((issue): issue is ValidationIssue => issue !== null);
}

function nothingToRetry(source: BatchRecord): ValidationError {
  return new ValidationError(
    [{ line: null, param: 'id', code: 'nothing_to_retry', message: `every item of ${source.id} completed` }],
    false,
    `Nothing to retry: every item of ${source.id} completed.`,
  );
}
