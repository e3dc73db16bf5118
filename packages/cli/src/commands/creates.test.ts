import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { ConflictError, Sluice } from '@sluice/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { cancel } from './cancel.js';
import { retry } from './retry.js';
import { submitInput } from './submit.js';

/**
 * What the CLI sends when it creates something through its own raw calls (domain and OpenAI
 * batches, files, a batch's retry), against a real HTTP server on 127.0.0.1 that records each
 * request; and that `cancel` of a final batch is the server's 409, not a success.
 */
const examples = resolve(import.meta.dirname, '../../../../examples');
const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Seen {
  route: string;
  headers: IncomingHttpHeaders;
  search: string;
  body: string;
}

const batchObject = (endpoint: string, status = 'validating') => ({
  id: 'batch_cli',
  object: 'batch',
  endpoint,
  model: null,
  status,
  request_counts: { total: 2, completed: 0, failed: 0, cancelled: 0, expired: 0 },
  throughput_per_minute: null,
  eta_seconds: null,
  output_file_id: null,
  error_file_id: null,
  errors: null,
  created_at: 1_700_000_000,
});

const fileObject = {
  id: 'file-cli',
  object: 'file',
  bytes: 10,
  created_at: 1_700_000_000,
  filename: 'openai-batch.jsonl',
  purpose: 'batch',
  expires_at: null,
  status: 'processed',
  status_details: null,
};

const closers: (() => void)[] = [];
afterEach(() => closers.splice(0).forEach((close) => close()));

/** A server answering `answer(route, attempt)`; `attempt` counts the requests with the same route and key. */
async function recordingServer(
  answer: (route: string, attempt: number, response: ServerResponse) => void,
): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const url = new URL(request.url ?? '/', 'http://x');
      const route = `${request.method} ${url.pathname}`;
      seen.push({ route, headers: request.headers, search: url.search, body: Buffer.concat(chunks).toString('utf8') });
      const key = request.headers['idempotency-key'];
      const attempt = seen.filter((s) => s.route === route && s.headers['idempotency-key'] === key).length;
      answer(route, attempt, response);
    });
  });
  await new Promise<void>((listening) => server.listen(0, '127.0.0.1', listening));
  closers.push(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function sendJson(response: ServerResponse, status: number, body: unknown) {
  response.writeHead(status, { 'content-type': 'application/json' });
  response.end(JSON.stringify(body));
}

const staged = (name: string) => ({ path: join(examples, name), label: name, cleanup: async () => undefined });

describe('the CLI’s creates', () => {
  it('send a fresh UUID Idempotency-Key each, the same on the retry of one create', async () => {
    const api = await recordingServer((route, attempt, response) => {
      if (route === 'POST /v1/files') return sendJson(response, 200, fileObject);
      // The OpenAI batch's create fails once (its answer lost); the SDK retries it.
      if (route === 'POST /v1/batches' && attempt === 1 && api.seen.length === 2)
        return void response.socket?.destroy();
      if (route === 'GET /v1/batches/batch_cli') return sendJson(response, 200, batchObject('/v1/batches', 'failed'));
      sendJson(response, 200, batchObject('/v1/batches'));
    });
    const client = new Sluice({ baseURL: api.url });
    await submitInput(client, staged('openai-batch.jsonl'), null, {});
    await submitInput(client, staged('domain-mixed.jsonl'), null, {});
    await retry(client, 'batch_cli');
    const creates = api.seen.filter((seen) => seen.route.startsWith('POST'));
    expect(creates.map((seen) => seen.route)).toEqual([
      'POST /v1/files',
      'POST /v1/batches',
      'POST /v1/batches',
      'POST /v1/batches',
      'POST /v1/batches/batch_cli/retry',
    ]);
    const keys = creates.map((seen) => seen.headers['idempotency-key']);
    for (const key of keys) expect(key).toMatch(UUID_V4);
    // The OpenAI batch's retry reused its key; every other create had its own.
    expect(keys[2]).toBe(keys[1]);
    expect(new Set(keys).size).toBe(4);
  });

  it('carry --tier: in the query of a domain batch, in the body of an OpenAI batch and of a job', async () => {
    const api = await recordingServer((route, _attempt, response) => {
      if (route === 'POST /v1/files') return sendJson(response, 200, fileObject);
      if (route === 'POST /v1/jobs/upload')
        return sendJson(response, 200, { ...batchObject('/v1/jobs'), object: 'job' });
      sendJson(response, 200, batchObject('/v1/batches'));
    });
    const client = new Sluice({ baseURL: api.url });
    await submitInput(client, staged('domain-mixed.jsonl'), null, { tier: 'flex' });
    await submitInput(client, staged('openai-batch.jsonl'), null, { tier: 'realtime', dedup: 'true' });
    await submitInput(
      client,
      staged('support-tickets.csv'),
      { operation: 'label', categories: ['a', 'b'] },
      { tier: 'flex' },
    ).catch(
      () => undefined, // the answer is not a full job object: only the request matters here
    );
    const [domain, , openai, job] = api.seen;
    expect(domain?.search).toBe('?tier=flex');
    expect(JSON.parse(openai?.body ?? '{}')).toMatchObject({ tier: 'realtime', dedup: true });
    expect(job?.route).toBe('POST /v1/jobs/upload');
    expect(job?.body).toContain('"tier":"flex"');
  });

  it('cancel of a batch that already ended is the server’s 409, as over HTTP and in the SDKs', async () => {
    const api = await recordingServer((route, _attempt, response) => {
      if (route === 'GET /v1/batches/batch_cli') return sendJson(response, 200, batchObject('/v1/jobs', 'completed'));
      const message = 'job batch_cli is already completed';
      sendJson(response, 409, { error: { message, type: 'invalid_request_error', param: null, code: 'conflict' } });
    });
    const error = await cancel(new Sluice({ baseURL: api.url }), 'batch_cli').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConflictError);
    expect((error as Error).message).toBe('job batch_cli is already completed');
    expect(api.seen.map((seen) => seen.route)).toEqual(['GET /v1/batches/batch_cli', 'POST /v1/jobs/batch_cli/cancel']);
  });
});
