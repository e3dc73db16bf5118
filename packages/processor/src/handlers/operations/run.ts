import {
  compileJsonSchema,
  jsonSchemaErrorsText,
  jsonSchemaProblem,
  renderTemplate,
  RunParams,
  SluiceError,
} from '@sluice/core';
import { ItemFailedError } from '../../upstream/upstream.js';
import { completeChat } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome } from './common.js';

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
      const problem = jsonSchemaProblem(schema);
      if (problem) throw new ItemFailedError(new SluiceError('invalid_json_schema', problem), 0);
      const validate = compileJsonSchema(schema);
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
