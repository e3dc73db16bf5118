import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SIMULATED_HEADER, startSimulator, type Simulator, type SimulatorOptions } from './index.js';
import { estimateTokens } from './text.js';

interface Answer {
  status: number;
  headers: Headers;
  body: Record<string, unknown>;
  ms: number;
}

async function post(sim: Simulator, path: string, body: unknown, init: RequestInit = {}): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${sim.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
  const json = (await response.json()) as Record<string, unknown>;
  return { status: response.status, headers: response.headers, body: json, ms: performance.now() - started };
}

const chat = (text: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are a ticket classifier.' },
    { role: 'user', content: text },
  ],
  ...extra,
});

function content(answer: Answer): string {
  const choices = answer.body.choices as { message: { content: string } }[];
  return choices[0]?.message.content ?? '';
}

const TICKET = 'Acme Corp in Berlin sent a complaint: the invoice from March is wrong and John Smith wants a refund.';

const TICKET_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['category', 'confidence', 'summary', 'entities', 'urgent'],
  properties: {
    category: { type: 'string', enum: ['question', 'complaint', 'praise'] },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    summary: { type: 'string', maxLength: 200 },
    entities: { type: 'array', items: { type: 'string' }, maxItems: 4 },
    urgent: { type: ['boolean', 'null'] },
  },
};
const jsonSchema = (schema: unknown): Record<string, unknown> => ({
  response_format: { type: 'json_schema', json_schema: { name: 'ticket', schema, strict: true } },
});

const started: Simulator[] = [];
async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const sim = await startSimulator({ port: 0, ...options });
  started.push(sim);
  return sim;
}
afterAll(async () => {
  await Promise.all(started.map((sim) => sim.close()));
});

