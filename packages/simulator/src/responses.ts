import {
  jsonSchemaFormat,
  lastUserText,
  parseChatMessage,
  promptTokensOf,
  systemText,
  type ChatMessage,
} from './chat.js';
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

/** POST /v1/responses */
export function planResponse(input: unknown): Plan {
  const body = requireBody(input);
  const model = requireModel(body);
  const messages = parseInput(body.input);
  rejectStreaming(body);
  const instructions = body.instructions;
  if (instructions !== undefined && instructions !== null && typeof instructions !== 'string') {
    throw invalidRequest("Invalid 'instructions': expected a string.", 'instructions');
  }
  const format = parseTextFormat(body.text);
  const maxTokens = optionalPositiveInt(body, 'max_output_tokens');

  const userText = lastUserText(messages);
  const system = [typeof instructions === 'string' ? instructions : '', systemText(messages)].join('\n');
  const content = generateContent(format, readPrompt(userText, system), maxTokens);
  const promptTokens = promptTokensOf([
    ...(typeof instructions === 'string' ? [instructions] : []),
    ...messages.map((m) => m.text),
  ]);

  return {
    directiveText: userText,
    promptTokens,
    tokenCost: promptTokens + (maxTokens ?? estimateTokens(content)),
    malformable: true,
    render(malformed) {
      const text = malformed ? malform(content) : content;
      const completionTokens = estimateTokens(text);
      const responseBody = {
        id: randomId('resp_', 32),
        object: 'response',
        created_at: nowSeconds(),
        status: 'completed',
        error: null,
        incomplete_details: null,
        instructions: typeof instructions === 'string' ? instructions : null,
        max_output_tokens: maxTokens ?? null,
        model,
        output: [
          {
            type: 'message',
            id: randomId('msg_', 32),
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text, annotations: [] }],
          },
        ],
        parallel_tool_calls: true,
        previous_response_id: null,
        text: { format: formatEcho(format) },
        tool_choice: 'auto',
        tools: [],
        usage: {
          input_tokens: promptTokens,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: completionTokens,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: promptTokens + completionTokens,
        },
      };
      return { body: responseBody, completionTokens };
    },
  };
}

/** `input` is a string (one user message) or a list of message items; other item types are ignored. */
function parseInput(input: unknown): ChatMessage[] {
  if (input === undefined || input === null) throw invalidRequest("Missing required parameter: 'input'.", 'input');
  if (typeof input === 'string') return [{ role: 'user', text: input }];
  if (!Array.isArray(input) || input.length === 0) {
    throw invalidRequest("Invalid 'input': expected a string or a non-empty array of input items.", 'input');
  }
  const messages: ChatMessage[] = [];
  input.forEach((item, index) => {
    if (!isRecord(item)) throw invalidRequest(`Invalid 'input[${index}]': expected an object.`, `input[${index}]`);
    if (item.type !== undefined && item.type !== 'message') return;
    messages.push(parseChatMessage(item, `input[${index}]`));
  });
  return messages;
}

function parseTextFormat(text: unknown): OutputFormat {
  if (text === undefined || text === null) return { type: 'text' };
  if (!isRecord(text)) throw invalidRequest("Invalid 'text': expected an object.", 'text');
  const format = text.format;
  if (format === undefined || format === null) return { type: 'text' };
  if (!isRecord(format)) throw invalidRequest("Invalid 'text.format': expected an object.", 'text.format');
  switch (format.type) {
    case 'text':
      return { type: 'text' };
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema':
      if (format.schema === undefined || format.schema === null) {
        throw invalidRequest("Missing required parameter: 'text.format.schema'.", 'text.format.schema');
      }
      return jsonSchemaFormat(format.name, format.schema, 'text.format');
    default:
      throw invalidRequest(
        `Invalid 'text.format.type': expected 'text', 'json_object' or 'json_schema', got ${JSON.stringify(format.type)}.`,
        'text.format.type',
      );
  }
}

function formatEcho(format: OutputFormat): object {
  return format.type === 'json_schema'
    ? { type: 'json_schema', name: format.name, schema: format.schema, strict: true }
    : { type: format.type };
}
