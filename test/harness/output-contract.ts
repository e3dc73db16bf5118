import { estimateTokens, type OperationRow } from '@sluice/core';
import type { Sluice } from '@sluice/sdk';

/**
 * The output contract (DESIGN invariant 9), checked from the outside: every operation's and every
 * domain model's success conforms to its schema. Each check returns what is wrong, or null; tests
 * count successes, conforming successes and errors, so the same cases serve the simulator's
 * dialect tests and the real-model tests.
 */

const inUnit = (value: unknown) => typeof value === 'number' && Number.isFinite(value) && value >= 0 && value <= 1;
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const sameKeys = (value: Record<string, unknown>, keys: readonly string[]) =>
  Object.keys(value).sort().join(',') === [...keys].sort().join(',');
const words = (text: string) => text.split(/\s+/).filter(Boolean).length;

export const CATEGORIES = ['billing', 'bug', 'feature_request', 'account'] as const;
const SEGMENTS = ['enterprise', 'mid-market', 'smb'] as const;
const SENTIMENTS = ['positive', 'negative', 'neutral'] as const;

/**
 * label ∈ categories, confidence ∈ [0, 1], one score ∈ [0, 1] per category and nothing else; and
 * the row agrees with itself: the label has the highest score and the confidence is that score.
 */
export function classificationProblem(result: unknown, categories: readonly string[]): string | null {
  if (!isRecord(result)) return 'not an object';
  if (!categories.includes(result.label as string)) return `label ${JSON.stringify(result.label)} not in categories`;
  if (!inUnit(result.confidence)) return `confidence ${JSON.stringify(result.confidence)} not in [0, 1]`;
  if (!isRecord(result.scores) || !sameKeys(result.scores, categories)) return 'scores do not name every category';
  for (const [name, score] of Object.entries(result.scores)) {
    if (!inUnit(score)) return `score of ${name} ${JSON.stringify(score)} not in [0, 1]`;
  }
  const scores = result.scores as Record<string, number>;
  const labelScore = scores[result.label as string] as number;
  const highest = Math.max(...Object.values(scores));
  if (labelScore < highest)
    return `label ${JSON.stringify(result.label)} scores ${labelScore}, below the highest ${highest}`;
  if (result.confidence !== labelScore)
    return `confidence ${JSON.stringify(result.confidence)} is not the label's score ${labelScore}`;
  return null;
}

export interface OperationCase {
  params: Record<string, unknown>;
  problem(result: unknown): string | null;
}

export const OPERATION_CASES = {
  classify: {
    params: { categories: [...CATEGORIES] },
    problem: (result) => classificationProblem(result, CATEGORIES),
  },
  extract: {
    params: {
      extraction_instructions: 'Extract the product and the problem.',
      fields: [
        { name: 'product', type: 'string' },
        { name: 'problem', type: 'string', description: 'what went wrong, if anything' },
      ],
    },
    problem: (result) => {
      if (!isRecord(result) || !sameKeys(result, ['product', 'problem'])) return 'fields are not product, problem';
      for (const value of Object.values(result)) if (value !== null && typeof value !== 'string') return 'not a string';
      return null;
    },
  },
  summarize: {
    params: { summary_instructions: 'One short sentence.', max_words: 20 },
    problem: (result) =>
      isRecord(result) && typeof result.summary === 'string' && result.summary.length > 0 && words(result.summary) <= 20
        ? null
        : 'summary missing or over 20 words',
  },
  enrich: {
    params: {
      fields: [
        { name: 'segment', type: 'categorical', valid_values: [...SEGMENTS], description: 'customer segment' },
        { name: 'urgent', type: 'boolean', description: 'needs an answer today' },
      ],
    },
    problem: (result) => {
      if (!isRecord(result) || !sameKeys(result, ['segment', 'urgent'])) return 'fields are not segment, urgent';
      if (!SEGMENTS.includes(result.segment as (typeof SEGMENTS)[number]))
        return `segment ${JSON.stringify(result.segment)} not valid`;
      return typeof result.urgent === 'boolean' ? null : 'urgent is not a boolean';
    },
  },
  run: {
    params: {
      system_prompt: 'You rate customer messages.',
      user_prompt_template: 'Rate the sentiment of this message: {content}',
      response_format: {
        type: 'json_schema',
        json_schema: {
          name: 'rating',
          strict: true,
          schema: {
            type: 'object',
            properties: {
              sentiment: { type: 'string', enum: [...SENTIMENTS] },
              score: { type: 'number', minimum: 0, maximum: 1 },
            },
            required: ['sentiment', 'score'],
            additionalProperties: false,
          },
        },
      },
    },
    problem: (result) => {
      if (!isRecord(result) || !sameKeys(result, ['sentiment', 'score'])) return 'fields are not sentiment, score';
      if (!SENTIMENTS.includes(result.sentiment as (typeof SENTIMENTS)[number])) return 'sentiment not valid';
      return inUnit(result.score) ? null : `score ${JSON.stringify(result.score)} not in [0, 1]`;
    },
  },
} satisfies Record<string, OperationCase>;

