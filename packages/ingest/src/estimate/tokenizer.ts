import { estimateTokens } from '@sluice/core';

/** Counts a text's tokens for one model, and says how. */
export interface TokenCounter {
  count(text: string): number;
  /** `tokenizer:<encoding>` or `estimate:chars/4`. */
  readonly method: string;
}

type Encoding = 'o200k_base' | 'cl100k_base';
type Count = (text: string) => number;

/** OpenAI's model families: these are counted with their real tokenizer. */
const OPENAI_MODEL = /^(gpt-|chatgpt-|o\d|text-embedding-|omni-moderation|text-moderation)/;

/** Every other model (a local or third-party one) gets the documented estimate: a token per four characters. */
const CHARS_PER_4: TokenCounter = { count: estimateTokens, method: 'estimate:chars/4' };

let loaded: Promise<{ counts: Record<Encoding, Count>; modelEncodings: Record<string, string> }> | null = null;

/**
 * gpt-tokenizer's two current encodings, loaded on the first dry run (they take a few MB and
 * about half a second, which a server that never dry-runs should not pay).
 */
function encodings() {
  loaded ??= (async () => {
    const [o200k, cl100k, mapping] = await Promise.all([
      import('gpt-tokenizer/encoding/o200k_base'),
      import('gpt-tokenizer/encoding/cl100k_base'),
      import('gpt-tokenizer/mapping'),
    ]);
    return {
      counts: { o200k_base: o200k.countTokens, cl100k_base: cl100k.countTokens } as Record<Encoding, Count>,
      modelEncodings: mapping.modelToEncodingMap as Record<string, string>,
    };
  })();
  return loaded;
}

/** Picks the counter of a model, synchronously (validators are synchronous). */
export type TokenCounters = (model: string | null) => TokenCounter;

/**
 * The counters, once the tokenizers are loaded: OpenAI models with the encoding gpt-tokenizer
 * maps them to (o200k_base for models it does not list, as OpenAI's newer ones all use it); older
 * encodings (GPT-3's) and other vendors' models with the estimate.
 */
export async function tokenCounters(): Promise<TokenCounters> {
  const { counts, modelEncodings } = await encodings();
  return (model) => {
    if (!model || !OPENAI_MODEL.test(model)) return CHARS_PER_4;
    const encoding = (modelEncodings[model] ?? 'o200k_base') as Encoding;
    const count = counts[encoding];
    if (!count) return CHARS_PER_4;
    return { count: (text) => (text.length === 0 ? 0 : count(text)), method: `tokenizer:${encoding}` };
  };
}
