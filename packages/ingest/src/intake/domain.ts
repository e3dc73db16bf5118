import type { ValidationIssue } from '@sluice/core';
// The contracts entry point alone: intake workers (chunk-check.ts) run this without the rest of core.
import { DOMAIN_OPERATIONS, DomainBatchLine, domainAsOperation } from '@sluice/core/contracts';
import type { LineVerdict } from './jsonl-intake.js';
import { describeType, issuesFromZod } from './zod-issues.js';

const OPERATIONS = DOMAIN_OPERATIONS.join(', ');

/**
 * One line of a domain batch: `{custom_id, body}` with `body.model` ∈ extract | summarize |
 * classify (the operation it runs) and the fields of that operation's realtime endpoint. The
 * common mistakes get their own messages; the rest come from the zod schemas. A valid line is
 * kept as its operation's `{params, item}` (core's `domainAsOperation`): the processor runs it
 * with the operations API's handler.
 */
export function validateDomainLine(value: unknown, line: number): LineVerdict {
  const issue = (param: string | null, code: string, message: string): ValidationIssue => ({
    line,
    param,
    code,
    message,
  });
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { issues: [issue(null, 'invalid_request', `expected a JSON object, got ${describeType(value)}`)] };
  }
  const record = value as Record<string, unknown>;
  const early: ValidationIssue[] = [];
  if (!('custom_id' in record)) early.push(issue('custom_id', 'missing_required_parameter', 'custom_id is required'));
  if (!('body' in record)) {
    early.push(issue('body', 'missing_required_parameter', 'body is required'));
  } else {
    const body = record.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      early.push(issue('body', 'invalid_type', `body must be an object, got ${describeType(body)}`));
    } else if (Object.keys(body).length === 0) {
      early.push(issue('body', 'empty_body', 'body is empty'));
    } else {
      const model = (body as Record<string, unknown>).model;
      if (model === undefined) {
        early.push(issue('body.model', 'missing_required_parameter', `body.model is required: one of ${OPERATIONS}`));
      } else if (typeof model !== 'string' || !(DOMAIN_OPERATIONS as readonly string[]).includes(model)) {
        early.push(
          issue('body.model', 'unknown_model', `unknown model ${JSON.stringify(model)}; expected one of ${OPERATIONS}`),
        );
      }
    }
  }
  if (early.length > 0) return { issues: early };
  const parsed = DomainBatchLine.safeParse(value);
  if (!parsed.success) return { issues: issuesFromZod(parsed.error, line) };
  const { custom_id, body } = parsed.data;
  const { operation, params, item } = domainAsOperation(body);
  return { item: { custom_id, discriminator: operation, body: { params, item } } };
}
