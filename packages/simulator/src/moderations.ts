import { invalidRequest } from './errors.js';
import { isRecord, randomId, requireBody, type Plan } from './request.js';
import { estimateTokens, hashFraction } from './text.js';

const CATEGORIES = [
  'harassment',
  'harassment/threatening',
  'hate',
  'hate/threatening',
  'illicit',
  'illicit/violent',
  'self-harm',
  'self-harm/intent',
  'self-harm/instructions',
  'sexual',
  'sexual/minors',
  'violence',
  'violence/graphic',
] as const;

/** Obvious trigger words only: enough for tests to get a flagged result on purpose. */
const TRIGGERS: [RegExp, string[]][] = [
  [
    /\b(?:kill|kills|killed|killing|murder\w*|stab\w*|shoot|shooting|shot dead|massacre\w*|behead\w*|slaughter\w*|bomb(?:s|ing)?)\b/iu,
    ['violence'],
  ],
  [/\b(?:suicide|kill myself|self-harm|hurt myself)\b/iu, ['self-harm', 'self-harm/intent']],
];

/** POST /v1/moderations */
export function planModeration(input: unknown): Plan {
  const body = requireBody(input);
  const model = body.model ?? 'omni-moderation-latest';
  if (typeof model !== 'string') throw invalidRequest("Invalid type for 'model': expected a string.", 'model');
  const texts = parseInputs(body.input);
  const promptTokens = texts.reduce((sum, text) => sum + estimateTokens(text), 0);

  return {
    directiveText: texts.join('\n'),
    promptTokens,
    tokenCost: promptTokens,
    malformable: false,
    render() {
      const responseBody = { id: randomId('modr-', 24), model, results: texts.map(moderate) };
      return { body: responseBody, completionTokens: 0 };
    },
  };
}

export function moderate(text: string): object {
  const hits = new Set(TRIGGERS.flatMap(([pattern, categories]) => (pattern.test(text) ? categories : [])));
  const categories: Record<string, boolean> = {};
  const scores: Record<string, number> = {};
  const appliedTypes: Record<string, string[]> = {};
  for (const category of CATEGORIES) {
    const jitter = hashFraction(`${category}|${text}`);
    categories[category] = hits.has(category);
    scores[category] = hits.has(category) ? 0.9 + 0.09 * jitter : 0.0001 + 0.001 * jitter;
    appliedTypes[category] = ['text'];
  }
  return {
    flagged: hits.size > 0,
    categories,
    category_scores: scores,
    category_applied_input_types: appliedTypes,
  };
}

/** A string, a list of strings, or multimodal parts (only text parts are read). */
function parseInputs(input: unknown): string[] {
  if (input === undefined || input === null) throw invalidRequest("Missing required parameter: 'input'.", 'input');
  if (typeof input === 'string') return [input];
  if (Array.isArray(input) && input.length > 0) {
    if (input.every((item) => typeof item === 'string')) return input;
    if (input.every(isRecord)) {
      return [input.map((part) => (typeof part.text === 'string' ? part.text : '')).join('\n')];
    }
  }
  throw invalidRequest("Invalid 'input': expected a string, an array of strings, or content parts.", 'input');
}
