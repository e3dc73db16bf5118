import {
  type BatchRecord,
  BatchSpec,
  canonicalOperation,
  completionWindowSeconds,
  DEFAULT_COMPLETION_WINDOW,
  JOB_REQUEST_KEYS,
  ListQuery,
  OutputQuery,
  type DryRun,
  type FileRecord,
  JobRequestBody,
  newBatchId,
  NotFoundError,
  nowSeconds,
  OPERATION_PARAMS,
  type OutputPage,
  ValidationError,
} from '@sluice/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { cancelBatch } from '../batches/cancel.js';
import { estimateRetry, resubmitIncompleteItems } from '../batches/resubmit.js';
import { requestTimeoutSeconds } from '../batches/timeouts.js';
import { DryRunMeter } from '../estimate/dry-run.js';
import { tokenCounters } from '../estimate/tokenizer.js';
import { isDryRun } from '../http/dry-run-query.js';
import { DRY_RUN, takesQuery } from '../http/query-parameters.js';
import { type IngestContext, intakeLimits } from '../context.js';
import { unsupportedMediaType } from '../http/errors.js';
import { attachment } from '../http/content-disposition.js';
import { fileFor } from '../http/lookups.js';
import { listPage, publicJob } from '../http/views.js';
import {
  arrayEntries,
  csvEntries,
  jsonlEntries,
  type IntakeEntry,
  type LineValidator,
} from '../intake/jsonl-intake.js';
import { intakeOperationItems, paramsIssues, resultFieldsOf, type OperationParams } from '../intake/operations.js';
import { issuesFromZod } from '../intake/zod-issues.js';
import { csvStream, jsonlStream, pageOfRows } from '../output/rows.js';
import { deleteFinished } from './batches.js';
import { receiveUpload } from './files.js';

/** A tenant's operations job (or a synchronous operations call that timed out, polled here), or 404. */
export async function jobFor(context: IngestContext, tenant: string, id: string): Promise<BatchRecord> {
  const record = await context.view.get(id);
  if (!record || record.tenant !== tenant || record.api !== 'operations') throw new NotFoundError('job', id);
  return record;
}

/**
 * Operations jobs, at `/v1/jobs` rather than `/v1/batches`: `/v1/batches` already means OpenAI's
 * and the domain API's batch objects, and jobs answer in their own shape (job objects, JSON pages,
 * CSV). A job is the same batch underneath: `GET /v1/batches/{id}` shows it too.
 */
export function registerJobRoutes(app: FastifyInstance, context: IngestContext) {
  app.post('/v1/jobs', takesQuery(DRY_RUN), async (request) => {
    return jobAnswer(await createJob(context, request, request.body, null, isDryRun(request)));
  });

  app.post('/v1/jobs/upload', takesQuery(DRY_RUN), async (request) => {
    if (!request.isMultipart()) {
      throw unsupportedMediaType(
        request.headers['content-type'] ?? '',
        'Upload as multipart/form-data with a "file" part and a "params" part (JSON).',
      );
    }
    const dryRun = isDryRun(request);
    const { file, fields } = await receiveUpload(context, request, ['.jsonl', '.ndjson', '.csv']);
    try {
      let params: unknown;
      try {
        params = JSON.parse(fields.params ?? '');
      } catch {
        throw new ValidationError([
          {
            line: null,
            param: 'params',
            code: 'invalid_value',
            message: 'params must be a JSON object: {"operation": ..., ...}',
          },
        ]);
      }
      return jobAnswer(await createJob(context, request, params, file, dryRun));
    } finally {
      // The job keeps its own validated copy of the items.
      await context.files.delete(file);
    }
  });

  app.get('/v1/jobs', takesQuery(ListQuery), async (request) => {
    const query = ListQuery.safeParse(request.query);
    if (!query.success) throw new ValidationError(issuesFromZod(query.error, null));
    const { data, hasMore } = await context.view.list(request.tenant, { ...query.data, api: 'operations' });
    return listPage(data.map(publicJob), hasMore);
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (request) => {
    return publicJob(await jobFor(context, request.tenant, request.params.id));
  });

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/cancel', async (request) => {
    return publicJob(await cancelBatch(context, await jobFor(context, request.tenant, request.params.id)));
  });

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/retry', takesQuery(DRY_RUN), async (request) => {
    const record = await jobFor(context, request.tenant, request.params.id);
    if (isDryRun(request)) return estimateRetry(context, record, 'jobs');
    return publicJob(await resubmitIncompleteItems(context, record, 'jobs'));
  });

  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', async (request) => {
    const record = await jobFor(context, request.tenant, request.params.id);
    await deleteFinished(context, record, 'jobs');
    return { id: record.id, object: 'job.deleted', deleted: true };
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/output', takesQuery(OutputQuery), async (request, reply) => {
    const record = await jobFor(context, request.tenant, request.params.id);
    const query = OutputQuery.safeParse(request.query);
    if (!query.success) throw new ValidationError(issuesFromZod(query.error, null));
    const { format, offset, limit } = query.data;
    reply.header('x-sluice-batch-status', record.status);
    if (format === 'jsonl')
      return reply.type('application/jsonl; charset=utf-8').send(await jsonlStream(context, record));
    if (format === 'csv') {
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', attachment(`${record.id}.csv`))
        .send(await csvStream(context, record));
    }
    const total = record.request_counts.total;
    const page: OutputPage = {
      object: 'output.page',
      id: record.id,
      status: record.status,
      offset,
      limit,
      total,
      has_more: offset + limit < total,
      results: await pageOfRows(context, record, offset, limit),
    };
    return page;
  });
}

