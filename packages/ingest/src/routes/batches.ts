import { Readable } from 'node:stream';
import {
  DedupQuery,
  type DedupSetting,
  type JobTier,
  TierQuery,
  type BatchRecord,
  BatchSpec,
  ConflictError,
  type DryRun,
  type DomainOperation,
  isTerminal,
  REALTIME_ENDPOINTS,
  BatchListQuery,
  newBatchId,
  NotFoundError,
  nowSeconds,
  readResults,
  renderOutputLine,
  storeKeys,
  ValidationError,
  type ValidationIssue,
} from '@sluice/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type IngestContext, intakeLimits } from '../context.js';
import { validateDomainLine } from '../intake/domain.js';
import { intakeJsonlOffThread } from '../intake/intake-pool.js';
import { intakeJsonl, type LineValidator, type StoredItem } from '../intake/jsonl-intake.js';
import { issuesFromZod } from '../intake/zod-issues.js';
import { unsupportedMediaType } from '../http/errors.js';
import { batchFor } from '../http/lookups.js';
import { listPage, publicBatch } from '../http/views.js';
import { mediaType } from '../http/media.js';
import { deleteBatch } from '../retention/deletion.js';
import { cancelBatch } from '../batches/cancel.js';
import { estimateRetry, resubmitIncompleteItems } from '../batches/resubmit.js';
import { requestTimeoutSeconds } from '../batches/timeouts.js';
import { DryRunMeter } from '../estimate/dry-run.js';
import { tokenCounters } from '../estimate/tokenizer.js';
import { isDryRun } from '../http/dry-run-query.js';
import { DRY_RUN, takesQuery } from '../http/query-parameters.js';

/** Content types that mean "a JSONL body, one request per line". */
export const JSONL_TYPES = [
  'application/jsonl',
  'application/x-ndjson',
  'application/x-jsonlines',
  'application/json-lines',
];

const DAY_SECONDS = 24 * 60 * 60;

/** Hooks other APIs plug into the shared `/v1/batches` routes (the OpenAI create is JSON on the same path). */
export interface BatchRouteExtensions {
  /** Handles `POST /v1/batches` with a JSON body that is not a domain item; returns undefined to decline. */
  createFromJson?: (
    request: FastifyRequest,
    body: Record<string, unknown>,
    dryRun: boolean,
  ) => Promise<BatchRecord | DryRun | undefined>;
  /** Cancels a batch ingest still owns (e.g. OpenAI `validating`); returns undefined when the sink owns it. */
  cancelOwned?: (record: BatchRecord) => Promise<BatchRecord | undefined>;
}

/**
 * The batch resource, shared by the three APIs: domain JSONL submit, status, list, cancel and
 * output. One batch model underneath; the OpenAI create plugs in through `extensions`.
 */
export function registerBatchRoutes(
  app: FastifyInstance,
  context: IngestContext,
  extensions: BatchRouteExtensions = {},
) {
  app.post(
    '/v1/batches',
    takesQuery(DRY_RUN, 'request_timeout_seconds', DedupQuery, TierQuery),
    async (request, reply) => {
      const type = mediaType(request);
      const query = DedupQuery.merge(TierQuery).safeParse(request.query ?? {});
      if (!query.success) throw new ValidationError(issuesFromZod(query.error, null));
      const dedup = query.data.dedup ?? null;
      const tier = query.data.tier ?? 'auto';
      // A tier nothing offers (batch, or one no upstream has) is refused before the body is read.
      const tierIssue = context.catalog.tierRefusal(null, tier, { line: null });
      if (tierIssue) throw new ValidationError([tierIssue]);
      const dryRun = isDryRun(request);
      const timeoutSeconds = requestTimeoutSeconds(
        context.upstream,
        (request.query as Record<string, unknown> | undefined)?.request_timeout_seconds,
      );
      const domain = async (source: AsyncIterable<Buffer> | Iterable<Buffer>) => {
        const created = await submitDomain(context, request.tenant, source, { dryRun, timeoutSeconds, dedup, tier });
        return reply.code(200).send(created.object === 'dry_run' ? created : publicBatch(created));
      };
      if (JSONL_TYPES.includes(type)) return domain(request.body as AsyncIterable<Buffer>);
      if (type === 'application/json') {
        const body = request.body;
        if (typeof body !== 'object' || body === null || Array.isArray(body)) {
          throw new ValidationError([
            { line: null, param: null, code: 'invalid_request', message: 'expected a JSON object' },
          ]);
        }
        const object = body as Record<string, unknown>;
        if ('custom_id' in object || 'body' in object) {
          // One domain item as a single JSON object: the same checks as a one-line JSONL body.
          return domain([Buffer.from(JSON.stringify(object))]);
        }
        const created = await extensions.createFromJson?.(request, object, dryRun);
        if (created) return reply.code(200).send(created.object === 'dry_run' ? created : publicBatch(created));
        throw new ValidationError([
          {
            line: null,
            param: null,
            code: 'invalid_request',
            message:
              'expected either a domain request ({"custom_id", "body"}; or a JSONL body with Content-Type application/jsonl) or an OpenAI batch ({"input_file_id", "endpoint", "completion_window"})',
          },
        ]);
      }
      throw unsupportedMediaType(
        type,
        'POST /v1/batches takes application/jsonl (or application/x-ndjson) for JSONL, application/json for one item or an OpenAI batch.',
      );
    },
  );

  app.get('/v1/batches', takesQuery(BatchListQuery), async (request) => {
    const query = BatchListQuery.safeParse(request.query);
    if (!query.success) throw new ValidationError(issuesFromZod(query.error, null));
    const { data, hasMore } = await context.view.list(request.tenant, query.data);
    return listPage(data.map(publicBatch), hasMore);
  });

  app.get<{ Params: { id: string } }>('/v1/batches/:id', async (request) => {
    return publicBatch(await batchFor(context, request.tenant, request.params.id));
  });

  app.post<{ Params: { id: string } }>('/v1/batches/:id/cancel', async (request) => {
    const record = await batchFor(context, request.tenant, request.params.id);
    return publicBatch(await cancelBatch(context, record, extensions.cancelOwned));
  });

  app.post<{ Params: { id: string } }>('/v1/batches/:id/retry', takesQuery(DRY_RUN), async (request) => {
    const record = await batchFor(context, request.tenant, request.params.id);
    if (isDryRun(request)) return estimateRetry(context, record, 'batches');
    return publicBatch(await resubmitIncompleteItems(context, record, 'batches'));
  });

  app.delete<{ Params: { id: string } }>('/v1/batches/:id', async (request) => {
    const record = await batchFor(context, request.tenant, request.params.id);
    await deleteFinished(context, record, 'batches');
    return { id: record.id, object: 'batch.deleted', deleted: true };
  });

  app.get<{ Params: { id: string } }>('/v1/batches/:id/output', async (request, reply) => {
    const record = await batchFor(context, request.tenant, request.params.id);
    reply.header('x-sluice-batch-status', record.status);
    reply.type('application/jsonl; charset=utf-8');
    if (isTerminal(record.status) && record.output_file_id) {
      const final = await context.store.stream(storeKeys.output(record.id));
      if (!final) throw new NotFoundError('output', record.id, `The output of batch ${record.id} was deleted.`);
      return reply.send(final);
    }
    // Still running: the lines finished so far, in input order.
    reply.header('x-sluice-partial', 'true');
    return reply.send(Readable.from(partialOutput(context, record)));
  });
}

