import { randomBytes } from 'node:crypto';
import { generateContent, readPrompt, type OutputFormat } from './content.js';
import { parseDirectives } from './directives.js';
import { ApiError, invalidRequest } from './errors.js';
import { malform } from './faults.js';
import type { PromptCache } from './prompt-cache.js';
import { estimateTokens } from './text.js';

/** The structured-output dialects the simulator can speak (see `SimulatorOptions.structured`). */
export const STRUCTURED_DIALECTS = ['json_schema', 'json_object', 'json', 'none'] as const;
export type StructuredDialect = (typeof STRUCTURED_DIALECTS)[number];

/** The `service_tier` values OpenAI takes on chat completions. */
export const SERVICE_TIERS = ['auto', 'default', 'flex', 'scale', 'priority'] as const;
/** The tier an answer reports: `auto` and no tier at all are served (and echoed) as `default`, as OpenAI does. */
export type ServedTier = Exclude<(typeof SERVICE_TIERS)[number], 'auto'>;

/** What the chat route decided about a valid request, before limits, faults and latency apply. */
export interface Plan {
  /** The tier the request asked for, as the answer reports it. */
  serviceTier: ServedTier;
  /** The model asked for. */
  model: string;
  /** The last user message, scanned for `sim:` directives. */
  directiveText: string;
  /** Charged to the TPM limit: the prompt plus `max_tokens`, or plus the actual completion. */
  tokenCost: number;
  render(malformed: boolean): object;
}

interface ChatMessage {
  role: string;
  text: string;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

/** POST /v1/chat/completions */
export function planChatCompletion(input: unknown, structured: StructuredDialect, promptCache?: PromptCache): Plan {
  if (!isRecord(input)) throw invalidRequest('The request body must be a JSON object.');
  const body = input;
  const model = body.model;
  if (model === undefined || model === null) throw invalidRequest("Missing required parameter: 'model'.", 'model');
  if (typeof model !== 'string' || model.trim() === '') {
    throw invalidRequest("Invalid type for 'model': expected a non-empty string.", 'model', 'invalid_type');
  }
  if (body.messages === undefined || body.messages === null) {
    throw invalidRequest("Missing required parameter: 'messages'.", 'messages');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw invalidRequest("Invalid 'messages': expected a non-empty array of messages.", 'messages');
  }
  const messages = body.messages.map((message: unknown, index) => parseMessage(message, `messages[${index}]`));
  if (body.stream === true) {
    throw invalidRequest(
      'Streaming (stream: true) is not supported by the Sluice simulator.',
      'stream',
      'unsupported_value',
    );
  }
  const system = messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map((m) => m.text)
    .join('\n');
  const format =
    body.response_format === undefined || body.response_format === null
      ? promptedFormat(system)
      : parseDialect(body.response_format, structured);
  const maxTokens = positiveInt(body, 'max_completion_tokens') ?? positiveInt(body, 'max_tokens');
  const serviceTier = parseServiceTier(body.service_tier);
  const cacheKey = typeof body.prompt_cache_key === 'string' ? body.prompt_cache_key : '';

  const userText = messages.findLast((m) => m.role === 'user')?.text ?? messages[messages.length - 1]?.text ?? '';
  let content = generateContent(format, readPrompt(userText, system), maxTokens);
  // The item's text is the first user message; a repair round (the model's earlier answer is in the
  // conversation) adds another, and is answered as asked under `sim:invalid-once`.
  const { invalid } = parseDirectives(messages.flatMap((m) => (m.role === 'user' ? [m.text] : [])).join('\n'));
  const repairRound = messages.some((m) => m.role === 'assistant');
  if (format.type !== 'text' && (invalid === 'always' || (invalid === 'once' && !repairRound))) {
    content = breakSchema(content);
  }
  const promptTokens = Math.max(1, estimateTokens(messages.map((m) => m.text).join('\n')));
  // The shared prefix: every message but the last, the item (see PromptCache).
  const shared = messages.slice(0, -1);
  const prefix = shared.map((m) => `${m.role}\n${m.text}`).join('\n');
  const prefixTokens = estimateTokens(shared.map((m) => m.text).join('\n'));

  return {
    serviceTier,
    model,
    directiveText: userText,
    tokenCost: promptTokens + (maxTokens ?? estimateTokens(content)),
    render(malformed) {
      const text = malformed ? malform(content) : content;
      const completionTokens = estimateTokens(text);
      // Read at answer time: a refused or failed call caches nothing, as at OpenAI.
      const cachedTokens = Math.min(promptTokens, promptCache?.read(model, cacheKey, prefix, prefixTokens) ?? 0);
      return {
        id: `chatcmpl-${randomBytes(12).toString('hex')}`,
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model,
        system_fingerprint: 'sluice-simulator',
        service_tier: serviceTier,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null },
            finish_reason: 'stop',
            logprobs: null,
          },
        ],
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
          prompt_tokens_details: { cached_tokens: cachedTokens },
        },
      };
    },
  };
}

