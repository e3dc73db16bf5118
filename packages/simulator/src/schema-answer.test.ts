import { describe, expect, it } from 'vitest';
import { schemaAnswer } from './schema-answer.js';
import { analyzeText, estimateTokens } from './text.js';

type Schema = Record<string, unknown> | boolean;

/** A small, independent JSON Schema checker (the keywords the generator claims to support). Returns errors. */
function check(schema: Schema, value: unknown, root: Schema = schema, path = '$'): string[] {
  if (schema === true) return [];
  if (schema === false) return [`${path}: false schema`];
  const errors: string[] = [];
  const fail = (message: string): void => void errors.push(`${path}: ${message}`);
  if (typeof schema.$ref === 'string') {
    const target = schema.$ref
      .slice(2)
      .split('/')
      .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], root) as Schema;
    errors.push(...check(target, value, root, path));
  }
  if (Array.isArray(schema.allOf))
    for (const s of schema.allOf as Schema[]) errors.push(...check(s, value, root, path));
  if (Array.isArray(schema.anyOf) && !(schema.anyOf as Schema[]).some((s) => check(s, value, root).length === 0)) {
    fail('no anyOf branch matches');
  }
  if (Array.isArray(schema.oneOf)) {
    const matches = (schema.oneOf as Schema[]).filter((s) => check(s, value, root).length === 0).length;
    if (matches !== 1) fail(`oneOf matched ${matches} branches`);
  }
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(value)) fail('const');
  if (Array.isArray(schema.enum) && !schema.enum.some((v) => JSON.stringify(v) === JSON.stringify(value))) {
    fail(`${JSON.stringify(value)} not in enum`);
  }
  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    const actual =
      value === null
        ? 'null'
        : Array.isArray(value)
          ? 'array'
          : typeof value === 'number' && Number.isInteger(value)
            ? 'integer'
            : typeof value;
    if (!types.includes(actual) && !(actual === 'integer' && types.includes('number'))) {
      fail(`type ${actual}, expected ${types.join('|')}`);
    }
  }
  if (typeof value === 'string') {
    const length = Array.from(value).length;
    if (typeof schema.minLength === 'number' && length < schema.minLength) fail(`shorter than ${schema.minLength}`);
    if (typeof schema.maxLength === 'number' && length > schema.maxLength) fail(`longer than ${schema.maxLength}`);
    const formats: Record<string, RegExp> = {
      email: /^[^@\s]+@[^@\s]+\.[^@\s]+$/u,
      date: /^\d{4}-\d{2}-\d{2}$/u,
      'date-time': /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/u,
      uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/iu,
      uri: /^https?:\/\/\S+$/u,
    };
    const format = typeof schema.format === 'string' ? formats[schema.format] : undefined;
    if (format && !format.test(value)) fail(`format ${String(schema.format)}: ${value}`);
  }
  if (typeof value === 'number') {
    const { minimum, maximum, exclusiveMinimum, exclusiveMaximum, multipleOf } = schema;
    if (typeof minimum === 'number' && (exclusiveMinimum === true ? value <= minimum : value < minimum))
      fail('minimum');
    if (typeof maximum === 'number' && (exclusiveMaximum === true ? value >= maximum : value > maximum))
      fail('maximum');
    if (typeof exclusiveMinimum === 'number' && value <= exclusiveMinimum) fail('exclusiveMinimum');
    if (typeof exclusiveMaximum === 'number' && value >= exclusiveMaximum) fail('exclusiveMaximum');
    if (typeof multipleOf === 'number' && Math.abs(value / multipleOf - Math.round(value / multipleOf)) > 1e-9) {
      fail(`${value} not a multiple of ${multipleOf}`);
    }
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail(`fewer than ${schema.minItems}`);
    if (typeof schema.maxItems === 'number' && value.length > schema.maxItems) fail(`more than ${schema.maxItems}`);
    if (schema.uniqueItems === true && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) {
      fail('duplicate items');
    }
    const items = schema.items as Schema | undefined;
    if (items !== undefined) value.forEach((item, i) => errors.push(...check(items, item, root, `${path}[${i}]`)));
  }
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    const object = value as Record<string, unknown>;
    const properties = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in object)) fail(`missing required ${key}`);
    for (const [key, item] of Object.entries(object)) {
      if (key in properties) errors.push(...check(properties[key] as Schema, item, root, `${path}.${key}`));
      else if (schema.additionalProperties === false) fail(`unexpected property ${key}`);
      else if (typeof schema.additionalProperties === 'object') {
        errors.push(...check(schema.additionalProperties as Schema, item, root, `${path}.${key}`));
      }
    }
  }
  return errors;
}

