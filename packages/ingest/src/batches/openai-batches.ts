import {
  DedupSetting,
  type BatchRecord,
  BatchSpec,
  CompletionWindow,
  completionWindowSeconds,
  ExpiresAfter,
  ClientMetadata,
  JobTier,
  TEXT_LIMITS,
  atMostCharacters,
  type DryRun,
  type FileRecord,
  NotFoundError,
  newBatchId,
  newBatchRecord,
  nowSeconds,
  OPENAI_BATCH_ENDPOINTS,
  ValidationError,
  type ValidationIssue,
} from '@sluice/core';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { type IngestContext, intakeLimits } from '../context.js';
import { intakeJsonl } from '../intake/jsonl-intake.js';
import { openAILineValidator } from '../intake/openai.js';
import { issuesFromZod } from '../intake/zod-issues.js';
import { fileFor } from '../http/lookups.js';
import { DryRunMeter } from '../estimate/dry-run.js';
import { tokenCounters } from '../estimate/tokenizer.js';
import { cancelBatch } from './cancel.js';
import { StatusOwnedBySinkError } from './intake-status.js';
import { requestTimeoutSeconds } from './timeouts.js';

const CreateBatch = z.object({
  input_file_id: z
    .string({ error: 'input_file_id is required' })
    .min(1)
    .max(TEXT_LIMITS.reference, atMostCharacters(TEXT_LIMITS.reference)),
  endpoint: z.enum(OPENAI_BATCH_ENDPOINTS, { error: `endpoint must be one of ${OPENAI_BATCH_ENDPOINTS.join(', ')}` }),
  completion_window: CompletionWindow,
  metadata: ClientMetadata.nullable().optional(),
  output_expires_after: ExpiresAfter.optional(),
  /** Sluice's extension: the upstream timeout per request (bounded by the server's). */
  request_timeout_seconds: z.unknown().optional(),
  /** Not an OpenAI field: answer identical requests once (off by default for OpenAI batches). */
  dedup: DedupSetting.optional(),
  /** Not an OpenAI field: how the items are sent, `auto` (the default), `realtime`, `flex` or `batch`. */
  tier: JobTier.optional(),
});

/**
 * OpenAI batches: created from an uploaded file, answered at once with status `validating`, then
 * validated in the background (every line, OpenAI's error codes) and either `failed` with
 * `errors.data` naming each bad line, or produced to Kafka like any other batch. Ingest owns the
 * batch's status until its items are produced; cancelling it before that never sends anything.
 */
export class OpenAIBatches {
  private readonly validating = new Map<string, { cancelled: boolean }>();

  constructor(private readonly context: IngestContext) {}

  async create(request: FastifyRequest, body: Record<string, unknown>): Promise<BatchRecord | undefined> {
    const checked = await this.check(request, body);
    if (!checked) return undefined;
    const { spec } = checked;
    const batchId = newBatchId();
    // The lease first: if this process dies from here on, another ingest validates the batch.
    await this.context.submitter.lease(batchId, 'validating', spec, 0);
    const record = await this.context.submitter.publishStatus(newBatchRecord(batchId, spec, 0, 'validating', 'intake'));
    this.startValidation(batchId, spec);
    return record;
  }

  /**
   * `?dry_run=true`: the same checks as a create, and the file's lines validated at once (a create
   * does it in the background and reports them in `errors`; a dry run answers them as a 400).
   */
  async dryRun(request: FastifyRequest, body: Record<string, unknown>): Promise<DryRun | undefined> {
    const checked = await this.check(request, body);
    if (!checked) return undefined;
    const { spec, file } = checked;
    const content = await this.context.files.content(file);
    if (!content) throw new NotFoundError('file', file.id);
    const batchId = newBatchId();
    const meter = new DryRunMeter('openai', await tokenCounters(), null);
    const models = { first: null as string | null, line: 0 };
    try {
      const result = await intakeJsonl(
        content as AsyncIterable<Buffer>,
        { store: this.context.store, key: this.context.submitter.inputKey(batchId) },
        meter.wrap(openAILineValidator(spec.endpoint, models, this.context.catalog, spec.tier)),
        this.intakeOptions(),
      );
      if (result.issues.length > 0) throw new ValidationError(result.issues, result.truncated);
    } finally {
      await this.context.submitter.discard(batchId);
    }
    return meter.result(this.context.upstream, this.context.catalog);
  }

  private intakeOptions() {
    return {
      limits: intakeLimits(this.context.limits, {
        maxBytes: Number.MAX_SAFE_INTEGER,
        maxItems: this.context.limits.maxBatchRequests,
      }),
      itemLimitName: 'SLUICE_MAX_BATCH_REQUESTS',
    };
  }

