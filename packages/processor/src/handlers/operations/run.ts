import { RunParams } from '@sluice/core';
import { Ajv, type ValidateFunction } from 'ajv';
import { perJob } from '../per-job.js';
import { completeChat } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome } from './common.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/**
 * `user_prompt_template` split once into literal text and placeholders: `split` with a capturing
 * group alternates them (even indices literal, odd indices field names).
 */
export function compileTemplate(template: string): (item: Record<string, unknown>) => string {
  const parts = template.split(PLACEHOLDER);
  return (item) => {
    let text = parts[0]!;
    for (let i = 1; i < parts.length; i += 2) {
      const name = parts[i]!;
      // Fills `{field}` with the item's value (objects as JSON); ingest checked the fields exist.
      const value = item[name];
      text += value === undefined ? `{${name}}` : typeof value === 'string' ? value : JSON.stringify(value);
      text += parts[i + 1]!;
    }
    return text;
  };
}

const ajv = new Ajv({ strict: false, allErrors: false });

/** A run job's prompt template and answer validator (the caller's JSON Schema, by Ajv), compiled once per job. */
export const runJob = perJob((params: RunParams) => ({
  render: compileTemplate(params.user_prompt_template),
  validate:
    params.response_format.type === 'json_schema'
      ? (ajv.compile(params.response_format.json_schema.schema) as ValidateFunction)
      : null,
}));

/**
 * Operations `run`: the caller's prompt (`user_prompt_template` filled from the item) and system
 * prompt; the answer is parsed and validated when a JSON format was asked, else kept as text.
 */
export const operationRun = defineHandler({
  api: 'operations',
  discriminator: 'run',
  request: operationBody(RunParams),
  async handle({ params, item }, context) {
    const job = runJob(context.batchId, params);
    const common = {
      route: 'operations.run',
      model: params.model ?? context.models.default,
      system: params.system_prompt ?? null,
      user: job.render(item),
    };
    const responseFormat = params.response_format;
    if (responseFormat.type === 'json_schema') {
      const { name, schema, strict } = responseFormat.json_schema;
      const validate = job.validate!;
      const answer = await completeChat<unknown>(context, {
        ...common,
        format: {
          kind: 'json_schema',
          name,
          schema,
          strict: strict ?? true,
          validate: (value) => (validate(value) ? null : ajv.errorsText(validate.errors)),
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
