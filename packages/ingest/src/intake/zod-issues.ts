import type { ValidationIssue } from '@sluice/core';
import type { z } from 'zod';

/** zod's issues as Sluice's validation issues: the field as a dotted path, zod's message. */
export function issuesFromZod(error: z.ZodError, line: number | null, prefix = ''): ValidationIssue[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
    return {
      line,
      param: path === '' ? null : path,
      code: issue.code === 'unrecognized_keys' ? 'unknown_parameter' : 'invalid_value',
      message: issue.message,
    };
  });
}

export const describeType = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