export type OperationCaseName = keyof typeof OPERATION_CASES;

/** Tallies of one run: items, successes, conforming successes, and the errors by code. */
export interface Tally {
  items: number;
  succeeded: number;
  conforming: number;
  errors: Record<string, number>;
  problems: string[];
}

export const emptyTally = (): Tally => ({ items: 0, succeeded: 0, conforming: 0, errors: {}, problems: [] });

export function tallyRow(
  tally: Tally,
  row: Pick<OperationRow, 'result' | 'error'>,
  problem: (r: unknown) => string | null,
) {
  tally.items++;
  if (row.error) {
    tally.errors[row.error.code] = (tally.errors[row.error.code] ?? 0) + 1;
    if (tally.problems.length < 10) tally.problems.push(`${row.error.code}: ${row.error.message}`);
    return;
  }
  tally.succeeded++;
  const wrong = problem(row.result);
  if (wrong === null) tally.conforming++;
  else if (tally.problems.length < 10) tally.problems.push(`NONCONFORMING: ${wrong}`);
}

/** Runs one operation synchronously over `items` and tallies the rows. */
export async function runOperation(
  client: Sluice,
  operation: OperationCaseName,
  items: { id: string; content: string }[],
  tally: Tally = emptyTally(),
): Promise<Tally> {
  const completions = client.completions as unknown as Record<
    string,
    (body: Record<string, unknown>) => Promise<{ results: OperationRow[] }>
  >;
  const answer = await (
    completions[operation] as (body: Record<string, unknown>) => Promise<{ results: OperationRow[] }>
  )({
    items,
    ...OPERATION_CASES[operation].params,
  });
  for (const row of answer.results) tallyRow(tally, row, OPERATION_CASES[operation].problem);
  return tally;
}

/** The domain API's three models through their realtime endpoints, each answer checked. */
export const DOMAIN_CASES = {
  classify: {
    path: '/classify',
    body: (text: string) => ({ text, labels: ['billing', 'bug', 'feature_request'] }),
    problem: (result: unknown) => classificationProblem(result, ['billing', 'bug', 'feature_request']),
  },
  extract: {
    path: '/extract',
    body: (text: string) => ({ text, entities: ['product', { name: 'amount', description: 'an amount of money' }] }),
    problem: (result: unknown) => {
      if (!isRecord(result) || !Array.isArray(result.entities)) return 'no entities';
      const names = (result.entities as { name?: unknown }[]).map((e) => e.name);
      return names.join(',') === 'product,amount' ? null : `entities ${JSON.stringify(names)}`;
    },
  },
  summarize: {
    path: '/summarization/abstractive',
    body: (text: string) => ({ text, max_tokens: 60 }),
    problem: (result: unknown) =>
      isRecord(result) &&
      typeof result.summary === 'string' &&
      result.summary.length > 0 &&
      estimateTokens(result.summary) <= 60
        ? null
        : 'summary missing or over 60 tokens',
  },
} as const;

export type DomainCaseName = keyof typeof DOMAIN_CASES;

/** Posts one realtime domain request; a success's content is the domain result. */
export async function runDomain(url: string, model: DomainCaseName, text: string, tally: Tally): Promise<void> {
  const spec = DOMAIN_CASES[model];
  const response = await fetch(`${url}${spec.path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(spec.body(text)),
  });
  const body = (await response.json()) as { error?: { code: string; message: string } } | null;
  if (response.status !== 200) {
    const error = { code: body?.error?.code ?? String(response.status), message: body?.error?.message ?? '' };
    tallyRow(tally, { result: null, error }, spec.problem);
    return;
  }
  // A realtime answer is the domain result itself.
  tallyRow(tally, { result: body, error: null }, spec.problem);
}

/** A metric's value summed over the series whose labels match `labels`. */
export async function metricValue(
  registry: {
    getMetricsAsJSON(): Promise<{ name: string; values: { value: number; labels: Record<string, unknown> }[] }[]>;
  },
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  return (metric?.values ?? [])
    .filter((v) => Object.entries(labels).every(([key, value]) => v.labels[key] === value))
    .reduce((sum, v) => sum + v.value, 0);
}
