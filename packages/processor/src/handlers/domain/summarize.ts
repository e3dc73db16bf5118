import { estimateTokens, SummarizeRequest, type SummarizeResult } from '@sluice/core';
import { z } from 'zod';
import { cachedSchema } from '../schema-cache.js';
import { asChatCompletion, completeChat } from '../structured.js';
import { defineHandler } from '../types.js';

/** Room for the JSON around the summary when `max_tokens` is passed upstream. */
const JSON_OVERHEAD_TOKENS = 16;

/** Domain `summarize`: an abstractive `summary` of `text`, within `max_tokens` when given. */
export const domainSummarize = defineHandler({
  api: 'domain',
  discriminator: 'summarize',
  request: SummarizeRequest,
  async handle(body, context) {
    const maxTokens = body.max_tokens;
    const { schema, json } = cachedSchema(`domain.summarize:${maxTokens ?? ''}`, () =>
      z.strictObject({
        summary: z
          .string()
          .min(1)
          .refine((summary) => maxTokens === undefined || estimateTokens(summary) <= maxTokens, {
            message: `the summary must be at most ${maxTokens} tokens`,
          }),
      }),
    );
    const system = [
      'Write an abstractive summary of the text in the user message.',
      body.instructions,
      maxTokens ? `Keep the summary under ${maxTokens} tokens (about ${Math.floor(maxTokens * 0.75)} words).` : null,
      'Answer with "summary".',
    ]
      .filter(Boolean)
      .join('\n\n');
    const answer = await completeChat(context, {
      route: 'domain.summarize',
      model: context.models.summarize,
      system,
      user: body.text,
      format: { kind: 'zod', schema, json, name: 'summary' },
      maxTokens: maxTokens ? maxTokens + JSON_OVERHEAD_TOKENS : undefined,
    });
    const result: SummarizeResult = answer.value;
    return {
      response: { status_code: 200, request_id: answer.requestId, body: asChatCompletion('summarize', result, answer) },
      usage: answer.usage,
      attempts: answer.attempts,
      model: answer.completion.model,
      cached: answer.cached,
    };
  },
});
