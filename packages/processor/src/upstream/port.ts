import { estimateTokens, type JobTier, SluiceError, type TokenUsage } from '@sluice/core';
import type OpenAI from 'openai';
import type { z } from 'zod';
import type { Answer } from '../answers/answer-cache.js';
import type { Lane } from '../fairness/fair-queue.js';
import { InvalidModelOutputError, toSluiceError } from './errors.js';
import {
  isDialectRejection,
  openAISchema,
  parseAnswerJson,
  responseFormatFor,
  schemaInstruction,
  StructuredOutputRejectedError,
  type StructuredDialect,
  type StructuredOutputNegotiator,
} from './structured-output.js';
import type { UpstreamHttp } from './http.js';
import { type AttemptGuard, CallFailed, type CallTally } from './upstream.js';
import { ItemFailedError, type Upstreams } from './upstreams.js';

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
  /** The model as the client named it: it picks the upstreams that serve it. */
  model: string;
  system: string | null;
  user: string;
  format: AnswerFormat<T>;
  /** Upper bound on the answer's tokens, sent as `max_tokens`. */
  maxTokens?: number;
}

export interface ChatAnswer<T> {
  /** Conforms to the request's format: checked here, whatever dialect the upstream speaks. */
  value: T;
  completion: OpenAI.ChatCompletion;
  requestId: string | null;
  /** Summed over all attempts: each one was billed. */
  usage: TokenUsage;
  attempts: number;
  /** Every call was answered from an identical request's answer: nothing was sent upstream. */
  cached: boolean;
  /** The configured name of the upstream that answered; null when the answer was an identical request's. */
  upstream: string | null;
}

/** An OpenAI endpoint's answer, as the upstream gave it. */
export interface SentAnswer {
  body: unknown;
  requestId: string | null;
  usage: TokenUsage;
  attempts: number;
  cached: boolean;
  upstream: string | null;
}

/**
 * The narrow port through which handlers reach the upstreams: a request (and, for a chat, the
 * format of its answer) in; a checked answer, its usage, the attempts spent and the upstream that
 * answered out. Which upstream serves the model, its limits, concurrency, structured-output
 * dialect, retries and failover, and the metrics are all behind it.
 */
export interface UpstreamPort {
  /**
   * One chat completion whose answer is checked against `request.format`, in whatever
   * structured-output dialect the upstream speaks. An answer that is not JSON or breaks the schema
   * gets one repair round, then fails the item with `invalid_model_output`: a success always conforms.
   */
  complete<T>(request: ChatRequest<T>): Promise<ChatAnswer<T>>;
  /**
   * `body` sent to an OpenAI endpoint (`/v1/embeddings`...) as it is, but for its `model`, which
   * becomes the chosen upstream's own name for it. The answer is not checked.
   */
  send(endpoint: string, body: Record<string, unknown>, estimatedTokens: number): Promise<SentAnswer>;
}

/**
 * Sends an upstream request once per identical request of the tenant (docs/deduplication.md):
 * `key` is the request as the client asked it (before any upstream is chosen), `endpoint` where
 * it goes; the batch's setting decides whether it is shared.
 */
export type Dedupe = <T>(endpoint: string, key: Record<string, unknown>, call: () => Promise<T>) => Promise<Answer<T>>;

/** What the port knows of the item it calls for. */
export interface ItemCallOptions {
  /** Call before spending anything on the item; throws when its batch was cancelled or expired. */
  guard: AttemptGuard;
  /** Whose work this is, for the fairness policy of every upstream wait (docs/fairness.md). */
  lane: Lane;
  /**
   * Upstream timeout of each realtime call for this item: the batch's `request_timeout_seconds`
   * (else the processor's), cut to the time left before the batch expires. A flex call's is the
   * router's (SLUICE_FLEX_TIMEOUT_MS, cut to the deadline).
   */
  timeoutMs: number;
  /** The tier the item's batch asked for; the router resolves `auto` per attempt. */
  tier: JobTier;
  /** The item's deadline (its batch's expiry), epoch ms; null: none. */
  expiresAtMs: number | null;
  dedupe: Dedupe;
}

/** Endpoints that take `service_tier` (OpenAI's flex serves chat completions and responses): others go realtime. */
const FLEX_ENDPOINTS: ReadonlySet<string> = new Set(['/v1/chat/completions', '/v1/responses']);

/** Rounds after the first in which the model may mend an answer that broke the schema. */
const REPAIR_ROUNDS = 1;

/** What one dialect call brought back (kept as JSON by deduplication: plain data only). */
interface DialectAnswer {
  content: string | null;
  completion: OpenAI.ChatCompletion;
  requestId: string | null;
  dialect: StructuredDialect | null;
  upstream: string;
  /** The upstream was asked under its own name for the model, not the client's. */
  renamed: boolean;
}

