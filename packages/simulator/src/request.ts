import { randomBytes } from 'node:crypto';
import { invalidRequest } from './errors.js';

/** What an endpoint decided about a valid request, before limits, faults and latency apply. */
export interface Plan {
  /** The text scanned for `sim:` directives (the last user message, the prompt, the input). */
  directiveText: string;
  promptTokens: number;
  /** Charged to the TPM limit: prompt tokens plus the requested completion cap, or the actual completion. */
  tokenCost: number;
  /** Whether the answer has content that a malformed fault can truncate. */
  malformable: boolean;
  render(malformed: boolean): { body: object; completionTokens: number };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireBody(body: unknown): Record<string, unknown> {
  if (!isRecord(body)) {
    throw invalidRequest(
      'The request body must be a JSON object. (HINT: send Content-Type: application/json with a JSON object.)',
    );
  }
  return body;
}

export function requireModel(body: Record<string, unknown>): string {
  const model = body.model;
  if (model === undefined || model === null) throw invalidRequest("Missing required parameter: 'model'.", 'model');
  if (typeof model !== 'string' || model.trim() === '') {
    throw invalidRequest("Invalid type for 'model': expected a non-empty string.", 'model', 'invalid_type');
  }
  return model;
}

export function rejectStreaming(body: Record<string, unknown>): void {
  if (body.stream === true) {
    throw invalidRequest(
      'Streaming (stream: true) is not supported by the Sluice simulator.',
      'stream',
      'unsupported_value',
    );
  }
}

/** An optional positive integer parameter such as `max_tokens`; null counts as absent. */
export function optionalPositiveInt(body: Record<string, unknown>, name: string): number | undefined {
  const value = body[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw invalidRequest(`Invalid '${name}': expected an integer >= 1, got ${JSON.stringify(value)}.`, name);
  }
  return value;
}

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** A random alphanumeric id like OpenAI's (`chatcmpl-…`, `resp_…`). */
export function randomId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let id = prefix;
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
