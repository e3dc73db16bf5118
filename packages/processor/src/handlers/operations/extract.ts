import { ExtractParams } from '@sluice/core';
import { z } from 'zod';
import { perJob } from '../per-job.js';
import { completeChat, openAISchema } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome } from './common.js';

const FIELD_TYPES = {
  string: () => z.string(),
  number: () => z.number(),
  boolean: () => z.boolean(),
  list: () => z.array(z.string()),
} as const;

/** What an extract job's parameters determine, compiled once per job. */
export const extractJob = perJob((params: ExtractParams) => {
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
 * Operations `extract`: the fields the instructions ask for, as a JSON object. With a field
 * schema every field is present and a field not found is null; without one, the model names the
 * fields (a JSON object answer).
 */
export const operationExtract = defineHandler({
  api: 'operations',
  discriminator: 'extract',
  request: operationBody(ExtractParams),
  async handle({ params, item }, context) {
    const { system, fields } = extractJob(context.batchId, params);
    const common = {
      route: 'operations.extract',
      model: params.model ?? context.models.extract,
      system,
      user: item.content,
    };
    if (fields) {
      const { schema, json } = fields;
      const answer = await completeChat(context, {
        ...common,
        format: { kind: 'zod', schema, json, name: 'extraction' },
      });
      return operationOutcome(answer.value, answer, item);
    }
    const answer = await completeChat<Record<string, unknown>>(context, { ...common, format: { kind: 'json_object' } });
    return operationOutcome(answer.value, answer, item);
  },
});
