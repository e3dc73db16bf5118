import { z } from 'zod';
import {
  SluiceError,
  structuredOutputModeFor,
  UpstreamError,
  type Logger,
  type StructuredOutputMode,
  type StructuredOutputSetting,
} from '@sluice/core';

/**
 * The ways an OpenAI-compatible upstream can be asked for structured output, best first:
 * - `json_schema`: `{type: "json_schema", json_schema: {name, schema, strict}}` (OpenAI, Azure, Gemini,
 *   vLLM, Ollama, llama.cpp's llama-server);
 * - `json_object`: `{type: "json_object", schema}` — llama-cpp-python enforces the schema, DeepSeek and
 *   others ignore it and give any JSON object;
 * - `json_value`: `{type: "json", value: schema}`, Hugging Face TGI's grammar dialect;
 * - `prompt`: no `response_format` at all (older servers refuse it): the schema in the prompt only.
 * In every dialect but `json_schema` the schema is also written into the system prompt, and the
 * answer is always checked against it.
 */
export const DIALECTS = ['json_schema', 'json_object', 'json_value', 'prompt'] as const;
export type StructuredDialect = (typeof DIALECTS)[number];

/** The dialects a configured mode may use, best first. */
const LADDERS: Record<StructuredOutputMode, readonly StructuredDialect[]> = {
  auto: DIALECTS,
  json_schema: ['json_schema'],
  json_object: ['json_object', 'json_value'],
  prompt: ['prompt'],
};

/**
 * The upstream refused a dialect of structured output, not the request's content: a capability
 * answer, never retried as a transient fault. The negotiator moves to the next dialect instead.
 */
export class StructuredOutputRejectedError extends SluiceError {
  /** The dialect the negotiator moved to on this refusal (null: none left), once it was told. */
  next: StructuredDialect | null = null;

  constructor(
    readonly dialect: StructuredDialect,
    readonly upstream: UpstreamError,
  ) {
    super('structured_output_unsupported', `the upstream refused response_format ${dialect}: ${upstream.message}`, {
      retriable: false,
      cause: upstream,
    });
  }
}

// Statuses servers answer an unknown response_format with: 400 (OpenAI-style validation, vLLM,
// Ollama), 422 (FastAPI/pydantic: llama-cpp-python, TGI's serde errors), 500 and 501 (servers whose
// validation error escapes as an internal error, llama-cpp-python among them).
const REJECTION_STATUSES = new Set([400, 404, 422, 500, 501]);
const ABOUT_FORMAT = /response_format|json_schema|json_object|structured output|guided_json|grammar|unknown variant/i;
// An answer about the schema's content, not the dialect (OpenAI: "Invalid schema for response_format
// 'x': ..."): the schema is the problem, falling back would only hide it.
const ABOUT_SCHEMA_CONTENT = /invalid schema/i;

/**
 * Whether an error answer says the upstream does not speak the dialect it was sent: one of the
 * statuses above, with an error that is about the response format.
 */
export function isDialectRejection(error: SluiceError): error is UpstreamError {
  if (!(error instanceof UpstreamError) || error.status === null || !REJECTION_STATUSES.has(error.status)) return false;
  const text = `${error.message} ${typeof error.body === 'string' ? error.body : JSON.stringify(error.body ?? '')}`;
  return ABOUT_FORMAT.test(text) && !ABOUT_SCHEMA_CONTENT.test(text);
}

interface ModelState {
  ladder: readonly StructuredDialect[];
  /** Index into `ladder` of the dialect in use. */
  index: number;
  /** An answer came back in the current dialect: it is the one, for every later item. */
  settled: boolean;
  /** While unsettled, one call probes the dialect; the others wait for its outcome. */
  probe: Promise<void> | null;
}

/** What one call reports back about the dialect it used. */
export interface DialectLease {
  dialect: StructuredDialect;
  /** The upstream answered: this dialect works. */
  accepted(): void;
  /** The upstream refused the dialect: the next one, or null when the ladder is exhausted. */
  rejected(error: UpstreamError): StructuredDialect | null;
  /** The call failed for another reason (timeout, 5xx, cancelled): nothing learnt. */
  inconclusive(): void;
}

/**
 * Negotiates the structured-output dialect per (upstream, model) and remembers it: the first call
 * tries the best dialect the configured mode allows, a refusal moves to the next, and the first
 * answer settles it, so every later item pays nothing. While a dialect is being probed the other
 * calls for that model wait for the outcome instead of all being refused at once.
 */
export class StructuredOutputNegotiator {
  private readonly models = new Map<string, ModelState>();

  constructor(
    private readonly baseUrl: string,
    private readonly setting: StructuredOutputSetting,
    private readonly logger: Logger,
    private readonly onChange: (model: string, dialect: StructuredDialect, settled: boolean) => void = () => undefined,
  ) {}

  /** The dialect in use for `model` (or the one being probed); for tests and metrics. */
  current(model: string): { dialect: StructuredDialect; settled: boolean } {
    const state = this.state(model);
    return { dialect: state.ladder[state.index] as StructuredDialect, settled: state.settled };
  }

  async lease(model: string): Promise<DialectLease> {
    const state = this.state(model);
    while (!state.settled && state.probe) await state.probe;
    const dialect = state.ladder[state.index] as StructuredDialect;
    if (state.settled) {
      // Settled: nothing to learn, but a refusal now (the upstream changed) still moves down.
      return this.leaseFor(model, state, dialect, () => undefined);
    }
    let finish: () => void = () => undefined;
    state.probe = new Promise<void>((resolve) => (finish = resolve));
    return this.leaseFor(model, state, dialect, () => {
      state.probe = null;
      finish();
    });
  }