const TEXTS = [
  'Acme Corp in Berlin reported a billing problem with invoice 2024-03-05. The customer, John Smith, is angry and wants a refund. Call +49 30 1234567.',
  'hello',
  '',
  'Les Éditions Gallimard à Paris publient un roman de Marie Curie. 😀 Émojis et accents.',
];

const strict = (properties: Record<string, unknown>): Record<string, unknown> => ({
  type: 'object',
  properties,
  required: Object.keys(properties),
  additionalProperties: false,
});

const SCHEMAS: Record<string, Record<string, unknown>> = {
  classification: strict({
    label: { type: 'string', enum: ['question', 'complaint', 'praise'] },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    reasons: { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: 3 },
  }),
  extraction: strict({
    entities: {
      type: 'array',
      items: strict({
        name: { type: 'string' },
        kind: { type: 'string', enum: ['person', 'organization', 'location'] },
        start: { type: 'integer', minimum: 0 },
      }),
    },
    people: { type: 'array', items: { type: 'string' }, uniqueItems: true },
  }),
  refsAndRecursion: {
    ...strict({ root: { $ref: '#/$defs/node' }, owner: { $ref: '#/definitions/person' } }),
    $defs: {
      node: strict({ label: { type: 'string' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } }),
    },
    definitions: {
      person: strict({ email: { type: 'string', format: 'email' }, id: { type: 'string', format: 'uuid' } }),
    },
  },
  nullables: strict({
    maybeString: { type: ['string', 'null'] },
    maybeNull: { anyOf: [{ type: 'null' }, { type: 'integer', minimum: 10, maximum: 20 }] },
    nullableEnum: { enum: [null, 'low', 'high'] },
    oneOf: { oneOf: [{ type: 'string', maxLength: 4 }, { type: 'boolean' }] },
    constant: { const: 'fixed' },
    typedEnum: { type: 'integer', enum: ['one', 2, 3] },
    flag: { type: 'boolean' },
    nothing: { type: 'null' },
  }),
  allOf: {
    allOf: [
      { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
      { type: 'object', properties: { b: { type: 'integer', maximum: 3 }, a: { maxLength: 4 } }, required: ['b'] },
    ],
  },
  numbers: strict({
    exclusive: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
    tinyRange: { type: 'number', minimum: 0.001, maximum: 0.002 },
    intRange: { type: 'integer', minimum: -5, maximum: -3 },
    draft4: { type: 'number', minimum: 5, exclusiveMinimum: true, maximum: 6, exclusiveMaximum: true },
    stepped: { type: 'number', minimum: 1, maximum: 2, multipleOf: 0.25 },
    onlyMax: { type: 'integer', maximum: -100 },
    unbounded: { type: 'number' },
    rating: { type: 'integer' },
  }),
  strings: strict({
    long: { type: 'string', minLength: 120 },
    short: { type: 'string', maxLength: 5 },
    exact: { type: 'string', minLength: 3, maxLength: 3 },
    when: { type: 'string', format: 'date-time' },
    day: { type: 'string', format: 'date' },
    homepage: { type: 'string', format: 'uri' },
  }),
  arrays: strict({
    none: { type: 'array', items: { type: 'string' }, maxItems: 0 },
    many: { type: 'array', items: { enum: ['a', 'b', 'c', 'd'] }, minItems: 4, uniqueItems: true },
    oneOnly: { type: 'array', items: { type: 'number' }, maxItems: 1 },
  }),
  topLevelArray: { type: 'array', items: { type: 'string', enum: ['x', 'y'] }, minItems: 1 },
  topLevelNumber: { type: 'number', minimum: 3, maximum: 4 },
  openObject: { type: 'object', additionalProperties: { type: 'integer' }, required: ['count'] },
};

describe('schema answers', () => {
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    it(`validate against the ${name} schema for every text`, () => {
      for (const text of TEXTS) {
        const value = JSON.parse(schemaAnswer(schema, analyzeText(text))) as unknown;
        expect(check(schema, value), `${name} / ${JSON.stringify(text)}: ${JSON.stringify(value)}`).toEqual([]);
      }
    });
  }

  it('fills every property, including optional ones', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' }, b: { type: 'integer' } }, required: ['a'] };
    expect(Object.keys(JSON.parse(schemaAnswer(schema, analyzeText('x'))) as object)).toEqual(['a', 'b']);
  });

  it('stops recursive schemas', () => {
    const schema = {
      $ref: '#/$defs/node',
      $defs: { node: strict({ next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }) },
    };
    const value = JSON.parse(schemaAnswer(schema, analyzeText('loop'))) as unknown;
    expect(JSON.stringify(value).length).toBeLessThan(2000);
  });

  it('is deterministic and depends on the text', () => {
    const schema = SCHEMAS.classification ?? {};
    const a = schemaAnswer(schema, analyzeText(TEXTS[0] ?? ''));
    expect(schemaAnswer(schema, analyzeText(TEXTS[0] ?? ''))).toBe(a);
    expect(schemaAnswer(schema, analyzeText('Something else entirely.'))).not.toBe(a);
  });

  it('gives confidences in [0.5, 1) and plausible ratings', () => {
    for (const text of TEXTS) {
      const value = JSON.parse(schemaAnswer(SCHEMAS.classification, analyzeText(text))) as { confidence: number };
      expect(value.confidence).toBeGreaterThanOrEqual(0.5);
      expect(value.confidence).toBeLessThan(1);
    }
    const { rating } = JSON.parse(schemaAnswer(SCHEMAS.numbers, analyzeText('x'))) as { rating: number };
    expect(rating).toBeGreaterThanOrEqual(1);
    expect(rating).toBeLessThanOrEqual(5);
  });

  it('derives summaries and entities from the text', () => {
    const schema = strict({
      summary: { type: 'string' },
      organizations: { type: 'array', items: { type: 'string' } },
      customer_name: { type: 'string' },
    });
    const value = JSON.parse(schemaAnswer(schema, analyzeText(TEXTS[0] ?? ''))) as Record<string, unknown>;
    expect(value.summary).toMatch(/^Acme Corp in Berlin reported a billing problem/u);
    expect(value.organizations).toEqual(['Acme Corp', 'Berlin']);
    expect(value.customer_name).toBe('Acme Corp');
  });
});

