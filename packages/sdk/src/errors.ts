import { isRetriableSluiceApiAnswer, serverDelayMs } from './retry.js';

/**
 * The SDK's error taxonomy. Every error says whether retrying may help (`retriable`); the one
 * retry owner (`HttpClient.request`) decides from that flag alone.
 */
export class SluiceClientError extends Error {
  readonly retriable: boolean;

  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.retriable = options.retriable ?? false;
  }
}

/** Bad client options or an unusable profile: nothing was sent. */
export class ConfigurationError extends SluiceClientError {}

/** The server answered with an error status. One subclass per status family; see {@link errorFromResponse}. */
export class SluiceAPIError extends SluiceClientError {
  /** The error's machine-readable code, e.g. `sync_limit_exceeded`, `unknown_model`. */
  readonly code: string | null;
  /** The error's class as the server names it, e.g. `invalid_request_error`. */
  readonly type: string | null;
  /** The offending field, as a dotted path, when the server names one. */
  readonly param: string | null;
  /** The parsed error body (or its text when it is not JSON). */
  readonly body: unknown;
  readonly requestId: string | null;
  /** The delay the server asked for before a retry (`retry-after-ms` / `retry-after`), in ms. */
  readonly retryAfterMs: number | null;

  constructor(
    readonly status: number,
    message: string,
    details: {
      code: string | null;
      type: string | null;
      param: string | null;
      body: unknown;
      requestId: string | null;
    },
    readonly headers: Headers,
  ) {
    // One rule with the Python SDK (@sluice/core/retry): 408, 429 and 5xx are retried; a 409 is a
    // conflict with the resource's state (a final job cancelled), which a retry would only repeat,
    // except `idempotency_key_in_use`: the first request with this call's key is still running.
    super(message, { retriable: isRetriableSluiceApiAnswer(status, details.code) });
    this.code = details.code;
    this.type = details.type;
    this.param = details.param;
    this.body = details.body;
    this.requestId = details.requestId;
    this.retryAfterMs = serverDelayMs(headers);
  }
}

export class BadRequestError extends SluiceAPIError {}
export class AuthenticationError extends SluiceAPIError {}
export class PermissionDeniedError extends SluiceAPIError {}
export class NotFoundError extends SluiceAPIError {}
export class ConflictError extends SluiceAPIError {}
export class PayloadTooLargeError extends SluiceAPIError {}
export class RateLimitError extends SluiceAPIError {}
export class InternalServerError extends SluiceAPIError {}

/** No HTTP answer: the connection was refused or dropped. Retriable. */
export class APIConnectionError extends SluiceClientError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { retriable: true, cause: options.cause });
  }
}

/** No answer within `timeoutMs`. Retriable, like any lost connection. */
export class APIConnectionTimeoutError extends APIConnectionError {}

/** The client was closed (`close()`, or leaving an `await using` block): calls in flight end with this, new ones fail with it. */
export class ClientClosedError extends SluiceClientError {}

/** A 2xx answer that does not match the contract's schema: the server and the SDK disagree. */
export class ResponseValidationError extends SluiceClientError {}

/** `wait` gave up before the batch reached a terminal status; `last` is what the last poll saw. */
export class WaitTimeoutError<T = unknown> extends SluiceClientError {
  constructor(
    readonly id: string,
    readonly timeoutMs: number,
    readonly last: T,
  ) {
    super(`${id} did not finish within ${timeoutMs} ms`);
  }
}

const ERROR_CLASS_BY_STATUS: Partial<Record<number, typeof SluiceAPIError>> = {
  400: BadRequestError,
  401: AuthenticationError,
  403: PermissionDeniedError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  429: RateLimitError,
};

/** The one place an HTTP status becomes an error class (5xx: {@link InternalServerError}). */
export function errorFromResponse(status: number, body: unknown, headers: Headers): SluiceAPIError {
  const error = errorObjectOf(body);
  const text = typeof body === 'string' && body.trim() !== '' ? `: ${body.trim().slice(0, 200)}` : '';
  const message = stringOrNull(error?.message) ?? `HTTP ${status}${text}`;
  const details = {
    code: stringOrNull(error?.code),
    type: stringOrNull(error?.type),
    param: stringOrNull(error?.param),
    body,
    requestId: headers.get('x-request-id'),
  };
  const ErrorClass = ERROR_CLASS_BY_STATUS[status] ?? (status >= 500 ? InternalServerError : SluiceAPIError);
  return new ErrorClass(status, message, details, headers);
}

/** OpenAI's error shape: `{"error": {"message", "type", "param", "code"}}`. */
function errorObjectOf(body: unknown): Record<string, unknown> | null {
  if (typeof body !== 'object' || body === null) return null;
  const error = (body as { error?: unknown }).error;
  return typeof error === 'object' && error !== null ? (error as Record<string, unknown>) : null;
}

const stringOrNull = (value: unknown): string | null => (typeof value === 'string' ? value : null);
