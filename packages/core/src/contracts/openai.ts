import { z } from 'zod';

/**
 * The parts of OpenAI's wire shapes that Sluice produces or checks. Bodies passed through to
 * the upstream are kept as they are; these schemas describe what Sluice itself writes.
 */
export const ChatCompletionUsage = z.object({
  prompt_tokens: z.number().int().nonnegative(),
  completion_tokens: z.number().int().nonnegative(),
  total_tokens: z.number().int().nonnegative(),
  /** As OpenAI reports prompt caching (a deduplicated answer: every prompt token). */
  prompt_tokens_details: z.object({ cached_tokens: z.number().int().nonnegative() }).optional(),
});

export const ChatCompletion = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z
    .array(
      z.object({
        index: z.number().int(),
        message: z.object({ role: z.literal('assistant'), content: z.string().nullable() }).passthrough(),
        finish_reason: z.string().nullable(),
      }),
    )
    .min(1),
  usage: ChatCompletionUsage,
});
export type ChatCompletion = z.infer<typeof ChatCompletion>;

/** Endpoints an OpenAI batch may target. */
export const OPENAI_BATCH_ENDPOINTS = [
  '/v1/chat/completions',
  '/v1/embeddings',
  '/v1/completions',
  '/v1/responses',
  '/v1/moderations',
] as const;
export const OpenAIBatchEndpoint = z.enum(OPENAI_BATCH_ENDPOINTS);
export type OpenAIBatchEndpoint = z.infer<typeof OpenAIBatchEndpoint>;

/** The public output line of OpenAI and domain batches (`body`: a ChatCompletion for domain batches). */
export const BatchOutputLine = z.object({
  id: z.string(),
  custom_id: z.string(),
  response: z
    .object({ status_code: z.number().int(), request_id: z.string().nullable(), body: z.unknown() })
    .nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
});
export type BatchOutputLine = z.infer<typeof BatchOutputLine>;
