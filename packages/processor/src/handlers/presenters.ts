import { type ApiKind, type ChatCompletion, type DomainOperation, domainResultOf } from '@sluice/core';
import type { HandlerAnswer, HandlerOutcome } from './types.js';

/**
 * How a handler's answer is written for the API whose message it served: the one place where the
 * APIs differ once an item has run (the handlers are the same for all of them).
 *
 * @param operation the message's discriminator (an operation, or an OpenAI endpoint)
 * @param body the item body the handler ran on, as validated (for an operation: `{params, item}`)
 */
export type Presenter = (answer: HandlerAnswer, operation: string, body: unknown) => HandlerOutcome;

const outcome = (answer: HandlerAnswer, body: unknown): HandlerOutcome => ({
  response: { status_code: 200, request_id: answer.requestId, body },
  usage: answer.usage,
  attempts: answer.attempts,
  cached: answer.cached,
  upstream: answer.upstream,
});

export const PRESENTERS: Record<ApiKind, Presenter> = {
  /** OpenAI batches: the upstream's body as it is, a reused one saying its input was cached. */
  openai: (answer) => outcome(answer, answer.cached ? markCached(answer.value) : answer.value),

  /** Operations rows: the result itself, with the item echoed for the row and the model that answered. */
  operations: (answer, _operation, body) => ({
    ...outcome(answer, answer.value),
    item: (body as { item: Record<string, unknown> }).item,
    model: answer.completion?.model ?? null,
  }),

  /**
   * The domain API (seed 002): the domain result (core's `domainResultOf`: extract's mentions
   * located in the text, classify's and summarize's results in the domain's keys), JSON in an
   * OpenAI ChatCompletion whose `model` is the domain operation.
   */
  domain: (answer, operation, body) => ({
    ...outcome(
      answer,
      asChatCompletion(
        operation,
        domainResultOf(operation as DomainOperation, body as Parameters<typeof domainResultOf>[1], answer.value),
        answer,
      ),
    ),
    model: answer.completion?.model ?? null,
  }),
};

/**
 * The domain API's output body: the domain result, JSON-serialized into an OpenAI ChatCompletion
 * (`choices[0].message.content`), with the usage of every attempt.
 */
function asChatCompletion(operation: string, result: unknown, answer: HandlerAnswer): ChatCompletion {
  const completion = answer.completion;
  if (!completion) throw new Error(`the domain operation '${operation}' was not answered by a chat completion`);
  return {
    id: completion.id,
    object: 'chat.completion' as const,
    created: completion.created,
    model: operation,
    choices: [
      {
        index: 0,
        message: { role: 'assistant' as const, content: JSON.stringify(result) },
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: answer.usage.input_tokens,
      completion_tokens: answer.usage.output_tokens,
      total_tokens: answer.usage.input_tokens + answer.usage.output_tokens,
      // As OpenAI reports prompt caching: the prompt tokens that were not processed again.
      ...(answer.cached ? { prompt_tokens_details: { cached_tokens: answer.usage.input_tokens } } : {}),
    },
  };
}

/**
 * A reused answer reports its input as cached, where OpenAI reports prompt caching:
 * `prompt_tokens_details.cached_tokens` (chat, completions, embeddings) or
 * `input_tokens_details.cached_tokens` (responses).
 */
function markCached(body: unknown): unknown {
  const usage = (body as { usage?: Record<string, unknown> } | null)?.usage;
  if (!usage || typeof usage !== 'object') return body;
  if (typeof usage.prompt_tokens === 'number') {
    const details = (usage.prompt_tokens_details as Record<string, unknown> | undefined) ?? {};
    usage.prompt_tokens_details = { ...details, cached_tokens: usage.prompt_tokens };
  } else if (typeof usage.input_tokens === 'number') {
    const details = (usage.input_tokens_details as Record<string, unknown> | undefined) ?? {};
    usage.input_tokens_details = { ...details, cached_tokens: usage.input_tokens };
  }
  return body;
}
