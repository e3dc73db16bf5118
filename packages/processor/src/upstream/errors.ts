import { SluiceError, UpstreamError, upstreamErrorFromResponse } from '@sluice/core';
import OpenAI from 'openai';

/**
 * The model answered, but not with JSON that fits the requested schema. Not a transient fault: the
 * structured-output caller gives it one repair round, then fails the item with this error.
 */
export class InvalidModelOutputError extends SluiceError {
  constructor(
    message: string,
    readonly content: string | null,
  ) {
    super('invalid_model_output', message, { retriable: false });
  }
}

/** The item's batch was cancelled or expired while it waited; it is not sent (again). */
export class ItemAbandonedError extends SluiceError {
  constructor(code: 'batch_cancelled' | 'batch_expired', message: string) {
    super(code, message, { retriable: false });
  }
}

/**
 * Maps whatever the `openai` SDK threw to Sluice's taxonomy. HTTP answers go through core's one
 * status → error function; no answer at all (timeout, refused connection) is retriable.
 */
export function toSluiceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  if (error instanceof OpenAI.APIConnectionTimeoutError) {
    return new UpstreamError('upstream_timeout', 'the upstream did not answer in time', null, null, {
      retriable: true,
      cause: error,
    });
  }
  if (error instanceof OpenAI.APIConnectionError) {
    return new UpstreamError('upstream_unreachable', `could not reach the upstream: ${error.message}`, null, null, {
      retriable: true,
      cause: error,
    });
  }
  if (error instanceof OpenAI.APIError && typeof error.status === 'number') {
    const body = error.error === undefined ? null : { error: error.error };
    return upstreamErrorFromResponse(error.status, body, error.headers ?? undefined, error.requestID ?? null);
  }
  if (error instanceof SyntaxError) {
    // The upstream's HTTP body was not JSON: a broken answer, worth another try.
    return new UpstreamError(
      'upstream_malformed_response',
      `the upstream's answer was not JSON: ${error.message}`,
      null,
      null,
      {
        retriable: true,
        cause: error,
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError('internal_error', message, { retriable: false, cause: error });
}
