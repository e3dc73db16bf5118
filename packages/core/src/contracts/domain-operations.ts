import type { z } from 'zod';
import type {
  ClassifyResult,
  DomainOperation,
  DomainRequest,
  EntitySpec,
  ExtractResult,
  SummarizeResult,
} from './domain.js';
import type { ClassifyParams, ExtractItemParamsInput, SummarizeItemParamsInput } from './operations.js';

/**
 * The domain Batch API runs the operations API's jobs, and this is the one mapping between the two:
 * `domainAsOperation` reads a domain line's body as its operation's `params` and `item`, and
 * `domainResultOf` reads the operation's result back as the domain result.
 *
 * Ingest applies it at intake, so a domain request message carries `{params, item}` as an
 * operations message does; the processor applies it to a domain body that an outside producer
 * wrote to the requests topic (docs/topics.md). Either way one handler per operation serves both
 * APIs, and only the presentation of its answer differs (the domain API's is a ChatCompletion).
 */

/** A domain line as its operation's message body. */
export type DomainAsOperation =
  | { operation: 'classify'; params: z.input<typeof ClassifyParams>; item: { content: string } }
  | { operation: 'extract'; params: ExtractItemParamsInput; item: { content: string } }
  | { operation: 'summarize'; params: SummarizeItemParamsInput; item: { content: string } };

/** What every domain extract asks besides the line's own `instruction`: the values as the text has them, so they can be located. */
const EXTRACT_VALUES_AS_WRITTEN =
  'For each field, list every value that occurs in the content, copied exactly as written.';

/** What every domain summary is, before the line's own `instructions`. */
const ABSTRACTIVE = 'Write an abstractive summary.';

export function domainAsOperation(request: DomainRequest): DomainAsOperation {
  const item = { content: request.text };
  switch (request.model) {
    case 'classify':
      return {
        operation: 'classify',
        params: {
          categories: request.labels,
          ...(request.system_prompt !== undefined ? { system_prompt: request.system_prompt } : {}),
        },
        item,
      };
    case 'extract':
      return {
        operation: 'extract',
        params: {
          extraction_instructions: joinSentences(EXTRACT_VALUES_AS_WRITTEN, request.instruction),
          fields: extractFieldsOf(request.entities),
        },
        item,
      };
    case 'summarize':
      return {
        operation: 'summarize',
        params: {
          summary_instructions: joinSentences(ABSTRACTIVE, request.instructions),
          ...(request.max_tokens !== undefined ? { max_tokens: request.max_tokens } : {}),
        },
        item,
      };
  }
}

const joinSentences = (...parts: (string | undefined)[]) => parts.filter(Boolean).join(' ');

/**
 * Each entity as a list field: a name given twice is one field (where it first appears), described
 * by the first description given.
 */
function extractFieldsOf(entities: EntitySpec[]) {
  const fields = new Map<string, { name: string; type: 'list'; description?: string }>();
  for (const entity of entities) {
    const name = typeof entity === 'string' ? entity : entity.name;
    const description = typeof entity === 'string' ? undefined : entity.description || undefined;
    const field = fields.get(name);
    if (!field) fields.set(name, { name, type: 'list', ...(description ? { description } : {}) });
    else if (description && !field.description) field.description = description;
  }
  return [...fields.values()];
}

/** The domain result of an operation's result, for the message body the operation ran on. */
export function domainResultOf(
  operation: DomainOperation,
  body: { params: unknown; item: { content: string } },
  result: unknown,
): ClassifyResult | ExtractResult | SummarizeResult {
  switch (operation) {
    case 'classify': {
      // Only the domain's keys: a classify operation may also answer `labels` (multi_label).
      const { label, confidence, scores } = result as ClassifyResult;
      return { label, confidence, scores };
    }
    case 'summarize':
      return { summary: (result as SummarizeResult).summary };
    case 'extract': {
      const values = result as Record<string, unknown>;
      const { fields } = body.params as { fields?: readonly { name: string }[] };
      return {
        entities: (fields ?? []).map(({ name }) => ({
          name,
          mentions: locate(body.item.content, valuesOf(values[name])),
        })),
      };
    }
  }
}

/** A list field's values; a field not found is null, and is no value. */
function valuesOf(value: unknown): string[] {
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
  return typeof value === 'string' ? [value] : [];
}

/**
 * Finds each value in the text (exactly, else ignoring case). Repeated values map to successive
 * occurrences. Spans are computed here, not trusted from the model.
 */
export function locate(text: string, values: string[]): ExtractResult['entities'][number]['mentions'] {
  const lower = text.toLowerCase();
  const nextFrom = new Map<string, number>();
  return values.map((value) => {
    const from = nextFrom.get(value) ?? 0;
    let start = value.length > 0 ? text.indexOf(value, from) : -1;
    if (start === -1 && value.length > 0) start = lower.indexOf(value.toLowerCase(), from);
    if (start === -1) return { value, start: null, end: null };
    nextFrom.set(value, start + value.length);
    return { value, start, end: start + value.length };
  });
}
