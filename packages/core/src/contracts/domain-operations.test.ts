import { describe, expect, it } from 'vitest';
import { DomainRequest } from './domain.js';
import { domainAsOperation, domainResultOf, locate } from './domain-operations.js';
import { ExtractParams, OPERATION_ITEM_PARAMS, operationItemBody } from './operations.js';

/** A domain body as ingest reads it, then as the processor reads the message it became. */
const asMessageBody = (body: Record<string, unknown>) => {
  const { operation, params, item } = domainAsOperation(DomainRequest.parse(body));
  return { operation, body: operationItemBody(OPERATION_ITEM_PARAMS[operation]).parse({ params, item }) };
};

describe('a domain line as its operation', () => {
  it('classify: labels are the categories, the system prompt is kept, one label per item', () => {
    const { operation, body } = asMessageBody({
      model: 'classify',
      text: 'I was charged twice',
      labels: ['billing', 'bug'],
      system_prompt: 'You triage tickets.',
    });
    expect(operation).toBe('classify');
    expect(body).toEqual({
      params: { categories: ['billing', 'bug'], system_prompt: 'You triage tickets.', multi_label: false },
      item: { content: 'I was charged twice' },
    });
  });

  it('extract: each entity is a list field (any name, described or not, named once), with the instruction', () => {
    const { body } = asMessageBody({
      model: 'extract',
      text: 'Signed by Maria Lopez on 3 March.',
      entities: ['date of birth', { name: 'person', description: 'people who sign' }, 'person'],
      instruction: 'Only names that appear verbatim.',
    });
    expect(body.params).toMatchObject({
      fields: [
        { name: 'date of birth', type: 'list' },
        { name: 'person', type: 'list', description: 'people who sign' },
      ],
    });
    expect((body.params as { extraction_instructions: string }).extraction_instructions).toMatch(
      /copied exactly as written\. Only names that appear verbatim\.$/,
    );
  });

  it('summarize: the instructions follow the abstractive one, and max_tokens bounds the summary', () => {
    const { body } = asMessageBody({
      model: 'summarize',
      text: 'A long call.',
      instructions: 'One line.',
      max_tokens: 30,
    });
    expect(body.params).toEqual({ summary_instructions: 'Write an abstractive summary. One line.', max_tokens: 30 });
    const bare = asMessageBody({ model: 'summarize', text: 'A long call.' });
    expect(bare.body.params).toEqual({ summary_instructions: 'Write an abstractive summary.' });
  });

  it("a field named as a domain entity is a message's, not the HTTP operations API's", () => {
    const params = { extraction_instructions: 'x', fields: [{ name: 'date of birth' }] };
    expect(OPERATION_ITEM_PARAMS.extract.safeParse(params).success).toBe(true);
    expect(ExtractParams.safeParse(params).success).toBe(false);
  });
});

describe("an operation's result as the domain result", () => {
  it('extract: every entity in request order, its values located in the text; a field not found has no mentions', () => {
    const text = 'Acme Corp pays Globex. Acme Corp signs.';
    const { body } = asMessageBody({ model: 'extract', text, entities: ['company', 'person'] });
    expect(domainResultOf('extract', body, { person: null, company: ['Acme Corp', 'acme corp', 'Initech'] })).toEqual({
      entities: [
        {
          name: 'company',
          mentions: [
            { value: 'Acme Corp', start: 0, end: 9 },
            { value: 'acme corp', start: 0, end: 9 },
            { value: 'Initech', start: null, end: null },
          ],
        },
        { name: 'person', mentions: [] },
      ],
    });
  });

  it("classify and summarize: the domain's keys only", () => {
    const { body } = asMessageBody({ model: 'classify', text: 'x', labels: ['a', 'b'] });
    const scores = { a: 0.9, b: 0.1 };
    expect(domainResultOf('classify', body, { label: 'a', labels: ['a'], confidence: 0.9, scores })).toEqual({
      label: 'a',
      confidence: 0.9,
      scores,
    });
    expect(domainResultOf('summarize', body, { summary: 'Short.' })).toEqual({ summary: 'Short.' });
  });

  it('locate: repeated values map to successive occurrences', () => {
    expect(locate('a b a', ['a', 'a', 'a'])).toEqual([
      { value: 'a', start: 0, end: 1 },
      { value: 'a', start: 4, end: 5 },
      { value: 'a', start: null, end: null },
    ]);
  });
});
