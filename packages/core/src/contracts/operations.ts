import { z } from 'zod';
import { BatchUsage } from './batch.js';
import { BatchStatus, DedupSetting, JobTier, JsonObject, RequestTimeoutSeconds, TokenUsage } from './common.js';
import { atMostCharacters, ClientMetadata, CompletionWindow, Metadata, TEXT_LIMITS } from './fields.js';
import { reservedTemplateFields } from './template.js';

/**
 * The operations API: classify (batch name `label`), extract, summarize, enrich and run, each
 * over `items: [{content, ...other fields}]`, synchronously (`POST /v1/operations/{operation}`)
 * or as a background job (`POST /v1/jobs`). One request schema and one result schema each.
 */

/** An item: `content` plus any other fields (kept, echoed into the output, usable in templates). `id`, when given, becomes the row's `custom_id`. */
export const OperationItem = z.looseObject({
  content: z.string({ error: 'content is required and must be a string' }).min(1, 'content must not be empty'),
  id: z.union([z.string().min(1).max(512), z.number()]).optional(),
});
export type OperationItem = z.infer<typeof OperationItem>;

const items = z.array(OperationItem).min(1, 'items must not be empty');
/** The upstream model; default from configuration. */
const model = z.string().min(1).max(TEXT_LIMITS.model, atMostCharacters(TEXT_LIMITS.model)).optional();

const distinct = (values: string[]) => new Set(values).size === values.length;

/** Parameters of each operation, without `items`: what every item of a job shares. */
export const ClassifyParams = z.strictObject({
  model,
  categories: z
    .array(
      z.string().min(1, 'a category must not be empty').max(TEXT_LIMITS.label, atMostCharacters(TEXT_LIMITS.label)),
    )
    .min(2, 'categories needs at least 2 entries')
    .max(1000, 'at most 1000 categories')
    .refine(distinct, 'categories must not repeat'),
  system_prompt: z.string().max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)).optional(),
  /** Also return every category that applies (`labels`), not only the best one. */
  multi_label: z.boolean().default(false),
});
export type ClassifyParams = z.infer<typeof ClassifyParams>;

/** An identifier: what the operations API takes as a field name (it is also a CSV column). */
const fieldName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'field names are identifiers: letters, digits, _');

/** A field of an extraction schema, named by `name`. */
const extractField = (name: z.ZodString) =>
  z.strictObject({
    name,
    type: z.enum(['string', 'number', 'boolean', 'list']).default('string'),
    description: z.string().max(TEXT_LIMITS.description, atMostCharacters(TEXT_LIMITS.description)).optional(),
  });

/** The fields to extract. Without them the model chooses the fields the instructions name. */
const extractFields = (name: z.ZodString) =>
  z
    .array(extractField(name))
    .min(1)
    .max(200)
    .refine((fields) => distinct(fields.map((f) => f.name)), 'field names must not repeat')
    .optional();

/** A field of an extraction schema. */
export const ExtractField = extractField(fieldName);

export const ExtractParams = z.strictObject({
  model,
  extraction_instructions: z
    .string()
    .min(1, 'extraction_instructions must not be empty')
    .max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)),
  fields: extractFields(fieldName),
});
export type ExtractParams = z.infer<typeof ExtractParams>;

export const SummarizeParams = z.strictObject({
  model,
  summary_instructions: z
    .string()
    .min(1, 'summary_instructions must not be empty')
    .max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)),
  max_words: z.number().int().min(1).max(5000).optional(),
});
export type SummarizeParams = z.infer<typeof SummarizeParams>;

export const EnrichField = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'field names are identifiers: letters, digits, _'),
    type: z.enum(['categorical', 'string', 'number', 'boolean', 'list']),
    valid_values: z
      .array(z.string().min(1).max(TEXT_LIMITS.label, atMostCharacters(TEXT_LIMITS.label)))
      .min(1)
      .max(1000)
      .refine(distinct, 'valid_values must not repeat')
      .optional(),
    description: z
      .string()
      .min(1, 'description must not be empty')
      .max(TEXT_LIMITS.description, atMostCharacters(TEXT_LIMITS.description)),
  })
  .refine((field) => field.type !== 'categorical' || field.valid_values !== undefined, {
    message: 'a categorical field needs valid_values',
    path: ['valid_values'],
  });
