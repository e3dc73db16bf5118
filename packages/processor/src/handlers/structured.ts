import { estimateTokens, type TokenUsage } from '@sluice/core';
import type OpenAI from 'openai';
import { z } from 'zod';
import { InvalidModelOutputError } from '../upstream/errors.js';
import type { HandlerContext } from './types.js';

/**
 * What the answer must be, and how it is checked:
 * - `zod`: structured output from a zod schema (sent as a strict JSON Schema, checked with zod);
 * - `json_schema`: structured output from a caller's JSON Schema, checked by `validate`;
 * - `json_object`: any JSON object (`response_format: json_object`);
 * - `text`: the text as it is.
 */
export type AnswerFormat<T> =
  | {
      kind: 'zod';
      schema: z.ZodType<T>;
      name: string;
      /** Precomputed JSON Schema of `schema`. */ json?: Record<string, unknown>;
    }
  | {
      kind: 'json_schema';
      name: string;
      schema: Record<string, unknown>;
      strict: boolean;
      validate: (value: unknown) => string | null;
    }
  | { kind: 'json_object' }
  | { kind: 'text' };

export interface ChatRequest<T> {
  /** For metrics, e.g. `domain.classify`. */
  route: string;
  model: string;
  system: string | null;
  user: string;
  format: AnswerFormat<T>;
  /** Upper bound on the answer's tokens, sent as `max_tokens`. */
  maxTokens?: number;
}

export interface ChatAnswer<T> {
  value: T;
  completion: OpenAI.ChatCompletion;
  requestId: string | null;
  /** Summed over all attempts: each one was billed. */
  usage: TokenUsage;
  attempts: number;
}

/**
 * One chat completion whose answer is checked against `format`. An answer that is not JSON or
 * does not validate is retried within the item's attempts, and the retry shows the model its
 * previous answer and what was wrong with it.
 */
export async function completeChat<T>(context: HandlerContext, request: ChatRequest<T>): Promise<ChatAnswer<T>> {
  const responseFormat = responseFormatOf(request.format);
  const usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  const estimate = estimateTokens(request.system ?? '') + estimateTokens(request.user) + (request.maxTokens ?? 512);
  const { value, attempts } = await context.upstream.run(
    request.route,
    estimate,
    async ({ previousError }) => {
      const messages: OpenAI.ChatCompletionMessageParam[] = [];
      if (request.system) messages.push({ role: 'system', content: request.system });
      messages.push({ role: 'user', content: request.user });
      if (previousError instanceof InvalidModelOutputError && previousError.content !== null) {
        messages.push(
          { role: 'assistant', content: previousError.content },
          {
            role: 'user',
            content: `Your previous answer was rejected: ${previousError.message}. Answer again in the required format.`,
          },
        );
      }
      const { data, response } = await context.upstream.client.chat.completions
        .create({
          model: request.model,
          messages,
          ...(responseFormat ? { response_format: responseFormat } : {}),
          ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
        })
        .withResponse();
      usage.input_tokens += data.usage?.prompt_tokens ?? 0;
      usage.output_tokens += data.usage?.completion_tokens ?? 0;
      const content = data.choices[0]?.message.content ?? null;
      if (content === null) throw new InvalidModelOutputError('the answer had no content', null);
      return {
        value: {
          parsed: check(request.format, content),
          completion: data,
          requestId: response.headers.get('x-request-id'),
        },
        totalTokens: data.usage?.total_tokens ?? estimate,
      };
    },
    context.guard,
  );
  return { value: value.parsed, completion: value.completion, requestId: value.requestId, usage, attempts };
}

function responseFormatOf(format: AnswerFormat<unknown>): OpenAI.ChatCompletionCreateParams['response_format'] {
  switch (format.kind) {
    case 'zod':
      return {
        type: 'json_schema',
        json_schema: { name: format.name, schema: format.json ?? openAISchema(format.schema), strict: true },
      };
    case 'json_schema':
      return { type: 'json_schema', json_schema: { name: format.name, schema: format.schema, strict: format.strict } };
    case 'json_object':
      return { type: 'json_object' };
    case 'text':
      return undefined;
  }
}

function check<T>(format: AnswerFormat<T>, content: string): T {
  if (format.kind === 'text') return content as T;
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch (error) {
    throw new InvalidModelOutputError(`the answer is not valid JSON (${(error as Error).message})`, content);
  }
  if (format.kind === 'json_object') {
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new InvalidModelOutputError('the answer is not a JSON object', content);
    }
    return parsed as T;
  }
  if (format.kind === 'json_schema') {
    const problem = format.validate(parsed);
    if (problem) throw new InvalidModelOutputError(`the answer does not match the schema (${problem})`, content);
    return parsed as T;
  }
  const checked = format.schema.safeParse(parsed);
  if (!checked.success) {
    const issues = checked.error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.join('.') || '(answer)'}: ${issue.message}`)
      .join('; ');
    throw new InvalidModelOutputError(`the answer does not match the schema (${issues})`, content);
  }
  return checked.data;
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
  answer: Pick<ChatAnswer<unknown>, 'completion' | 'usage'>,
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
