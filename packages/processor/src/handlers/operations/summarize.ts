import { SummarizeParams } from '@sluice/core';
import { z } from 'zod';
import { perJob } from '../per-job.js';
import { completeChat, openAISchema } from '../structured.js';
import { defineHandler } from '../types.js';
import { operationBody, operationOutcome, wordCount } from './common.js';

/** What a summarize job's parameters determine, compiled once per job. */
export const summarizeJob = perJob((params: SummarizeParams) => {
  const maxWords = params.max_words;
  const schema = z.strictObject({
    summary: z
      .string()
      .min(1)
      .refine((summary) => maxWords === undefined || wordCount(summary) <= maxWords, {
        message: `the summary must be at most ${maxWords} words`,
      }),
  });
  const system = [
    `Summarize the content of the user message. ${params.summary_instructions}`,
    maxWords ? `Use at most ${maxWords} words.` : null,
    'Answer with "summary".',
  ]
    .filter(Boolean)
    .join('\n\n');
  return { schema, json: openAISchema(schema), system, maxTokens: maxWords ? maxWords * 2 + 32 : undefined };
});

/** Operations `summarize`: a `summary` following `summary_instructions`, within `max_words` when given. */
export const operationSummarize = defineHandler({
  api: 'operations',
  discriminator: 'summarize',
  request: operationBody(SummarizeParams),
  async handle({ params, item }, context) {
    const { schema, json, system, maxTokens } = summarizeJob(context.batchId, params);
    const answer = await completeChat(context, {
      route: 'operations.summarize',
      model: params.model ?? context.models.summarize,
      system,
      user: item.content,
      format: { kind: 'zod', schema, json, name: 'summary' },
      maxTokens,
    });
    return operationOutcome(answer.value, answer, item);
  },
});