export type EnrichField = z.infer<typeof EnrichField>;

export const EnrichParams = z.strictObject({
  model,
  fields: z
    .array(EnrichField)
    .min(1, 'fields must not be empty')
    .max(100)
    .refine((fields) => distinct(fields.map((f) => f.name)), 'field names must not repeat')
    .refine((fields) => !fields.some((f) => f.name === 'context'), '"context" is reserved for include_context'),
  /** Also return, per field, the reasoning or evidence behind its value (`context`). */
  include_context: z.boolean().default(false),
});
export type EnrichParams = z.infer<typeof EnrichParams>;

export const RunResponseFormat = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('text') }),
  z.strictObject({ type: z.literal('json_object') }),
  z.strictObject({
    type: z.literal('json_schema'),
    json_schema: z.strictObject({
      name: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
      schema: z.record(z.string(), z.unknown()),
      strict: z.boolean().optional(),
      description: z.string().max(TEXT_LIMITS.description, atMostCharacters(TEXT_LIMITS.description)).optional(),
    }),
  }),
]);
export type RunResponseFormat = z.infer<typeof RunResponseFormat>;

export const RunParams = z.strictObject({
  model,
  /** A free name for the run (reporting only), e.g. `feedback_analysis`. */
  operation: z.string().min(1).max(64).optional(),
  system_prompt: z.string().max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)).optional(),
  /** `{content}` and `{any_item_field}` are replaced by the item's values (`template.ts`). */
  user_prompt_template: z
    .string()
    .min(1)
    .max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt))
    .refine((template) => reservedTemplateFields(template).length === 0, {
      error: (issue) =>
        `user_prompt_template uses ${reservedTemplateFields(String(issue.input))
          .map((name) => `{${name}}`)
          .join(', ')}: a reserved name, not an item field`,
    })
    .default('{content}'),
  response_format: RunResponseFormat.default({ type: 'text' }),
});
export type RunParams = z.infer<typeof RunParams>;

/** Operation names as the jobs API takes them; `label` is classify's batch name. */
export const OPERATIONS = ['classify', 'extract', 'summarize', 'enrich', 'run'] as const;
export type OperationName = (typeof OPERATIONS)[number];
export const JOB_OPERATIONS = ['label', 'classify', 'extract', 'summarize', 'enrich', 'run'] as const;
export type JobOperationName = (typeof JOB_OPERATIONS)[number];
export const canonicalOperation = (name: JobOperationName): OperationName => (name === 'label' ? 'classify' : name);

export const OPERATION_PARAMS = {
  classify: ClassifyParams,
  extract: ExtractParams,
  summarize: SummarizeParams,
  enrich: EnrichParams,
  run: RunParams,
} as const;

/**
 * What an operation's request message may carry as `params`: the public parameters above, plus
 * what the domain Batch API's semantics need when its lines run as operations
 * (contracts/domain-operations.ts). The HTTP operations API does not take these additions; a
 * producer writing operations messages to the requests topic may.
 * - extract: a field's `name` may be any text (a domain entity name such as `date of birth`), not
 *   only an identifier;
 * - summarize: `max_tokens`, a bound on the summary's tokens (estimated as the processor counts
 *   them), also sent upstream as the answer's bound.
 */
export const ExtractItemParams = ExtractParams.extend({
  fields: extractFields(z.string().min(1, 'a field name must not be empty')),
});
export type ExtractItemParams = z.infer<typeof ExtractItemParams>;
export type ExtractItemParamsInput = z.input<typeof ExtractItemParams>;

