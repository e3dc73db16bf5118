import { ValidationError } from '@sluice/core';
import type { FastifyRequest } from 'fastify';

/** `?dry_run=true` (or `1`): validate and estimate, create nothing. Any other value than true/false/1/0 is a 400. */
export function isDryRun(request: FastifyRequest): boolean {
  const value = (request.query as Record<string, unknown> | undefined)?.dry_run;
  if (value === undefined) return false;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new ValidationError([
    {
      line: null,
      param: 'dry_run',
      code: 'invalid_value',
      message: `dry_run must be true or false; got ${JSON.stringify(value)}`,
    },
  ]);
}
