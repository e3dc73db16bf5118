import { ClassifyRequest, type ClassifyResult } from '@sluice/core';
import { z } from 'zod';
import { cachedSchema } from '../schema-cache.js';
import { asChatCompletion, completeChat } from '../structured.js';
import { defineHandler } from '../types.js';

/** Domain `classify`: one of `labels` for `text`, with a confidence and a score per label. */
export const domainClassify = defineHandler({
  api: 'domain',
  discriminator: 'classify',
  request: ClassifyRequest,
  async handle(body, context) {
    const labels = body.labels as [string, ...string[]];
    // Per request (the label must be one of this request's labels), cached across a batch's items.
    const { schema, json } = cachedSchema(`domain.classify:${JSON.stringify(labels)}`, () =>
      z.strictObject({
        label: z.enum(labels),
        confidence: z.number().min(0).max(1),
        scores: z.strictObject(Object.fromEntries(labels.map((label) => [label, z.number().min(0).max(1)]))),
      }),
    );
    const system = [
      body.system_prompt,
      `Classify the text in the user message into exactly one of these labels: ${labels.map((l) => JSON.stringify(l)).join(', ')}.`,
      'Answer with "label" (one of the labels), "confidence" (0 to 1) and "scores" (a score from 0 to 1 for every label).',
    ]
      .filter(Boolean)
      .join('\n\n');
    const answer = await completeChat(context, {
      route: 'domain.classify',
      model: context.models.classify,
      system,
      user: body.text,
      format: { kind: 'zod', schema, json, name: 'classification' },
      maxTokens: 64 + labels.length * 16,
    });
    const result: ClassifyResult = answer.value;
    return {
      response: { status_code: 200, request_id: answer.requestId, body: asChatCompletion('classify', result, answer) },
      usage: answer.usage,
      attempts: answer.attempts,
      model: answer.completion.model,
      cached: answer.cached,
    };
  },
});
