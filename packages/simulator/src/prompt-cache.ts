import { hashString } from './text.js';

/** OpenAI caches prompts of 1,024 tokens or more, and a cache hit covers whole blocks of 128 tokens. */
export const CACHE_MIN_TOKENS = 1024;
export const CACHE_BLOCK_TOKENS = 128;

/**
 * Prompt caching as OpenAI reports it (`usage.prompt_tokens_details.cached_tokens`), made
 * deterministic: the prefix of a request is every message but the last (the instructions, the
 * categories, the schema: what a job's items share; the item comes last). The first request with a
 * prefix of at least 1,024 tokens stores it; a later request with the same model, the same
 * `prompt_cache_key` and the same prefix reads it, and its cached tokens are the prefix's token
 * estimate rounded down to a multiple of 128. A prefix under 1,024 tokens is never cached.
 *
 * Prefixes are remembered by hash in insertion order and the oldest are forgotten past
 * `maxPrefixes`, so the simulator's memory stays bounded however many distinct prompts it sees.
 */
export class PromptCache {
  private readonly seen = new Set<string>();

  constructor(private readonly maxPrefixes = 10_000) {}

  /** The cached tokens of a request whose shared prefix is `prefix` (estimated at `prefixTokens`). */
  read(model: string, cacheKey: string, prefix: string, prefixTokens: number): number {
    if (prefixTokens < CACHE_MIN_TOKENS) return 0;
    const key = `${model}\u0000${cacheKey}\u0000${hashString(prefix).toString(36)}:${prefix.length}`;
    if (this.seen.has(key)) return Math.floor(prefixTokens / CACHE_BLOCK_TOKENS) * CACHE_BLOCK_TOKENS;
    this.seen.add(key);
    if (this.seen.size > this.maxPrefixes) {
      const oldest = this.seen.values().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    return 0;
  }
}
