import type { z } from 'zod';
import { openAISchema } from './structured.js';

/** A per-request answer schema, with its JSON Schema form computed once. */
export interface CachedSchema<T> {
  schema: z.ZodType<T>;
  json: Record<string, unknown>;
}

const cache = new Map<string, CachedSchema<unknown>>();
const MAX_ENTRIES = 512;

/**
 * Answer schemas depend on the request (a classify's labels, an extract's entities) but repeat
 * across a batch's items. Building a zod schema and its JSON Schema per item cost more CPU than the
 * rest of the handler, so they are kept per key (the parameters they depend on), least recently used out.
 */
export function cachedSchema<T>(key: string, build: () => z.ZodType<T>): CachedSchema<T> {
  const hit = cache.get(key);
  if (hit) {
    cache.delete(key);
    cache.set(key, hit);
    return hit as CachedSchema<T>;
  }
  const schema = build();
  const entry: CachedSchema<T> = { schema, json: openAISchema(schema) };
  cache.set(key, entry as CachedSchema<unknown>);
  if (cache.size > MAX_ENTRIES) cache.delete(cache.keys().next().value as string);
  return entry;
}
