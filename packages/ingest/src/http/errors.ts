import {
  describeBytes,
  describeIssues,
  httpErrorType,
  IdempotencyConflictError,
  SluiceError,
  SyncTimeoutError,
  UnsupportedMediaTypeError,
  ValidationError,
  type ValidationIssue,
} from '@sluice/core';
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

/** OpenAI's error body: `{error: {message, type, param, code}}`, plus Sluice's per-line `details`. */
export interface ErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    details?: ValidationIssue[];
    truncated?: boolean;
    /** A synchronous call that timed out: the batch it goes on as (poll it). */
    batch_id?: string;
  };
}

export function errorBody(
  status: number,
  code: string | null,
  message: string,
  param: string | null = null,
): ErrorBody {
  return { error: { message, type: httpErrorType(status), param, code } };
}

/** The 400 for an input with bad lines: every problem with its line and field, up to the cap. */
export function validationErrorBody(issues: ValidationIssue[], truncated: boolean): ErrorBody {
  const first = issues[0];
  const body = errorBody(
    400,
    first?.code ?? 'invalid_request',
    describeIssues(issues, truncated),
    first?.param ?? null,
  );
  body.error.details = issues;
  body.error.truncated = truncated;
  return body;
}

/**
 * The most a JSON body may be (Fastify's `bodyLimit`). JSONL bodies and uploads are streamed and
 * bounded by their own limits (SLUICE_MAX_BODY_BYTES, SLUICE_MAX_FILE_BYTES).
 */
export const JSON_BODY_LIMIT_BYTES = 16 * 1024 * 1024;

/**
 * Fastify's and its plugins' own errors (the ones raised before a route runs), each mapped once to
 * Sluice's status, code and wording. Their `statusCode` alone would give the right status but not
 * an OpenAI-shaped body naming what is wrong.
 */
const FRAMEWORK_ERRORS: Readonly<Record<string, { status: number; code: string; message: (error: Error) => string }>> =
  {
    FST_ERR_CTP_BODY_TOO_LARGE: {
      status: 413,
      code: 'payload_too_large',
      message: () =>
        `The JSON request body is larger than the limit of ${describeBytes(JSON_BODY_LIMIT_BYTES)}. Send many items as a JSONL body (Content-Type: application/jsonl) or upload them as a file.`,
    },
    FST_ERR_CTP_INVALID_MEDIA_TYPE: {
      status: 415,
      code: 'unsupported_media_type',
      message: () =>
        'Unsupported Content-Type. Use application/json, application/jsonl or multipart/form-data as the route documents.',
    },
    FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
      status: 400,
      code: 'invalid_content_length',
      message: () => 'The Content-Length header does not match the body.',
    },
    FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'empty_body', message: () => 'The request body is empty.' },
    FST_ERR_CTP_INVALID_JSON_BODY: {
      status: 400,
      code: 'invalid_json',
      message: (e) => `The request body is not valid JSON: ${e.message}`,
    },
    FST_ERR_CTP_INVALID_TYPE: {
      status: 415,
      code: 'unsupported_media_type',
      message: () => 'The Content-Type header is malformed.',
    },
    FST_ERR_BAD_URL: {
      status: 400,
      code: 'invalid_url',
      message: () => 'The request URL is malformed (bad percent-encoding).',
    },
    FST_ERR_MAX_PARAM_LENGTH: {
      status: 414,
      code: 'url_too_long',
      message: () => 'A path parameter of the request URL is too long.',
    },
    FST_ERR_ASYNC_CONSTRAINT: { status: 400, code: 'invalid_request', message: (e) => e.message },
    FST_INVALID_MULTIPART_CONTENT_TYPE: {
      status: 415,
      code: 'unsupported_media_type',
      message: () => 'The request is not multipart/form-data.',
    },
    FST_PARTS_LIMIT: {
      status: 413,
      code: 'too_many_parts',
      message: (e) => `The upload has too many parts: ${e.message}`,
    },
    FST_FILES_LIMIT: {
      status: 413,
      code: 'too_many_files',
      message: (e) => `The upload has too many files: ${e.message}`,
    },
    FST_FIELDS_LIMIT: {
      status: 413,
      code: 'too_many_fields',
      message: (e) => `The upload has too many fields: ${e.message}`,
    },
    FST_REQ_FILE_TOO_LARGE: { status: 413, code: 'payload_too_large', message: (e) => e.message },
    FST_PROTO_VIOLATION: { status: 400, code: 'invalid_multipart', message: (e) => e.message },
    FST_ERR_CTP_BODY_TIMEOUT: { status: 408, code: 'request_timeout', message: (e) => e.message },
  };

