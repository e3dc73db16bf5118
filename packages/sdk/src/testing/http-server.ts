import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Job } from '@sluice/core/contracts';

/** A request as a test server saw it. */
export interface SeenRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface TestServer {
  url: string;
  seen: SeenRequest[];
  close(): Promise<void>;
}

type Handler = (request: SeenRequest, response: ServerResponse) => void | Promise<void>;

/** A real HTTP server on 127.0.0.1, port 0, recording every request it answers. */
export async function startServer(handler: Handler): Promise<TestServer> {
  const seen: SeenRequest[] = [];
  const server = createServer((incoming, response) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const request = {
        method: incoming.method ?? 'GET',
        url: new URL(incoming.url ?? '/', 'http://127.0.0.1'),
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      seen.push(request);
      Promise.resolve(handler(request, response)).catch((error: unknown) => {
        response.statusCode = 599;
        response.end(String(error));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { 'content-type': 'application/json', ...headers });
  response.end(JSON.stringify(body));
}

export function errorJson(message: string, code: string | null = null, param: string | null = null) {
  return { error: { message, type: 'invalid_request_error', param, code } };
}

export function jobFixture(overrides: Partial<Job> = {}): Job {
  return {
    id: 'batch_test',
    object: 'job',
    operation: 'summarize',
    name: null,
    model: 'gpt-4o-mini',
    status: 'in_progress',
    total_items: 10,
    completed_items: 0,
    failed_items: 0,
    cancelled_items: 0,
    expired_items: 0,
    progress: 0,
    throughput_per_minute: null,
    eta_seconds: null,
    retries: 0,
    rate_limited: 0,
    cost_usd: null,
    realtime_cost_usd: null,
    parameters: null,
    completion_window: '24h',
    request_timeout_seconds: null,
    tier: 'auto',
    created_at: 1_700_000_000,
    completed_at: null,
    cancelled_at: null,
    expires_at: null,
    output_file_id: null,
    error_file_id: null,
    usage: {
      input_tokens: 0,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: 0,
      cached_items: 0,
    },
    metadata: null,
    ...overrides,
  };
}
