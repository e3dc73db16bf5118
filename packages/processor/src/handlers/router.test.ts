import { domainAsOperation, DomainRequest } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { HandlerRouter } from './index.js';
import { PRESENTERS } from './presenters.js';
import type { HandlerAnswer } from './types.js';

const router = new HandlerRouter();

const line = {
  model: 'extract',
  text: 'Contract: Acme Corp pays Globex Ltd. Signed by Maria Lopez.',
  entities: ['company', { name: 'person', description: 'people who sign' }],
  instruction: 'Only names that appear verbatim.',
} as const;

describe('one handler per operation, for both APIs', () => {
  it('routes the domain operations and every operation to the same handlers; the domain API names only its own', () => {
    for (const operation of ['classify', 'extract', 'summarize', 'enrich', 'run'])
      expect(router.route('operations', operation)).toBeDefined();
    for (const operation of ['classify', 'extract', 'summarize'])
      expect(router.route('domain', operation)).toBeDefined();
    expect(router.route('domain', 'enrich')).toBeUndefined();
    expect(router.route('openai', '/v1/chat/completions')).toBeDefined();
  });

  it("reads a domain line's own body (an outside producer's) as ingest's {params, item}", () => {
    const request = router.route('domain', 'extract')?.request;
    const { params, item } = domainAsOperation(DomainRequest.parse(line));
    const fromIngest = request?.safeParse({ params, item });
    const fromOutside = request?.safeParse(line);
    expect(fromIngest?.success).toBe(true);
    expect(fromOutside?.data).toEqual(fromIngest?.data);
  });

  it("names what is wrong with a domain line's own body by its field", () => {
    const parsed = router
      .route('domain', 'classify')
      ?.request.safeParse({ model: 'classify', text: 'x', labels: ['a'] });
    expect(parsed?.success).toBe(false);
    expect(parsed?.error?.issues[0]?.path).toEqual(['labels']);
  });
});

describe('presenters', () => {
  const answer: HandlerAnswer = {
    value: { company: ['Acme Corp', 'Globex Ltd'], person: ['Maria Lopez'] },
    completion: { id: 'chatcmpl-1', created: 1_700_000_000, model: 'gpt-4o-mini' },
    requestId: 'req_1',
    usage: { input_tokens: 100, output_tokens: 20 },
    attempts: 1,
    cached: false,
    upstream: 'default',
  };
  const { params, item } = domainAsOperation(DomainRequest.parse(line));

  it('the domain API: the domain result as JSON in a ChatCompletion named for its operation, spans in the text', () => {
    const outcome = PRESENTERS.domain(answer, 'extract', { params, item });
    expect(outcome).toEqual({
      response: {
        status_code: 200,
        request_id: 'req_1',
        body: {
          id: 'chatcmpl-1',
          object: 'chat.completion',
          created: 1_700_000_000,
          model: 'extract',
          choices: [
            {
              index: 0,
              message: {
                role: 'assistant',
                content: JSON.stringify({
                  entities: [
                    {
                      name: 'company',
                      mentions: [
                        { value: 'Acme Corp', start: 10, end: 19 },
                        { value: 'Globex Ltd', start: 25, end: 35 },
                      ],
                    },
                    { name: 'person', mentions: [{ value: 'Maria Lopez', start: 47, end: 58 }] },
                  ],
                }),
              },
              finish_reason: 'stop',
            },
          ],
          usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
        },
      },
      usage: answer.usage,
      attempts: 1,
      cached: false,
      upstream: 'default',
      model: 'gpt-4o-mini',
    });
  });

  it('the operations API: the result itself, the item echoed, the model that answered', () => {
    const outcome = PRESENTERS.operations(answer, 'extract', { params, item });
    expect(outcome).toMatchObject({ response: { body: answer.value }, item, model: 'gpt-4o-mini' });
  });

  it("the OpenAI API: the upstream's body, a reused one's prompt counted as cached", () => {
    const body = { model: 'gpt-4o-mini', usage: { prompt_tokens: 7, completion_tokens: 2 } };
    const outcome = PRESENTERS.openai(
      { ...answer, value: body, completion: null, cached: true },
      '/v1/chat/completions',
      {},
    );
    expect(outcome.response.body).toEqual({
      ...body,
      usage: { ...body.usage, prompt_tokens_details: { cached_tokens: 7 } },
    });
  });
});