/** A created job as its job object; a dry run as it is. */
const jobAnswer = (created: BatchRecord | DryRun) =>
  'object' in created && created.object === 'dry_run' ? created : publicJob(created as BatchRecord);

/**
 * Creates a job from a JSON request (`items` or `input_file_id`) or an uploaded file: checks the
 * operation's parameters and every item (naming bad items by index, or bad rows by line), stores
 * the items and submits the batch.
 */
async function createJob(
  context: IngestContext,
  request: FastifyRequest,
  body: unknown,
  uploaded: FileRecord | null,
  /** Validate exactly the same way, estimate, and keep nothing. */
  dryRun = false,
): Promise<BatchRecord | DryRun> {
  const job = JobRequestBody.safeParse(body);
  if (!job.success) throw new ValidationError(issuesFromZod(job.error, null));
  const operation = canonicalOperation(job.data.operation);
  const rawParams = Object.fromEntries(Object.entries(job.data).filter(([key]) => !JOB_REQUEST_KEYS.has(key)));
  const parsedParams = OPERATION_PARAMS[operation].safeParse(rawParams);
  if (!parsedParams.success) throw new ValidationError(issuesFromZod(parsedParams.error, null));
  const params = parsedParams.data as OperationParams;
  const paramsProblems = paramsIssues(operation, params);
  if (paramsProblems.length > 0) throw new ValidationError(paramsProblems);
  const model = (params as { model?: string }).model ?? null;
  const unserved = context.catalog.operationRefusal(operation, model, { line: null, param: 'model' });
  if (unserved) throw new ValidationError([unserved]);
  const tier = job.data.tier ?? 'auto';
  const tierIssue = context.catalog.tierRefusal(context.catalog.modelOf(operation, model), tier, { line: null });
  if (tierIssue) throw new ValidationError([tierIssue]);
  const windowText = job.data.completion_window ?? DEFAULT_COMPLETION_WINDOW;
  const windowSeconds = completionWindowSeconds(windowText) as number;
  const timeoutSeconds = requestTimeoutSeconds(context.upstream, job.data.request_timeout_seconds);

  let source: AsyncIterable<IntakeEntry> | Iterable<IntakeEntry>;
  let fromItems = false;
  const limits = intakeLimits(context.limits, { maxItems: context.limits.maxBatchItems });
  if (job.data.items && (uploaded || job.data.input_file_id)) {
    throw new ValidationError([
      { line: null, param: 'items', code: 'invalid_request', message: 'give either items or input_file_id, not both' },
    ]);
  }
  const file =
    uploaded ?? (job.data.input_file_id ? await fileFor(context, request.tenant, job.data.input_file_id) : null);
  if (job.data.items) {
    source = arrayEntries(job.data.items);
    fromItems = true;
  } else if (file) {
    const stored = await context.files.content(file);
    if (!stored) throw new NotFoundError('file', file.id);
    const content = stored as AsyncIterable<Buffer>;
    const unlimited = { ...limits, maxBytes: Number.MAX_SAFE_INTEGER };
    source = file.filename.toLowerCase().endsWith('.csv')
      ? csvEntries(content, unlimited)
      : jsonlEntries(content, unlimited);
  } else {
    throw new ValidationError([
      {
        line: null,
        param: 'items',
        code: 'missing_required_parameter',
        message: 'items (or input_file_id, or an uploaded file) is required',
      },
    ]);
  }

  const batchId = newBatchId();
  const meter = dryRun
    ? new DryRunMeter('operations', await tokenCounters(), context.catalog.modelOf(operation, model))
    : null;
  const { items, fields } = await intakeOperationItems(context, batchId, operation, params, source, {
    fromItems,
    limits,
    itemLimitName: 'SLUICE_MAX_BATCH_ITEMS',
    ...(meter ? { wrapValidator: (validate: LineValidator) => meter.wrap(validate) } : {}),
  });
  if (meter) {
    await context.submitter.discard(batchId);
    return meter.result(context.upstream, context.catalog);
  }
  const now = nowSeconds();
  const runName = operation === 'run' ? ((params as { operation?: string }).operation ?? null) : null;
  const spec = BatchSpec.parse({
    api: 'operations',
    tenant: request.tenant,
    endpoint: '/v1/jobs',
    operation: job.data.operation,
    model,
    input_file_id: uploaded ? null : (file?.id ?? null),
    completion_window: windowText,
    created_at: now,
    in_progress_at: now,
    expires_at: now + windowSeconds,
    metadata: job.data.metadata ?? null,
    item_fields: fields,
    result_fields: resultFieldsOf(operation, params),
    name: job.data.name ?? runName,
    parameters: params,
    request_timeout_seconds: timeoutSeconds,
    dedup: job.data.dedup ?? null,
    tier,
  });
  return context.submitter.submit(batchId, spec, items);
}
