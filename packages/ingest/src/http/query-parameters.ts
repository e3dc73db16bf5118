import { ValidationError } from '@sluice/core';
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * The query parameters this route takes; any other is refused with a 400 naming it.
     * `'any'`: the route reads none and ignores whatever is there (the dashboard's public files).
     * @defaultValue none
     */
    queryParameters?: readonly string[] | 'any';
  }
}

/** `?dry_run=true`: validate and estimate, create nothing (`isDryRun`). */
export const DRY_RUN = 'dry_run';

/**
 * Route options of a route that takes these query parameters and no others: names, or the zod
 * schemas the route parses its query with (their keys are the names).
 */
export function takesQuery(...accepted: (string | z.ZodObject)[]): { config: { queryParameters: string[] } } {
  const names = accepted.flatMap((each) => (typeof each === 'string' ? [each] : Object.keys(each.shape)));
  return { config: { queryParameters: names } };
}

/**
 * Refuses a query parameter the route does not take, as unknown body fields are refused: a
 * parameter silently ignored is a request that does something else than its caller meant (a
 * retry's `?dry_run=true` once ran a real retry). One check for every route, from the names each
 * route declares with `takesQuery`; an unknown route stays a 404.
 */
export function refuseUnknownQueryParameters(request: FastifyRequest): void {
  if (request.is404) return;
  const accepted = request.routeOptions.config.queryParameters ?? [];
  if (accepted === 'any') return;
  const query = (request.query ?? {}) as Record<string, unknown>;
  const unknown = Object.keys(query).filter((name) => !accepted.includes(name));
  if (unknown.length === 0) return;
  const route = `${request.method} ${request.routeOptions.url ?? ''}`;
  const takes = accepted.length > 0 ? `it takes ${accepted.join(', ')}` : 'it takes no query parameters';
  throw new ValidationError(
    unknown.map((name) => ({
      line: null,
      param: name,
      code: 'unknown_parameter',
      message: `unknown query parameter '${name}': ${route} does not take it (${takes})`,
    })),
  );
}
