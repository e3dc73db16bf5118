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
 * Whether a request is deduplicated. A request that samples (`temperature` above 0) is meant to get
 * a different answer each time: only `"all"` shares its answer. Otherwise `true` does, `false` does
 * not, and unset follows the API: the domain and operations APIs do, OpenAI batches (whose users did
 * not ask for it) do not.
 */
export function shouldDedup(setting: DedupSetting, api: ApiKind, body: { temperature?: unknown }): boolean {
  if (setting === 'all') return true;
  const samples = typeof body.temperature === 'number' && body.temperature > 0;
  if (samples || setting === false) return false;
  return setting === true || api !== 'openai';
}
