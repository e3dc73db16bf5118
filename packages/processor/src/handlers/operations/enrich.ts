import { type EnrichField, EnrichParams } from '@sluice/core';
import { z } from 'zod';
import { perJob } from '../per-job.js';
import { completeChat, openAISchema } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome } from './common.js';

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
export const enrichJob = perJob((params: EnrichParams) => {
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
 * Operations `enrich`: one validated value per field (a categorical value is always one of its
 * `valid_values`), and with `include_context` the reasoning or evidence behind each value.
 */
export const operationEnrich = defineHandler({
  api: 'operations',
  discriminator: 'enrich',
  request: operationBody(EnrichParams),
  async handle({ params, item }, context) {
    const { schema, json, system } = enrichJob(context.batchId, params);
    const answer = await completeChat(context, {
      route: 'operations.enrich',
      model: params.model ?? context.models.default,
      system,
      user: item.content,
      format: { kind: 'zod', schema, json, name: 'enrichment' },
    });
    return operationOutcome(answer.value, answer, item);
  },
});
