import { type EnrichField, EnrichParams, operationItemBody } from '@sluice/core';
import { z } from 'zod';
import { COMPILED } from './compiled.js';
import { openAISchema } from '../upstream/structured-output.js';
import { defineHandler } from './types.js';

function valueSchema(field: EnrichField): z.ZodType {
  switch (field.type) {
    case 'categorical':
      return z.enum(field.valid_values as [string, ...string[]]);
    case 'string':
      return z.string();
    case 'number':
      return z.number();
    case 'boolean':
      return z.boolean();
    case 'list':
      return z.array(z.string());
  }
}

/** What an enrich job's parameters determine, compiled once per job. */
export const enrichCompiled = COMPILED.of('enrich', (params: EnrichParams) => {
  const values = Object.fromEntries(params.fields.map((field) => [field.name, valueSchema(field)]));
  const schema = params.include_context
    ? z.strictObject({
        ...values,
        context: z.strictObject(Object.fromEntries(params.fields.map((f) => [f.name, z.string()]))),
      })
    : z.strictObject(values);
  const described = params.fields
    .map(
      (f) =>
        `- ${f.name} (${f.type}${f.valid_values ? `: one of ${f.valid_values.map((v) => JSON.stringify(v)).join(', ')}` : ''}): ${f.description}`,
    )
    .join('\n');
  const system = [
    `Enrich the record in the user message with these fields:\n${described}`,
    params.include_context
      ? 'Also answer "context": for every field, the reasoning or the evidence from the record behind its value.'
      : null,
  ]
    .filter(Boolean)
    .join('\n\n');
  return { schema, json: openAISchema(schema), system };
});

/**
 * `enrich`: one validated value per field (a categorical value is always one of its
 * `valid_values`), and with `include_context` the reasoning or evidence behind each value.
 */
export const enrich = defineHandler({
  operation: 'enrich',
  apis: ['operations'],
  request: operationItemBody(EnrichParams),
  handle({ params, item }, context, job) {
    const { schema, json, system } = enrichCompiled(job, params);
    return context.upstream.complete({
      route: 'enrich',
      model: params.model ?? context.models.default,
      system,
      user: item.content,
      format: { kind: 'zod', schema, json, name: 'enrichment' },
    });
  },
});
