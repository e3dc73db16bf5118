import {
  compileJsonSchema,
  jsonSchemaErrorsText,
  jsonSchemaProblem,
  operationItemBody,
  renderTemplate,
  RunParams,
  SluiceError,
} from '@sluice/core';
import { ItemFailedError } from '../upstream/upstreams.js';
import { COMPILED } from './compiled.js';

import { defineHandler } from './types.js';

/**
 * What a run job's `response_format` determines, compiled once per job: whether its JSON Schema is
 * usable (ingest refuses a bad one at intake; an outside producer's item may still carry one) and
 * its validator. Per item, checking and compiling the schema again cost as much as the call's own
 * overhead.
 */
export const runCompiled = COMPILED.of('run', (params: RunParams) => {
  const format = params.response_format;
  if (format.type !== 'json_schema') return { problem: null, validate: null };
  const problem = jsonSchemaProblem(format.json_schema.schema);
  return { problem, validate: problem ? null : compileJsonSchema(format.json_schema.schema) };
});

/**
 * `run`: the caller's prompt (`user_prompt_template` filled from the item) and system prompt; the
 * answer is parsed and validated when a JSON format was asked, else kept as text.
 */
export const run = defineHandler({
  operation: 'run',
  apis: ['operations'],
  request: operationItemBody(RunParams),
  handle({ params, item }, context, job) {
    const common = {
      route: 'run',
      model: params.model ?? context.models.default,
      system: params.system_prompt ?? null,
      user: renderTemplate(params.user_prompt_template, item),
    };
    const responseFormat = params.response_format;
    if (responseFormat.type === 'json_schema') {
      const { name, schema, strict } = responseFormat.json_schema;
      // Ingest refuses such a schema at intake; an outside producer's item gets a named error,
      // before any upstream call, instead of an internal one.
      const { problem, validate } = runCompiled(job, params);
      if (problem || !validate) {
        throw new ItemFailedError(new SluiceError('invalid_json_schema', problem ?? 'unusable JSON Schema'), 0);
      }
      return context.upstream.complete<unknown>({
        ...common,
        format: {
          kind: 'json_schema',
          name,
          schema,
          strict: strict ?? true,
          validate: (value) => (validate(value) ? null : jsonSchemaErrorsText(validate)),
        },
      });
    }
    if (responseFormat.type === 'json_object') {
      return context.upstream.complete<Record<string, unknown>>({ ...common, format: { kind: 'json_object' } });
    }
    return context.upstream.complete<string>({ ...common, format: { kind: 'text' } });
  },
});
