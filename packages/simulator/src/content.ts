import { stripDirectives } from './directives.js';
import { extractFields, extractionKeys } from './extraction.js';
import { schemaAnswer } from './schema-answer.js';
import { analyzeText, estimateTokens, leadSentences, limitWords, truncateText, type TextFacts } from './text.js';

/** The answer format a request asks for, whatever the dialect it was asked in. */
export type OutputFormat = { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; schema: unknown };

/** What answers come from: the user's text, and what the system message asks for. */
export interface Prompt {
  facts: TextFacts;
  /** "At most 20 words", "under 20 words", "in 20 words or fewer": a cap on summaries and plain answers. */
  maxWords?: number;
  /** "Extract contact, title and company.": the keys a json_object answer has. */
  extractKeys?: string[];
}

const WORD_LIMIT = /\b(?:at most|under|no more than)\s+(\d+)\s+words?\b|\b(\d+)\s+words?\s+or\s+(?:fewer|less)\b/giu;

export function readPrompt(userText: string, systemText = ''): Prompt {
  const limits = [...systemText.matchAll(WORD_LIMIT)].map((m) => Number(m[1] ?? m[2])).filter((n) => n >= 1);
  return {
    facts: analyzeText(stripDirectives(userText)),
    maxWords: limits.length > 0 ? Math.min(...limits) : undefined,
    extractKeys: extractionKeys(systemText),
  };
}

/** The assistant content: deterministic, and within `maxTokens` when given. */
export function generateContent(format: OutputFormat, prompt: Prompt, maxTokens?: number): string {
  const { facts, maxWords, extractKeys } = prompt;
  if (format.type === 'json_schema') return schemaAnswer(format.schema, facts, maxTokens, maxWords);
  const lead = truncateText(leadSentences(facts), 400) || 'OK';
  if (format.type === 'text') {
    // The prefix labels the answer as simulated, and counts as a word, as a word-count check would count it.
    const text = `[simulated] ${maxWords === undefined ? lead : limitWords(lead, maxWords - 1)}`.trimEnd();
    return maxTokens === undefined ? text : text.slice(0, maxTokens * 4).replace(/[\uD800-\uDBFF]$/u, '');
  }
  if (extractKeys !== undefined) {
    // Over the budget, values turn null from the last key back.
    const values = extractFields(extractKeys, facts);
    for (
      let i = extractKeys.length - 1;
      i >= 0 && estimateTokens(JSON.stringify(values)) > (maxTokens ?? Infinity);
      i--
    ) {
      values[extractKeys[i] ?? ''] = null;
    }
    return JSON.stringify(values);
  }
  const render = (result: string): string => JSON.stringify({ result, simulated: true });
  let result = maxWords === undefined ? lead : limitWords(lead, maxWords);
  while (result !== '' && estimateTokens(render(result)) > (maxTokens ?? Infinity)) {
    result = truncateText(result, Math.floor(Array.from(result).length * 0.8));
  }
  return render(result);
}
