import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  APIConnectionError,
  APIConnectionTimeoutError,
  AuthenticationError,
  BadRequestError,
  ClientClosedError,
  ConfigurationError,
  ConflictError,
  InternalServerError,
  NotFoundError,
  PayloadTooLargeError,
  PermissionDeniedError,
  RateLimitError,
  ResponseValidationError,
  Sluice,
  SluiceAPIError,
  type DryRun,
  type SubmitJobParams,
} from './index.js';
import { retryDelayMs, serverDelayMs } from './retry.js';
import { errorJson, jobFixture, sendJson, startServer, type TestServer } from './testing/http-server.js';

const servers: TestServer[] = [];
async function server(...args: Parameters<typeof startServer>): Promise<TestServer> {
  const started = await startServer(...args);
  servers.push(started);
  return started;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('errors', () => {
  it.each([
    [400, BadRequestError],
    [401, AuthenticationError],
    [403, PermissionDeniedError],
    [404, NotFoundError],
    [409, ConflictError],
    [413, PayloadTooLargeError],
    [429, RateLimitError],
    [500, InternalServerError],
    [503, InternalServerError],
    [422, SluiceAPIError],
  ])('maps HTTP %i to its error class, with the server’s code, param and message', async (status, ErrorClass) => {
    const api = await server((_request, response) =>
      sendJson(response, status, errorJson('line 3, body.model: unknown model', 'unknown_model', 'body.model'), {
        'x-request-id': 'req_1',
      }),
    );
    const client = new Sluice({ baseURL: api.url, maxRetries: 0 });
    const error = await client.batches.retrieve('batch_x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ErrorClass);
    expect(error).toMatchObject({
      status,
      code: 'unknown_model',
      param: 'body.model',
      type: 'invalid_request_error',
      message: 'line 3, body.model: unknown model',
      requestId: 'req_1',
    });
  });

  it('keeps a body that is not JSON, and names the status in the message', async () => {
    const api = await server((_request, response) => {
      response.writeHead(502, { 'content-type': 'text/plain' });
      response.end('bad gateway');
    });
    const error = await new Sluice({ baseURL: api.url, maxRetries: 0 }).batches.retrieve('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(error).toMatchObject({ status: 502, code: null, body: 'bad gateway', message: 'HTTP 502: bad gateway' });
  });

  it('fails loudly when a 2xx answer does not match the contract', async () => {
    const api = await server((_request, response) => sendJson(response, 200, { ...jobFixture(), status: 'sleeping' }));
    const error = await new Sluice({ baseURL: api.url }).batches.retrieve('x').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResponseValidationError);
    expect((error as Error).message).toContain('status');
    expect(api.seen).toHaveLength(1);
  });
});

describe('retries', () => {
  it('retries a 429 after the retry-after-ms the server asked for, then succeeds', async () => {
    const api = await server((request, response) => {
      if (api.seen.length <= 2) return sendJson(response, 429, errorJson('slow down'), { 'retry-after-ms': '150' });
      sendJson(response, 200, jobFixture());
    });
    const started = Date.now();
    const job = await new Sluice({ baseURL: api.url, maxRetries: 2 }).batches.retrieve('batch_test');
    expect(job.id).toBe('batch_test');
    expect(api.seen).toHaveLength(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  it('honours retry-after in seconds', async () => {
    const api = await server((_request, response) => {
      if (api.seen.length === 1) return sendJson(response, 503, errorJson('busy'), { 'retry-after': '1' });
      sendJson(response, 200, jobFixture());
    });
    const started = Date.now();
    await new Sluice({ baseURL: api.url }).batches.retrieve('batch_test');
    expect(api.seen).toHaveLength(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });

  it('gives up after maxRetries and throws the last error', async () => {
    const api = await server((_request, response) =>
      sendJson(response, 503, errorJson('down', 'unavailable'), { 'retry-after-ms': '10' }),
    );
    const error = await new Sluice({ baseURL: api.url, maxRetries: 2 }).batches
      .retrieve('batch_test')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(api.seen).toHaveLength(3);
  });

  it("takes a call's own maxRetries over the client's, and refuses one that is not a count", async () => {
    const api = await server((_request, response) =>
      sendJson(response, 503, errorJson('down', 'unavailable'), { 'retry-after-ms': '10' }),
    );
    const client = new Sluice({ baseURL: api.url, maxRetries: 0 });
    await expect(client.batches.retrieve('batch_test', { maxRetries: 1 })).rejects.toBeInstanceOf(InternalServerError);
    expect(api.seen).toHaveLength(2);
    for (const maxRetries of [-1, Number.NaN, 1.5]) {
      await expect(client.batches.retrieve('batch_test', { maxRetries })).rejects.toBeInstanceOf(ConfigurationError);
    }
    expect(api.seen).toHaveLength(2);
  });

  it('never retries a 400', async () => {
    const api = await server((_request, response) =>
      sendJson(response, 400, errorJson('too many items; use POST /v1/jobs', 'sync_limit_exceeded')),
    );
    const client = new Sluice({ baseURL: api.url, maxRetries: 5 });
    const error = await client.completions
      .summarize({ items: [{ content: 'a' }], summary_instructions: 'short' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ code: 'sync_limit_exceeded' });
    expect(api.seen).toHaveLength(1);
  });

  it("never retries a 409 (but idempotency_key_in_use): from Sluice it is a conflict with the job's state, a final answer", async () => {
    const api = await server((_request, response) =>
      sendJson(response, 409, errorJson('job batch_test is already completed', 'conflict')),
    );
    const error = await new Sluice({ baseURL: api.url, maxRetries: 3 }).batches
      .cancel('batch_test')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ retriable: false });
    expect(api.seen).toHaveLength(1);
  });

  it('never retries an upload', async () => {
    const api = await server((_request, response) => sendJson(response, 503, errorJson('down')));
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sdk-'));
    const file = join(dir, 'items.jsonl');
    await writeFile(file, '{"content":"a"}\n');
    const error = await new Sluice({ baseURL: api.url, maxRetries: 3 }).batches
      .uploadFile(file, { operation: 'summarize', summary_instructions: 'short' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InternalServerError);
    expect(api.seen).toHaveLength(1);
  });

  it('retries a refused connection, then throws APIConnectionError', async () => {
    const closed = await startServer(() => undefined);
    await closed.close();
    const error = await new Sluice({ baseURL: closed.url, maxRetries: 1 }).batches
      .retrieve('x')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIConnectionError);
    expect((error as Error).message).toContain('ECONNREFUSED');
  });

  it('gives up on a silent server after timeoutMs', async () => {
    const api = await server(() => undefined);
    const error = await new Sluice({ baseURL: api.url, timeoutMs: 100, maxRetries: 0 }).batches
      .retrieve('x')
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(APIConnectionTimeoutError);
  });

  it('reads the server’s delay: retry-after-ms, then retry-after in seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(serverDelayMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '9' }), now)).toBe(250);
    expect(serverDelayMs(new Headers({ 'retry-after': '2' }), now)).toBe(2000);
    expect(serverDelayMs(new Headers({ 'retry-after': 'Tue, 01 Jan 2030 00:00:03 GMT' }), now)).toBe(3000);
    expect(serverDelayMs(new Headers({ 'retry-after': 'soon' }), now)).toBeNull();
    expect(serverDelayMs(new Headers(), now)).toBeNull();
  });

  it('waits what the server asked, else a capped exponential backoff with jitter', () => {
    const noJitter = () => 0;
    expect(retryDelayMs(0, 250, noJitter)).toBe(250);
    expect([0, 1, 2, 3, 4, 5].map((retry) => retryDelayMs(retry, null, noJitter))).toEqual([
      500, 1000, 2000, 4000, 8000, 8000,
    ]);
    // Jitter only shortens, by at most a quarter.
    expect(retryDelayMs(1, null, () => 1)).toBe(750);
    // An absurd server delay falls back to backoff.
    expect(retryDelayMs(0, 3_600_000, noJitter)).toBe(500);
  });
});

describe('idempotency keys', () => {
  const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  const keysOf = (api: TestServer) => api.seen.map((request) => request.headers['idempotency-key']);

  /** Fails the first attempt of each create: the first create's with a 500, the next's by dropping the connection. */
  async function flakyServer(): Promise<TestServer> {
    const api = await server((request, response) => {
      const key = request.headers['idempotency-key'];
      const attempts = api.seen.filter((seen) => seen.headers['idempotency-key'] === key).length;
      if (attempts > 1) return sendJson(response, 200, jobFixture());
      const creates = new Set(api.seen.map((seen) => seen.headers['idempotency-key'])).size;
      if (creates === 1) return sendJson(response, 500, errorJson('lost'), { 'retry-after-ms': '10' });
      response.socket?.destroy();
    });
    return api;
  }

  const dryRunFixture: DryRun = {
    object: 'dry_run',
    items: 1,
    input_tokens: 3,
    input_tokens_method: 'estimate:chars/4',
    max_output_tokens: 100,
    estimated_cost_usd: null,
    estimated_realtime_cost_usd: null,
    estimated_seconds: 1,
    model: null,
  };

  it('sends a fresh UUID with each submit and retry, the same on every retry of one create', async () => {
    const api = await flakyServer();
    const client = new Sluice({ baseURL: api.url, maxRetries: 2 });
    await client.batches.submit({ operation: 'summarize', items: [{ content: 'a' }], summary_instructions: 'x' });
    await client.batches.retry('batch_test');
    // Two creates, each failed once (a 500, then a dropped connection) and retried.
    expect(api.seen.map((request) => `${request.method} ${request.url.pathname}`)).toEqual([
      'POST /v1/jobs',
      'POST /v1/jobs',
      'POST /v1/jobs/batch_test/retry',
      'POST /v1/jobs/batch_test/retry',
    ]);
    const [first, firstRetried, second, secondRetried] = keysOf(api);
    expect(first).toMatch(UUID_V4);
    expect(second).toMatch(UUID_V4);
    expect(firstRetried).toBe(first);
    expect(secondRetried).toBe(second);
    expect(second).not.toBe(first);
  });

  it("retries a 409 idempotency_key_in_use with backoff and the same key, until the first request's answer comes", async () => {
    const api = await server((request, response) => {
      // The first request with this key is still running for the first two attempts.
      if (api.seen.length <= 2) {
        return sendJson(
          response,
          409,
          errorJson('The first request with Idempotency-Key is still running', 'idempotency_key_in_use'),
        );
      }
      sendJson(response, 200, jobFixture(), { 'idempotent-replayed': 'true' });
    });
    const client = new Sluice({ baseURL: api.url, maxRetries: 3 });
    const started = Date.now();
    const job = await client.batches.submit({
      operation: 'summarize',
      items: [{ content: 'a' }],
      summary_instructions: 'x',
    });
    expect(job.id).toBe(jobFixture().id);
    expect(api.seen).toHaveLength(3);
    const keys = keysOf(api);
    expect(keys[0]).toMatch(UUID_V4);
    expect(new Set(keys)).toEqual(new Set([keys[0]]));
    // Backoff between attempts (0.5 s, then 1 s, each shortened by up to a quarter), not a tight loop.
    expect(Date.now() - started).toBeGreaterThanOrEqual(375 + 750);
  });

  it('gives up on idempotency_key_in_use after maxRetries; never retries idempotency_key_reused', async () => {
    const busy = await server((_request, response) =>
      sendJson(response, 409, errorJson('still running', 'idempotency_key_in_use'), { 'retry-after-ms': '10' }),
    );
    const stillBusy = await new Sluice({ baseURL: busy.url, maxRetries: 2 }).batches
      .retry('batch_test')
      .catch((e: unknown) => e);
    expect(stillBusy).toBeInstanceOf(ConflictError);
    expect(stillBusy).toMatchObject({ code: 'idempotency_key_in_use', retriable: true });
    expect(busy.seen).toHaveLength(3);

    const reused = await server((_request, response) =>
      sendJson(response, 409, errorJson('first used with another request', 'idempotency_key_reused')),
    );
    const error = await new Sluice({ baseURL: reused.url, maxRetries: 3 }).batches
      .submit(
        { operation: 'summarize', items: [{ content: 'a' }], summary_instructions: 'x' },
        { idempotencyKey: 'k-1' },
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect(error).toMatchObject({ code: 'idempotency_key_reused', retriable: false });
    expect(reused.seen).toHaveLength(1);
  });

  it("sends a job's tier, and reads it back on the job", async () => {
    const api = await server((_request, response) => sendJson(response, 200, jobFixture({ tier: 'flex' })));
    const client = new Sluice({ baseURL: api.url });
    const job = await client.batches.submit({
      operation: 'summarize',
      items: [{ content: 'a' }],
      summary_instructions: 'x',
      tier: 'flex',
    });
    expect(JSON.parse(api.seen[0]?.body ?? '{}')).toMatchObject({ tier: 'flex' });
    expect(job.tier).toBe('flex');
  });

  it("sends the caller's own key, and refuses one that cannot be a header", async () => {
    const api = await server((_request, response) => sendJson(response, 200, jobFixture({ status: 'completed' })));
    const client = new Sluice({ baseURL: api.url });
    const body: SubmitJobParams = { operation: 'summarize', items: [{ content: 'a' }], summary_instructions: 'x' };
    await client.batches.submit(body, { idempotencyKey: 'order-42' });
    await client.batches.submitAndWait(body, { idempotencyKey: 'order-43' });
    expect(keysOf(api).slice(0, 2)).toEqual(['order-42', 'order-43']);
    const seen = api.seen.length;
    for (const idempotencyKey of ['', 'two words', 'naïve']) {
      await expect(client.batches.submit(body, { idempotencyKey })).rejects.toBeInstanceOf(ConfigurationError);
    }
    expect(api.seen).toHaveLength(seen);
  });

  it('sends one with an upload, none with a dry run or a read', async () => {
    const api = await server((request, response) =>
      request.url.searchParams.has('dry_run')
        ? sendJson(response, 200, dryRunFixture)
        : sendJson(response, 200, jobFixture()),
    );
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sdk-'));
    const file = join(dir, 'items.jsonl');
    await writeFile(file, '{"content":"a"}\n');
    const client = new Sluice({ baseURL: api.url });
    const params = { operation: 'summarize', summary_instructions: 'x' } as const;
    await client.batches.uploadFile(file, params);
    await client.batches.uploadFile(file, params, { dryRun: true });
    await client.batches.submit({ ...params, items: [{ content: 'a' }] }, { dryRun: true });
    await client.batches.retrieve('batch_test');
    const [upload, ...others] = keysOf(api);
    expect(upload).toMatch(UUID_V4);
    expect(others).toEqual([undefined, undefined, undefined]);
  });
});

describe('requests', () => {
  it('sends the API key, and accepts a baseURL ending in /v1', async () => {
    const api = await server((_request, response) => sendJson(response, 200, jobFixture()));
    await new Sluice({ baseURL: `${api.url}/v1/`, apiKey: 'sk-test' }).batches.retrieve('batch_test');
    expect(api.seen[0]?.url.pathname).toBe('/v1/jobs/batch_test');
    expect(api.seen[0]?.headers.authorization).toBe('Bearer sk-test');
  });

  it('uploads params before the file, as multipart', async () => {
    const api = await server((_request, response) => sendJson(response, 200, jobFixture()));
    const dir = await mkdtemp(join(tmpdir(), 'sluice-sdk-'));
    const file = join(dir, 'tickets.csv');
    await writeFile(file, 'content,id\nhello,1\n');
    await new Sluice({ baseURL: api.url }).batches.uploadFile(file, {
      operation: 'classify',
      categories: ['a', 'b'],
    });
    const body = api.seen[0]?.body ?? '';
    expect(api.seen[0]?.url.pathname).toBe('/v1/jobs/upload');
    expect(api.seen[0]?.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/);
    expect(body.indexOf('name="params"')).toBeLessThan(body.indexOf('name="file"; filename="tickets.csv"'));
    expect(body).toContain('{"operation":"classify","categories":["a","b"]}');
    expect(body).toContain('content,id\nhello,1\n');
  });

  it('rejects a baseURL that is not an http URL', () => {
    expect(() => new Sluice({ baseURL: 'localhost:8080' })).toThrow(/baseURL/);
  });
});

describe('close', () => {
  it('ends a call in flight and a wait with ClientClosedError, and refuses new calls', async () => {
    const api = await server((request, response) => {
      // Never answers the job read, so the call stays in flight until the client closes.
      if (request.url.pathname === '/v1/jobs/batch_slow') return;
      sendJson(response, 200, { ...jobFixture(), status: 'in_progress' });
    });
    const client = new Sluice({ baseURL: api.url });
    const inFlight = client.batches.retrieve('batch_slow').catch((e: unknown) => e);
    const waiting = client.batches.wait('batch_test', { pollIntervalMs: 60_000 }).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const started = Date.now();
    await client.close();
    expect(await inFlight).toBeInstanceOf(ClientClosedError);
    expect(await waiting).toBeInstanceOf(ClientClosedError);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(client.closed).toBe(true);
    await expect(client.batches.retrieve('batch_test')).rejects.toBeInstanceOf(ClientClosedError);
  });

  it('closes at the end of an await using block', async () => {
    const api = await server((_request, response) => sendJson(response, 200, jobFixture()));
    let outside: Sluice;
    {
      await using client = new Sluice({ baseURL: api.url });
      outside = client;
      expect((await client.batches.retrieve('batch_test')).id).toBe('batch_test');
    }
    expect(outside.closed).toBe(true);
  });
});
