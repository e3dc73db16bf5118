import { estimateTokens, type TokenUsage } from '@sluice/core';
import type OpenAI from 'openai';
import { z } from 'zod';
import { InvalidModelOutputError } from '../upstream/errors.js';
import type { HandlerContext } from './types.js';

export interface StructuredRequest<T> {
  /** For metrics, e.g. `domain.classify`. */
  route: string;
  model: string;
  system: string;
  user: string;
  /** The answer's schema: sent as the JSON Schema of `response_format`, and used to validate the answer. */
  schema: z.ZodType<T>;
  schemaName: string;
  /** Upper bound on the answer's tokens, sent as `max_tokens`. */
  maxTokens?: number;
}

export interface StructuredAnswer<T> {
  value: T;
  completion: OpenAI.ChatCompletion;
  requestId: string | null;
  /** Summed over all attempts: each one was billed. */
  usage: TokenUsage;
  attempts: number;
}

/**
 * Asks the upstream for JSON that fits `schema` (structured outputs: `response_format` with a
 * strict JSON Schema) and validates the answer with the same zod schema. An answer that is not
 * JSON or does not validate is retried within the item's attempts, and the retry shows the model
 * its previous answer and what was wrong with it.
 */
export async function completeStructured<T>(
  context: HandlerContext,
  request: StructuredRequest<T>,
): Promise<StructuredAnswer<T>> {
  const jsonSchema = openAISchema(request.schema);
  const usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  const estimate = estimateTokens(request.system) + estimateTokens(request.user) + (request.maxTokens ?? 512);
  const { value, attempts } = await context.upstream.run(
    request.route,
    estimate,
    async ({ previousError }) => {
      const messages: OpenAI.ChatCompletionMessageParam[] = [
        { role: 'system', content: request.system },
        { role: 'user', content: request.user },
      ];
      if (previousError instanceof InvalidModelOutputError && previousError.content !== null) {
        messages.push(
          { role: 'assistant', content: previousError.content },
          {
            role: 'user',
            content: `Your previous answer was rejected: ${previousError.message}. Answer again with JSON that matches the schema exactly.`,
          },
        );
      }
      const { data, response } = await context.upstream.client.chat.completions
        .create({
          model: request.model,
          messages,
          response_format: {
            type: 'json_schema',
            json_schema: { name: request.schemaName, schema: jsonSchema, strict: true },
          },
          ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
        })
        .withResponse();
      usage.input_tokens += data.usage?.prompt_tokens ?? 0;
      usage.output_tokens += data.usage?.completion_tokens ?? 0;
      const content = data.choices[0]?.message.content ?? null;
      if (content === null) throw new InvalidModelOutputError('the answer had no content', null);
      let parsed: unknown;
      try {
        parsed = JSON.parse(content);
      } catch (error) {
        throw new InvalidModelOutputError(`the answer is not valid JSON (${(error as Error).message})`, content);
      }
      const checked = request.schema.safeParse(parsed);
      if (!checked.success) {
        const issues = checked.error.issues
          .slice(0, 5)
          .map((issue) => `${issue.path.join('.') || '(answer)'}: ${issue.message}`)
          .join('; ');
        throw new InvalidModelOutputError(`the answer does not match the schema (${issues})`, content);
      }
      return {
        value: { parsed: checked.data, completion: data, requestId: response.headers.get('x-request-id') },
        totalTokens: data.usage?.total_tokens ?? estimate,
      };
    },
    context.guard,
  );
  return { value: value.parsed, completion: value.completion, requestId: value.requestId, usage, attempts };
}

/** The JSON Schema OpenAI's structured outputs accept: no `$schema` keyword, objects closed. */
export function openAISchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}

/**
 * The domain API's output body: the domain result, JSON-serialized into an OpenAI ChatCompletion
 * (`choices[0].message.content`), with the usage of every attempt.
 */
export function asChatCompletion(
  domainModel: string,
  result: unknown,
  answer: Pick<StructuredAnswer<unknown>, 'completion' | 'usage'>,
) {
  return {
    id: answer.completion.id,
    object: 'chat.completion' as const,
    created: answer.completion.created,
    model: domainModel,
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
    },
  };
}
