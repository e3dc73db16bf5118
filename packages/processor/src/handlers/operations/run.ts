import { RunParams } from '@sluice/core';
import { Ajv, type ValidateFunction } from 'ajv';
import { completeChat } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome } from './common.js';

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Fills `{field}` placeholders with the item's values (objects as JSON). Ingest checked they exist. */
export function renderTemplate(template: string, item: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    const value = item[name];
    if (value === undefined) return whole;
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

const ajv = new Ajv({ strict: false, allErrors: false });
const validators = new Map<string, ValidateFunction>();

/** Compiled validators of callers' JSON Schemas, kept per schema text (a job shares one schema). */
function validatorFor(schema: Record<string, unknown>): ValidateFunction {
  const key = JSON.stringify(schema);
  let validate = validators.get(key);
  if (!validate) {
    if (validators.size > 256) validators.clear();
    validate = ajv.compile(schema);
    validators.set(key, validate);
  }
  return validate;
}

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
      const validate = validatorFor(schema);
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
