import { ClassifyParams, type ClassifyOperationResult, operationItemBody } from '@sluice/core';
import { z } from 'zod';
import { COMPILED } from './compiled.js';
import { completeChat, openAISchema } from './structured.js';
import { defineHandler } from './types.js';

/** What a classify job's parameters determine, compiled once per job. */
export const classifyCompiled = COMPILED.of('classify', (params: ClassifyParams) => {
  const categories = params.categories as [string, ...string[]];
  const category = z.enum(categories);
  const scores = z.strictObject(Object.fromEntries(categories.map((c) => [c, z.number().min(0).max(1)])));
  const schema: z.ZodType<ClassifyOperationResult> = params.multi_label
    ? z.strictObject({
        label: category,
        labels: z.array(category).min(1),
        confidence: z.number().min(0).max(1),
        scores,
      })
    : z.strictObject({ label: category, confidence: z.number().min(0).max(1), scores });
  const system = [
    params.system_prompt,
    `Classify the content of the user message into ${params.multi_label ? 'the categories that apply, from' : 'exactly one of'} these categories: ${categories.map((c) => JSON.stringify(c)).join(', ')}.`,
    params.multi_label
      ? 'Answer with "label" (the best category), "labels" (every category that applies, best first), "confidence" (0 to 1) and "scores" (0 to 1 for every category).'
      : 'Answer with "label" (one of the categories), "confidence" (0 to 1) and "scores" (0 to 1 for every category).',
  ]
    .filter(Boolean)
    .join('\n\n');
  return { schema, json: openAISchema(schema), system, maxTokens: 64 + categories.length * 16 };
});

/**
 * `classify` (job name `label`; a domain line's `labels` are its categories): one of `categories`
 * per item, or all that apply with `multi_label`.
 */
export const classify = defineHandler({
  operation: 'classify',
  apis: ['operations', 'domain'],
  request: operationItemBody(ClassifyParams),
  handle({ params, item }, context, job) {
    const { schema, json, system, maxTokens } = classifyCompiled(job, params);
    return completeChat(context, {
      route: 'classify',
      model: params.model ?? context.models.classify,
      system,
      user: item.content,
      format: { kind: 'zod', schema, json, name: 'classification' },
      maxTokens,
    });
  },
});