async function* partialOutput(context: IngestContext, record: BatchRecord): AsyncGenerator<string> {
  for await (const stored of readResults(context.store, record.id)) {
    yield `${JSON.stringify(renderOutputLine(record.api, stored.record))}\n`;
  }
}

/** Validates and stores a domain JSONL stream, then submits it; refuses it whole on any bad line. */
async function submitDomain(
  context: IngestContext,
  tenant: string,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  options: { dryRun: boolean; timeoutSeconds: number | null; dedup: DedupSetting; tier: JobTier },
): Promise<BatchRecord | DryRun> {
  const batchId = newBatchId();
  const input = { store: context.store, key: context.submitter.inputKey(batchId) };
  // The batch's endpoint is the realtime endpoint its lines' operation answers on (`/classify`); a
  // batch that mixes operations names each, in order of first use (`/classify,/extract`).
  const endpoints = new Set<string>();
  const checkEndpoint = (item: Pick<StoredItem, 'discriminator'>, line: number): ValidationIssue[] | null => {
    const endpoint = REALTIME_ENDPOINTS[item.discriminator as DomainOperation];
    // The first line of each operation answers for its model (the operation's configured one, as
    // an OpenAI batch's first line answers for its `body.model`): the batch is refused whole anyway.
    if (endpoints.has(endpoint)) return null;
    endpoints.add(endpoint);
    const unserved =
      context.catalog.operationRefusal(item.discriminator, null, { line, param: 'body.model' }) ??
      context.catalog.tierRefusal(context.catalog.modelOf(item.discriminator, null), options.tier, {
        line,
        param: 'tier',
      });
    return unserved ? [unserved] : null;
  };
  const validate: LineValidator = (value, line) => {
    const verdict = validateDomainLine(value, line);
    if (!('item' in verdict)) return verdict;
    const refused = checkEndpoint(verdict.item, line);
    return refused ? { issues: refused } : verdict;
  };
  // Domain lines name an operation; its configured model prices and tokenizes the whole batch.
  const meter = options.dryRun
    ? new DryRunMeter('domain', await tokenCounters(), context.upstream.models.default)
    : null;
  const intakeOptions = { limits: intakeLimits(context.limits), itemLimitName: 'SLUICE_MAX_BATCH_ITEMS' };
  const items = await context.submitter.intakeOrRefuse(batchId, 'domain', () =>
    // A dry run's meter reads every item, so it runs in this thread.
    context.intakePool && !meter
      ? intakeJsonlOffThread(
          source,
          input,
          { validator: 'domain', after: checkEndpoint },
          intakeOptions,
          context.intakePool,
        )
      : intakeJsonl(source, input, meter ? meter.wrap(validate) : validate, intakeOptions),
  );
  if (meter) {
    await context.submitter.discard(batchId);
    return meter.result(context.upstream, context.catalog);
  }
  const now = nowSeconds();
  const spec = BatchSpec.parse({
    request_timeout_seconds: options.timeoutSeconds,
    api: 'domain',
    tenant,
    endpoint: [...endpoints].join(','),
    completion_window: '24h',
    created_at: now,
    in_progress_at: now,
    expires_at: now + DAY_SECONDS,
    dedup: options.dedup,
    tier: options.tier,
  });
  return context.submitter.submit(batchId, spec, items);
}

/**
 * Deletes a final batch and everything it left (input copy, results, output and error files with
 * their bytes, its status record). A batch still running must be cancelled first.
 */
export async function deleteFinished(
  context: IngestContext,
  record: BatchRecord,
  resource: 'batches' | 'jobs',
): Promise<void> {
  if (!isTerminal(record.status)) {
    throw new ConflictError(
      `${record.id} is ${record.status}; only a finished batch can be deleted. Cancel it first (POST /v1/${resource}/${record.id}/cancel), then delete it once it is cancelled.`,
    );
  }
  await deleteBatch(context, record.id, record.tenant);
}