/** One item's port: the upstreams, and what it knows of the item. One per item, as its context is. */
export class ItemPort implements UpstreamPort {
  /** What the item's upstream calls met (429 answers, the last upstream), for its result. */
  readonly tally: CallTally = { rateLimited: 0, upstream: null, tier: null };

  constructor(
    private readonly upstreams: Upstreams,
    private readonly item: ItemCallOptions,
  ) {}

  async complete<T>(request: ChatRequest<T>): Promise<ChatAnswer<T>> {
    const usage: TokenUsage = { input_tokens: 0, output_tokens: 0 };
    let attempts = 0;
    let cached = true;
    let repair: InvalidModelOutputError | null = null;
    for (let round = 0; ; round++) {
      const call = await this.callInDialect(request, repair, usage);
      attempts += call.attempts;
      cached &&= call.cached;
      try {
        const value = check(request.format, call.answer.content, call.answer.dialect);
        if (request.format.kind !== 'text')
          this.upstreams.recordAnswer(request.route, round === 0 ? 'valid' : 'repaired');
        // Only an answer that passed its check is kept for identical requests (the store write is off the item's path).
        void call.remember();
        const { requestId } = call.answer;
        // The model as the client named it, when the upstream knows it by another name (a rename in the upstreams file).
        const completion = call.answer.renamed
          ? { ...call.answer.completion, model: request.model }
          : call.answer.completion;
        return { value, completion, requestId, usage, attempts, cached, upstream: cached ? null : this.tally.upstream };
      } catch (error) {
        if (!(error instanceof InvalidModelOutputError)) throw error;
        if (round >= REPAIR_ROUNDS) {
          this.upstreams.recordAnswer(request.route, 'invalid');
          throw new ItemFailedError(error, attempts);
        }
        repair = error;
      }
    }
  }

