import { z } from 'zod';
import { CustomId } from './common.js';
import { atMostCharacters, TEXT_LIMITS } from './fields.js';

/**
 * The domain Batch API: the same bodies as the realtime endpoints, with `model` as the
 * discriminator (extract | summarize | classify). Its `model` names an operation, not an upstream
 * model: each line runs as that operation of the operations API (contracts/domain-operations.ts).
 * One request schema and one result schema per operation.
 */

/** An entity to extract: a name, or a name with a description that guides the model. */
const entityName = z.string().min(1, 'must not be empty').max(TEXT_LIMITS.label, atMostCharacters(TEXT_LIMITS.label));
export const EntitySpec = z.union([
  entityName,
  z
    .object({
      name: entityName,
      description: z.string().max(TEXT_LIMITS.description, atMostCharacters(TEXT_LIMITS.description)).optional(),
    })
    .strict(),
]);
export type EntitySpec = z.infer<typeof EntitySpec>;

export const ExtractRequest = z
  .object({
    model: z.literal('extract'),
    text: z.string().min(1, 'must not be empty'),
    entities: z.array(EntitySpec).min(1, 'must list at least one entity').max(100, 'at most 100 entities'),
    instruction: z.string().max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)).optional(),
  })
  .strict();
export type ExtractRequest = z.infer<typeof ExtractRequest>;

export const SummarizeRequest = z
  .object({
    model: z.literal('summarize'),
    text: z.string().min(1, 'must not be empty'),
    instructions: z.string().max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)).optional(),
    max_tokens: z.number().int().min(1).max(16_384).optional(),
  })
  .strict();
export type SummarizeRequest = z.infer<typeof SummarizeRequest>;

export const ClassifyRequest = z
  .object({
    model: z.literal('classify'),
    text: z.string().min(1, 'must not be empty'),
    labels: z
      .array(z.string().min(1, 'must not be empty').max(TEXT_LIMITS.label, atMostCharacters(TEXT_LIMITS.label)))
      .min(2, 'must list at least two labels')
      .max(1000, 'at most 1000 labels')
      .refine((labels) => new Set(labels).size === labels.length, 'must not repeat a label'),
    system_prompt: z.string().max(TEXT_LIMITS.prompt, atMostCharacters(TEXT_LIMITS.prompt)).optional(),
  })
  .strict();
export type ClassifyRequest = z.infer<typeof ClassifyRequest>;

/** The operations a domain line's `model` may name. */
export const DOMAIN_OPERATIONS = ['extract', 'summarize', 'classify'] as const;
export type DomainOperation = (typeof DOMAIN_OPERATIONS)[number];

export const DomainRequest = z.discriminatedUnion('model', [ExtractRequest, SummarizeRequest, ClassifyRequest]);
export type DomainRequest = z.infer<typeof DomainRequest>;

/** Each operation's domain body. */
export const DOMAIN_REQUESTS = {
  extract: ExtractRequest,
  summarize: SummarizeRequest,
  classify: ClassifyRequest,
} as const satisfies Record<DomainOperation, z.ZodType>;

/** One line of a domain batch. */
export const DomainBatchLine = z
  .object({
    custom_id: CustomId,
    body: DomainRequest,
  })
  .strict();
export type DomainBatchLine = z.infer<typeof DomainBatchLine>;

/** A found occurrence of an entity; `start`/`end` are character offsets in `text` when the value occurs there. */
export const EntityMention = z.object({
  value: z.string(),
  start: z.number().int().nonnegative().nullable(),
  end: z.number().int().nonnegative().nullable(),
});

export const ExtractResult = z.object({
  /** Every requested entity, in request order; `mentions` is empty when none was found. */
  entities: z.array(z.object({ name: z.string(), mentions: z.array(EntityMention) })),
});
export type ExtractResult = z.infer<typeof ExtractResult>;

export const SummarizeResult = z.object({ summary: z.string() });
export type SummarizeResult = z.infer<typeof SummarizeResult>;

export const ClassifyResult = z.object({
  /** Always one of the request's `labels`. */
  label: z.string(),
  confidence: z.number().min(0).max(1),
  /** A score in [0, 1] for every label. */
  scores: z.record(z.string(), z.number().min(0).max(1)),
});
export type ClassifyResult = z.infer<typeof ClassifyResult>;

/** The realtime endpoints take the same bodies with `model` optional (the path says it). */
export const REALTIME_ENDPOINTS: Record<DomainOperation, string> = {
  extract: '/extract',
  summarize: '/summarization/abstractive',
  classify: '/classify',
};
