import { invalidRequest } from './errors.js';
import { mulberry32 } from './random.js';
import { requireBody, requireModel, type Plan } from './request.js';
import { estimateTokens, hashString } from './text.js';

export const DEFAULT_EMBEDDING_DIMENSIONS = 16;
const MAX_DIMENSIONS = 4096;

/** POST /v1/embeddings */
export function planEmbeddings(input: unknown): Plan {
  const body = requireBody(input);
  const model = requireModel(body);
  const texts = parseInputs(body.input);
  const dimensions = parseDimensions(body.dimensions);
  const encoding = body.encoding_format ?? 'float';
  if (encoding !== 'float' && encoding !== 'base64') {
    throw invalidRequest("Invalid 'encoding_format': expected 'float' or 'base64'.", 'encoding_format');
  }
  const promptTokens = texts.reduce((sum, text) => sum + estimateTokens(text), 0);

  return {
    directiveText: texts.join('\n'),
    promptTokens,
    tokenCost: promptTokens,
    malformable: false,
    render() {
      const data = texts.map((text, index) => {
        const vector = embed(text, dimensions);
        const embedding =
          encoding === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
        return { object: 'embedding', index, embedding };
      });
      const responseBody = {
        object: 'list',
        data,
        model,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      };
      return { body: responseBody, completionTokens: 0 };
    },
  };
}

/**
 * A unit vector from the text: a sum of pseudo-random vectors, one per word, so that texts sharing words are
 * similar, plus a small whole-text component so that different texts never coincide.
 */
export function embed(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const add = (token: string, weight: number): void => {
    const rng = mulberry32(hashString(token));
    for (let i = 0; i < dimensions; i++) vector[i] = (vector[i] ?? 0) + weight * (rng() * 2 - 1);
  };
  for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) add(word, 1);
  add(`\u0000${text}`, 0.25);
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0)) || 1;
  return vector.map((x) => x / norm);
}

function parseInputs(input: unknown): string[] {
  if (input === undefined || input === null) throw invalidRequest("Missing required parameter: 'input'.", 'input');
  let texts: string[] | undefined;
  if (typeof input === 'string') texts = [input];
  else if (Array.isArray(input) && input.length > 0) {
    if (input.every((item) => typeof item === 'string')) texts = input;
    else if (input.every((item) => typeof item === 'number')) texts = [input.join(' ')];
    else if (input.every((item) => Array.isArray(item) && item.every((t) => typeof t === 'number'))) {
      texts = input.map((item: number[]) => item.join(' '));
    }
  }
  if (texts === undefined) {
    throw invalidRequest("Invalid 'input': expected a string, an array of strings, or token arrays.", 'input');
  }
  if (texts.some((text) => text === '')) {
    throw invalidRequest("Invalid 'input': the input must not contain empty strings.", 'input');
  }
  return texts;
}

function parseDimensions(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_EMBEDDING_DIMENSIONS;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_DIMENSIONS) {
    throw invalidRequest(`Invalid 'dimensions': expected an integer between 1 and ${MAX_DIMENSIONS}.`, 'dimensions');
  }
  return value;
}