describe('chat completions', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await simulator();
  });

  it('answers a schema-following ChatCompletion', async () => {
    const answer = await post(sim, '/chat/completions', chat(TICKET, jsonSchema(TICKET_SCHEMA)));
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({
      object: 'chat.completion',
      model: 'gpt-4o-mini',
      system_fingerprint: 'sluice-simulator',
      choices: [{ index: 0, finish_reason: 'stop', logprobs: null, message: { role: 'assistant', refusal: null } }],
    });
    expect(answer.body.id).toMatch(/^chatcmpl-[0-9a-f]{24}$/u);
    const value = JSON.parse(content(answer)) as Record<string, unknown>;
    expect(Object.keys(value).sort()).toEqual([...TICKET_SCHEMA.required].sort());
    expect(value.category).toBe('complaint');
    expect(value.confidence).toBeGreaterThanOrEqual(0.5);
    expect(value.confidence).toBeLessThanOrEqual(1);
    expect(value.summary).toMatch(/^Acme Corp in Berlin sent a complaint/u);
    expect(value.entities).toEqual(['Acme Corp', 'Berlin']);
    expect(typeof value.urgent).toBe('boolean');
    const usage = answer.body.usage as Record<string, number>;
    expect(usage.completion_tokens).toBe(estimateTokens(content(answer)));
    expect(usage.total_tokens).toBe((usage.prompt_tokens ?? 0) + (usage.completion_tokens ?? 0));
    expect(answer.headers.get(SIMULATED_HEADER)).toBe('true');
    expect(answer.headers.get('x-request-id')).toMatch(/^req_/u);
  });

  it('gives the same content for the same request, whatever the seed', async () => {
    const other = await simulator({ seed: 42 });
    const request = chat('Where is my parcel? It was due on Monday.', jsonSchema(TICKET_SCHEMA));
    const first = content(await post(sim, '/chat/completions', request));
    expect(content(await post(sim, '/chat/completions', request))).toBe(first);
    expect(content(await post(other, '/chat/completions', request))).toBe(first);
    const different = content(
      await post(sim, '/chat/completions', chat('Thanks, great service!', jsonSchema(TICKET_SCHEMA))),
    );
    expect(different).not.toBe(first);
  });

  it('prefers the enum label that the last user message mentions', async () => {
    for (const label of ['question', 'complaint', 'praise']) {
      const answer = await post(
        sim,
        '/chat/completions',
        chat(`Customer note (a ${label}): order #12 arrived.`, jsonSchema(TICKET_SCHEMA)),
      );
      expect((JSON.parse(content(answer)) as { category: string }).category).toBe(label);
    }
  });

  it('answers plain text and json_object formats', async () => {
    const plain = content(await post(sim, '/chat/completions', chat(TICKET)));
    expect(plain.startsWith('[simulated] ')).toBe(true);
    const object = JSON.parse(
      content(await post(sim, '/chat/completions', chat(TICKET, { response_format: { type: 'json_object' } }))),
    );
    expect(object).toMatchObject({ simulated: true });
    expect(typeof (object as { result: unknown }).result).toBe('string');
  });

  it('reads word limits and extraction requests from the system message', async () => {
    const withSystem = (
      system: string,
      text: string,
      extra: Record<string, unknown> = {},
    ): Record<string, unknown> => ({
      model: 'gpt-4o-mini',
      messages: [
        { role: 'system', content: system },
        { role: 'user', content: text },
      ],
      ...extra,
    });
    const plain = content(await post(sim, '/chat/completions', withSystem('Reply in at most 6 words.', TICKET)));
    expect(plain.split(/\s+/u).length).toBeLessThanOrEqual(6);
    const summary = {
      type: 'object',
      properties: { summary: { type: 'string' }, category: TICKET_SCHEMA.properties.category },
      required: ['summary', 'category'],
      additionalProperties: false,
    };
    const summarized = JSON.parse(
      content(
        await post(sim, '/chat/completions', withSystem('Summarize under 5 words.', TICKET, jsonSchema(summary))),
      ),
    ) as { summary: string };
    expect(summarized.summary).toBe('Acme Corp in Berlin sent');

    const extracted = content(
      await post(
        sim,
        '/chat/completions',
        withSystem(
          'Extract contact, title, company, seat_count, and timeline.',
          "Hi, I'm Dana Lee, Head of IT at Globex Corp. We need 50 seats by Q3 2025.",
          { response_format: { type: 'json_object' } },
        ),
      ),
    );
    expect(JSON.parse(extracted)).toEqual({
      contact: 'Dana Lee',
      title: 'Head of IT',
      company: 'Globex Corp',
      seat_count: 50,
      timeline: 'Q3 2025',
    });
  });

  it('answers classifications whose label, scores and confidence agree', async () => {
    const labels = ['billing', 'bug', 'feature_request'];
    const schema = {
      type: 'object',
      additionalProperties: false,
      required: ['label', 'confidence', 'scores'],
      properties: {
        label: { type: 'string', enum: labels },
        confidence: { type: 'number', minimum: 0, maximum: 1 },
        scores: {
          type: 'object',
          additionalProperties: false,
          required: labels,
          properties: Object.fromEntries(labels.map((l) => [l, { type: 'number', minimum: 0, maximum: 1 }])),
        },
      },
    };
    const answer = await post(sim, '/chat/completions', chat('I was charged twice this month.', jsonSchema(schema)));
    const value = JSON.parse(content(answer)) as { label: string; confidence: number; scores: Record<string, number> };
    expect(value.label).toBe('billing');
    expect(value.confidence).toBe(value.scores.billing);
    expect(Math.max(...Object.values(value.scores))).toBe(value.scores.billing);
  });

  it('accepts content parts and respects max_tokens / max_completion_tokens', async () => {
    const long = `${TICKET} ${'The details go on and on. '.repeat(40)}`;
    const parts = { model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: long }] }] };
    const plain = await post(sim, '/chat/completions', { ...parts, max_tokens: 5 });
    expect(estimateTokens(content(plain))).toBeLessThanOrEqual(5);
    expect((plain.body.usage as { completion_tokens: number }).completion_tokens).toBeLessThanOrEqual(5);

    const schema = {
      type: 'object',
      properties: { summary: { type: 'string' } },
      required: ['summary'],
      additionalProperties: false,
    };
    const full = content(await post(sim, '/chat/completions', { ...parts, ...jsonSchema(schema) }));
    expect(estimateTokens(full)).toBeGreaterThan(20);
    const capped = content(
      await post(sim, '/chat/completions', { ...parts, ...jsonSchema(schema), max_completion_tokens: 20 }),
    );
    expect(estimateTokens(capped)).toBeLessThanOrEqual(20);
    expect(typeof (JSON.parse(capped) as { summary: unknown }).summary).toBe('string');
  });

  it('rejects invalid requests with OpenAI-shaped 400s', async () => {
    const cases: [unknown, RegExp][] = [
      ['{not json', /parse the JSON body/u],
      [{ messages: [{ role: 'user', content: 'x' }] }, /'model'/u],
      [{ model: 'm' }, /'messages'/u],
      [{ model: 'm', messages: [] }, /non-empty/u],
      [{ model: 'm', messages: [{ role: 'robot', content: 'x' }] }, /role/u],
      [chat('x', { stream: true }), /stream/u],
      [chat('x', { max_tokens: 0 }), /max_tokens/u],
      [chat('x', { response_format: { type: 'xml' } }), /response_format/u],
      [chat('x', { response_format: { type: 'json_schema', json_schema: { schema: {} } } }), /name/u],
    ];
    for (const [body, message] of cases) {
      const answer = await post(sim, '/chat/completions', body);
      expect(answer.status, JSON.stringify(body)).toBe(400);
      const error = answer.body.error as Record<string, unknown>;
      expect(error).toMatchObject({ type: 'invalid_request_error', message: expect.stringMatching(message) });
      expect(Object.keys(error).sort()).toEqual(['code', 'message', 'param', 'type']);
      expect(answer.headers.get(SIMULATED_HEADER)).toBe('true');
    }
    const missing = await post(sim, '/nothing', {});
    expect(missing.status).toBe(404);
    expect(missing.body.error).toMatchObject({ code: 'unknown_url' });
  });

  it('obeys the sim:status, sim:malformed and sim:latency directives', async () => {
    for (let i = 0; i < 2; i++) {
      const answer = await post(sim, '/chat/completions', chat('please fail sim:status=400'));
      expect(answer.status).toBe(400);
      expect(answer.body.error).toMatchObject({ type: 'invalid_request_error', param: null });
    }
    const throttled = await post(sim, '/chat/completions', chat('sim:status=429'));
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get('retry-after')).toBe('1');
    expect((await post(sim, '/chat/completions', chat('sim:status=503'))).status).toBe(503);

    const malformed = content(
      await post(sim, '/chat/completions', chat(`${TICKET} sim:malformed`, jsonSchema(TICKET_SCHEMA))),
    );
    expect(() => JSON.parse(malformed)).toThrow();
    const slow = await post(sim, '/chat/completions', chat('slow please sim:latency=150'));
    expect(slow.status).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(140);
    expect(content(slow)).not.toContain('sim:');
  });
});