describe('enum choice', () => {
  const schema = strict({ label: { type: 'string', enum: ['question', 'complaint', 'praise'] } });
  const label = (text: string): unknown =>
    (JSON.parse(schemaAnswer(schema, analyzeText(text))) as { label: unknown }).label;

  it('prefers a label mentioned in the text, case-insensitively and as a whole word', () => {
    expect(label('This is a COMPLAINT about my invoice.')).toBe('complaint');
    expect(label('Just some Praise for the team!')).toBe('praise');
    // "questions" is not the whole word "question"; "praise" is.
    expect(label('No questions here, only praise.')).toBe('praise');
  });

  it('matches snake_case labels written with spaces', () => {
    const s = strict({ label: { type: 'string', enum: ['shipping_delay', 'billing_issue', 'other'] } });
    expect(
      (JSON.parse(schemaAnswer(s, analyzeText('I have a billing issue with my card'))) as { label: string }).label,
    ).toBe('billing_issue');
  });

  it('chooses by a hash of the text otherwise, covering several labels', () => {
    const seen = new Set<unknown>();
    for (let i = 0; i < 40; i++) seen.add(label(`ticket number ${i}`));
    expect(seen.size).toBe(3);
  });
});

describe('token budget', () => {
  const schema = strict({
    summary: { type: 'string' },
    details: { type: 'string' },
    label: { type: 'string', enum: ['question', 'complaint'] },
    entities: { type: 'array', items: { type: 'string' } },
  });
  const facts = analyzeText(`${TEXTS[0]} ${'More text follows here with many words. '.repeat(20)}`);

  it('shortens strings to fit max tokens and stays valid', () => {
    const full = schemaAnswer(schema, facts);
    expect(estimateTokens(full)).toBeGreaterThan(50);
    for (const maxTokens of [50, 30, 20]) {
      const text = schemaAnswer(schema, facts, maxTokens);
      expect(estimateTokens(text)).toBeLessThanOrEqual(maxTokens);
      expect(check(schema, JSON.parse(text))).toEqual([]);
    }
  });

  it('keeps the structure valid when even that does not fit', () => {
    const text = schemaAnswer(schema, facts, 1);
    expect(check(schema, JSON.parse(text))).toEqual([]);
  });
});

