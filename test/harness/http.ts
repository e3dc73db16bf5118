import { eventually } from './context.js';

export interface BatchView {
  id: string;
  status: string;
  request_counts: { total: number; completed: number; failed: number };
  output_file_id: string | null;
  error_file_id: string | null;
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  [key: string]: unknown;
}

export async function postJsonl(url: string, lines: unknown[] | string, headers: Record<string, string> = {}) {
  const body = typeof lines === 'string' ? lines : lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const response = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/jsonl', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function getJson<T = Record<string, unknown>>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as T };
}

export async function waitForStatus(
  url: string,
  batchId: string,
  statuses: string[] = ['completed', 'failed', 'cancelled', 'expired'],
  timeoutMs = 120_000,
): Promise<BatchView> {
  let last: BatchView | undefined;
  try {
    return await eventually(
      async () => {
        const { body } = await getJson<BatchView>(`${url}/v1/batches/${batchId}`);
        last = body;
        return statuses.includes(body.status) ? body : undefined;
      },
      { timeoutMs, intervalMs: 200, what: `batch ${batchId} to reach ${statuses.join('/')}` },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; it last answered ${JSON.stringify(last)}`);
  }
}

export async function readJsonl<T = Record<string, unknown>>(url: string): Promise<T[]> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}: ${await response.text()}`);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}

/** OpenAI's error object, as Sluice answers every error. */
export interface ApiError {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
  /** A synchronous call that timed out names the batch it goes on as. */
  batch_id?: string;
}

/** One answer of the HTTP API: its status, headers and text, and the text parsed ({} when not JSON). */
export interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
  body: Record<string, unknown> & { error?: ApiError };
}

export interface ApiCallOptions {
  /** Sent as JSON, with `content-type: application/json` unless `headers` give another. */
  json?: unknown;
  body?: string | Buffer | FormData;
  /** Over the caller's own headers (its API key): `{ authorization: ... }` calls as another tenant. */
  headers?: Record<string, string>;
}

export type ApiCall = (method: string, path: string, options?: ApiCallOptions) => Promise<ApiAnswer>;

/**
 * Calls Sluice's HTTP API with `headers` (an API key) on every call. `baseUrl` is read at each
 * call, since a suite's server starts in its `beforeAll`, after the caller is made.
 */
export function apiCaller(baseUrl: () => string, headers: Record<string, string> = {}): ApiCall {
  return async (method, path, options = {}) => {
    const sent: Record<string, string> = { ...headers, ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      sent['content-type'] ??= 'application/json';
      body = JSON.stringify(options.json);
    }
    const response = await fetch(`${baseUrl()}${path}`, { method, headers: sent, body });
    const text = await response.text();
    let parsed: ApiAnswer['body'] = {};
    try {
      parsed = JSON.parse(text) as ApiAnswer['body'];
    } catch {
      // not JSON: the assertions show the text
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  };
}

/** Polls `path` (a batch or a job) with `call` until its status is final; resolves with its body. */
export async function finishedAt(call: ApiCall, path: string, timeoutMs = 60_000): Promise<ApiAnswer['body']> {
  return eventually(
    async () => {
      const polled = await call('GET', path);
      const status = String(polled.body.status);
      return ['completed', 'failed', 'cancelled', 'expired'].includes(status) ? polled.body : undefined;
    },
    { timeoutMs, what: `${path} to finish` },
  );
}
