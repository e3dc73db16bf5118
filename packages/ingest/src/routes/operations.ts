import {
  type DedupSetting,
  ClassifyRequestBody,
  EnrichRequestBody,
  ExtractRequestBody,
  nowSeconds,
  type OperationName,
  type OperationResponse,
  type OperationRow,
  OPERATIONS,
  renderOutputLine,
  RunRequestBody,
  SummarizeRequestBody,
  ValidationError,
  type ValidationIssue,
} from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import type { IngestContext } from '../context.js';
import type { StoredItem } from '../intake/jsonl-intake.js';
import { asItemIssues, FieldCollector, operationItemValidator, type OperationParams } from '../intake/operations.js';
import { issuesFromZod } from '../intake/zod-issues.js';

const REQUEST_BODIES: Record<
  OperationName,
  z.ZodType<{ items: unknown[]; dedup?: DedupSetting } & Record<string, unknown>>
> = {
  classify: ClassifyRequestBody,
  extract: ExtractRequestBody,
  summarize: SummarizeRequestBody,
  enrich: EnrichRequestBody,
  run: RunRequestBody,
};

/**
 * Checks a call's or job's items against its operation: every bad item named as `items.N...`.
 * Returns the stored form of each item.
 */
export function validateItems(
  operation: OperationName,
  params: OperationParams,
  items: unknown[],
  maxReported: number,
): { stored: StoredItem[]; fields: string[] } {
  const fields = new FieldCollector();
  const validate = operationItemValidator(operation, params, fields);
  const issues: ValidationIssue[] = [];
  const stored: StoredItem[] = [];
  const seen = new Map<string, number>();
  items.forEach((value, index) => {
    const verdict = validate(value, index + 1, index);
    if ('issues' in verdict) issues.push(...verdict.issues);
    else {
      const earlier = seen.get(verdict.item.custom_id);
      if (earlier !== undefined) {
        issues.push({
          line: index + 1,
          param: 'id',
          code: 'duplicate_custom_id',
          message: `id '${verdict.item.custom_id}' is also the id of items.${earlier}`,
        });
      }
      seen.set(verdict.item.custom_id, index);
      stored.push(verdict.item);
    }
  });
  if (issues.length > 0)
    throw new ValidationError(asItemIssues(issues.slice(0, maxReported)), issues.length > maxReported);
  return { stored, fields: fields.fields };
}

/**
 * Synchronous operations: `POST /v1/operations/{classify|extract|summarize|enrich|run}` answers
 * with every item's result. (Not `/v1/completions`: that is OpenAI's.) Each call is a hidden
 * batch through the pipeline, with the same retries and rate limits as jobs.
 */
export function registerOperationRoutes(app: FastifyInstance, context: IngestContext) {
  for (const operation of OPERATIONS) {
    app.post(`/v1/operations/${operation}`, async (request): Promise<OperationResponse> => {
      const parsed = REQUEST_BODIES[operation].safeParse(request.body);
      if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error, null));
      const { items, dedup, ...params } = parsed.data;
      const max = context.limits.maxSyncItems;
      if (items.length > max) {
        throw new ValidationError(
          [
            {
              line: null,
              param: 'items',
              code: 'sync_limit_exceeded',
              message: `${items.length} items are more than a synchronous call takes (${max}, SLUICE_MAX_SYNC_ITEMS); submit them as a job instead: POST /v1/jobs with "operation": "${operation === 'classify' ? 'label' : operation}" and the same fields`,
            },
          ],
          false,
        );
      }
      const operationParams = params as unknown as OperationParams;
      const { stored } = validateItems(operation, operationParams, items, context.limits.maxReportedErrors);
      const now = nowSeconds();
      const { batchId, results } = await context.sync.run(stored, {
        api: 'operations',
        tenant: request.tenant,
        endpoint: `/v1/operations/${operation}`,
        operation,
        model: (params as { model?: string }).model ?? null,
        created_at: now,
        in_progress_at: now,
        expires_at: now + Math.ceil(context.limits.syncTimeoutMs / 1000),
        dedup: dedup ?? null,
      });
      const rows = results.map((r) => renderOutputLine('operations', r) as OperationRow);
      const usage = rows.reduce(
        (sum, row) => ({
          input_tokens: sum.input_tokens + (row.usage?.input_tokens ?? 0),
          output_tokens: sum.output_tokens + (row.usage?.output_tokens ?? 0),
        }),
        { input_tokens: 0, output_tokens: 0 },
      );
      return {
        object: 'operation.result',
        id: batchId,
        operation,
        model: (params as { model?: string }).model ?? null,
        results: rows,
        usage,
      };
    });
  }
}