export const SummarizeItemParams = SummarizeParams.extend({
  max_tokens: z.number().int().min(1).max(16_384).optional(),
});
export type SummarizeItemParams = z.infer<typeof SummarizeItemParams>;
export type SummarizeItemParamsInput = z.input<typeof SummarizeItemParams>;

/** Each operation's `params` as a request message carries them (see ExtractItemParams). */
export const OPERATION_ITEM_PARAMS = {
  classify: ClassifyParams,
  extract: ExtractItemParams,
  summarize: SummarizeItemParams,
  enrich: EnrichParams,
  run: RunParams,
} as const;

/** An operations request message's body: the job's parameters and one item. */
export const operationItemBody = <P extends z.ZodType>(params: P) => z.object({ params, item: OperationItem });

/** Synchronous requests: the operation's parameters plus `items` (and the call's `dedup` setting). */
const syncFields = { items, dedup: DedupSetting.optional() };
export const ClassifyRequestBody = ClassifyParams.extend(syncFields);
export const ExtractRequestBody = ExtractParams.extend(syncFields);
export const SummarizeRequestBody = SummarizeParams.extend(syncFields);
export const EnrichRequestBody = EnrichParams.extend(syncFields);
export const RunRequestBody = RunParams.extend(syncFields);
export type ClassifyRequestBody = z.input<typeof ClassifyRequestBody>;
export type ExtractRequestBody = z.input<typeof ExtractRequestBody>;
export type SummarizeRequestBody = z.input<typeof SummarizeRequestBody>;
export type EnrichRequestBody = z.input<typeof EnrichRequestBody>;
export type RunRequestBody = z.input<typeof RunRequestBody>;

/**
 * A job's own fields, besides its operation's parameters: declared once, for the HTTP API, the
 * CLI and the SDK's types.
 */
export const JobFields = z.object({
  /** A free name for the job (reporting only), e.g. `feedback_analysis`; for `run`, its run name. */
  name: z.string().min(1).max(64).optional(),
  metadata: ClientMetadata.optional(),
  /** How long the job may run, `"1h"` to `"7d"`. @defaultValue `"24h"` */
  completion_window: CompletionWindow.optional(),
  /** Answer identical requests once (see docs/deduplication.md). */
  dedup: DedupSetting.optional(),
  /** Upstream timeout per item, bounded by the server's (see docs/retry-and-estimates.md). */
  request_timeout_seconds: RequestTimeoutSeconds.optional(),
  /** How its items are sent: `auto`, `realtime`, `flex` or `batch` (docs/upstreams.md, Tiers). @defaultValue `"auto"` */
  tier: JobTier.optional(),
});
export type JobFields = z.input<typeof JobFields>;

/**
 * A job: `operation`, `items` (or `input_file_id` of a stored JSONL or CSV file), the job's own
 * fields (`JobFields`) and the operation's parameters (checked by `OPERATION_PARAMS`).
 */
export const JobRequestBody = z.looseObject({
  operation: z.enum(JOB_OPERATIONS, { error: `operation must be one of ${JOB_OPERATIONS.join(', ')}` }),
  items: items.optional(),
  input_file_id: z.string().min(1).max(TEXT_LIMITS.reference, atMostCharacters(TEXT_LIMITS.reference)).optional(),
  ...JobFields.shape,
});
export type JobRequestBody = z.input<typeof JobRequestBody>;

/** The keys of a job request that are not its operation's parameters. */
export const JOB_REQUEST_KEYS: ReadonlySet<string> = new Set(Object.keys(JobRequestBody.shape));

/** Results, one schema per operation (the processor narrows them per request, e.g. label ∈ categories). */
export const ClassifyOperationResult = z.object({
  label: z.string(),
  /** multi_label only: every category that applies, best first. */
  labels: z.array(z.string()).optional(),
  confidence: z.number().min(0).max(1),
  scores: z.record(z.string(), z.number().min(0).max(1)),
});
export type ClassifyOperationResult = z.infer<typeof ClassifyOperationResult>;
export const ExtractOperationResult = z.record(z.string(), z.unknown());
export const SummarizeOperationResult = z.object({ summary: z.string() });
export const EnrichOperationResult = z.record(z.string(), z.unknown());
/** `run`: the parsed JSON answer when a JSON format was asked, else the text. */
export const RunOperationResult = z.unknown();

