import { atMostCharacters, type JobTier, TEXT_LIMITS, type ValidationIssue } from '@sluice/core';
import type { LineValidator } from './jsonl-intake.js';
import type { ModelCatalog } from './model-catalog.js';
import { describeType } from './zod-issues.js';

/**
 * One line of an OpenAI batch input file: `{custom_id, method: "POST", url, body}`, with `url` equal
 * to the batch's endpoint and `body.model` set. Bodies are passed to the upstream as they are, so
 * only what OpenAI's own validation checks is checked here, with OpenAI's error codes. All lines
 * must name the same model, as OpenAI requires; `models.first` records the first line's, and the
 * first line alone is refused (`model_not_found`, like OpenAI's) when no upstream serves it, and
 * (`tier_unavailable`) when none of its upstreams offers the batch's tier.
 */
export function openAILineValidator(
  endpoint: string,
  models: { first: string | null; line: number },
  catalog: ModelCatalog,
  /** The batch's tier: the first line's model must be served on it (checked with the model). @defaultValue `'auto'` */
  tier: JobTier = 'auto',
): LineValidator {
  return (value, line) => {
    const issues: ValidationIssue[] = [];
    const issue = (param: string | null, code: string, message: string) => issues.push({ line, param, code, message });
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      issue(null, 'invalid_request', `expected a JSON object, got ${describeType(value)}`);
      return { issues };
    }
    const { custom_id, method, url, body } = value as Record<string, unknown>;
    if (custom_id === undefined) issue('custom_id', 'missing_required_parameter', 'custom_id is required');
    else if (typeof custom_id !== 'string' || custom_id.length === 0)
      issue('custom_id', 'invalid_value', 'custom_id must be a non-empty string');
    else if (custom_id.length > 512) issue('custom_id', 'invalid_value', 'custom_id must be at most 512 characters');
    if (method === undefined) issue('method', 'missing_required_parameter', 'method is required: "POST"');
    else if (method !== 'POST')
      issue('method', 'invalid_method', `method must be "POST", got ${JSON.stringify(method)}`);
    if (url === undefined) issue('url', 'missing_required_parameter', `url is required: "${endpoint}"`);
    else if (url !== endpoint)
      issue('url', 'invalid_url', `url ${JSON.stringify(url)} does not match the batch's endpoint "${endpoint}"`);
    if (body === undefined) {
      issue('body', 'missing_required_parameter', 'body is required');
    } else if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      issue('body', 'invalid_value', `body must be an object, got ${describeType(body)}`);
    } else {
      const request = body as Record<string, unknown>;
      if (request.model === undefined) issue('body.model', 'missing_required_parameter', 'body.model is required');
      else if (typeof request.model !== 'string' || request.model.length === 0)
        issue('body.model', 'invalid_value', 'body.model must be a string');
      else if (request.model.length > TEXT_LIMITS.model)
        issue('body.model', 'invalid_value', `body.model ${atMostCharacters(TEXT_LIMITS.model)}`);
      else if (models.first === null) {
        models.first = request.model;
        models.line = line;
        const unserved =
          catalog.refusal(request.model, { line, param: 'body.model' }) ??
          catalog.tierRefusal(request.model, tier, { line, param: 'tier' });
        if (unserved) issues.push(unserved);
      } else if (request.model !== models.first) {
        issue(
          'body.model',
          'mismatched_model',
          `every request of a batch must use the same model: this line uses "${request.model}", line ${models.line} "${models.first}"`,
        );
      }
      if (request.stream === true)
        issue('body.stream', 'streaming_unsupported', 'streaming is not supported in batches');
    }
    if (issues.length > 0) return { issues };
    return { item: { custom_id: custom_id as string, discriminator: endpoint, body: body as Record<string, unknown> } };
  };
}