  private leaseFor(model: string, state: ModelState, dialect: StructuredDialect, done: () => void): DialectLease {
    let reported = false;
    const once = (report: () => void) => {
      if (reported) return;
      reported = true;
      report();
      done();
    };
    let next: StructuredDialect | null = null;
    return {
      dialect,
      accepted: () =>
        once(() => {
          if (state.settled || state.ladder[state.index] !== dialect) return;
          state.settled = true;
          this.logger.info({ upstream: this.baseUrl, model, dialect }, 'structured output: dialect settled');
          this.onChange(model, dialect, true);
        }),
      rejected: (error) => {
        once(() => {
          const at = state.ladder.indexOf(dialect);
          if (at !== state.index) {
            // Another call moved on already; follow it.
            next = state.ladder[state.index] as StructuredDialect;
            return;
          }
          if (at + 1 >= state.ladder.length) return;
          state.index = at + 1;
          state.settled = false;
          next = state.ladder[state.index] as StructuredDialect;
          this.logger.warn(
            { upstream: this.baseUrl, model, refused: dialect, next, status: error.status, reason: error.message },
            'structured output: the upstream refused a dialect; falling back',
          );
          this.onChange(model, next, false);
        });
        return next;
      },
      inconclusive: () => once(() => undefined),
    };
  }

  private state(model: string): ModelState {
    let state = this.models.get(model);
    if (!state) {
      state = {
        ladder: LADDERS[structuredOutputModeFor(this.setting, model)],
        index: 0,
        settled: false,
        probe: null,
      };
      this.models.set(model, state);
    }
    return state;
  }
}

/** The JSON Schema of an answer, as written into the prompt for the dialects that do not enforce it. */
export function schemaInstruction(schema: Record<string, unknown> | null): string {
  if (schema === null) return 'Answer with a single JSON object and nothing else.';
  return [
    'Answer with a single JSON object and nothing else (no prose, no code fence). It must conform to this JSON Schema:',
    JSON.stringify(schema),
  ].join('\n');
}

/**
 * The `response_format` for a dialect: `schema` null asks for any JSON object. The object shapes
 * of `json_object` with a schema and of `json_value` are not in the `openai` SDK's types.
 */
export function responseFormatFor(
  dialect: StructuredDialect,
  answer: { name: string; schema: Record<string, unknown>; strict: boolean } | null,
): Record<string, unknown> | undefined {
  switch (dialect) {
    case 'json_schema':
      return answer
        ? { type: 'json_schema', json_schema: { name: answer.name, schema: answer.schema, strict: answer.strict } }
        : { type: 'json_object' };
    case 'json_object':
      return answer ? { type: 'json_object', schema: grammarSchema(answer.schema) } : { type: 'json_object' };
    case 'json_value':
      return { type: 'json', value: answer ? grammarSchema(answer.schema) : { type: 'object' } };
    case 'prompt':
      return undefined;
  }
}

/** 0, 0.01, …, 0.99, 1. */
const UNIT_GRID = Array.from({ length: 101 }, (_, i) => Number((i / 100).toFixed(2)));

/**
 * The schema as sent to servers that compile it into a generation grammar (llama-cpp-python,
 * TGI): their converters ignore `minimum`/`maximum` on numbers, so a small model writes a score of
 * 24.98 where [0, 1] was asked. A number bounded within [0, 1] (a confidence, a score) is sent as
 * one of 0, 0.01, …, 1, which a grammar does enforce. The answer is still checked against the
 * original schema; nothing is rounded or clamped after the fact.
 */
export function grammarSchema(schema: unknown): Record<string, unknown> {
  const walk = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(walk);
    if (typeof node !== 'object' || node === null) return node;
    const record = node as Record<string, unknown>;
    if (
      record.type === 'number' &&
      typeof record.minimum === 'number' &&
      typeof record.maximum === 'number' &&
      record.minimum >= 0 &&
      record.maximum <= 1 &&
      record.enum === undefined
    ) {
      const { minimum, maximum } = record;
      return { ...record, enum: UNIT_GRID.filter((v) => v >= minimum && v <= maximum) };
    }
    return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, walk(value)]));
  };
  return walk(schema) as Record<string, unknown>;
}

/**
 * The JSON value in an answer. Strict JSON first; when the dialect did not enforce JSON, also the
 * one JSON object inside a code fence or surrounded by prose, as small models write it. This only
 * finds the JSON the model wrote; it never changes a value.
 */
export function parseAnswerJson(content: string, dialect: StructuredDialect): unknown {
  try {
    return JSON.parse(content);
  } catch (error) {
    if (dialect === 'json_schema') throw error;
    const fenced = /```(?:json)?\s*([\s\S]*?)```/i.exec(content)?.[1];
    const start = content.indexOf('{');
    const end = content.lastIndexOf('}');
    for (const candidate of [fenced, start !== -1 && end > start ? content.slice(start, end + 1) : undefined]) {
      if (candidate === undefined) continue;
      try {
        return JSON.parse(candidate);
      } catch {
        // try the next candidate
      }
    }
    throw error;
  }
}

/** The JSON Schema OpenAI's structured outputs accept: no `$schema` keyword, objects closed. */
export function openAISchema(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { target: 'draft-2020-12', unrepresentable: 'any' }) as Record<string, unknown>;
  delete json.$schema;
  return json;
}
