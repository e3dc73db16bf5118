import { estimateTokens, operationItemBody, SummarizeItemParams } from '@sluice/core';
import { z } from 'zod';
import { COMPILED } from './compiled.js';
import { openAISchema } from '../upstream/structured-output.js';
import { defineHandler } from './types.js';

const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;

/** Room for the JSON around the summary when a token bound is passed upstream. */
const JSON_OVERHEAD_TOKENS = 16;

/** What a summarize job's parameters determine, compiled once per job. */
export const summarizeCompiled = COMPILED.of('summarize', (params: SummarizeItemParams) => {
  const { max_words: maxWords, max_tokens: maxTokens } = params;
  const schema = z.strictObject({
    summary: z
      .string()
      .min(1)
      .refine((summary) => maxWords === undefined || wordCount(summary) <= maxWords, {
        message: `the summary must be at most ${maxWords} words`,
      })
      .refine((summary) => maxTokens === undefined || estimateTokens(summary) <= maxTokens, {
        message: `the summary must be at most ${maxTokens} tokens`,
      }),
  });
  const system = [
    `Summarize the content of the user message. ${params.summary_instructions}`,
    maxWords ? `Use at most ${maxWords} words.` : null,
    maxTokens ? `Keep the summary under ${maxTokens} tokens (about ${Math.floor(maxTokens * 0.75)} words).` : null,
    'Answer with "summary".',
  ]
    .filter(Boolean)
    .join('\n\n');
  // The answer's bound upstream: the tighter of the two, with room for the JSON around the summary.
  const bounds = [maxWords && maxWords * 2 + 32, maxTokens && maxTokens + JSON_OVERHEAD_TOKENS].filter(
    (bound): bound is number => typeof bound === 'number',
  );
  return { schema, json: openAISchema(schema), system, maxTokens: bounds.length ? Math.min(...bounds) : undefined };
});

/**
 * `summarize` (a domain line's `instructions` and `max_tokens` are its own): a `summary` following
 * `summary_instructions`, within `max_words` and `max_tokens` when given.
 */
export const summarize = defineHandler({
  operation: 'summarize',
  apis: ['operations', 'domain'],
  request: operationItemBody(SummarizeItemParams),
  handle({ params, item }, context, job) {
    const { schema, json, system, maxTokens } = summarizeCompiled(job, params);
    return context.upstream.complete({
      route: 'summarize',
      model: params.model ?? context.models.summarize,
      system,
      user: item.content,
      format: { kind: 'zod', schema, json, name: 'summary' },
      maxTokens,
    });
  },
});