  async send(endpoint: string, body: Record<string, unknown>, estimatedTokens: number): Promise<SentAnswer> {
    // The upstream base URL ends in /v1 already.
    const path = endpoint.replace(/^\/v1\//, '');
    const model = typeof body.model === 'string' ? body.model : '';
    const answer = await this.item.dedupe(endpoint, body, () =>
      this.upstreams.run(
        { ...this.callOf(endpoint, estimatedTokens, FLEX_ENDPOINTS.has(endpoint)), model },
        (upstream, upstreamModel, call) =>
          upstream.call(call, async (http, signal) => {
            const renamed = upstreamModel === model ? body : { ...body, model: upstreamModel };
            const sent = call.tier === 'flex' ? { ...renamed, service_tier: 'flex' } : renamed;
            const { data, requestId } = await http.post(path, sent, { signal, timeoutMs: call.timeoutMs });
            const usage = usageOf(data);
            return {
              value: { data, requestId, usage, upstream: upstream.name },
              totalTokens: usage.input_tokens + usage.output_tokens || estimatedTokens,
            };
          }),
      ),
    );
    // Any 200 answer is a success here (the body is not checked), so it is kept at once
    // (the store write is off the item's path).
    void answer.remember();
    const { value, attempts } = answer.value;
    return {
      body: value.data,
      requestId: value.requestId,
      usage: value.usage,
      attempts: answer.cached ? 0 : attempts,
      cached: answer.cached,
      upstream: answer.cached ? null : value.upstream,
    };
  }

  private callOf(route: string, estimatedTokens: number, flexCapable: boolean) {
    const item = this.item;
    return {
      route,
      estimatedTokens,
      lane: item.lane,
      guard: item.guard,
      tally: this.tally,
      tier: item.tier,
      flexCapable,
      expiresAtMs: item.expiresAtMs,
      timeoutMs: item.timeoutMs,
    };
  }

  /**
   * One answer from an upstream serving the model, through the router. For a structured format
   * the dialect comes from the chosen upstream's negotiator; a refusal of the dialect moves to the
   * next one without counting as a fault.
   */
  private async callInDialect<T>(
    request: ChatRequest<T>,
    repair: InvalidModelOutputError | null,
    usage: TokenUsage,
  ): Promise<{ answer: DialectAnswer; attempts: number; cached: boolean; remember: () => Promise<void> }> {
    const format = request.format;
    const answerSchema = schemaOf(format);
    const structured = format.kind !== 'text';
    const estimate = estimateTokens(request.system ?? '') + estimateTokens(request.user) + (request.maxTokens ?? 512);
    let attempts = 0;
    for (;;) {
      try {
        // Identical requests are identical as the client asked them: the same model name, prompt and
        // answer format, whichever upstream and dialect end up answering.
        const answer = await this.item.dedupe(
          '/v1/chat/completions',
          {
            model: request.model,
            system: request.system,
            user: request.user,
            repair: repair ? [repair.content, repair.message] : null,
            format: answerSchema ?? format.kind,
            max_tokens: request.maxTokens ?? null,
          },
          () =>
            this.upstreams.run(
              { ...this.callOf(request.route, estimate, true), model: request.model },
              (upstream, model, call) =>
                this.dialectAttempt(
                  upstream.structuredOutput,
                  model,
                  request,
                  answerSchema,
                  structured,
                  repair,
                  (send) =>
                    upstream.call(call, async (http, signal) => {
                      const body = call.tier === 'flex' ? { ...send.body, service_tier: 'flex' } : send.body;
                      const { data, requestId } = await postInDialect(http, body, send.dialect, {
                        signal,
                        timeoutMs: call.timeoutMs,
                      });
                      const completion = data as OpenAI.ChatCompletion;
                      return {
                        value: {
                          content: completion.choices?.[0]?.message?.content ?? null,
                          completion,
                          requestId,
                          dialect: send.dialect,
                          upstream: upstream.name,
                          renamed: model !== request.model,
                        } satisfies DialectAnswer,
                        totalTokens: completion.usage?.total_tokens ?? estimate,
                      };
                    }),
                ),
            ),
        );
        const value = answer.value.value;
        // Only the attempt that answered is billed with tokens; a cached answer reports its original usage.
        usage.input_tokens += value.completion.usage?.prompt_tokens ?? 0;
        usage.output_tokens += value.completion.usage?.completion_tokens ?? 0;
        const cachedInput = value.completion.usage?.prompt_tokens_details?.cached_tokens;
        if (cachedInput) usage.cached_input_tokens = (usage.cached_input_tokens ?? 0) + cachedInput;
        const used = answer.cached ? 0 : answer.value.attempts;
        return { answer: value, attempts: attempts + used, cached: answer.cached, remember: answer.remember };
      } catch (error) {
        if (error instanceof ItemFailedError && error.last instanceof StructuredOutputRejectedError) {
          attempts += error.attempts;
          if (error.last.next !== null) continue;
          throw new ItemFailedError(
            new SluiceError(
              'structured_output_unsupported',
              `${error.last.message}; no other structured-output dialect is allowed for model ${request.model} (SLUICE_STRUCTURED_OUTPUT)`,
              { cause: error.last },
            ),
            attempts,
          );
        }
        throw error;
      }
    }
  }

  /**
   * One attempt in the dialect the upstream's negotiator leases for `model` (its own name for
   * it): the body is built for that dialect, and the outcome is reported back to the negotiator.
   */
  private async dialectAttempt<T, R>(
    negotiator: StructuredOutputNegotiator,
    model: string,
    request: ChatRequest<T>,
    answerSchema: AnswerSchema | null,
    structured: boolean,
    repair: InvalidModelOutputError | null,
    call: (send: { body: Record<string, unknown>; dialect: StructuredDialect | null }) => Promise<R>,
  ): Promise<R> {
    const lease = structured ? await negotiator.lease(model) : null;
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
    const body: Record<string, unknown> = {
      model,
      messages,
      ...(responseFormat ? { response_format: responseFormat } : {}),
      ...(request.maxTokens ? { max_tokens: request.maxTokens } : {}),
    };
    try {
      const answer = await call({ body, dialect });
      lease?.accepted();
      return answer;
    } catch (error) {
      const rejected = error instanceof CallFailed ? error.error : null;
      if (lease && rejected instanceof StructuredOutputRejectedError) rejected.next = lease.rejected(rejected.upstream);
      else lease?.inconclusive();
      throw error;
    }
  }
}

/** `post`, with a refusal of the dialect sent told apart: a capability answer, not retried as a transient fault. */
async function postInDialect(
  http: UpstreamHttp,
  body: Record<string, unknown>,
  dialect: StructuredDialect | null,
  call: { signal: AbortSignal; timeoutMs: number },
) {
  try {
    return await http.post('chat/completions', body, call);
  } catch (thrown) {
    const error = toSluiceError(thrown);
    if (dialect !== null && isDialectRejection(error)) throw new StructuredOutputRejectedError(dialect, error);
    throw error;
  }
}

type AnswerSchema = { name: string; schema: Record<string, unknown>; strict: boolean };

/** The JSON Schema an answer must satisfy, or null for any JSON object (or text). */
function schemaOf(format: AnswerFormat<unknown>): AnswerSchema | null {
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

/** Reads token usage from any of the OpenAI endpoints' answers. */
function usageOf(body: unknown): TokenUsage {
  const usage = (body as { usage?: Record<string, unknown> } | null)?.usage;
  const number = (value: unknown) => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
  if (!usage) return { input_tokens: 0, output_tokens: 0 };
  const details = (usage.prompt_tokens_details ?? usage.input_tokens_details) as
    { cached_tokens?: unknown } | undefined;
  const cachedInput = number(details?.cached_tokens);
  return {
    input_tokens: number(usage.prompt_tokens ?? usage.input_tokens),
    output_tokens: number(usage.completion_tokens ?? usage.output_tokens),
    ...(cachedInput > 0 ? { cached_input_tokens: cachedInput } : {}),
  };
}
