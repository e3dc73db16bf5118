import { estimateTokens, OPENAI_BATCH_ENDPOINTS } from '@sluice/core';
import { z } from 'zod';
import { defineHandler, type Handler } from './types.js';

/** An OpenAI batch line's body: sent upstream as it is. */
const PassthroughBody = z.looseObject({ model: z.string().min(1) });
type PassthroughBody = z.infer<typeof PassthroughBody>;

/**
 * OpenAI batches: each line's body goes to the upstream's endpoint (`url`) unchanged, and the
 * upstream's answer is kept unchanged as the line's `response.body` (presenters.ts marks a reused
 * one's input tokens as cached). One handler per endpoint.
 */
function passthrough(endpoint: (typeof OPENAI_BATCH_ENDPOINTS)[number]): Handler {
  return defineHandler<PassthroughBody>({
    operation: endpoint,
    apis: ['openai'],
    request: PassthroughBody,
    async handle(body, context) {
      const maxTokens = [body.max_tokens, body.max_completion_tokens, body.max_output_tokens].find(
        (v): v is number => typeof v === 'number',
      );
      const estimate = estimateTokens(JSON.stringify(body)) + (maxTokens ?? 256);
      const answer = await context.upstream.send(endpoint, body, estimate);
      return {
        value: answer.body,
        completion: null,
        requestId: answer.requestId,
        usage: answer.usage,
        attempts: answer.attempts,
        cached: answer.cached,
        upstream: answer.upstream,
      };
    },
  });
}

export const openAIPassthroughHandlers: readonly Handler[] = OPENAI_BATCH_ENDPOINTS.map(passthrough);
