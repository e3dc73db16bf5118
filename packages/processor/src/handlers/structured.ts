import { estimateTokens, SluiceError, type TokenUsage } from '@sluice/core';
import type OpenAI from 'openai';
import { z } from 'zod';
import { InvalidModelOutputError, toSluiceError } from '../upstream/errors.js';
import {
  isDialectRejection,
  parseAnswerJson,
  responseFormatFor,
  schemaInstruction,
  StructuredOutputRejectedError,
  type StructuredDialect,
} from '../upstream/structured-output.js';
import { ItemFailedError } from '../upstream/upstream.js';
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
  /** For metrics: the operation, e.g. `classify`. */
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
  /** Every call was answered from an identical request's answer: nothing was sent upstream. */
  cached: boolean;
}

/**
 * One chat completion whose answer is checked against `format`, in whatever structured-output
 * dialect the upstream speaks (negotiated and remembered per upstream and model). An answer that
 * is not JSON or breaks the schema gets one repair round — the model sees its answer and what was
 * wrong with it — and then fails the item with `invalid_model_output`: a success always conforms.
 */
export async function completeChat<T>(context: HandlerContext, request: ChatRequest<T>): Promise<ChatAnswer<T>> {
  const usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
  let attempts = 0;
  let cached = true;
  let repair: InvalidModelOutputError | null = null;
  for (let round = 0; ; round++) {
    const call = await callInDialect(context, request, repair, usage);
    attempts += call.attempts;
    cached &&= call.cached;
    try {
      const value = check(request.format, call.content, call.dialect);
      if (request.format.kind !== 'text')
        context.upstream.recordAnswer(request.route, round === 0 ? 'valid' : 'repaired');
      // Only an answer that passed its check is kept for identical requests (the store write is off the item's path).
      void call.remember();
      return { value, completion: call.completion, requestId: call.requestId, usage, attempts, cached };
    } catch (error) {
      if (!(error instanceof InvalidModelOutputError)) throw error;
      if (round >= REPAIR_ROUNDS) {
        context.upstream.recordAnswer(request.route, 'invalid');
        throw new ItemFailedError(error, attempts);
      }
      repair = error;
    }
  }
}

/** Rounds after the first in which the model may mend an answer that broke the schema. */
const REPAIR_ROUNDS = 1;

interface DialectCall {
  content: string | null;
  dialect: StructuredDialect | null;
  completion: OpenAI.ChatCompletion;
  requestId: string | null;
  attempts: number;
  cached: boolean;
  remember: () => Promise<void>;
}

/**
 * One answer from the upstream, through the retry owner. For a structured format the dialect comes
 * from the negotiator; a refusal of the dialect moves to the next one without counting as a fault.
 */
async function callInDialect<T>(
  context: HandlerContext,
  request: ChatRequest<T>,
  repair: InvalidModelOutputError | null,
  usage: TokenUsage,
): Promise<DialectCall> {
  const format = request.format;
  const answerSchema = schemaOf(format);
  const structured = format.kind !== 'text';
  let attempts = 0;
  for (;;) {
    const lease = structured ? await context.upstream.structuredOutput.lease(request.model) : null;
    const dialect = lease?.dialect ?? null;
    const system = [
      request.system,
      dialect !== null && dialect !== 'json_schema' ? schemaInstruction(answerSchema?.schema ?? null) : null,
    ]
      .filter(Boolean)
      .join('\n\n');
    const messages: OpenAI.ChatCompletionMessageParam[] = [];
    if (system) messages.push({ role: 'system', content: system });
    messages.push({ role: 'user', content: request.user });
    if (repair) {
      messages.push(
        { role: 'assistant', content: repair.content ?? '' },
        {
          role: 'user',
          content: `Your previous answer was rejected: ${repair.message}. Answer again in the required format.`,
        },
      );
    }
    const responseFormat = dialect === null ? undefined : responseFormatFor(dialect, answerSchema);
    const estimate = estimateTokens(system) + estimateTokens(request.user) + (request.maxTokens ?? 512);
    // Exactly what is sent: identical requests (deduplication) are identical bodies.
    const body: Record<string, unknown> = {
      model: request.model,
      messages,
      ...(responseFormat ? { response_format: responseFormat } : {}),
      ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
    };
    try {
      const answer = await context.dedupe('/v1/chat/completions', body, () =>
        context.upstream.run(
          request.route,
          estimate,
          async ({ signal }) => {
            try {
              const { data, requestId } = await context.upstream.http.post('chat/completions', body, {
                signal,
                timeoutMs: context.timeoutMs,
              });
              const completion = data as OpenAI.ChatCompletion;
              return {
                value: {
                  content: completion.choices?.[0]?.message?.content ?? null,
                  completion,
                  requestId,
                },
                totalTokens: completion.usage?.total_tokens ?? estimate,
              };
            } catch (thrown) {
              const error = toSluiceError(thrown);
              // A refused dialect is a capability answer: not retried as a transient fault.
              if (dialect !== null && isDialectRejection(error))
                throw new StructuredOutputRejectedError(dialect, error);
              throw error;
            }
          },
          { guard: context.guard, lane: context.lane, tally: context.tally },
        ),
      );
      const { value } = answer.value;
      // Only the attempt that answered is billed with tokens; a cached answer reports its original usage.
      usage.input_tokens += value.completion.usage?.prompt_tokens ?? 0;
      usage.output_tokens += value.completion.usage?.completion_tokens ?? 0;
      const used = answer.cached ? 0 : answer.value.attempts;
      lease?.accepted();
      return { ...value, dialect, attempts: attempts + used, cached: answer.cached, remember: answer.remember };
    } catch (error) {
      if (lease && error instanceof ItemFailedError && error.last instanceof StructuredOutputRejectedError) {
        attempts += error.attempts;
        const next = lease.rejected(error.last.upstream);
        if (next !== null) continue;
        throw new ItemFailedError(
          new SluiceError(
            'structured_output_unsupported',
            `${error.last.message}; no other structured-output dialect is allowed for model ${request.model} (SLUICE_STRUCTURED_OUTPUT)`,
            { cause: error.last },
          ),
          attempts,
        );
      }
      lease?.inconclusive();
      throw error;
    }
  }
}

/** The JSON Schema an answer must satisfy, or null for any JSON object (or text). */
function schemaOf(
  format: AnswerFormat<unknown>,
): { name: string; schema: Record<string, unknown>; strict: boolean } | null {
  switch (format.kind) {
    case 'zod':
      return { name: format.name, schema: format.json ?? openAISchema(format.schema), strict: true };
    case 'json_schema':
      return { name: format.name, schema: format.schema, strict: format.strict };
    default:
      return null;
  }
}

function check<T>(format: AnswerFormat<T>, content: string | null, dialect: StructuredDialect | null): T {
  if (content === null) throw new InvalidModelOutputError('the answer had no content', null);
  if (format.kind === 'text') return content as T;
  let parsed: unknown;
  try {
    parsed = parseAnswerJson(content, dialect ?? 'json_schema');
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
