import { generateContent, readPrompt, type OutputFormat } from './content.js';
import { invalidRequest } from './errors.js';
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

/** POST /v1/chat/completions */
export function planChatCompletion(input: unknown): Plan {
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
  const format = parseResponseFormat(body.response_format);
  const maxTokens = optionalPositiveInt(body, 'max_completion_tokens') ?? optionalPositiveInt(body, 'max_tokens');
  const n = Math.min(optionalPositiveInt(body, 'n') ?? 1, MAX_CHOICES);

  const userText = lastUserText(messages);
  const content = generateContent(format, readPrompt(userText, systemText(messages)), maxTokens);
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
