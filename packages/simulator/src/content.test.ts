import { describe, expect, it } from 'vitest';
import { generateContent, readPrompt } from './content.js';
import { estimateTokens } from './text.js';

const words = (text: string): number => text.split(/\s+/u).filter(Boolean).length;
const LONG =
  'The customer called because the nightly sync failed three times this week. Support found an expired API token, rotated it, and the sync completed.';

describe('instructions in the system message', () => {
  const maxWords = (system: string): number | undefined => readPrompt('', system).maxWords;

  it('reads word limits, case-insensitively, keeping the smallest', () => {
    expect(maxWords('Use at most 25 words.')).toBe(25);
    expect(maxWords('Keep it UNDER 10 words')).toBe(10);
    expect(maxWords('Reply in 12 words or fewer. Never more than at most 30 words.')).toBe(12);
    expect(maxWords('Keep the summary under 60 tokens.')).toBeUndefined();
  });

  it('reads the fields of an extraction request as snake_case keys', () => {
    const keys = (system: string): string[] | undefined => readPrompt('', system).extractKeys;
    expect(keys('Extract contact, title, company, seat_count, and timeline.')).toEqual([
      'contact',
      'title',
      'company',
      'seat_count',
      'timeline',
    ]);
    expect(keys('Please extract the Seat Count and dealValue from the email!')).toEqual(['seat_count', 'deal_value']);
    expect(keys('Extract the following fields:\n- contact (string)\n- start date\n\nBe brief.')).toEqual([
      'contact',
      'start_date',
    ]);
    // The generic preamble names no fields; the request after it does.
    expect(keys('Extract structured data from the content of the user message. Extract name and email.')).toEqual([
      'name',
      'email',
    ]);
    expect(keys('Extract structured data from the content of the user message.')).toBeUndefined();
    expect(keys('Summarize the text.')).toBeUndefined();
  });
});

describe('json_object extraction', () => {
  const SYSTEM = 'Extract contact, title, company, seat_count, and timeline.';
  const extract = (text: string, system = SYSTEM, maxTokens?: number): Record<string, unknown> =>
    JSON.parse(generateContent({ type: 'json_object' }, readPrompt(text, system), maxTokens)) as Record<
      string,
      unknown
    >;

  it('answers exactly the requested keys with values from the text', () => {
    expect(extract("Hi, I'm Dana Lee, Head of IT at Globex Corp. We need 50 seats by Q3 2025.")).toEqual({
      contact: 'Dana Lee',
      title: 'Head of IT',
      company: 'Globex Corp',
      seat_count: 50,
      timeline: 'Q3 2025',
    });
    expect(
      extract(
        'Maria Garcia wants 120 licenses for 3 teams, starting next month. Budget is $48,000.',
        'Extract the contact, team count, budget, license count and start date.',
      ),
    ).toEqual({ contact: 'Maria Garcia', team_count: 3, budget: 48000, license_count: 120, start_date: 'next month' });
  });

  it('uses null when nothing fits', () => {
    expect(extract('hello')).toEqual({ contact: null, title: null, company: null, seat_count: null, timeline: null });
  });

  it('finds written dates and amounts of money', () => {
    const text = 'Northwind Traders agrees to deliver 500 units to Contoso GmbH by June 30, 2026 for 48,500 EUR.';
    expect(extract(text, 'Extract supplier, amount, and delivery date.')).toEqual({
      supplier: 'Northwind Traders',
      amount: 48500,
      delivery_date: 'June 30, 2026',
    });
  });

  it('keeps its keys within a token budget', () => {
    const text = "Hi, I'm Dana Lee, Head of IT at Globex Corp. We need 50 seats by Q3 2025.";
    const capped = generateContent({ type: 'json_object' }, readPrompt(text, SYSTEM), 20);
    expect(estimateTokens(capped)).toBeLessThanOrEqual(20);
    expect(Object.keys(JSON.parse(capped) as object)).toEqual([
      'contact',
      'title',
      'company',
      'seat_count',
      'timeline',
    ]);
  });

  it('falls back to the result object without an extraction request', () => {
    expect(extract('Hello there.', 'Answer in JSON.')).toEqual({ result: 'Hello there.', simulated: true });
  });
});

describe('word limits in text answers', () => {
  it('caps plain answers, counting the prefix', () => {
    for (const limit of [1, 5, 12, 40]) {
      const text = generateContent({ type: 'text' }, readPrompt(LONG, `Answer in ${limit} words or fewer.`));
      expect(text.startsWith('[simulated]')).toBe(true);
      expect(words(text)).toBeLessThanOrEqual(limit);
    }
    expect(generateContent({ type: 'text' }, readPrompt(LONG, 'At most 13 words.'))).toBe(
      '[simulated] The customer called because the nightly sync failed three times this week.',
    );
  });

  it('caps the json_object fallback result', () => {
    const value = JSON.parse(generateContent({ type: 'json_object' }, readPrompt(LONG, 'Under 5 words.'))) as {
      result: string;
    };
    expect(words(value.result)).toBeLessThanOrEqual(5);
  });
});
