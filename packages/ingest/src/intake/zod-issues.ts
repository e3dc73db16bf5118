import type { ValidationIssue } from '@sluice/core';
import type { z } from 'zod';

/**
 * zod's issues as Sluice's validation issues: the field as a dotted path, zod's message. A bad
 * record key (a metadata key over 64 characters) is reported by its own rule's message, which
 * says the limit, not by the record's.
 */
export function issuesFromZod(error: z.ZodError, line: number | null, prefix = ''): ValidationIssue[] {
  return error.issues.map((issue) => {
    const path = [prefix, ...issue.path.map(String)].filter((part) => part !== '').join('.');
    const message = issue.code === 'invalid_key' ? (issue.issues[0]?.message ?? issue.message) : issue.message;
    return {
      line,
      param: path === '' ? null : path,
      code: issue.code === 'unrecognized_keys' ? 'unknown_parameter' : 'invalid_value',
      message,
    };
  });
}

export const describeType = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
