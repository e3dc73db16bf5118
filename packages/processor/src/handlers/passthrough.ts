import { estimateTokens, OPENAI_BATCH_ENDPOINTS, type TokenUsage } from '@sluice/core';
import { z } from 'zod';
import { defineHandler, type Handler } from './types.js';

/** An OpenAI batch line's body: sent upstream as it is. */
const PassthroughBody = z.looseObject({ model: z.string().min(1) });
type PassthroughBody = z.infer<typeof PassthroughBody>;

/** Reads token usage from any of the five endpoints' answers. */
function usageOf(body: unknown): TokenUsage {
  const usage = (body as { usage?: Record<string, unknown> } | null)?.usage;
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
  if (!usage) return { input_tokens: 0, output_tokens: 0 };
  return {
    input_tokens: number(usage.prompt_tokens ?? usage.input_tokens),
    output_tokens: number(usage.completion_tokens ?? usage.output_tokens),
  };
}

/**
 * OpenAI batches: each line's body goes to the upstream's endpoint (`url`) unchanged, and the
 * upstream's answer is kept unchanged as the line's `response.body` (presenters.ts marks a reused
 * one's input tokens as cached). One handler per endpoint.
 */
function passthrough(endpoint: (typeof OPENAI_BATCH_ENDPOINTS)[number]): Handler {
  // The upstream base URL ends in /v1 already.
  const path = endpoint.replace(/^\/v1/, '');
  return defineHandler<PassthroughBody>({
    operation: endpoint,
    apis: ['openai'],
    request: PassthroughBody,
    async handle(body, context) {
      const maxTokens = [body.max_tokens, body.max_completion_tokens, body.max_output_tokens].find(
        (v): v is number => typeof v === 'number',
      );
      const estimate = estimateTokens(JSON.stringify(body)) + (maxTokens ?? 256);
      const answer = await context.dedupe(endpoint, body, () =>
        context.upstream.run(
          endpoint,
          estimate,
          async ({ signal }) => {
            const { data, requestId } = await context.upstream.http.post(path, body, {
              signal,
              timeoutMs: context.timeoutMs,
            });
            const usage = usageOf(data);
            return {
              value: { data, requestId, usage },
              totalTokens: usage.input_tokens + usage.output_tokens || estimate,
            };
          },
          { guard: context.guard, lane: context.lane, tally: context.tally },
        ),
      );
      // Any 200 answer is a success here (the body is not checked), so it is kept at once
      // (the store write is off the item's path).
      void answer.remember();
      const { value, attempts } = answer.value;
      return {
        value: value.data,
        completion: null,
        requestId: value.requestId,
        usage: value.usage,
        attempts: answer.cached ? 0 : attempts,
        cached: answer.cached,
      };
    },
  });
}

export const openAIPassthroughHandlers: readonly Handler[] = OPENAI_BATCH_ENDPOINTS.map(passthrough);
