import { generateContent, readPrompt, type OutputFormat } from './content.js';
import { parseDirectives } from './directives.js';
import { ApiError, invalidRequest } from './errors.js';
import { malform } from './faults.js';
import {
  isRecord,
  nowSeconds,
  optionalPositiveInt,
  randomId,
  rejectStreaming,
  requireBody,
  requireModel,
  type Plan,
} from './request.js';
import { estimateTokens } from './text.js';

export interface ChatMessage {
  role: string;
  text: string;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);
const MAX_CHOICES = 16;

/** The structured-output dialects the simulator can speak (see `SimulatorOptions.structured`). */
export const STRUCTURED_DIALECTS = ['json_schema', 'json_object', 'json', 'none'] as const;
export type StructuredDialect = (typeof STRUCTURED_DIALECTS)[number];

/** POST /v1/chat/completions */
export function planChatCompletion(input: unknown, structured: StructuredDialect = 'json_schema'): Plan {
  const body = requireBody(input);
  const model = requireModel(body);
  if (body.messages === undefined || body.messages === null) {
    throw invalidRequest("Missing required parameter: 'messages'.", 'messages');
  }
  if (!Array.isArray(body.messages) || body.messages.length === 0) {
    throw invalidRequest("Invalid 'messages': expected a non-empty array of messages.", 'messages');
  }
  const messages = body.messages.map((message, index) => parseChatMessage(message, `messages[${index}]`));
  rejectStreaming(body);
  const system = systemText(messages);
  const format =
    body.response_format === undefined || body.response_format === null
      ? promptedFormat(system)
      : parseDialect(body.response_format, structured);
  const maxTokens = optionalPositiveInt(body, 'max_completion_tokens') ?? optionalPositiveInt(body, 'max_tokens');
  const n = Math.min(optionalPositiveInt(body, 'n') ?? 1, MAX_CHOICES);

  const userText = lastUserText(messages);
  let content = generateContent(format, readPrompt(userText, system), maxTokens);
  // A repair round (the model's earlier answer is in the conversation) is answered as asked.
  const repairRound = messages.some((m) => m.role === 'assistant');
  // The item's text is the first user message; a repair round adds another after the answer.
  const { invalid } = parseDirectives(
    messages
      .filter((m) => m.role === 'user')
      .map((m) => m.text)
      .join('\n'),
  );
  if (format.type !== 'text' && (invalid === 'always' || (invalid === 'once' && !repairRound))) {
    content = breakSchema(content);
  }
  const promptTokens = promptTokensOf(messages.map((m) => m.text));
  const tokenCost = promptTokens + (maxTokens ?? estimateTokens(content)) * n;

  return {
    directiveText: userText,
    promptTokens,
    tokenCost,
    malformable: true,
    render(malformed) {
      const text = malformed ? malform(content) : content;
      const completionTokens = estimateTokens(text) * n;
      const choices = Array.from({ length: n }, (_, index) => ({
        index,
        message: { role: 'assistant', content: text, refusal: null },
        finish_reason: 'stop',
        logprobs: null,
      }));
      const responseBody = {
        id: randomId('chatcmpl-', 29),
        object: 'chat.completion',
        created: nowSeconds(),
        model,
        system_fingerprint: 'sluice-simulator',
        choices,
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      };
      return { body: responseBody, completionTokens };
    },
  };
}

export function promptTokensOf(texts: string[]): number {
  return Math.max(1, estimateTokens(texts.join('\n')));
}

/** A message's text: a string, or the text parts of a content array (images and other parts are ignored). */
export function parseChatMessage(message: unknown, where: string): ChatMessage {
  if (!isRecord(message)) throw invalidRequest(`Invalid '${where}': expected an object.`, where);
  const role = message.role;
  if (typeof role !== 'string' || !ROLES.has(role)) {
    throw invalidRequest(
      `Invalid '${where}.role': expected one of ${[...ROLES].join(', ')}, got ${JSON.stringify(role)}.`,
      `${where}.role`,
    );
  }
  return { role, text: contentText(message.content, `${where}.content`) };
}

export function contentText(content: unknown, where: string): string {
  if (content === undefined || content === null) return '';
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) {
    throw invalidRequest(`Invalid '${where}': expected a string or an array of content parts.`, where);
  }
  return content
    .map((part) => (isRecord(part) && typeof part.text === 'string' ? part.text : ''))
    .filter((text) => text !== '')
    .join('\n');
}

/** The last user message's text, or the last message's when no user spoke. */
export function lastUserText(messages: ChatMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i];
    if (message?.role === 'user') return message.text;
  }
  return messages[messages.length - 1]?.text ?? '';
}

/** The system and developer messages' text, where instructions such as word limits come from. */
export function systemText(messages: ChatMessage[]): string {
  return messages
    .filter((m) => m.role === 'system' || m.role === 'developer')
    .map((m) => m.text)
    .join('\n');
}

