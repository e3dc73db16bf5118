import { ExtractItemParams, operationItemBody } from '@sluice/core';
import { z } from 'zod';
import { COMPILED } from './compiled.js';
import { openAISchema } from '../upstream/structured-output.js';
import { defineHandler } from './types.js';

const FIELD_TYPES = {
  string: () => z.string(),
  number: () => z.number(),
  boolean: () => z.boolean(),
  list: () => z.array(z.string()),
} as const;

/** What an extract job's parameters determine, compiled once per job. */
export const extractCompiled = COMPILED.of('extract', (params: ExtractItemParams) => {
  const fields = params.fields;
  const system = [
    `Extract structured data from the content of the user message. ${params.extraction_instructions}`,
    fields
      ? `Fields:\n${fields.map((f) => `- ${f.name} (${f.type})${f.description ? `: ${f.description}` : ''}`).join('\n')}\nUse null for a field the content does not state.`
      : 'Answer with a JSON object with one key per requested field; use null for a field the content does not state.',
  ].join('\n\n');
  if (!fields) return { system, fields: null };
  const schema = z.strictObject(Object.fromEntries(fields.map((f) => [f.name, FIELD_TYPES[f.type]().nullable()])));
  return { system, fields: { schema, json: openAISchema(schema) } };
});

/**
 * `extract` (a domain line's `entities` are its list fields): the fields the instructions ask
 * for, as a JSON object. With a field schema every field is present and a field not found is
 * null; without one, the model names the fields (a JSON object answer).
 */
export const extract = defineHandler({
  operation: 'extract',
  apis: ['operations', 'domain'],
  request: operationItemBody(ExtractItemParams),
  handle({ params, item }, context, job) {
    const { system, fields } = extractCompiled(job, params);
    const common = { route: 'extract', model: params.model ?? context.models.extract, system, user: item.content };
    return fields
      ? context.upstream.complete({ ...common, format: { kind: 'zod', ...fields, name: 'extraction' } })
      : context.upstream.complete<Record<string, unknown>>({ ...common, format: { kind: 'json_object' } });
  },
});
