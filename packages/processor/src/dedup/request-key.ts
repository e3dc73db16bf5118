import { createHash } from 'node:crypto';
import type { ApiKind, DedupSetting } from '@sluice/core';

/**
 * The identity of an upstream request: SHA-256 of the endpoint and the exact body Sluice sends
 * (after structured-output negotiation), as JSON with object keys sorted, so two bodies that differ
 * only in key order are one request. The tenant is not in the hash: it is a separate part of the
 * cache key, so two tenants never share an answer.
 */
export function requestHash(endpoint: string, body: unknown): string {
  return createHash('sha256').update(endpoint).update('\n').update(canonicalJson(body)).digest('hex');
}

/** JSON with object keys sorted at every depth; `undefined` members are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((each) => canonicalJson(each ?? null)).join(',')}]`;
  const members = Object.keys(value)
    .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
    .sort()
    .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
  return `{${members.join(',')}}`;
}

/**
 * Whether a request is deduplicated: `dedup: true` always, `false` never; unset, the domain and
 * operations APIs are (unless the body samples with a temperature above 0, whose answers are
 * meant to differ) and OpenAI batches are not (their users did not ask for it).
 */
export function shouldDedup(setting: DedupSetting, api: ApiKind, body: { temperature?: unknown }): boolean {
  if (setting !== null) return setting;
  if (api === 'openai') return false;
  return !(typeof body.temperature === 'number' && body.temperature > 0);
}
