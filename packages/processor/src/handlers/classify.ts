import { ClassifyParams, type ClassifyOperationResult, operationItemBody } from '@sluice/core';
import { z } from 'zod';
import { COMPILED } from './compiled.js';
import { openAISchema } from '../upstream/structured-output.js';
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
  async handle({ params, item }, context, job) {
    const { schema, json, system, maxTokens } = classifyCompiled(job, params);
    const answer = await context.upstream.complete({
      route: 'classify',
      model: params.model ?? context.models.classify,
      system,
      user: item.content,
      format: { kind: 'zod', schema, json, name: 'classification' },
      maxTokens,
    });
    return { ...answer, value: consistentClassification(answer.value) };
  },
});

/**
 * A classification that agrees with its own scores (issue 25: a small real model wrote `label`
 * billing with confidence 1 beside scores that put feature_request first, in 13 of 40 rows). The
 * scores are the model's fullest statement, so `label` and `confidence` are derived from them: the
 * label is the category with the highest score (the model's own label when it ties for highest),
 * and the confidence is that score. With `multi_label`, `labels` is ordered by score, best first,
 * and starts with `label`.
 */
export function consistentClassification(result: ClassifyOperationResult): ClassifyOperationResult {
  const scores = result.scores;
  const own = scores[result.label] ?? -1;
  let label = result.label;
  let best = own;
  for (const [category, score] of Object.entries(scores)) {
    if (score > best) {
      best = score;
      label = category;
    }
  }
  const consistent: ClassifyOperationResult = { ...result, label, confidence: best };
  if ('labels' in result && Array.isArray(result.labels)) {
    const chosen = new Set(result.labels);
    chosen.add(label);
    (consistent as { labels: string[] }).labels = [...chosen].sort((a, b) =>
      a === label ? -1 : b === label ? 1 : (scores[b] ?? 0) - (scores[a] ?? 0),
    );
  }
  return consistent;
}