describe('other routes', () => {
  it('lists models (the readiness probe), serves stats, and refuses the routes it does not simulate', async () => {
    const sim = await simulator();
    const models = await fetch(`${sim.url}/models`);
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toContain('gpt-4o-mini');
    const base = sim.url.replace(/\/v1$/u, '');
    expect((await (await fetch(`${base}/sim/stats`)).json()) as object).toMatchObject({ requests: 0 });
    const embeddings = await post(sim, '/embeddings', { model: 'text-embedding-3-small', input: 'x' });
    expect(embeddings.status).toBe(404);
    expect(embeddings.body.error).toMatchObject({ code: 'unknown_url' });
    expect(embeddings.headers.get(SIMULATED_HEADER)).toBe('true');
  });
});

describe('limits, faults and latency', () => {
  it("enforces rpm as a refilling budget: a burst of a second's worth, 429 + retry-after, then one per refill", async () => {
    // 240 rpm = 4 per second: a budget of 4 that refills one request every 250 ms.
    const sim = await simulator({ rpm: 240 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const answer = await post(sim, '/chat/completions', chat(`ok ${i}`));
      statuses.push(answer.status);
      expect(answer.headers.get('x-ratelimit-limit-requests')).toBe('240');
      expect(Number(answer.headers.get('x-ratelimit-remaining-requests'))).toBeLessThanOrEqual(3 - i + 1);
      expect(answer.headers.get('x-ratelimit-reset-requests')).toMatch(/^\d+ms$|^[\d.]+s$/u);
    }
    const limited = await post(sim, '/chat/completions', chat('one too many'));
    expect(statuses).toEqual([200, 200, 200, 200]);
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests' });
    expect(limited.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(limited.headers.get('x-ratelimit-limit-requests')).toBe('240');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const waitMs = Number(limited.headers.get('retry-after-ms'));
    expect(waitMs).toBeGreaterThan(0);
    expect(waitMs).toBeLessThanOrEqual(250);
    await new Promise((resolve) => setTimeout(resolve, waitMs + 20));
    expect((await post(sim, '/chat/completions', chat('refilled'))).status).toBe(200);
    // One refill is one request, not a new window's worth.
    expect((await post(sim, '/chat/completions', chat('too soon'))).status).toBe(429);
    const stats = sim.stats();
    expect(stats.rateLimited).toBe(2);
    expect(stats.byStatus).toEqual({ '200': 5, '429': 2 });
  });

  it("enforces tpm on prompt + max_tokens, with OpenAI's reset format", async () => {
    const sim = await simulator({ tpm: 6000 }); // 100 tokens per second, a budget of 100
    const request = (maxTokens: number): Record<string, unknown> => ({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: maxTokens,
    });
    expect((await post(sim, '/chat/completions', request(40))).status).toBe(200);
    const second = await post(sim, '/chat/completions', request(40));
    expect(Number(second.headers.get('x-ratelimit-remaining-tokens'))).toBeLessThanOrEqual(100 - 2 * 41 + 15);
    expect(second.headers.get('x-ratelimit-limit-tokens')).toBe('6000');
    const limited = await post(sim, '/chat/completions', request(40));
    expect(limited.status).toBe(429);
    expect(limited.body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'tokens' });
    expect(limited.headers.get('x-ratelimit-reset-tokens')).toMatch(/^\d+ms$/u);
    expect((await post(sim, '/chat/completions', request(10))).status).toBe(200);
    const tooLarge = await post(sim, '/chat/completions', request(7000));
    expect(tooLarge.status).toBe(429);
    expect(tooLarge.body.error).toMatchObject({ message: expect.stringMatching(/Request too large/u) });
  });

  it('errorRate=1 answers 5xx', async () => {
    const sim = await simulator({ errorRate: 1 });
    for (let i = 0; i < 6; i++) {
      const answer = await post(sim, '/chat/completions', chat(`hello ${i}`));
      expect([500, 502, 503]).toContain(answer.status);
      expect(answer.body.error).toMatchObject({ type: 'server_error' });
      expect(answer.headers.get(SIMULATED_HEADER)).toBe('true');
    }
    expect(sim.stats().faults).toBe(6);
  });

  it('rate429=1 answers 429 with retry-after', async () => {
    const sim = await simulator({ rate429: 1, rpm: 1 });
    for (let i = 0; i < 3; i++) {
      const answer = await post(sim, '/chat/completions', chat('hello'));
      expect(answer.status).toBe(429);
      expect(answer.headers.get('retry-after')).toBe('1');
      // Injected 429s give the capacity back, so the rpm=1 limit itself never triggers.
      expect(answer.body.error).toMatchObject({ message: expect.stringMatching(/simulated fault/u) });
    }
  });

  it('malformedRate=1 returns unparsable content', async () => {
    const sim = await simulator({ malformedRate: 1 });
    const answer = await post(sim, '/chat/completions', chat(TICKET, jsonSchema(TICKET_SCHEMA)));
    expect(answer.status).toBe(200);
    expect(content(answer).length).toBeGreaterThan(0);
    expect(() => JSON.parse(content(answer))).toThrow();
  });

  it('timeoutRate=1 hangs, then drops the connection', async () => {
    const sim = await simulator({ timeoutRate: 1, hangMs: 200 });
    const startedAt = performance.now();
    await expect(post(sim, '/chat/completions', chat('hello'))).rejects.toThrow();
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(180);
    expect(sim.stats()).toMatchObject({ requests: 1, faults: 1, byStatus: {} });
  });

  it('honours the latency median loosely and survives client disconnects', async () => {
    const sim = await simulator({ latency: { medianMs: 50, p99Ms: 150 } });
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, i) => post(sim, '/chat/completions', chat(`t${i}`))),
    );
    const times = answers.map((a) => a.ms).sort((a, b) => a - b);
    expect(answers.every((a) => a.status === 200)).toBe(true);
    expect(times[0]).toBeGreaterThanOrEqual(5);
    expect(times[10]).toBeGreaterThanOrEqual(25);
    expect(times[10]).toBeLessThan(400);

    const abort = new AbortController();
    setTimeout(() => abort.abort(), 20);
    await expect(
      post(sim, '/chat/completions', chat('bye sim:latency=300'), { signal: abort.signal }),
    ).rejects.toThrow();
    expect((await post(sim, '/chat/completions', chat('still alive'))).status).toBe(200);
    // The abandoned request has no status; the others answered 200.
    await expect.poll(() => sim.stats().byStatus).toEqual({ '200': 21 });
  });

  it('sustains many concurrent requests waiting on latency', async () => {
    const sim = await simulator({ latency: { medianMs: 200, p99Ms: 200 } });
    const startedAt = performance.now();
    const answers = await Promise.all(
      Array.from({ length: 400 }, (_, i) => post(sim, '/chat/completions', chat(`t${i}`))),
    );
    expect(answers.every((a) => a.status === 200)).toBe(true);
    // Waiting side by side, not one after another.
    expect(performance.now() - startedAt).toBeLessThan(10_000);
  });

  it('counts stats and resets them', async () => {
    const sim = await simulator();
    await post(sim, '/chat/completions', chat('one'));
    await post(sim, '/chat/completions', chat('two'));
    await post(sim, '/chat/completions', { model: 'm' });
    const stats = sim.stats();
    expect(stats).toMatchObject({ requests: 3, byStatus: { '200': 2, '400': 1 }, rateLimited: 0, faults: 0 });
    expect(stats.perSecond.reduce((sum, s) => sum + s.ok, 0)).toBe(2);
    const base = sim.url.replace(/\/v1$/u, '');
    expect(await (await fetch(`${base}/sim/stats`)).json()).toMatchObject({ requests: 3 });
    expect((await fetch(`${base}/sim/reset`, { method: 'POST' })).status).toBe(200);
    expect(sim.stats()).toMatchObject({ requests: 0, byStatus: {}, perSecond: [] });
  });

  it('closes promptly with requests still hanging', async () => {
    const sim = await startSimulator({ port: 0, timeoutRate: 1 });
    const hanging = post(sim, '/chat/completions', chat('hang')).catch((error: unknown) => error);
    await expect.poll(() => sim.stats().faults).toBe(1);
    const startedAt = performance.now();
    await sim.close();
    expect(performance.now() - startedAt).toBeLessThan(2000);
    expect(await hanging).toBeInstanceOf(Error);
  });
});

