import {
  ConflictError,
  describeIssues,
  NotFoundError,
  SluiceError,
  ValidationError,
  type ValidationIssue,
} from '@sluice/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { PayloadTooLargeError } from '../intake/jsonl-intake.js';

/** OpenAI's error body: `{error: {message, type, param, code}}`, plus Sluice's per-line `details`. */
export interface ErrorBody {
  error: {
    message: string;
    type: string;
    param: string | null;
    code: string | null;
    details?: ValidationIssue[];
    truncated?: boolean;
  };
}

const TYPE_BY_STATUS: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'invalid_request_error',
  408: 'invalid_request_error',
  409: 'invalid_request_error',
  413: 'invalid_request_error',
  415: 'invalid_request_error',
  429: 'rate_limit_error',
  502: 'upstream_error',
  503: 'server_error',
  504: 'timeout_error',
};

export function errorBody(
  status: number,
  code: string | null,
  message: string,
  param: string | null = null,
): ErrorBody {
  return { error: { message, type: TYPE_BY_STATUS[status] ?? 'server_error', param, code } };
}

/** A 415 that says which content types the route takes. */
export function unsupportedMediaType(reply: FastifyReply, received: string, expected: string): FastifyReply {
  return reply
    .code(415)
    .send(errorBody(415, 'unsupported_media_type', `Unsupported Content-Type '${received}'. ${expected}`));
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

/** Maps every error a route can throw to a status and an OpenAI-shaped body. */
export function handleError(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (error instanceof ValidationError) return reply.code(400).send(validationErrorBody(error.issues, error.truncated));
  if (error instanceof NotFoundError) return reply.code(404).send(errorBody(404, error.code, error.message));
  if (error instanceof ConflictError) return reply.code(409).send(errorBody(409, error.code, error.message));
  if (error instanceof PayloadTooLargeError) {
    // The rest of the body is not read: close the connection rather than drain it.
    return reply
      .code(413)
      .header('connection', 'close')
      .send(errorBody(413, error.code, error.message));
  }
  const fastifyCode = (error as FastifyError).code;
  const statusCode = (error as FastifyError).statusCode;
  if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return reply
      .code(413)
      .send(errorBody(413, 'payload_too_large', `The request body is too large: ${error.message}.`));
  }
  if (fastifyCode === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
    return unsupportedMediaType(
      reply,
      request.headers['content-type'] ?? '',
      'Use application/json, application/jsonl or multipart/form-data as the route documents.',
    );
  }
  if (fastifyCode === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return reply.code(400).send(errorBody(400, 'empty_body', 'The request body is empty.'));
  }
  const bodyCode = (error as { bodyCode?: string }).bodyCode;
  if (bodyCode) return reply.code(400).send(errorBody(400, bodyCode, error.message));
  if (statusCode === 400 || fastifyCode?.startsWith('FST_ERR_CTP')) {
    return reply.code(400).send(errorBody(400, 'invalid_json', `The request body is not valid JSON: ${error.message}`));
  }
  if (error instanceof SluiceError && error.code === 'unauthorized') {
    return reply.code(401).send(errorBody(401, 'invalid_api_key', error.message));
  }
  if (statusCode && statusCode >= 400 && statusCode < 500) {
    return reply.code(statusCode).send(errorBody(statusCode, fastifyCode ?? null, error.message));
  }
  request.log.error({ err: error }, 'request failed');
  return reply.code(500).send(errorBody(500, 'internal_error', 'The server failed to handle the request.'));
}
