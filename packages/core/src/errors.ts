import { isRetriableUpstreamStatus, parseRetryAfter } from './retry/index.js';

export interface SluiceErrorOptions {
  retriable?: boolean;
  cause?: unknown;
  /**
   * The HTTP status this error answers with when it reaches an HTTP caller.
   * @defaultValue 500 (an error nobody gave a status is a failure of Sluice's, never the caller's)
   */
  httpStatus?: number;
  /** The request field at fault (`metadata.team`), when there is one. */
  param?: string | null;
}

/**
 * Sluice's error taxonomy. Every error says whether retrying may help (`retriable`) and keeps
 * its `cause`; the one retry loop (`retrying`, in the retry module) decides from that flag unless
 * a site says otherwise. Every error also carries the HTTP status it answers with (`httpStatus`),
 * so the HTTP layer maps errors to answers with one table (`HTTP_ERROR_TYPES`) and no
 * `instanceof` chain that a new class could slip past: openai-node's `APIError.generate`
 * (status → class), done in reverse (class → status).
 */
export class SluiceError extends Error {
  readonly code: string;
  readonly retriable: boolean;
  readonly httpStatus: number;
  readonly param: string | null;

  constructor(code: string, message: string, options: SluiceErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.httpStatus = options.httpStatus ?? 500;
    this.param = options.param ?? null;
  }
}

/**
 * The OpenAI error `type` of each HTTP status Sluice answers with: the one table from an error's
 * status to its response body (`{error: {message, type, param, code}}`). A status not listed is
 * answered as `server_error` (5xx) or `invalid_request_error` (4xx).
 */
export const HTTP_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  405: 'invalid_request_error',
  408: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  414: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  431: 'invalid_request_error',
  500: 'server_error',
  502: 'upstream_error',
  503: 'server_error',
  504: 'timeout_error',
};

export function httpErrorType(status: number): string {
  return HTTP_ERROR_TYPES[status] ?? (status >= 400 && status < 500 ? 'invalid_request_error' : 'server_error');
}

/** The caller's request is wrong in a way one field or the request as a whole names (HTTP 400). */
export class BadRequestError extends SluiceError {
  constructor(code: string, message: string, param: string | null = null, cause?: unknown) {
    super(code, message, { httpStatus: 400, param, cause });
  }
}

/** No API key, or an unknown one (HTTP 401). */
export class AuthenticationError extends SluiceError {
  constructor(message: string) {
    super('invalid_api_key', message, { httpStatus: 401 });
  }
}

/** The request body or a file is over a size limit (HTTP 413); the message says the limit. */
export class PayloadTooLargeError extends SluiceError {
  constructor(limit: number, what = 'request body') {
    super('payload_too_large', `The ${what} is larger than the limit of ${describeBytes(limit)}.`, {
      httpStatus: 413,
    });
  }
}

/** A size for a message: exact bytes, and in KiB or MiB when that reads better (`16777216 bytes (16 MiB)`). */
export function describeBytes(bytes: number): string {
  const round = (value: number) => Math.round(value * 100) / 100;
  if (bytes >= 1024 * 1024) return `${bytes} bytes (${round(bytes / (1024 * 1024))} MiB)`;
  if (bytes >= 1024) return `${bytes} bytes (${round(bytes / 1024)} KiB)`;
  return `${bytes} bytes`;
}

/** The body's Content-Type is not one the route takes (HTTP 415); the message says which it takes. */
export class UnsupportedMediaTypeError extends SluiceError {
  constructor(received: string, expected: string) {
    super('unsupported_media_type', `Unsupported Content-Type '${received}'. ${expected}`, { httpStatus: 415 });
  }
}

/**
 * A synchronous call outlived SLUICE_SYNC_TIMEOUT_MS (HTTP 504). The work goes on as a batch the
 * caller can poll and read: `batchId` is in the answer's `param`-free `batch_id` field.
 */
export class SyncTimeoutError extends SluiceError {
  constructor(
    readonly batchId: string,
    readonly pollPath: string,
  ) {
    super('sync_timeout', `The request did not finish in time; it continues as ${batchId}: poll GET ${pollPath}.`, {
      httpStatus: 504,
    });
  }
}

/** A configuration value is missing or malformed; the message names the variable. */
export class ConfigError extends SluiceError {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super('invalid_config', `${variable}: ${reason}`, { param: variable });
  }
}

/** Where a consumed message came from. */
export interface MessageCoordinates {
  topic: string;
  partition: number;
  offset: string;
}

/**
 * A message could not be decoded (not JSON, unknown schema id, wrong wire format) or does not
 * satisfy its topic's schema. Consumers send such messages to the dead-letter topic and move on.
 */
