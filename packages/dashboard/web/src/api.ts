// The dashboard speaks the same HTTP API as every other client, with the key the user signed in with.

const KEY_STORAGE = 'sluice.api_key';

/** The key of this browser session (sessionStorage: gone when the tab closes). */
export function storedKey(): string | null {
  return sessionStorage.getItem(KEY_STORAGE);
}

export function storeKey(key: string | null): void {
  if (key === null) sessionStorage.removeItem(KEY_STORAGE);
  else sessionStorage.setItem(KEY_STORAGE, key);
}

/** An error answered by the API, in OpenAI's shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | null,
    message: string,
  ) {
    super(message);
  }
}

function headers(extra?: Record<string, string>): Record<string, string> {
  const key = storedKey();
  return { ...(key ? { authorization: `Bearer ${key}` } : {}), ...extra };
}

async function failure(response: Response): Promise<ApiError> {
  let code: string | null = null;
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } };
    code = body.error?.code ?? null;
    message = body.error?.message ?? message;
  } catch {
    // Not JSON: the status line says enough.
  }
  return new ApiError(response.status, code, message);
}

export async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

export async function postJson<T>(path: string, body?: unknown): Promise<T> {
  const response = await fetch(path, {
    method: 'POST',
    headers: headers({ 'content-type': 'application/json' }),
    body: JSON.stringify(body ?? {}),
  });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

export async function postForm<T>(path: string, form: FormData): Promise<T> {
  const response = await fetch(path, { method: 'POST', headers: headers(), body: form });
  if (!response.ok) throw await failure(response);
  return (await response.json()) as T;
}

/**
 * Downloads a file through fetch (the key travels in a header, never in a URL) and hands it to the
 * browser as a download.
 */
export async function download(path: string, filename: string): Promise<void> {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) throw await failure(response);
  const url = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export interface RequestCounts {
  total: number;
  completed: number;
  failed: number;
  cancelled?: number;
  expired?: number;
}

/** The batch object of `GET /v1/batches` (OpenAI, domain batches and operations jobs alike). */
export interface Batch {
  id: string;
  endpoint: string;
  model: string | null;
  status: string;
  created_at: number;
  completed_at: number | null;
  output_file_id: string | null;
  error_file_id: string | null;
  request_counts: RequestCounts;
  usage?: { input_tokens?: number; output_tokens?: number; total_tokens?: number } | null;
  metadata: Record<string, string> | null;
  progress: number;
  throughput_per_minute?: number | null;
  eta_seconds?: number | null;
  /** Upstream attempts beyond each finished item's first, and attempts answered 429. */
  retries?: number;
  rate_limited?: number;
  /** USD so far at each item's tier, and the same tokens at realtime; null when a model has no price. */
  cost_usd?: number | null;
  realtime_cost_usd?: number | null;
  operation?: string;
}

export interface ListPage<T> {
  data: T[];
  has_more: boolean;
  last_id: string | null;
}

export const FINAL_STATUSES = new Set(['completed', 'failed', 'cancelled', 'expired']);

export function isRunning(batch: Batch): boolean {
  return !FINAL_STATUSES.has(batch.status);
}

/** Which of the three APIs a batch came from, by its endpoint. */
export function apiOf(batch: Batch): 'operations' | 'domain' | 'openai' {
  if (batch.endpoint === '/v1/jobs') return 'operations';
  if (batch.endpoint === '/v1/batches') return 'domain';
  return 'openai';
}