describe('structured-output dialects', () => {
  const schemaFormat = jsonSchema(TICKET_SCHEMA);
  const valid = (text: string) => {
    const answer = JSON.parse(text) as { category: string; confidence: number };
    expect(['question', 'complaint', 'praise']).toContain(answer.category);
    expect(answer.confidence).toBeGreaterThanOrEqual(0);
    expect(answer.confidence).toBeLessThanOrEqual(1);
  };

  it('json_object (llama-cpp-python) refuses json_schema with a 500 and answers json_object with the schema', async () => {
    const sim = await simulator({ structured: 'json_object' });
    const refused = await post(sim, '/chat/completions', chat(TICKET, schemaFormat));
    expect(refused.status).toBe(500);
    expect(refused.body.error).toMatchObject({
      message: expect.stringContaining("Input should be 'text' or 'json_object'"),
    });
    const answer = await post(
      sim,
      '/chat/completions',
      chat(TICKET, { response_format: { type: 'json_object', schema: TICKET_SCHEMA } }),
    );
    expect(answer.status).toBe(200);
    valid(content(answer));
  });

  it('json (TGI) takes only {type: json, value: schema}', async () => {
    const sim = await simulator({ structured: 'json' });
    for (const format of [schemaFormat, { response_format: { type: 'json_object', schema: TICKET_SCHEMA } }]) {
      const refused = await post(sim, '/chat/completions', chat(TICKET, format));
      expect(refused.status).toBe(422);
      expect(refused.body.error).toMatchObject({ message: expect.stringMatching(/unknown variant/u) });
    }
    const answer = await post(
      sim,
      '/chat/completions',
      chat(TICKET, { response_format: { type: 'json', value: TICKET_SCHEMA } }),
    );
    expect(answer.status).toBe(200);
    valid(content(answer));
  });

  it('none refuses any response_format, and follows a JSON Schema written in the system message', async () => {
    const sim = await simulator({ structured: 'none' });
    const refused = await post(sim, '/chat/completions', chat(TICKET, { response_format: { type: 'json_object' } }));
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ param: 'response_format' });
    const answer = await post(sim, '/chat/completions', {
      model: 'm',
      messages: [
        {
          role: 'system',
          content: `Classify.\n\nAnswer with a single JSON object. JSON Schema:\n${JSON.stringify(TICKET_SCHEMA)}`,
        },
        { role: 'user', content: TICKET },
      ],
    });
    expect(answer.status).toBe(200);
    valid(content(answer));
  });

  it('sim:invalid breaks the schema every time; sim:invalid-once only outside a repair round', async () => {
    const sim = await simulator();
    const broken = await post(sim, '/chat/completions', chat(`${TICKET} sim:invalid`, schemaFormat));
    expect((JSON.parse(content(broken)) as { confidence: number }).confidence).toBe(1_000_000_000_000_000);
    const once = await post(sim, '/chat/completions', chat(`${TICKET} sim:invalid-once`, schemaFormat));
    expect((JSON.parse(content(once)) as { confidence: number }).confidence).toBe(1_000_000_000_000_000);
    const repaired = await post(sim, '/chat/completions', {
      model: 'm',
      messages: [
        { role: 'user', content: `${TICKET} sim:invalid-once` },
        { role: 'assistant', content: content(once) },
        { role: 'user', content: 'Your previous answer was rejected. Answer again.' },
      ],
      ...schemaFormat,
    });
    // The repair round's last user message has no directive; the conversation holds the directive's message.
    valid(content(repaired));
  });
});

