import {
  APIConnectionError,
  APIConnectionTimeoutError,
  ClientClosedError,
  errorFromResponse,
  ResponseValidationError,
  SluiceAPIError,
} from './errors.js';
import { checkMaxRetries, type CompiledClientOptions, type RequestOptions } from './options.js';
import { REQUEST_RETRY, retrying, sleep } from './retry.js';

export { sleep };

/** One HTTP call, as the resources describe it. */
export interface RequestSpec extends RequestOptions {
  method: 'GET' | 'POST' | 'DELETE';
  /** From the server root, e.g. `/v1/jobs`. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** A body sent as JSON. */
  json?: unknown;
  /** A body sent as it is. A stream cannot be replayed, so a call with one is never retried. */
  body?: FormData | Blob | string | ReadableStream<Uint8Array>;
  headers?: Record<string, string>;
  /**
   * Sent as `Idempotency-Key` on every attempt of this call, retries included: a create whose
   * answer was lost and is retried is then answered, not done twice. The resources send one on
   * every create; a raw create should pass `newIdempotencyKey()` too.
   */
  idempotencyKey?: string;
  /**
   * Hand the response over as soon as its headers are in, for the caller to stream; `timeoutMs`
   * then covers only the wait for the headers. Otherwise the body is read within `timeoutMs`.
   */
  stream?: boolean;
}

/** Anything with zod's `parse`: the contract schemas from `@sluice/core/contracts`. */
export interface Schema<T> {
  parse(value: unknown): T;
}

/**
 * The one retry owner of the SDK. Every call goes through `request`: a 408, 429, a 5xx or a lost
 * connection is retried up to `maxRetries` times, after the delay the server asked for or a
 * backoff, with the same `Idempotency-Key` when the call has one; any other error status is thrown
 * at once, as its {@link SluiceAPIError} subclass.
 */
export class HttpClient {
  /** Aborted by `close()`: every call in flight listens to it. */
  private readonly closing = new AbortController();

  constructor(readonly options: CompiledClientOptions) {}

  /** A 2xx response, after any retries; a call in flight when the client closes rejects with `ClientClosedError`. */
  async request(spec: RequestSpec): Promise<Response> {
    const linked = this.linkSignal(spec.signal);
    try {
      return await this.requestWithRetries({ ...spec, signal: linked.signal });
    } finally {
      linked.release();
    }
  }

  /** Ends every call in flight (and waits between polls) with `ClientClosedError`, and refuses new calls. */
  close(): void {
    if (!this.closing.signal.aborted) this.closing.abort(new ClientClosedError('the client is closed'));
  }

  get closed(): boolean {
    return this.closing.signal.aborted;
  }

  /**
   * A signal that aborts with `signal` or when the client closes. `release` detaches it from both,
   * so that a long-lived client does not gather one listener per call made.
   */
  linkSignal(signal?: AbortSignal): { signal: AbortSignal; release: () => void } {
    const linked = new AbortController();
    const sources = signal ? [this.closing.signal, signal] : [this.closing.signal];
    const aborted = sources.find((source) => source.aborted);
    if (aborted) {
      linked.abort(aborted.reason);
      return { signal: linked.signal, release: () => undefined };
    }
    const onAbort = (event: Event) => linked.abort((event.target as AbortSignal).reason);
    for (const source of sources) source.addEventListener('abort', onAbort, { once: true });
    const release = () => sources.forEach((source) => source.removeEventListener('abort', onAbort));
    return { signal: linked.signal, release };
  }

  private async requestWithRetries(spec: RequestSpec): Promise<Response> {
    const maxRetries =
      spec.body instanceof ReadableStream
        ? 0
        : spec.maxRetries === undefined
          ? this.options.maxRetries
          : checkMaxRetries('maxRetries', spec.maxRetries);
    // What is retried, and after how long, the errors say: `retriable` and `retryAfterMs` (the defaults of `retrying`).
    const policy = { ...REQUEST_RETRY, maxAttempts: maxRetries + 1, signal: spec.signal };
    return retrying(policy, () => this.attempt(spec));
  }

  /** The JSON body of a 2xx answer, checked against `schema`. */
  async json<T>(spec: RequestSpec, schema: Schema<T>): Promise<T> {
    const response = await this.request(spec);
    const text = await response.text();
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ResponseValidationError(`${spec.method} ${spec.path}: the answer is not JSON: ${text.slice(0, 200)}`);
    }
    return parseResponse(schema, value, `${spec.method} ${spec.path}`);
  }

  url(spec: Pick<RequestSpec, 'path' | 'query'>): string {
    const url = new URL(`${this.options.baseURL}${spec.path}`);
    for (const [name, value] of Object.entries(spec.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url.toString();
  }

  private async attempt(spec: RequestSpec): Promise<Response> {
    const timeoutMs = spec.timeoutMs ?? this.options.timeoutMs;
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), timeoutMs);
    const signal = spec.signal ? AbortSignal.any([timeout.signal, spec.signal]) : timeout.signal;
    const headers: Record<string, string> = { accept: 'application/json', ...spec.headers };
    if (this.options.apiKey !== null) headers.authorization = `Bearer ${this.options.apiKey}`;
    if (spec.idempotencyKey !== undefined) headers['idempotency-key'] = spec.idempotencyKey;
    let body = spec.body;
    if (spec.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(spec.json);
    }
    try {
      const init = { method: spec.method, headers, body, signal };
      // A stream body needs `duplex: 'half'` (not yet in the RequestInit type).
      if (body instanceof ReadableStream) Object.assign(init, { duplex: 'half' });
      const response = await this.options.fetch(this.url(spec), init);
      if (response.ok && spec.stream) return response;
      const bytes = await response.arrayBuffer();
      if (!response.ok) throw errorFromResponse(response.status, errorBodyOf(bytes), response.headers);
      const empty = response.status === 204 || response.status === 205 || response.status === 304;
      return new Response(empty ? null : bytes, { status: response.status, headers: response.headers });
    } catch (error) {
      if (error instanceof SluiceAPIError) throw error;
      if (spec.signal?.aborted) throw spec.signal.reason;
      const where = `${spec.method} ${this.url(spec)}`;
      if (timeout.signal.aborted) throw new APIConnectionTimeoutError(`${where}: no answer within ${timeoutMs} ms`);
      throw new APIConnectionError(`${where}: ${describeFetchError(error)}`, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

export function parseResponse<T>(schema: Schema<T>, value: unknown, where: string): T {
  try {
    return schema.parse(value);
  } catch (error) {
    throw new ResponseValidationError(`${where}: the answer does not match the contract: ${describeIssues(error)}`, {
      cause: error,
    });
  }
}

/** zod's issues as `path: message; ...`, else the error's message. */
function describeIssues(error: unknown): string {
  const issues = (error as { issues?: unknown }).issues;
  if (!Array.isArray(issues)) return error instanceof Error ? error.message : String(error);
  return issues
    .slice(0, 5)
    .map((issue: { path?: PropertyKey[]; message?: string }) => {
      const path = (issue.path ?? []).map(String).join('.');
      return path ? `${path}: ${issue.message}` : String(issue.message);
    })
    .join('; ');
}

function errorBodyOf(bytes: ArrayBuffer): unknown {
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** undici's `fetch failed` hides the reason (ECONNREFUSED, ...) in `cause`. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}
