import {
  jsonSchemaProblem,
  OperationItem,
  templateFields,
  templateValue,
  type OperationName,
  type ClassifyParams,
  type EnrichParams,
  type ExtractParams,
  type RunParams,
  type SummarizeParams,
  type ValidationIssue,
} from '@sluice/core';
import type { IngestContext } from '../context.js';
import { intake, type IntakeEntry, type IntakeLimits, type LineValidator, type StoredItem } from './jsonl-intake.js';
import { issuesFromZod } from './zod-issues.js';

/** The parameters of an operation, parsed by its schema. */
export type OperationParams = ClassifyParams | ExtractParams | SummarizeParams | EnrichParams | RunParams;

/**
 * What the operation's parameters schema cannot say: a `run` JSON Schema that does not compile, or
 * nests too deep. Refused at intake (a 400 naming the field), not per item by the processor.
 * Shared by jobs and synchronous calls.
 */
export function paramsIssues(operation: OperationName, params: OperationParams): ValidationIssue[] {
  if (operation !== 'run') return [];
  const format = (params as RunParams).response_format;
  if (format.type !== 'json_schema') return [];
  const problem = jsonSchemaProblem(format.json_schema.schema);
  return problem
    ? [{ line: null, param: 'response_format.json_schema.schema', code: 'invalid_json_schema', message: problem }]
    : [];
}

/** Collects item field names in first-seen order (the CSV output's item columns), up to a cap. */
export class FieldCollector {
  private readonly names = new Set<string>();
  constructor(private readonly cap = 200) {}
  add(item: Record<string, unknown>): void {
    for (const name of Object.keys(item)) if (this.names.size < this.cap) this.names.add(name);
  }
  get fields(): string[] {
    return [...this.names];
  }
}

/**
 * One item of an operations job or call: an object with a `content` string, and for `run` every
 * field the template names. Its `id`, when given, becomes the row's custom_id, else its index.
 */
export function operationItemValidator(
  operation: OperationName,
  params: OperationParams,
  fields: FieldCollector,
): LineValidator {
  const needed = operation === 'run' ? templateFields((params as RunParams).user_prompt_template) : [];
  return (value, line, index) => {
    const parsed = OperationItem.safeParse(value);
    if (!parsed.success) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        return {
          issues: [
            {
              line,
              param: null,
              code: 'invalid_item',
              message: 'an item must be a JSON object with a "content" string',
            },
          ],
        };
      }
      return { issues: issuesFromZod(parsed.error, line) };
    }
    // The value as given (zod's copy lists its declared keys first): item fields keep their order.
    const item = value as Record<string, unknown>;
    const missing = needed.filter((name) => {
      const value = templateValue(item, name);
      return value === undefined || value === null;
    });
    if (missing.length > 0) {
      return {
        issues: missing.map((name): ValidationIssue => ({
          line,
          param: name,
          code: 'missing_template_field',
          message: `user_prompt_template uses {${name}} but this item has no "${name}" field`,
        })),
      };
    }
    fields.add(item);
    const id = item.id;
    return {
      item: {
        custom_id: id === undefined ? String(index) : String(id),
        discriminator: operation,
        body: { params, item },
      },
    };
  };
}

/** For items sent in a JSON body: problems are named by `items[i]`, not by line. */
export function asItemIssues(issues: ValidationIssue[]): ValidationIssue[] {
  return issues.map((issue) =>
    issue.line === null
      ? issue
      : { ...issue, line: null, param: `items.${issue.line - 1}${issue.param ? `.${issue.param}` : ''}` },
  );
}

/**
 * The result's columns when the parameters fix them (classify, extract with fields, summarize,
 * enrich, run as text or with a schema); null when the model chooses (the CSV export then reads
 * them from the rows).
 */
export function resultFieldsOf(operation: OperationName, params: OperationParams): string[] | null {
  switch (operation) {
    case 'classify': {
      const p = params as ClassifyParams;
      return ['label', ...(p.multi_label ? ['labels'] : []), 'confidence', ...p.categories.map((c) => `scores.${c}`)];
    }
    case 'extract': {
      const p = params as ExtractParams;
      return p.fields ? p.fields.map((f) => f.name) : null;
    }
    case 'summarize':
      return ['summary'];
    case 'enrich': {
      const p = params as EnrichParams;
      const names = p.fields.map((f) => f.name);
      return p.include_context ? [...names, ...names.map((n) => `context.${n}`)] : names;
    }
    case 'run': {
      const format = (params as RunParams).response_format;
      if (format.type === 'text') return ['result'];
      if (format.type === 'json_schema') {
        const properties = format.json_schema.schema.properties;
        return properties && typeof properties === 'object' ? Object.keys(properties) : null;
      }
      return null;
    }
  }
}

/**
 * Validates an operation's items and stores them as the batch's input: the one path for jobs
 * (items, an uploaded or stored JSONL/CSV file) and synchronous calls (items), so both name a bad
 * item the same way: `items.N.<field>` for items in a JSON body, `line N, <field>` for a file's
 * rows. Refuses the whole input (nothing kept) on any problem.
 */
export async function intakeOperationItems(
  context: IngestContext,
  batchId: string,
  operation: OperationName,
  params: OperationParams,
  source: AsyncIterable<IntakeEntry> | Iterable<IntakeEntry>,
  options: {
    fromItems: boolean;
    limits: IntakeLimits;
    itemLimitName: string;
    /** Sees every valid item too (a dry run counts tokens with it). */
    wrapValidator?: (validate: LineValidator) => LineValidator;
    /** Keeps the valid items here instead of in the store (a synchronous call's). */
    memory?: StoredItem[];
  },
): Promise<{ items: number; fields: string[] }> {
  const fields = new FieldCollector();
  const name = (line: number) => (options.fromItems ? `items.${line - 1}` : `line ${line}`);
  const items = await context.submitter.intakeOrRefuse(
    batchId,
    'operations',
    () =>
      intake(
        source,
        options.memory
          ? { memory: options.memory }
          : { store: context.store, key: context.submitter.inputKey(batchId) },
        options.wrapValidator
          ? options.wrapValidator(operationItemValidator(operation, params, fields))
          : operationItemValidator(operation, params, fields),
        {
          limits: options.limits,
          itemLimitName: options.itemLimitName,
          duplicateIssue: ({ line, earlierLine, customId }) => ({
            line,
            param: 'id',
            code: 'duplicate_custom_id',
            message: `id '${customId}' is also the id of ${name(earlierLine)}`,
          }),
        },
      ),
    options.fromItems ? asItemIssues : undefined,
    { stored: !options.memory },
  );
  return { items, fields: fields.fields };
}
