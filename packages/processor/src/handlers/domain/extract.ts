import { ExtractRequest, type EntitySpec, type ExtractResult } from '@sluice/core';
import { z } from 'zod';
import { cachedSchema } from '../schema-cache.js';
import { asChatCompletion, completeChat } from '../structured.js';
import { defineHandler } from '../types.js';

const entityName = (entity: EntitySpec) => (typeof entity === 'string' ? entity : entity.name);

/** Domain `extract`: every requested entity with the values found in `text` and their character spans. */
export const domainExtract = defineHandler({
  api: 'domain',
  discriminator: 'extract',
  request: ExtractRequest,
  async handle(body, context) {
    const names = [...new Set(body.entities.map(entityName))];
    const { schema, json } = cachedSchema(`domain.extract:${JSON.stringify(names)}`, () =>
      z.strictObject({
        entities: z.strictObject(Object.fromEntries(names.map((name) => [name, z.array(z.string())]))),
      }),
    );
    const described = body.entities
      .map((entity) =>
        typeof entity === 'string'
          ? `- ${entity}`
          : `- ${entity.name}${entity.description ? `: ${entity.description}` : ''}`,
      )
      .join('\n');
    const system = [
      `Extract these entities from the text in the user message:\n${described}`,
      body.instruction,
      'For each entity, list every value that occurs in the text, copied exactly as written; an empty list when there is none.',
    ]
      .filter(Boolean)
      .join('\n\n');
    const answer = await completeChat(context, {
      route: 'domain.extract',
      model: context.models.extract,
      system,
      user: body.text,
      format: { kind: 'zod', schema, json, name: 'extraction' },
    });
    const result: ExtractResult = {
      entities: names.map((name) => ({ name, mentions: locate(body.text, answer.value.entities[name] ?? []) })),
    };
    return {
      response: { status_code: 200, request_id: answer.requestId, body: asChatCompletion('extract', result, answer) },
      usage: answer.usage,
      attempts: answer.attempts,
      model: answer.completion.model,
      cached: answer.cached,
    };
  },
});

/**
 * Finds each value in the text (exactly, else ignoring case). Repeated values map to successive
 * occurrences. Spans are computed here, not trusted from the model.
 */
export function locate(text: string, values: string[]) {
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
