import { createLogger, UpstreamError, upstreamErrorFromResponse } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { grammarSchema, isDialectRejection, parseAnswerJson, StructuredOutputNegotiator } from './structured-output.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const refusal = (status: number, message: string) =>
  upstreamErrorFromResponse(status, { error: { message } }, undefined) as UpstreamError;

describe('isDialectRejection', () => {
  it('recognises the usual answers to a response_format a server does not speak', () => {
    const refusals = [
      refusal(
        500,
        "[{'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\"}]",
      ),
      refusal(
        422,
        'Failed to deserialize the JSON body into the target type: response_format: unknown variant `json_schema`, expected `json` or `regex`',
      ),
      refusal(400, 'Unrecognized request argument supplied: response_format'),
      refusal(400, "'json_schema' is not supported with this model."),
    ];
    for (const error of refusals) expect(isDialectRejection(error)).toBe(true);
  });

  it('leaves transient faults, other bad requests and rejected schemas alone', () => {
    const others = [
      refusal(500, 'The server had an error while processing your request.'),
      refusal(503, 'response_format json_schema: overloaded'),
      refusal(429, 'Rate limit reached for requests'),
      refusal(400, "Invalid 'messages': expected a non-empty array of messages."),
      refusal(
        400,
        "Invalid schema for response_format 'x': 'additionalProperties' is required to be supplied and to be false.",
      ),
      new UpstreamError('upstream_timeout', 'the upstream did not answer in time', null, null, { retriable: true }),
    ];
    for (const error of others) expect(isDialectRejection(error)).toBe(false);
  });
});

describe('StructuredOutputNegotiator', () => {
  const auto = { default: 'auto' as const, perModel: {} };

  it('falls back one dialect per refusal, settles on the first answer, and remembers it per model', async () => {
    const negotiator = new StructuredOutputNegotiator('http://upstream/v1', auto, logger);
    const first = await negotiator.lease('m');
    expect(first.dialect).toBe('json_schema');
    expect(first.rejected(refusal(422, 'response_format'))).toBe('json_object');
    const second = await negotiator.lease('m');
    expect(second.dialect).toBe('json_object');
    second.accepted();
    expect(negotiator.current('m')).toEqual({ dialect: 'json_object', settled: true });
    expect((await negotiator.lease('m')).dialect).toBe('json_object');
    expect((await negotiator.lease('other')).dialect).toBe('json_schema');
  });

  it('holds other calls while one probes an unsettled dialect', async () => {
    const negotiator = new StructuredOutputNegotiator('http://upstream/v1', auto, logger);
    const probe = await negotiator.lease('m');
    const order: string[] = [];
    const waiting = negotiator.lease('m').then((lease) => {
      order.push(`waiter:${lease.dialect}`);
      return lease;
    });
    await Promise.resolve();
    order.push('probe refused');
    probe.rejected(refusal(400, 'response_format is not supported'));
    const next = await waiting;
    expect(order).toEqual(['probe refused', 'waiter:json_object']);
    next.inconclusive(); // a timeout teaches nothing: the next call probes again
    expect((await negotiator.lease('m')).dialect).toBe('json_object');
  });

  it('walks only the dialects the configured mode allows', async () => {
    const negotiator = new StructuredOutputNegotiator(
      'http://upstream/v1',
      { default: 'json_schema', perModel: { local: 'json_object' } },
      logger,
    );
    const forced = await negotiator.lease('m');
    expect(forced.rejected(refusal(422, 'response_format'))).toBeNull();
    const local = await negotiator.lease('local');
    expect(local.dialect).toBe('json_object');
    expect(local.rejected(refusal(422, 'response_format'))).toBe('json_value');
    const tgi = await negotiator.lease('local');
    expect(tgi.rejected(refusal(422, 'response_format'))).toBeNull();
  });
});

describe('grammarSchema', () => {
  it('sends numbers bounded within [0, 1] as a grid a grammar enforces, and leaves the rest alone', () => {
    const schema = {
      type: 'object',
      properties: {
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        scores: { type: 'object', properties: { a: { type: 'number', minimum: 0.5, maximum: 1 } } },
        count: { type: 'number', minimum: 0, maximum: 10 },
        label: { type: 'string', enum: ['a', 'b'] },
      },
    };
    const sent = grammarSchema(schema) as {
      properties: Record<string, { enum?: number[]; properties?: Record<string, { enum?: number[] }> }>;
    };
    expect(sent.properties.confidence?.enum).toHaveLength(101);
    expect(sent.properties.confidence?.enum?.slice(0, 3)).toEqual([0, 0.01, 0.02]);
    expect(sent.properties.scores?.properties?.a?.enum?.[0]).toBe(0.5);
    expect(sent.properties.count).toEqual({ type: 'number', minimum: 0, maximum: 10 });
    expect(sent.properties.label).toEqual({ type: 'string', enum: ['a', 'b'] });
    expect(schema.properties.confidence).toEqual({ type: 'number', minimum: 0, maximum: 1 }); // not changed in place
  });
});

describe('parseAnswerJson', () => {
  it('takes strict JSON in every dialect, and the JSON inside a fence or prose only where JSON was not enforced', () => {
    expect(parseAnswerJson('{"a": 1}', 'json_schema')).toEqual({ a: 1 });
    expect(parseAnswerJson('Sure!\n```json\n{"a": 1}\n```', 'prompt')).toEqual({ a: 1 });
    expect(parseAnswerJson('Here it is: {"a": {"b": 2}} hope it helps', 'json_object')).toEqual({ a: { b: 2 } });
    expect(() => parseAnswerJson('```json\n{"a": 1}\n```', 'json_schema')).toThrow(SyntaxError);
    expect(() => parseAnswerJson('no json here', 'prompt')).toThrow(SyntaxError);
  });
});