/**
 * `response_format` as the chosen dialect's server reads it; what that server does not take is
 * refused with the error such a server answers (see docs/upstreams.md).
 */
function parseDialect(value: unknown, structured: StructuredDialect): OutputFormat {
  const type = isRecord(value) ? value.type : undefined;
  switch (structured) {
    case 'json_schema':
      return parseResponseFormat(value);
    case 'json_object': {
      // llama-cpp-python: a pydantic model with type 'text' | 'json_object' and an optional schema.
      if (type !== 'text' && type !== 'json_object') {
        // The real server's pydantic error escapes as a 500 (llama-cpp-python 0.3.36).
        throw new ApiError(
          500,
          `1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': "Input should be 'text' or 'json_object'", 'input': ${JSON.stringify(type)}} (simulated llama-cpp-python)`,
          'internal_server_error',
        );
      }
      const schema = isRecord(value) ? value.schema : undefined;
      if (type === 'json_object' && isRecord(schema)) return { type: 'json_schema', name: 'schema', schema };
      return type === 'json_object' ? { type: 'json_object' } : { type: 'text' };
    }
    case 'json': {
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
      const schema = isRecord(value) ? value.value : undefined;
      return type === 'json' && isRecord(schema) ? { type: 'json_schema', name: 'schema', schema } : { type: 'text' };
    }
    case 'none':
      throw invalidRequest(
        'Unrecognized request argument supplied: response_format (simulated server without structured output)',
        'response_format',
        'unrecognized_argument',
      );
  }
}

/**
 * Without a response_format, a model that is told to answer with JSON conforming to a JSON Schema
 * written in its system message does so (as an instruction-following model would): the schema is the
 * first JSON object after "JSON Schema:". Told only to answer with a JSON object, it gives one.
 */
export function promptedFormat(system: string): OutputFormat {
  const marker = system.lastIndexOf('JSON Schema:');
  if (marker !== -1) {
    const schema = firstJsonObject(system.slice(marker + 'JSON Schema:'.length));
    if (schema !== null) return { type: 'json_schema', name: 'prompted', schema };
  }
  if (/answer with (a single |only )?(a )?JSON object/i.test(system)) return { type: 'json_object' };
  return { type: 'text' };
}

function firstJsonObject(text: string): Record<string, unknown> | null {
  const start = text.indexOf('{');
  if (start === -1) return null;
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const char = text[i];
    if (inString) {
      if (char === '\\') i++;
      else if (char === '"') inString = false;
    } else if (char === '"') inString = true;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) {
      try {
        const parsed: unknown = JSON.parse(text.slice(start, i + 1));
        return isRecord(parsed) ? parsed : null;
      } catch {
        return null;
      }
    }
  }
  return null;
}

/**
 * JSON that parses but breaks its schema, as small models write it: the first number becomes
 * 1000000000000000 (a real probe saw that confidence), or, without a number, the answer is wrapped
 * in an object the schema does not describe.
 */
export function breakSchema(content: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(content);
  } catch {
    return content;
  }
  if (isRecord(parsed)) {
    const numeric = Object.keys(parsed).find((key) => typeof parsed[key] === 'number');
    if (numeric !== undefined) return JSON.stringify({ ...parsed, [numeric]: 1_000_000_000_000_000 });
  }
  return JSON.stringify({ answer: parsed });
}

function parseResponseFormat(value: unknown): OutputFormat {
  if (value === undefined || value === null) return { type: 'text' };
  if (!isRecord(value)) throw invalidRequest("Invalid 'response_format': expected an object.", 'response_format');
  switch (value.type) {
    case 'text':
      return { type: 'text' };
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const spec = value.json_schema;
      if (!isRecord(spec)) {
        throw invalidRequest(
          "Missing required parameter: 'response_format.json_schema'.",
          'response_format.json_schema',
        );
      }
      return jsonSchemaFormat(spec.name, spec.schema, 'response_format.json_schema');
    }
    default:
      throw invalidRequest(
        `Invalid 'response_format.type': expected 'text', 'json_object' or 'json_schema', got ${JSON.stringify(value.type)}.`,
        'response_format.type',
      );
  }
}

/** A json_schema format; without a schema any JSON object is acceptable, so the answer is a json_object one. */
export function jsonSchemaFormat(name: unknown, schema: unknown, where: string): OutputFormat {
  if (typeof name !== 'string' || name === '') {
    throw invalidRequest(`Missing required parameter: '${where}.name'.`, `${where}.name`);
  }
  if (schema === undefined || schema === null) return { type: 'json_object' };
  if (!isRecord(schema)) {
    throw invalidRequest(`Invalid '${where}.schema': expected a JSON Schema object.`, `${where}.schema`);
  }
  return { type: 'json_schema', name, schema };
}