/**
 * Errors of the machine, not of the request: a store whose disk is full answers 507 naming that,
 * so a client (or an operator reading the log) knows the request was fine and may be tried again
 * once space is freed. Looked up along the error's `cause` chain (the store may wrap them).
 */
const SYSTEM_ERRORS: Readonly<Record<string, { status: number; code: string; message: string }>> = {
  ENOSPC: {
    status: 507,
    code: 'insufficient_storage',
    message: "The server's storage is full: nothing of this request was kept. Try again once space is freed.",
  },
  EDQUOT: {
    status: 507,
    code: 'insufficient_storage',
    message: "The server's storage quota is used up: nothing of this request was kept. Try again later.",
  },
};

function systemError(error: unknown): (typeof SYSTEM_ERRORS)[string] | undefined {
  for (let current = error, depth = 0; current && depth < 8; depth++) {
    const code = (current as NodeJS.ErrnoException).code;
    if (typeof code === 'string' && SYSTEM_ERRORS[code]) return SYSTEM_ERRORS[code];
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export interface ErrorResponse {
  status: number;
  body: ErrorBody;
  /** The rest of the body will not be read: close the connection rather than drain it. */
  close: boolean;
}

/**
 * The one mapping from an error to an HTTP answer. Sluice's errors carry their status (`httpStatus`)
 * and field (`param`); framework errors go through `FRAMEWORK_ERRORS`; anything else is a 500 whose
 * message says nothing about internals. 11a and others add error classes by giving them a status,
 * never by adding a branch here.
 */
export function errorResponse(error: unknown): ErrorResponse {
  if (error instanceof ValidationError) {
    return { status: 400, body: validationErrorBody(error.issues, error.truncated), close: false };
  }
  // A full disk is named whatever wrapped it (a store error, a 500 SluiceError).
  const system = systemError(error);
  if (system)
    return { status: system.status, body: errorBody(system.status, system.code, system.message), close: true };
  if (error instanceof SluiceError) {
    const status = error.httpStatus;
    const message = status === 500 ? 'The server failed to handle the request.' : error.message;
    const body = errorBody(status, status === 500 ? 'internal_error' : error.code, message, error.param);
    if (error instanceof SyncTimeoutError) body.error.batch_id = error.batchId;
    return { status, body, close: status === 413 };
  }
  const framework = (error as FastifyError | undefined)?.code;
  const known = framework ? FRAMEWORK_ERRORS[framework] : undefined;
  if (known) {
    return {
      status: known.status,
      body: errorBody(known.status, known.code, known.message(error as Error)),
      close: known.status === 413,
    };
  }
  const statusCode = (error as FastifyError | undefined)?.statusCode;
  if (statusCode && statusCode >= 400 && statusCode < 500) {
    const message = (error as Error).message || STATUS_CODES[statusCode] || 'Bad request';
    return {
      status: statusCode,
      body: errorBody(statusCode, framework?.toLowerCase() ?? 'invalid_request', message),
      close: false,
    };
  }
  return {
    status: 500,
    body: errorBody(500, 'internal_error', 'The server failed to handle the request.'),
    close: false,
  };
}

/** Fastify's error handler (and `frameworkErrors`): every error a route or the framework raises. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  const response = errorResponse(error);
  if (response.status >= 500 && response.status !== 502 && response.status !== 504) {
    request.log.error({ err: error }, 'request failed');
  }
  if (response.close) reply.header('connection', 'close');
  // The first request with this key is still running: its answer is usually a moment away.
  if (error instanceof IdempotencyConflictError && error.retriable) reply.header('retry-after', '1');
  return reply.code(response.status).send(response.body);
}

/** A 415 that says which content types the route takes. */
export function unsupportedMediaType(received: string, expected: string): UnsupportedMediaTypeError {
  return new UnsupportedMediaTypeError(received, expected);
}

/**
 * Errors Node's HTTP parser raises before any request exists (a header or URL over the size limit,
 * a malformed request line): answered on the raw socket, in the same OpenAI shape.
 */
export function handleClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [
          431,
          'headers_too_large',
          'The request line or headers are larger than the server takes (the URL counts: keep it under 16 KiB).',
        ]
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'The request was not received in time.']
        : [400, 'malformed_request', `The HTTP request is malformed (${error.code ?? 'parse error'}).`];
  if (socket.writable) {
    const body = JSON.stringify(errorBody(status, code, message));
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