/** A message's text: a string, or the text parts of a content array (images and other parts are ignored). */
function parseMessage(message: unknown, where: string): ChatMessage {
  if (!isRecord(message)) throw invalidRequest(`Invalid '${where}': expected an object.`, where);
  const { role, content } = message;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw invalidRequest(`Invalid '${where}.role': ${JSON.stringify(role)} is not a known role.`, `${where}.role`);
  }
  if (content === undefined || content === null || typeof content === 'string') return { role, text: content ?? '' };
  if (!Array.isArray(content)) {
    throw invalidRequest(`Invalid '${where}.content': expected a string or an array of content parts.`, where);
  }
  const parts = content.flatMap((part: unknown) =>
    isRecord(part) && typeof part.text === 'string' ? [part.text] : [],
  );
  return { role, text: parts.join('\n') };
}

/** `service_tier` as OpenAI reads it: absent, null and `auto` are served on the default tier. */
function parseServiceTier(value: unknown): ServedTier {
  if (value === undefined || value === null || value === 'auto') return 'default';
  if (typeof value === 'string' && (SERVICE_TIERS as readonly string[]).includes(value)) return value as ServedTier;
  throw invalidRequest(
    `Invalid value for 'service_tier': expected one of ${SERVICE_TIERS.map((t) => `'${t}'`).join(', ')}, got ${JSON.stringify(value)}.`,
    'service_tier',
    'invalid_value',
  );
}

/** An optional integer parameter >= 1 such as `max_tokens`; null counts as absent. */
function positiveInt(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalidRequest(`Invalid '${name}': expected an integer >= 1, got ${JSON.stringify(value)}.`, name);
  }
  return value;
}

/**
 * `response_format` as the chosen dialect's server reads it; what that server does not take is refused with
 * the error such a server answers (see docs/upstreams.md).
 */
function parseDialect(value: unknown, structured: StructuredDialect): OutputFormat {
  const format = isRecord(value) ? value : {};
  const type = format.type;
  switch (structured) {
    case 'json_schema': {
      if (type === 'text' || type === 'json_object') return { type };
      const spec = format.json_schema;
      if (type !== 'json_schema') {
        throw invalidRequest(
          `Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema', got ${JSON.stringify(type)}.`,
          'response_format.type',
        );
      }
      if (!isRecord(spec) || typeof spec.name !== 'string' || spec.name === '') {
        throw invalidRequest("Missing required parameter: 'response_format.json_schema.name'.", 'response_format');
      }
      // Without a schema any JSON object is acceptable.
      return isRecord(spec.schema) ? { type: 'json_schema', schema: spec.schema } : { type: 'json_object' };
    }
    case 'json_object':
      // llama-cpp-python 0.3.36: its pydantic error for another type escapes as a 500.
      if (type !== 'text' && type !== 'json_object') {
        throw new ApiError(
          500,
          `1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': "Input should be 'text' or 'json_object'", 'input': ${JSON.stringify(type)}} (simulated llama-cpp-python)`,
          'internal_server_error',
        );
      }
      if (type === 'text') return { type };
      return isRecord(format.schema) ? { type: 'json_schema', schema: format.schema } : { type: 'json_object' };
    case 'json':
      // Hugging Face TGI: a grammar, {type: 'json', value: schema} or {type: 'regex', value}.
      if (type !== 'json' && type !== 'regex') {
        throw new ApiError(
          422,
          `Failed to deserialize the JSON body into the target type: response_format: unknown variant \`${String(type)}\`, expected \`json\` or \`regex\` (simulated TGI)`,
          'invalid_request_error',
          'validation',
          'response_format',
        );
      }
      return type === 'json' && isRecord(format.value)
        ? { type: 'json_schema', schema: format.value }
        : { type: 'text' };
    case 'none':
      throw invalidRequest(
        'Unrecognized request argument supplied: response_format (simulated server without structured output)',
        'response_format',
        'unrecognized_argument',
      );
  }
}

/**
 * Without a response_format, an instruction-following model told to answer with JSON conforming to a JSON
 * Schema in its system message does so: the schema is the JSON object after the last "JSON Schema:". Told
 * only to answer with a JSON object, it gives one.
 */
function promptedFormat(system: string): OutputFormat {
  const marker = system.lastIndexOf('JSON Schema:');
  if (marker !== -1) {
    const line =
      system
        .slice(marker + 'JSON Schema:'.length)
        .trim()
        .split('\n')[0] ?? '';
    try {
      const schema: unknown = JSON.parse(line);
      if (isRecord(schema)) return { type: 'json_schema', schema };
    } catch {
      // not a schema on one line: answer as below
    }
  }
  return /answer with (a single |only )?(a )?JSON object/iu.test(system) ? { type: 'json_object' } : { type: 'text' };
}

/**
 * JSON that parses but breaks its schema, as small models write it: the first number becomes
 * 1000000000000000 (a real probe saw that confidence); without a number, the answer is wrapped in an
 * object the schema does not describe.
 */
function breakSchema(content: string): string {
  const parsed: unknown = JSON.parse(content);
  if (isRecord(parsed)) {
    const numeric = Object.keys(parsed).find((key) => typeof parsed[key] === 'number');
    if (numeric !== undefined) return JSON.stringify({ ...parsed, [numeric]: 1_000_000_000_000_000 });
  }
  return JSON.stringify({ answer: parsed });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
