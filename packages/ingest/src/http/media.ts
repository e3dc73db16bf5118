import type { FastifyRequest } from 'fastify';

/** The request's media type, lower-cased, without parameters (`application/json; charset=utf-8` → `application/json`). */
export function mediaType(request: FastifyRequest): string {
  return (request.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}
