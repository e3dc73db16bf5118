import { isRetriableStatus, parseRetryAfter } from './retry/index.js';

/**
 * Sluice's error taxonomy. Every error says whether retrying may help (`retriable`) and keeps
 * its `cause`; the one retry owner in the processor decides from that flag alone.
 */
export class SluiceError extends Error {
  readonly code: string;
  readonly retriable: boolean;

  constructor(code: string, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retriable = options.retriable ?? false;
  }
}

/** A configuration value is missing or malformed; the message names the variable. */
export class ConfigError extends SluiceError {
  constructor(
    readonly variable: string,
    reason: string,
  ) {
    super('invalid_config', `${variable}: ${reason}`);
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
    super('invalid_request', summary ?? describeIssues(issues, truncated));
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
    super('not_found', message);
  }
}

/** The request conflicts with the resource's state, e.g. cancelling a completed batch. */
export class ConflictError extends SluiceError {
  constructor(message: string) {
    super('conflict', message);
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
    super(code, message, options);
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
    retriable: isRetriableStatus(status),
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
