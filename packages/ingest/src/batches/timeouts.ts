import { RequestTimeoutSeconds, ValidationError } from '@sluice/core';
import type { UpstreamFacts } from '../estimate/dry-run.js';

/**
 * A batch's `request_timeout_seconds`, checked against the server's own upstream timeout
 * (SLUICE_UPSTREAM_TIMEOUT_MS), its upper bound: a batch may ask for less, never more.
 */
export function requestTimeoutSeconds(upstream: UpstreamFacts, value: unknown): number | null {
  if (value === undefined || value === null) return null;
  const parsed = RequestTimeoutSeconds.safeParse(typeof value === 'string' && value !== '' ? Number(value) : value);
  const bound = upstream.timeoutMs / 1000;
  const issue = (message: string) =>
    new ValidationError([{ line: null, param: 'request_timeout_seconds', code: 'invalid_value', message }]);
  if (!parsed.success) throw issue(parsed.error.issues[0]?.message ?? 'request_timeout_seconds is not valid');
  if (parsed.data > bound) {
    throw issue(
      `request_timeout_seconds is ${parsed.data}; this server's upstream timeout (SLUICE_UPSTREAM_TIMEOUT_MS) caps it at ${bound}`,
    );
  }
  return parsed.data;
}
