import {
  DOMAIN_REQUESTS,
  domainAsOperation,
  type DomainOperation,
  type ItemResultMessage,
  REALTIME_ENDPOINTS,
  ValidationError,
} from '@sluice/core';
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { IngestContext } from '../context.js';
import { errorBody } from '../http/errors.js';
import { issuesFromZod } from '../intake/zod-issues.js';

/**
 * The realtime domain endpoints (`POST /extract`, `/summarization/abstractive`, `/classify`, also
 * under `/v1`): the same body as a batch line's `body`, `model` (the operation) optional; the
 * answer is the domain result itself. Each call runs as a one-item batch through the pipeline, as
 * its operation's `{params, item}` (core's `domainAsOperation`, as a batch line is).
 */
export function registerRealtimeRoutes(app: FastifyInstance, context: IngestContext) {
  for (const [operation, path] of Object.entries(REALTIME_ENDPOINTS) as [DomainOperation, string][]) {
    const handler = async (request: { body: unknown; tenant: string }, reply: FastifyReply) => {
      const body = request.body;
      if (typeof body !== 'object' || body === null || Array.isArray(body)) {
        throw new ValidationError([
          { line: null, param: null, code: 'invalid_request', message: 'expected a JSON object' },
        ]);
      }
      const given = (body as Record<string, unknown>).model;
      if (given !== undefined && given !== operation) {
        throw new ValidationError([
          {
            line: null,
            param: 'model',
            code: 'invalid_value',
            message: `this endpoint is for model '${operation}', got ${JSON.stringify(given)}`,
          },
        ]);
      }
      const parsed = DOMAIN_REQUESTS[operation].safeParse({ ...body, model: operation });
      if (!parsed.success) throw new ValidationError(issuesFromZod(parsed.error, null));
      // The domain `model` names the operation; the upstream model is the operation's configured one.
      const unserved = context.catalog.operationRefusal(operation, null, { line: null, param: 'model' });
      if (unserved) throw new ValidationError([unserved]);
      const { params, item } = domainAsOperation(parsed.data);
      const stored = { custom_id: 'realtime', discriminator: operation, body: { params, item } };
      const { results } = await context.sync.run(
        { api: 'domain', tenant: request.tenant, endpoint: path },
        async () => [stored],
      );
      return sendDomainResult(reply, results[0]);
    };
    app.post(path, handler);
    app.post(`/v1${path}`, handler);
  }
}

/** A realtime answer: the domain result (the JSON inside the ChatCompletion), or the item's error. */
function sendDomainResult(reply: FastifyReply, result: ItemResultMessage | undefined): FastifyReply {
  if (!result) return reply.code(500).send(errorBody(500, 'internal_error', 'the request produced no result'));
  if (result.ok) {
    const completion = result.response?.body as { choices?: { message?: { content?: string } }[] } | undefined;
    const content = completion?.choices?.[0]?.message?.content;
    return reply
      .code(200)
      .type('application/json')
      .send(content ?? 'null');
  }
  const error = result.error ?? { code: 'internal_error', message: 'failed' };
  if (error.code === 'invalid_request') return reply.code(400).send(errorBody(400, error.code, error.message));
  const body = errorBody(502, error.code, error.message);
  return reply
    .code(502)
    .send(
      result.response
        ? { ...body, upstream: { status_code: result.response.status_code, body: result.response.body } }
        : body,
    );
}