describe('classification coherence', () => {
  const LABELS = ['billing', 'bug', 'feature_request'];
  const scores = (score: Record<string, unknown>): Record<string, unknown> =>
    strict(Object.fromEntries(LABELS.map((label) => [label, score])));
  const single = strict({
    label: { type: 'string', enum: LABELS },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    scores: scores({ type: 'number', minimum: 0, maximum: 1 }),
  });
  const multi = strict({
    label: { type: 'string', enum: LABELS },
    labels: { type: 'array', items: { type: 'string', enum: LABELS }, minItems: 1 },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    scores: scores({ type: 'number', minimum: 0, maximum: 1 }),
  });
  interface Classification {
    label: string;
    labels?: string[];
    confidence: number;
    scores: Record<string, number>;
  }
  const answer = (schema: Record<string, unknown>, text: string): Classification => {
    const value = JSON.parse(schemaAnswer(schema, analyzeText(text))) as Classification;
    expect(check(schema, value), JSON.stringify(value)).toEqual([]);
    return value;
  };
  const texts = [...TEXTS, ...Array.from({ length: 30 }, (_, i) => `ticket number ${i}`)];

  it('gives the chosen label the highest score and makes the confidence equal to it, whatever the text', () => {
    for (const text of texts) {
      const value = answer(single, text);
      const others = Object.entries(value.scores).filter(([label]) => label !== value.label);
      for (const [, score] of others) expect(score).toBeLessThan(value.scores[value.label] ?? 0);
      expect(value.confidence).toBe(value.scores[value.label]);
      const sum = Object.values(value.scores).reduce((a, b) => a + b, 0);
      expect(sum).toBeCloseTo(1, 6);
    }
  });

  it('puts the chosen label first in a multi-label list, with a second label the text supports', () => {
    for (const text of texts) {
      const value = answer(multi, text);
      expect(value.labels?.[0]).toBe(value.label);
      expect(value.confidence).toBe(value.scores[value.label]);
    }
    const both = answer(multi, 'The app crashes every time I pay with my card.');
    expect(both.label).toBe('bug');
    expect(both.labels).toEqual(['bug', 'billing']);
    expect(both.scores.billing).toBeGreaterThanOrEqual(0.5);
    expect(both.scores.billing).toBeLessThan(both.scores.bug ?? 0);
    expect(both.scores.feature_request).toBeLessThan(0.5);
    expect(answer(multi, 'I was charged twice.').labels).toEqual(['billing']);
  });

  it('ranks a runner-up label the text supports second in single-label scores', () => {
    const value = answer(single, 'The app crashes every time I pay with my card.');
    expect(value.label).toBe('bug');
    expect(value.scores.billing).toBeGreaterThan(value.scores.feature_request ?? 1);
  });

  it('keeps scores and confidence valid when their ranges differ', () => {
    const schema = strict({
      label: { type: 'string', enum: LABELS },
      confidence: { type: 'number', minimum: 0, maximum: 1 },
      scores: scores({ type: 'integer', minimum: 0, maximum: 100 }),
    });
    for (const text of texts) {
      const value = answer(schema, text);
      for (const [label, score] of Object.entries(value.scores)) {
        if (label !== value.label) expect(score).toBeLessThan(value.scores[value.label] ?? 0);
      }
      expect(value.confidence).toBeLessThanOrEqual(1);
    }
  });

  it('leaves objects alone whose scores do not match the enum', () => {
    const schema = strict({
      label: { type: 'string', enum: ['a', 'b'] },
      scores: strict({ a: { type: 'number' }, c: { type: 'number' } }),
    });
    for (const text of texts) answer(schema, text);
  });

  it('stays valid within a token budget', () => {
    for (const maxTokens of [10, 25, 40]) {
      const value = JSON.parse(schemaAnswer(multi, analyzeText('I was charged twice.'), maxTokens)) as Classification;
      expect(check(multi, value)).toEqual([]);
      expect(value.labels?.[0]).toBe(value.label);
    }
  });
});

