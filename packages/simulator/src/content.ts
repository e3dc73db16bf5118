import { stripDirectives } from './directives.js';
import { extractFields } from './extraction.js';
import { readInstructions, type Instructions } from './instructions.js';
import { schemaAnswer } from './schema-answer.js';
import {
  analyzeText,
  codePointLength,
  estimateTokens,
  leadSentences,
  limitWords,
  truncateText,
  type TextFacts,
} from './text.js';

/** The answer format requested by `response_format` (chat) or `text.format` (responses). */
export type OutputFormat =
  { type: 'text' } | { type: 'json_object' } | { type: 'json_schema'; name: string; schema: unknown };

/** What answers are derived from: facts about the user's text, and what the system message asks for. */
export interface Prompt {
  facts: TextFacts;
  instructions: Instructions;
}

export const PLAIN_PREFIX = '[simulated] ';

/** The prompt of a request: directives leave the user text, the system text is read for instructions. */
export function readPrompt(userText: string, systemText = ''): Prompt {
  return { facts: analyzeText(stripDirectives(userText)), instructions: readInstructions(systemText) };
}

/** The assistant content for a prompt: deterministic, and within `maxTokens` when given. */
export function generateContent(format: OutputFormat, prompt: Prompt, maxTokens?: number): string {
  const { facts, instructions } = prompt;
  switch (format.type) {
    case 'json_schema':
      return schemaAnswer(format.schema, facts, maxTokens, instructions.maxWords);
    case 'json_object':
      return instructions.extractKeys === undefined
        ? jsonObjectAnswer(prompt, maxTokens)
        : extractionAnswer(instructions.extractKeys, facts, maxTokens);
    default:
      return plainAnswer(prompt, maxTokens);
  }
}

/** `[simulated] <lead sentences>`; a word limit counts the prefix as a word, as a word-count check would. */
export function plainAnswer(prompt: Prompt, maxTokens?: number): string {
  const { maxWords } = prompt.instructions;
  let body = truncateText(leadSentences(prompt.facts), 400) || 'OK';
  if (maxWords !== undefined) body = limitWords(body, maxWords - 1);
  const text = (PLAIN_PREFIX + body).trimEnd();
  return maxTokens === undefined ? text : fitUnits(text, maxTokens * 4);
}

function jsonObjectAnswer(prompt: Prompt, maxTokens?: number): string {
  const render = (result: string): string => JSON.stringify({ result, simulated: true });
  let result = truncateText(leadSentences(prompt.facts), 400) || 'OK';
  if (prompt.instructions.maxWords !== undefined) result = limitWords(result, prompt.instructions.maxWords);
  if (maxTokens === undefined) return render(result);
  while (result !== '' && estimateTokens(render(result)) > maxTokens) {
    result = truncateText(result, Math.floor(codePointLength(result) * 0.8));
  }
  return render(result);
}

/** Exactly the requested keys; over a token budget, values become null from the last key back. */
function extractionAnswer(keys: string[], facts: TextFacts, maxTokens?: number): string {
  const values = extractFields(keys, facts);
  let text = JSON.stringify(values);
  for (let i = keys.length - 1; i >= 0 && maxTokens !== undefined && estimateTokens(text) > maxTokens; i--) {
    values[keys[i] ?? ''] = null;
    text = JSON.stringify(values);
  }
  return text;
}

/** At most `units` UTF-16 code units (what token estimates count), without splitting a surrogate pair. */
function fitUnits(text: string, units: number): string {
  if (text.length <= units) return text;
  const cut = text.slice(0, Math.max(0, units));
  const last = cut.charCodeAt(cut.length - 1);
  return last >= 0xd800 && last <= 0xdbff ? cut.slice(0, -1) : cut;
}