export class MessageDecodeError extends SluiceError implements MessageCoordinates {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly reason: string;

  constructor(at: MessageCoordinates, reason: string, cause?: unknown) {
    super('message_decode_failed', `${at.topic}[${at.partition}]@${at.offset}: ${reason}`, { cause });
    this.topic = at.topic;
    this.partition = at.partition;
    this.offset = at.offset;
    this.reason = reason;
  }
}

/** One problem with one input line or field. `line` is 1-based; null for request-level problems. */
export interface ValidationIssue {
  line: number | null;
  /** The offending field as a dotted path (`body.labels`), or null when the line as a whole is bad. */
  param: string | null;
  code: string;
  message: string;
}

/** A submitted request is invalid; nothing from it was forwarded. */
export class ValidationError extends SluiceError {
  constructor(
    readonly issues: ValidationIssue[],
    readonly truncated = false,
    summary?: string,
  ) {
    super('invalid_request', summary ?? describeIssues(issues, truncated), {
      httpStatus: 400,
      param: issues[0]?.param ?? null,
    });
  }
}

export function describeIssues(issues: ValidationIssue[], truncated: boolean): string {
  const shown = issues.slice(0, 5).map(formatIssue).join('; ');
  const more = issues.length > 5 || truncated ? ` (and more: ${issues.length}${truncated ? '+' : ''} problems)` : '';
  return `${shown}${more}`;
}

export function formatIssue(issue: ValidationIssue): string {
  const where = [issue.line === null ? null : `line ${issue.line}`, issue.param].filter(Boolean).join(', ');
  return where ? `${where}: ${issue.message}` : issue.message;
}

/** A resource does not exist, or belongs to another tenant (indistinguishable on purpose). */
export class NotFoundError extends SluiceError {
  constructor(what: string, id: string, message = `No ${what} found with id '${id}'.`) {
    super('not_found', message, { httpStatus: 404 });
  }
}

/** The request conflicts with the resource's state, e.g. cancelling a completed batch. */
export class ConflictError extends SluiceError {
  constructor(message: string) {
    super('conflict', message, { httpStatus: 409 });
  }
}

/**
 * An `Idempotency-Key` that cannot be honoured (HTTP 409): `idempotency_key_reused` when it came
 * first with another request (method, path, query or body), `idempotency_key_in_use` while its
 * first request is still running (retriable: try again shortly).
 */
export class IdempotencyConflictError extends SluiceError {
  constructor(code: 'idempotency_key_reused' | 'idempotency_key_in_use', message: string) {
    super(code, message, { httpStatus: 409, param: 'Idempotency-Key', retriable: code === 'idempotency_key_in_use' });
  }
}

/** An error answer (or no answer) from the upstream LLM. */
export class UpstreamError extends SluiceError {
  constructor(
    code: string,
    message: string,
    readonly status: number | null,
    readonly body: unknown,
    options: { retriable: boolean; retryAfterMs?: number | null; requestId?: string | null; cause?: unknown },
  ) {
    super(code, message, { ...options, httpStatus: 502 });
    this.retryAfterMs = options.retryAfterMs ?? null;
    this.requestId = options.requestId ?? null;
  }
  readonly retryAfterMs: number | null;
  readonly requestId: string | null;
}

/**
 * The one place an upstream HTTP status becomes an error. `retryAfterMs` comes from the
 * `retry-after-ms` header, else `retry-after` (seconds or an HTTP date).
 */
export function upstreamErrorFromResponse(
  status: number,
  body: unknown,
  headers: { get(name: string): string | null } | undefined,
  requestId: string | null = null,
): UpstreamError {
  const retryAfterMs = headers ? parseRetryAfter(headers) : null;
  const message = errorMessageOf(body) ?? `upstream answered HTTP ${status}`;
  const code =
    status === 429
      ? 'rate_limit_exceeded'
      : status >= 500
        ? 'upstream_server_error'
        : status === 408
          ? 'upstream_timeout'
          : status === 401 || status === 403
            ? 'upstream_unauthorized'
            : 'upstream_bad_request';
  return new UpstreamError(code, message, status, body, {
    retriable: isRetriableUpstreamStatus(status),
    retryAfterMs,
    requestId,
  });
}

function errorMessageOf(body: unknown): string | null {
  if (body && typeof body === 'object') {
    const error = (body as { error?: unknown }).error;
    if (error && typeof error === 'object' && typeof (error as { message?: unknown }).message === 'string') {
      return (error as { message: string }).message;
    }
    if (typeof (body as { message?: unknown }).message === 'string') return (body as { message: string }).message;
  }
  if (typeof body === 'string' && body.length > 0) return body.slice(0, 500);
  return null;
}
