import { plainAnswer, readPrompt } from './content.js';
import { invalidRequest } from './errors.js';
import {
  nowSeconds,
  optionalPositiveInt,
  randomId,
  rejectStreaming,
  requireBody,
  requireModel,
  type Plan,
} from './request.js';
import { estimateTokens } from './text.js';

/** POST /v1/completions (legacy): one choice per prompt. */
export function planCompletion(input: unknown): Plan {
  const body = requireBody(input);
  const model = requireModel(body);
  const prompts = parsePrompts(body.prompt);
  rejectStreaming(body);
  const maxTokens = optionalPositiveInt(body, 'max_tokens');
  const texts = prompts.map((prompt) => plainAnswer(readPrompt(prompt), maxTokens));
  const promptTokens = prompts.reduce((sum, prompt) => sum + estimateTokens(prompt), 0) || 1;
  const completionTokens = texts.reduce((sum, text) => sum + estimateTokens(text), 0);

  return {
    directiveText: prompts.join('\n'),
    promptTokens,
    tokenCost: promptTokens + (maxTokens === undefined ? completionTokens : maxTokens * prompts.length),
    malformable: false,
    render() {
      const responseBody = {
        id: randomId('cmpl-', 29),
        object: 'text_completion',
        created: nowSeconds(),
        model,
        system_fingerprint: 'sluice-simulator',
        choices: texts.map((text, index) => ({ text, index, finish_reason: 'stop', logprobs: null })),
        usage: {
          prompt_tokens: promptTokens,
          completion_tokens: completionTokens,
          total_tokens: promptTokens + completionTokens,
        },
      };
      return { body: responseBody, completionTokens };
    },
  };
}

/** A string, a list of strings, or token arrays (whose ids stand in for the text). */
function parsePrompts(prompt: unknown): string[] {
  if (prompt === undefined || prompt === null) throw invalidRequest("Missing required parameter: 'prompt'.", 'prompt');
  if (typeof prompt === 'string') return [prompt];
  if (Array.isArray(prompt) && prompt.length > 0) {
    if (prompt.every((p) => typeof p === 'number')) return [prompt.join(' ')];
    if (prompt.every((p) => typeof p === 'string')) return prompt;
    if (prompt.every((p) => Array.isArray(p) && p.every((t) => typeof t === 'number'))) {
      return prompt.map((p: number[]) => p.join(' '));
    }
  }
  throw invalidRequest("Invalid 'prompt': expected a string, an array of strings, or token arrays.", 'prompt');
}