describe('label cues', () => {
  const schema = strict({ label: { type: 'string', enum: ['billing', 'bug', 'feature_request'] } });
  const label = (text: string, s: Record<string, unknown> = schema): unknown =>
    (JSON.parse(schemaAnswer(s, analyzeText(text))) as { label: unknown }).label;

  it('classifies typical support tickets by their words', () => {
    const cases: [string, string][] = [
      ['I was charged twice for my subscription this month.', 'billing'],
      ['My invoice shows the wrong VAT number.', 'billing'],
      ['Refund my last payment, I cancelled before renewal.', 'billing'],
      ['Why was my card declined at checkout?', 'billing'],
      ['Login fails with error 500 since this morning.', 'bug'],
      ['The export button crashes the app on Windows.', 'bug'],
      ['The mobile app freezes when I upload a photo.', 'bug'],
      ['Could you add dark mode to the dashboard?', 'feature_request'],
      ['It would be great to schedule reports weekly.', 'feature_request'],
      ['Please support exporting reports as CSV.', 'feature_request'],
    ];
    for (const [text, expected] of cases) expect(label(text), text).toBe(expected);
  });

  it('applies cues to labels written differently and to sentiment', () => {
    const kinds = strict({ label: { enum: ['Billing-Issue', 'Bug Report', 'Feature'] } });
    expect(label('I was charged twice.', kinds)).toBe('Billing-Issue');
    expect(label('It crashes on start.', kinds)).toBe('Bug Report');
    expect(label('Please add an export.', kinds)).toBe('Feature');
    const sentiment = strict({ label: { type: 'string', enum: ['positive', 'negative', 'neutral'] } });
    expect(label('Thanks, great service!', sentiment)).toBe('positive');
    expect(label('This is the worst update ever.', sentiment)).toBe('negative');
  });

  it('counts a label named in the text, but less than cue words', () => {
    expect(label('A billing question: which plan am I on?')).toBe('billing');
    expect(label('The billing portal crashes when I open it.')).toBe('bug');
    const withAccount = strict({ label: { type: 'string', enum: ['billing', 'bug', 'feature_request', 'account'] } });
    expect(label('Please transfer ownership of our workspace to Sarah Chen.', withAccount)).toBe('account');
  });
});

describe('word limits', () => {
  const text = `${TEXTS[0]} ${'More text follows here with many words. '.repeat(5)}`;
  const words = (value: unknown): number => String(value).split(/\s+/u).filter(Boolean).length;

  it('caps summaries, and an object’s only free-text string, at the word limit', () => {
    const schema = strict({
      summary: { type: 'string' },
      short_summary: { type: 'string' },
      description: { type: 'string' },
      label: { type: 'string', enum: ['a', 'b'] },
    });
    const value = JSON.parse(schemaAnswer(schema, analyzeText(text), undefined, 6)) as Record<string, string>;
    expect(check(schema, value)).toEqual([]);
    expect(words(value.summary)).toBeLessThanOrEqual(6);
    expect(words(value.short_summary)).toBeLessThanOrEqual(6);
    expect(words(value.description)).toBeGreaterThan(6);

    const only = strict({ answer: { type: 'string' }, confidence: { type: 'number' } });
    const answer = JSON.parse(schemaAnswer(only, analyzeText(text), undefined, 4)) as { answer: string };
    expect(answer.answer).toBe('Acme Corp in Berlin');
  });

  it('prefers whole sentences that fit', () => {
    const schema = strict({ summary: { type: 'string' } });
    const value = JSON.parse(schemaAnswer(schema, analyzeText('One two three. Four five six. Seven.'), undefined, 7));
    expect(value).toEqual({ summary: 'One two three. Four five six.' });
  });

  it('gives way to minLength, which validity needs', () => {
    const schema = strict({ summary: { type: 'string', minLength: 80 } });
    const value = JSON.parse(schemaAnswer(schema, analyzeText(text), undefined, 3)) as { summary: string };
    expect(check(schema, value)).toEqual([]);
  });
});
