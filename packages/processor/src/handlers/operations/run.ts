import {
  compileJsonSchema,
  jsonSchemaErrorsText,
  jsonSchemaProblem,
  renderTemplate,
  RunParams,
  SluiceError,
} from '@sluice/core';
import { ItemFailedError } from '../../upstream/upstream.js';
import { perJob } from '../per-job.js';
import { completeChat } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome } from './common.js';

/**
 * What a run job's `response_format` determines, compiled once per job: whether its JSON Schema is
 * usable (ingest refuses a bad one at intake; an outside producer's item may still carry one) and
 * its validator. Per item, checking and looking the schema up again cost as much as the call's own
 * overhead.
 */
export const runJob = perJob((params: RunParams) => {
  const format = params.response_format;
  if (format.type !== 'json_schema') return { problem: null, validate: null };
  const problem = jsonSchemaProblem(format.json_schema.schema);
  return { problem, validate: problem ? null : compileJsonSchema(format.json_schema.schema) };
});

/**
 * Operations `run`: the caller's prompt (`user_prompt_template` filled from the item) and system
 * prompt; the answer is parsed and validated when a JSON format was asked, else kept as text.
 */
export const operationRun = defineHandler({
  api: 'operations',
  discriminator: 'run',
  request: operationBody(RunParams),
  async handle({ params, item }, context) {
    const common = {
      route: 'operations.run',
      model: params.model ?? context.models.default,
      system: params.system_prompt ?? null,
      user: renderTemplate(params.user_prompt_template, item),
    };
    const responseFormat = params.response_format;
    if (responseFormat.type === 'json_schema') {
      const { name, schema, strict } = responseFormat.json_schema;
      // Ingest refuses such a schema at intake; an outside producer's item gets a named error,
      // before any upstream call, instead of an internal one.
      const { problem, validate } = runJob(context.batchId, params);
      if (problem || !validate) {
        throw new ItemFailedError(new SluiceError('invalid_json_schema', problem ?? 'unusable JSON Schema'), 0);
      }
      const answer = await completeChat<unknown>(context, {
        ...common,
        format: {
          kind: 'json_schema',
          name,
          schema,
          strict: strict ?? true,
          validate: (value) => (validate(value) ? null : jsonSchemaErrorsText(validate)),
        },
      });
      return operationOutcome(answer.value, answer, item);
    }
    if (responseFormat.type === 'json_object') {
      const answer = await completeChat<Record<string, unknown>>(context, {
        ...common,
        format: { kind: 'json_object' },
      });
      return operationOutcome(answer.value, answer, item);
    }
    const answer = await completeChat<string>(context, { ...common, format: { kind: 'text' } });
    return operationOutcome(answer.value, answer, item);
  },
});
