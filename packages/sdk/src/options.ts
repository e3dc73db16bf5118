import { ConfigurationError } from './errors.js';

/** What a caller passes to `new Sluice(...)`. */
export interface SluiceOptions {
  /**
   * The server's root URL, e.g. `http://127.0.0.1:8080`. A trailing `/v1` (the form the OpenAI
   * clients take) is accepted and dropped.
   */
  baseURL: string;
  /**
   * Sent as `Authorization: Bearer <apiKey>`.
   * @defaultValue none: no `Authorization` header
   */
  apiKey?: string | undefined;
  /**
   * Milliseconds one attempt may take: until the response headers for streamed answers
   * (downloads), until the whole body otherwise. Uploads wait for the server to read the whole
   * file before it answers, so large ones may need a longer per-call `timeoutMs`.
   * @defaultValue 60_000
   */
  timeoutMs?: number;
  /**
   * How many times a failed call is retried: on 429, 5xx and lost connections, never on other
   * 4xx. Uploads (a file or a stream body) are never retried.
   * @defaultValue 2
   */
  maxRetries?: number;
  /**
   * The `fetch` implementation.
   * @defaultValue `globalThis.fetch`
   */
  fetch?: typeof fetch;
}

/** Per-call overrides of the client's options. */
export interface RequestOptions {
  /** @defaultValue the client's `timeoutMs` */
  timeoutMs?: number;
  /** @defaultValue the client's `maxRetries` */
  maxRetries?: number;
  /** Aborts the call, including a wait between retries. */
  signal?: AbortSignal;
}

/** Per-call options of a call that creates something (a job, a retry of one): {@link RequestOptions} and its idempotency key. */
export interface CreateOptions extends RequestOptions {
  /**
   * Sent as the `Idempotency-Key` header, the same on every retry of this call, so that a retry
   * after a lost answer cannot create a second job: the server answers a repeated key with the
   * first answer. Pass your own to make a create safe to repeat across calls or processes (the
   * same key with a different body is a `ConflictError`).
   * @defaultValue a fresh random UUID (v4) for each call
   */
  idempotencyKey?: string;
}

/** {@link SluiceOptions} with defaults filled in and values checked. */
export interface CompiledClientOptions {
  /** Without a trailing slash or `/v1`. */
  baseURL: string;
  apiKey: string | null;
  timeoutMs: number;
  maxRetries: number;
  fetch: typeof fetch;
}

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RETRIES = 2;

export function compileClientOptions(options: SluiceOptions): CompiledClientOptions {
  return {
    baseURL: normaliseBaseURL(options.baseURL),
    apiKey: options.apiKey === undefined || options.apiKey === '' ? null : options.apiKey,
    timeoutMs: checkTimeout('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS),
    maxRetries: checkMaxRetries('maxRetries', options.maxRetries ?? DEFAULT_MAX_RETRIES),
    fetch: options.fetch ?? globalThis.fetch,
  };
}

/** `http://host:8080/v1/` → `http://host:8080`; a path prefix (a proxy's) is kept. */
export function normaliseBaseURL(baseURL: string): string {
  let url: URL;
  try {
    url = new URL(baseURL);
  } catch {
    throw new ConfigurationError(`baseURL: not a URL: '${baseURL}'`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigurationError(`baseURL: expected an http or https URL, got '${baseURL}'`);
  }
  if (url.search !== '' || url.hash !== '') {
    throw new ConfigurationError(`baseURL: must not have a query or fragment, got '${baseURL}'`);
  }
  const path = url.pathname.replace(/\/+$/, '').replace(/\/v1$/, '');
  return `${url.origin}${path}`;
}

export function checkTimeout(name: string, value: number): number {
  if (!(value > 0)) throw new ConfigurationError(`${name}: expected a positive number of milliseconds, got ${value}`);
  return value;
}

export function checkMaxRetries(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) {
    throw new ConfigurationError(`${name}: expected an integer >= 0, got ${value}`);
  }
  return value;
}

/** The key of one create: the caller's, checked, or a fresh random UUID (see {@link CreateOptions.idempotencyKey}). */
export function idempotencyKeyOf(options: CreateOptions): string {
  const key = options.idempotencyKey;
  if (key === undefined) return newIdempotencyKey();
  // A header value must be visible ASCII: fetch would otherwise refuse it with a message that names no option.
  if (typeof key !== 'string' || !/^[\x21-\x7e]+$/.test(key)) {
    throw new ConfigurationError(
      `idempotencyKey: expected a non-empty string of visible ASCII, got ${JSON.stringify(key)}`,
    );
  }
  return key;
}

/** A fresh idempotency key: a random UUID (v4). For raw creates through `client.request({ idempotencyKey })`. */
export function newIdempotencyKey(): string {
  return globalThis.crypto.randomUUID();
}