  /** A create's checks, up to the file (which must exist and be a batch file); undefined: not an OpenAI create. */
  private async check(
    request: FastifyRequest,
    body: Record<string, unknown>,
  ): Promise<{ spec: BatchSpec; file: FileRecord } | undefined> {
    if (!('input_file_id' in body) && !('endpoint' in body)) return undefined;
    const parsed = CreateBatch.safeParse(body);
    if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error, null));
    const input = parsed.data;
    const tier = input.tier ?? 'auto';
    // The lines name the model: here, only a tier no upstream offers at all (each line's model is checked in validation).
    const tierIssue = this.context.catalog.tierRefusal(null, tier, { line: null });
    if (tierIssue) throw new ValidationError([tierIssue]);
    const windowSeconds = completionWindowSeconds(input.completion_window) as number;
    const timeoutSeconds = requestTimeoutSeconds(this.context.upstream, input.request_timeout_seconds);
    const file = await fileFor(this.context, request.tenant, input.input_file_id);
    if (file.purpose !== 'batch') {
      throw new ValidationError([
        {
          line: null,
          param: 'input_file_id',
          code: 'invalid_file_purpose',
          message: `file ${file.id} has purpose '${file.purpose}'; a batch needs a file uploaded with purpose 'batch'`,
        },
      ]);
    }
    const now = nowSeconds();
    const spec = BatchSpec.parse({
      api: 'openai',
      tenant: request.tenant,
      endpoint: input.endpoint,
      input_file_id: file.id,
      completion_window: input.completion_window,
      created_at: now,
      expires_at: now + windowSeconds,
      metadata: input.metadata ?? null,
      output_expires_after_seconds: input.output_expires_after?.seconds ?? null,
      request_timeout_seconds: timeoutSeconds,
      dedup: input.dedup ?? null,
      tier,
    });
    return { spec, file };
  }

  /** Cancels a batch still being validated here; undefined when the sink owns it already. */
  async cancelOwned(record: BatchRecord): Promise<BatchRecord | undefined> {
    const task = this.validating.get(record.id);
    if (!task || record.status !== 'validating') return undefined;
    task.cancelled = true;
    try {
      return await this.context.submitter.publishStatus({
        ...record,
        status: 'cancelling' as const,
        cancelling_at: nowSeconds(),
        updated_at_ms: Date.now(),
      });
    } catch (error) {
      // Sealed meanwhile: the sink owns it now, and the cancel goes the sink's way (the validation
      // sends one too, once its submit returns).
      if (error instanceof StatusOwnedBySinkError) return undefined;
      throw error;
    }
  }

  /** Validates a batch whose ingest stopped while validating it (its lease was taken over). */
  resume(batchId: string, spec: BatchSpec): void {
    if (this.validating.has(batchId)) return;
    this.context.logger.warn({ batchId }, 'resuming the validation of a batch');
    this.startValidation(batchId, spec);
  }

  private startValidation(batchId: string, spec: BatchSpec): void {
    const task = { cancelled: false };
    this.validating.set(batchId, task);
    this.validate(batchId, spec, task)
      .catch(async (error: unknown) => {
        this.context.logger.error({ err: error, batchId }, 'batch validation failed');
        await this.finish(batchId, spec, 'failed', [
          { line: null, param: null, code: 'internal_error', message: 'the input file could not be validated' },
        ]).catch(() => undefined);
      })
      .finally(() => this.validating.delete(batchId));
  }

  private async validate(batchId: string, spec: BatchSpec, task: { cancelled: boolean }): Promise<void> {
    const { context } = this;
    const file = await context.files.get(spec.tenant, spec.input_file_id as string);
    if (!file) {
      await this.finish(batchId, spec, 'failed', [
        {
          line: null,
          param: 'input_file_id',
          code: 'file_not_found',
          message: `file ${spec.input_file_id} no longer exists`,
        },
      ]);
      return;
    }
    const content = await context.files.content(file);
    if (!content) {
      await this.finish(batchId, spec, 'failed', [
        { line: null, param: 'input_file_id', code: 'file_not_found', message: `file ${file.id} no longer exists` },
      ]);
      return;
    }
    const input = { store: context.store, key: context.submitter.inputKey(batchId) };
    const models = { first: null as string | null, line: 0 };
    const result = await intakeJsonl(
      content as AsyncIterable<Buffer>,
      input,
      openAILineValidator(spec.endpoint, models, this.context.catalog, spec.tier),
      this.intakeOptions(),
    );
    if (task.cancelled) {
      await context.submitter.discard(batchId);
      await this.finish(batchId, spec, 'cancelled', null);
      return;
    }
    if (result.issues.length > 0) {
      await context.submitter.discard(batchId);
      context.counters.batches.inc({ api: 'openai', outcome: 'refused' });
      await this.finish(batchId, spec, 'failed', result.issues);
      return;
    }
    const now = nowSeconds();
    await context.submitter.submit(batchId, { ...spec, model: models.first, in_progress_at: now }, result.items);
    // A cancel that came while the items were being produced goes the normal way, through the sink.
    if (task.cancelled) {
      const record = await context.view.get(batchId);
      if (record) await cancelBatch(context, { ...record, status: 'in_progress' });
    }
  }

  /** A final record written by ingest: the batch never reached Kafka, so no sink will write one. */
  private async finish(
    batchId: string,
    spec: BatchSpec,
    status: 'failed' | 'cancelled',
    issues: ValidationIssue[] | null,
  ): Promise<void> {
    const now = nowSeconds();
    const record = newBatchRecord(batchId, spec, 0, 'validating', 'intake');
    record.status = status;
    if (status === 'failed') {
      record.failed_at = now;
      record.errors = {
        object: 'list',
        data: (issues ?? []).map((i) => ({ code: i.code, message: i.message, param: i.param, line: i.line })),
      };
    } else {
      const previous = await this.context.view.get(batchId);
      record.cancelling_at = previous?.cancelling_at ?? now;
      record.cancelled_at = now;
    }
    await this.context.submitter.publishStatus(record);
    await this.context.submitter.release(batchId);
    await this.context.submitter.markProvisionalExpiry(batchId, spec.tenant, this.context.retention.batchSeconds);
  }
}
