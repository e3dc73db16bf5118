import { SluiceError } from '@sluice/core';

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
 * Maps whatever an upstream call threw to Sluice's taxonomy: the HTTP client (UpstreamHttp) throws
 * UpstreamErrors already; anything else is an internal error.
 */
export function toSluiceError(error: unknown): SluiceError {
  if (error instanceof SluiceError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new SluiceError('internal_error', message, { retriable: false, cause: error });
}