describe('service tiers and prompt caching', () => {
  it('echoes service_tier as OpenAI does: flex as flex, auto and none as default; an unknown tier is a 400', async () => {
    const sim = await simulator();
    const flex = await post(sim, '/chat/completions', chat('hello', { service_tier: 'flex' }));
    expect(flex.status).toBe(200);
    expect(flex.body.service_tier).toBe('flex');
    for (const extra of [{}, { service_tier: 'auto' }, { service_tier: null }, { service_tier: 'default' }]) {
      const answer = await post(sim, '/chat/completions', chat('hello', extra));
      expect(answer.body.service_tier).toBe('default');
    }
    const bad = await post(sim, '/chat/completions', chat('hello', { service_tier: 'cheap' }));
    expect(bad.status).toBe(400);
    expect(bad.body.error).toMatchObject({ param: 'service_tier', code: 'invalid_value' });
  });

  it('flexUnavailableRate refuses that share of flex calls with 429 flex_unavailable, and never a realtime call', async () => {
    const all = await simulator({ flexUnavailableRate: 1, rpm: 1 });
    for (let i = 0; i < 3; i++) {
      const refused = await post(all, '/chat/completions', chat(`hello ${i}`, { service_tier: 'flex' }));
      expect(refused.status).toBe(429);
      expect(refused.body.error).toMatchObject({ type: 'resource_unavailable', code: 'flex_unavailable' });
      expect(refused.headers.get('retry-after')).toBeNull();
    }
    // A refusal consumes nothing: the rpm=1 budget still admits the realtime call.
    const realtime = await post(all, '/chat/completions', chat('hello'));
    expect(realtime.status).toBe(200);
    expect(all.stats()).toMatchObject({
      faults: 3,
      byStatus: { '429': 3, '200': 1 },
      byServiceTier: { flex: 3, default: 1 },
    });

    const half = await simulator({ flexUnavailableRate: 0.5, seed: 7 });
    const statuses = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        post(half, '/chat/completions', chat(`item ${i}`, { service_tier: 'flex' })).then((a) => a.status),
      ),
    );
    const refusedShare = statuses.filter((s) => s === 429).length / statuses.length;
    expect(refusedShare).toBeGreaterThan(0.35);
    expect(refusedShare).toBeLessThan(0.65);
    await expect(startSimulator({ port: 0, flexUnavailableRate: 2 })).rejects.toThrow(/flexUnavailableRate/u);
  });

  it('flexModels: a flex call for another model is refused 400 (param service_tier), as Azure refuses it', async () => {
    const sim = await simulator({ flexModels: ['gpt-4o-mini'] });
    const served = await post(sim, '/chat/completions', chat('hello', { service_tier: 'flex' }));
    expect(served.status).toBe(200);
    const refused = await post(sim, '/chat/completions', {
      ...chat('hello', { service_tier: 'flex' }),
      model: 'gpt-4o',
    });
    expect(refused.status).toBe(400);
    expect(refused.body.error).toMatchObject({ param: 'service_tier', type: 'invalid_request_error' });
    expect((await post(sim, '/chat/completions', { ...chat('hello'), model: 'gpt-4o' })).status).toBe(200);
  });

  it('reports cached_tokens for a repeated prefix of 1,024 tokens or more, in blocks of 128; 0 otherwise', async () => {
    const sim = await simulator();
    const instructions = `Classify the ticket. ${'Consider every category carefully. '.repeat(150)}`; // ~1,300 tokens
    const ask = (text: string, extra: Record<string, unknown> = {}) =>
      post(sim, '/chat/completions', {
        model: 'gpt-4o-mini',
        messages: [
          { role: 'system', content: instructions },
          { role: 'user', content: text },
        ],
        ...extra,
      });
    const usage = (answer: Answer) =>
      answer.body.usage as { prompt_tokens: number; prompt_tokens_details: { cached_tokens: number } };

    const first = await ask('The invoice is wrong.');
    expect(usage(first).prompt_tokens_details.cached_tokens).toBe(0);
    const second = await ask('The app crashes on login.');
    const cached = usage(second).prompt_tokens_details.cached_tokens;
    expect(cached % 128).toBe(0);
    expect(cached).toBeGreaterThanOrEqual(1024);
    expect(cached).toBeLessThanOrEqual(usage(second).prompt_tokens);
    expect(cached).toBe(Math.floor(Math.ceil(instructions.length / 4) / 128) * 128);
    // Another prompt_cache_key is another cache; a short prefix is never cached.
    expect(usage(await ask('Other key.', { prompt_cache_key: 'job-2' })).prompt_tokens_details.cached_tokens).toBe(0);
    const short = chat('hello');
    await post(sim, '/chat/completions', short);
    const again = await post(sim, '/chat/completions', short);
    expect((again.body.usage as { prompt_tokens_details: unknown }).prompt_tokens_details).toEqual({
      cached_tokens: 0,
    });
  });
});