/** One row of an operation's results (synchronous answer, JSON page, JSONL line). */
export const OperationRow = z.object({
  index: z.number().int().nonnegative(),
  custom_id: z.string(),
  item: z.record(z.string(), z.unknown()).nullable(),
  result: z.unknown(),
  usage: TokenUsage.nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type OperationRow = z.infer<typeof OperationRow>;

/** `POST /v1/operations/{operation}`'s answer. */
export const OperationResponse = z.object({
  object: z.literal('operation.result'),
  id: z.string(),
  operation: z.string(),
  /** `run`: the run's free name (its `operation` parameter); null otherwise. */
  name: z.string().nullable(),
  /** The model that answered (the request's `model`, else the configured one the processor used). */
  model: z.string().nullable(),
  results: z.array(OperationRow),
  usage: TokenUsage,
});
export type OperationResponse = z.infer<typeof OperationResponse>;

/** The job object of the operations API: the same batch underneath, in this API's words. */
export const Job = z.object({
  id: z.string(),
  object: z.literal('job'),
  operation: z.string(),
  name: z.string().nullable(),
  model: z.string().nullable(),
  status: BatchStatus,
  total_items: z.number().int().nonnegative(),
  completed_items: z.number().int().nonnegative(),
  failed_items: z.number().int().nonnegative(),
  /** Items not sent because the job was cancelled, or expired: not counted in `failed_items`. */
  cancelled_items: z.number().int().nonnegative().default(0),
  expired_items: z.number().int().nonnegative().default(0),
  /** Finished share, 0–1. */
  progress: z.number().min(0).max(1),
  /** Items finished per minute lately; null until known. */
  throughput_per_minute: z.number().nonnegative().nullable().default(null),
  /** Seconds left at that pace; null until known, 0 once final. */
  eta_seconds: z.number().int().nonnegative().nullable().default(null),
  /** Over the finished items: upstream attempts beyond the first (retries), and attempts answered 429. */
  retries: z.number().int().nonnegative().default(0),
  rate_limited: z.number().int().nonnegative().default(0),
  /**
   * What the finished items cost in USD at the tier each was called at, and the same tokens at the
   * realtime price (docs/costs.md); null while unknown (a model without a price).
   */
  cost_usd: z.number().nonnegative().nullable().default(null),
  realtime_cost_usd: z.number().nonnegative().nullable().default(null),
  /** The operation's parameters as validated (what a retry reuses). */
  parameters: JsonObject.nullable().default(null),
  completion_window: z.string().default('24h'),
  request_timeout_seconds: z.number().positive().nullable().default(null),
  /** How its items are sent (see JobFields' `tier`). */
  tier: JobTier.default('auto'),
  created_at: z.number().int(),
  completed_at: z.number().int().nullable(),
  cancelled_at: z.number().int().nullable(),
  expires_at: z.number().int().nullable(),
  output_file_id: z.string().nullable(),
  error_file_id: z.string().nullable(),
  usage: BatchUsage,
  metadata: Metadata.nullable(),
});
export type Job = z.infer<typeof Job>;

/** `GET /v1/jobs/{id}/output?format=json`: one page. */
export const OutputPage = z.object({
  object: z.literal('output.page'),
  id: z.string(),
  status: BatchStatus,
  offset: z.number().int().nonnegative(),
  limit: z.number().int().positive(),
  /** The job's item count. A page of a running job holds only the finished items of its range. */
  total: z.number().int().nonnegative(),
  has_more: z.boolean(),
  results: z.array(OperationRow),
});
export type OutputPage = z.infer<typeof OutputPage>;
