import { openAsBlob } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { retrying, UpstreamError, upstreamErrorFromResponse, type RetryPolicy } from '@sluice/core';

/** The provider's Batch object, as far as Sluice reads it (OpenAI's shape; extra fields are ignored). */
export interface ProviderBatch {
  id: string;
  status: ProviderBatchStatus;
  input_file_id: string;
  output_file_id?: string | null;
  error_file_id?: string | null;
  created_at: number;
  metadata?: Record<string, string> | null;
  request_counts?: { total: number; completed: number; failed: number } | null;
  errors?: { data?: { code?: string; message?: string; line?: number | null }[] } | null;
}

export type ProviderBatchStatus =
  'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

export const FINAL_PROVIDER_STATUSES: readonly ProviderBatchStatus[] = ['completed', 'failed', 'expired', 'cancelled'];

export interface ProviderFile {
  id: string;
  filename?: string;
  purpose?: string;
  created_at?: number;
}

export interface ProviderApiOptions {
  /** OpenAI-compatible base URL ending in /v1, e.g. `https://api.openai.com/v1`. */
  baseUrl: string;
  apiKey: string;
  /** Extra headers of the upstream entry (Azure's `api-key`, a gateway's). */
  headers: Record<string, string>;
  /** Each call's timeout. An upload of a 200 MB file needs minutes. */
  requestTimeoutMs: number;
  /** How a failed call is retried (transient statuses, timeouts, refused connections). */
  retry: RetryPolicy;
}

/**
 * The few Files and Batches calls of an OpenAI-compatible provider, over Node's fetch (undici).
 * Not the `openai` client: it is a handful of calls per provider batch, and the client held
 * sockets and buffers past their use before (issue 22). Errors go through core's one status →
 * error mapping; retries through core's one loop, with the caller's policy.
 */
export class ProviderApi {
  private readonly base: string;

  constructor(private readonly options: ProviderApiOptions) {
    this.base = options.baseUrl.replace(/\/+$/, '');
  }

  /** Uploads the JSONL file at `path` as `filename`, purpose `batch` (multipart, streamed from disk). */
  async uploadBatchFile(path: string, filename: string, expiresAfterSeconds: number | null): Promise<ProviderFile> {
    return this.retry(async (signal) => {
      const form = new FormData();
      form.append('purpose', 'batch');
      if (expiresAfterSeconds !== null) {
        form.append('expires_after[anchor]', 'created_at');
        form.append('expires_after[seconds]', String(expiresAfterSeconds));
      }
      // A Blob over the file: the bytes are read from disk as they are sent, never held whole.
      form.append('file', await openAsBlob(path, { type: 'application/jsonl' }), filename);
      return (await this.json('POST', '/files', form, signal)) as ProviderFile;
    });
  }

  /**
   * Creates a batch. Not retried here: a create whose answer was lost may have created the batch,
   * and only the caller can look for it before trying again (see ProviderBatches).
   */
  async createBatch(body: {
    input_file_id: string;
    endpoint: string;
    completion_window: string;
    metadata: Record<string, string>;
  }): Promise<ProviderBatch> {
    const signal = AbortSignal.timeout(this.options.requestTimeoutMs);
    return (await this.json('POST', '/batches', JSON.stringify(body), signal)) as ProviderBatch;
  }

  async getBatch(id: string): Promise<ProviderBatch> {
    return this.retry(
      async (signal) => (await this.json('GET', `/batches/${encodeURIComponent(id)}`, null, signal)) as ProviderBatch,
    );
  }

  /** One page of the provider's batches, newest first. */
  async listBatches(after: string | null, limit = 100): Promise<{ data: ProviderBatch[]; has_more: boolean }> {
    const query = new URLSearchParams({ limit: String(limit), ...(after ? { after } : {}) });
    return this.retry(
      async (signal) =>
        (await this.json('GET', `/batches?${query}`, null, signal)) as { data: ProviderBatch[]; has_more: boolean },
    );
  }

  /** One page of the provider's files of purpose `batch`. */
  async listBatchFiles(after: string | null, limit = 1000): Promise<{ data: ProviderFile[]; has_more: boolean }> {
    const query = new URLSearchParams({ purpose: 'batch', limit: String(limit), ...(after ? { after } : {}) });
    return this.retry(
      async (signal) =>
        (await this.json('GET', `/files?${query}`, null, signal)) as { data: ProviderFile[]; has_more: boolean },
    );
  }

  async cancelBatch(id: string): Promise<ProviderBatch> {
    return this.retry(
      async (signal) =>
        (await this.json('POST', `/batches/${encodeURIComponent(id)}/cancel`, null, signal)) as ProviderBatch,
    );
  }

  /** Deletes a file; one already gone is not an error. */
  async deleteFile(id: string): Promise<void> {
    await this.retry(async (signal) => {
      try {
        await this.json('DELETE', `/files/${encodeURIComponent(id)}`, null, signal);
      } catch (error) {
        if (error instanceof UpstreamError && error.status === 404) return;
        throw error;
      }
    });
  }

  /**
   * Calls `onLine` with each non-blank line of a file's content, in order, as the bytes arrive (a
   * 200 MB output file is never held whole). A failure part-way is not retried: lines were handed
   * out already, and the caller decides whether to read the file again.
   */
  async readLines(fileId: string, onLine: (line: string) => Promise<void> | void): Promise<void> {
    const response = await this.retry(async (signal) => {
      const answer = await this.fetch('GET', `/files/${encodeURIComponent(fileId)}/content`, null, signal, false);
      return answer;
    });
    if (!response.body) return;
    const lines = createInterface({ input: Readable.fromWeb(response.body as never), crlfDelay: Infinity });
    for await (const line of lines) {
      if (line.trim() !== '') await onLine(line);
    }
  }

  private retry<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    return retrying(this.options.retry, () => call(AbortSignal.timeout(this.options.requestTimeoutMs)));
  }

  private async json(
    method: string,
    path: string,
    body: FormData | string | null,
    signal: AbortSignal,
  ): Promise<unknown> {
    const response = await this.fetch(method, path, body, signal, true);
    const text = await response.text();
    try {
      return JSON.parse(text) as unknown;
    } catch (error) {
      throw new UpstreamError(
        'upstream_malformed_response',
        `the provider's answer to ${method} ${path} was not JSON`,
        response.status,
        null,
        { retriable: true, cause: error },
      );
    }
  }

  /** One HTTP call; a non-2xx answer becomes an UpstreamError, a network failure or timeout a retriable one. */
  private async fetch(
    method: string,
    path: string,
    body: FormData | string | null,
    signal: AbortSignal,
    expectJson: boolean,
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.options.apiKey}`,
      ...(expectJson ? { accept: 'application/json' } : {}),
      ...(typeof body === 'string' ? { 'content-type': 'application/json' } : {}),
      ...this.options.headers,
    };
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, { method, headers, body, signal });
    } catch (error) {
      const timedOut = signal.aborted;
      throw new UpstreamError(
        timedOut ? 'upstream_timeout' : 'upstream_unreachable',
        timedOut
          ? `the provider did not answer ${method} ${path} in time`
          : `the provider could not be reached: ${(error as Error).message}`,
        null,
        null,
        { retriable: true, cause: error },
      );
    }
    if (response.ok) return response;
    const text = await response.text().catch(() => '');
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: the text is the body
    }
    throw upstreamErrorFromResponse(response.status, parsed, response.headers, response.headers.get('x-request-id'));
  }
}
