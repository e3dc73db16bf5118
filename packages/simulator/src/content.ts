import { schemaAnswer } from './schema-answer.js';
import { codePointLength, estimateTokens, leadSentences, truncateText, type TextFacts } from './text.js';

/** The answer format requested by `response_format` (chat) or `text.format` (responses). */
export type OutputFormat =
  { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name: string; schema: unknown };

export const PLAIN_PREFIX = '[simulated] ';

/** The assistant content for a prompt: deterministic, and within `maxTokens` when given. */
export function generateContent(format: OutputFormat, facts: TextFacts, maxTokens?: number): string {
  switch (format.type) {
    case 'json_schema':
      return schemaAnswer(format.schema, facts, maxTokens);
    case 'json_object':
      return jsonObjectAnswer(facts, maxTokens);
    default:
      return plainAnswer(facts, maxTokens);
  }
}

export function plainAnswer(facts: TextFacts, maxTokens?: number): string {
  const text = PLAIN_PREFIX + (truncateText(leadSentences(facts), 400) || 'OK');
  return maxTokens === undefined ? text : fitUnits(text, maxTokens * 4);
}

function jsonObjectAnswer(facts: TextFacts, maxTokens?: number): string {
  const render = (result: string): string => JSON.stringify({ result, simulated: true });
  let result = truncateText(leadSentences(facts), 400) || 'OK';
  if (maxTokens === undefined) return render(result);
  while (result !== '' && estimateTokens(render(result)) > maxTokens) {
    result = truncateText(result, Math.floor(codePointLength(result) * 0.8));
  }
  return render(result);
}

/** At most `units` UTF-16 code units (what token estimates count), without splitting a surrogate pair. */
function fitUnits(text: string, units: number): string {
  if (text.length <= units) return text;
  const cut = text.slice(0, Math.max(0, units));
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}
