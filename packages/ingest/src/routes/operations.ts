import {
  type DedupSetting,
  ClassifyRequestBody,
  EnrichRequestBody,
  ExtractRequestBody,
  type OperationName,
  type OperationResponse,
  type OperationRow,
  OPERATIONS,
  renderOutputLine,
  RunRequestBody,
  SummarizeRequestBody,
  ValidationError,
} from '@sluice/core';
import type { FastifyInstance } from 'fastify';
import type { z } from 'zod';
import { type IngestContext, intakeLimits } from '../context.js';
import { arrayEntries, type StoredItem } from '../intake/jsonl-intake.js';
import { intakeOperationItems, type OperationParams, paramsIssues } from '../intake/operations.js';
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
      const paramsProblems = paramsIssues(operation, operationParams);
      if (paramsProblems.length > 0) throw new ValidationError(paramsProblems);
      const requestedModel = (params as { model?: string }).model ?? null;
      const unserved = context.catalog.operationRefusal(operation, requestedModel, { line: null, param: 'model' });
      if (unserved) throw new ValidationError([unserved]);
      // A run's free name, kept like a job's (`name`), so a call is reported by it.
      const name = operation === 'run' ? ((params as { operation?: string }).operation ?? null) : null;
      const { batchId, results } = await context.sync.run(
        {
          api: 'operations',
          tenant: request.tenant,
          endpoint: `/v1/operations/${operation}`,
          operation,
          model: requestedModel,
          name,
          dedup: dedup ?? null,
        },
        async (id) => {
          const valid: StoredItem[] = [];
          await intakeOperationItems(context, id, operation, operationParams, arrayEntries(items), {
            fromItems: true,
            limits: intakeLimits(context.limits, { maxItems: max }),
            itemLimitName: 'SLUICE_MAX_SYNC_ITEMS',
            memory: valid,
          });
          return valid;
        },
      );
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
        name,
        model: requestedModel ?? results.find((r) => r.model !== null)?.model ?? null,
        results: rows,
        usage,
      };
    });
  }
}
