import { createWriteStream, openAsBlob } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { basename, extname } from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  type BatchStatus,
  type ClassifyRequestBody,
  DryRun,
  type EnrichRequestBody,
  type ExtractRequestBody,
  Job,
  type JobFields,
  type OperationRow,
  OutputPage,
  type OutputQuery,
  type RunRequestBody,
  type SummarizeRequestBody,
} from '@sluice/core/contracts';
import { ConfigurationError } from '../errors.js';
import { type HttpClient, parseResponse, type Schema } from '../http.js';
import { type CreateOptions, idempotencyKeyOf, type RequestOptions } from '../options.js';
import { pollUntilTerminal, type WaitOptions } from '../wait.js';

/** An operation and its parameters: what every item of a job shares. `label` is classify's batch name. */
export type JobOperationParams =
  | ({ operation: 'classify' | 'label' } & Omit<ClassifyRequestBody, 'items'>)
  | ({ operation: 'extract' } & Omit<ExtractRequestBody, 'items'>)
  | ({ operation: 'summarize' } & Omit<SummarizeRequestBody, 'items'>)
  | ({ operation: 'enrich' } & Omit<EnrichRequestBody, 'items'>)
  // A run's free name goes in the job's `name`: `operation` is taken by the operation itself.
  | ({ operation: 'run' } & Omit<RunRequestBody, 'items' | 'operation'>);

/** A job's own fields, besides its operation's (`name`, `metadata`, `completion_window`, `dedup`, `request_timeout_seconds`, `tier`): core's schema. */
export type { JobFields };

/** `dryRun: true`: validate and estimate (a {@link DryRun}), create nothing, send nothing upstream. */
export interface DryRunOption {
  dryRun: true;
}

/** `POST /v1/jobs`: the items inline, or `input_file_id` of a stored JSONL or CSV file. */
export type SubmitJobParams = JobOperationParams &
  JobFields & {
    items?: ClassifyRequestBody['items'];
    input_file_id?: string;
  };

/** The `params` part of an upload: everything but the items, which are the file. */
export type UploadJobParams = JobOperationParams & JobFields;

/** One page of `GET /v1/jobs`, newest first. */
export interface JobList {
  object: 'list';
  data: Job[];
  first_id: string | null;
  last_id: string | null;
  has_more: boolean;
}

/** `GET /v1/jobs/{id}/output?format=`: core's `OutputQuery`. */
export type OutputFormat = NonNullable<OutputQuery['format']>;

export interface OutputPageOptions extends RequestOptions {
  format?: 'json';
  /** The first item index of the page. @defaultValue 0 */
  offset?: number;
  /** Items per page, 1–10000. @defaultValue the server's, 1000 */
  limit?: number;
}

export interface OutputTextOptions extends RequestOptions {
  format: 'jsonl' | 'csv';
}

export interface IterOutputOptions extends RequestOptions {
  /** Items per request, 1–10000. @defaultValue 1000 */
  pageSize?: number;
}

export interface DownloadOutputOptions extends IterOutputOptions {
  /**
   * `jsonl` and `csv` are streamed as the server writes them; `json` is a JSON array built by
   * paging through the output (`pageSize` rows at a time, never the whole output in memory).
   * @defaultValue `'jsonl'`
   */
  format?: OutputFormat;
}

export type SubmitAndWaitParams = SubmitJobParams & WaitOptions<Job>;

const JobListSchema: Schema<JobList> = {
  parse(value) {
    const list = value as Partial<JobList> | null;
    if (typeof list !== 'object' || list === null || list.object !== 'list' || !Array.isArray(list.data)) {
      throw new Error('expected {"object": "list", "data": [...]}');
    }
    return {
      object: 'list',
      data: list.data.map((job, index) => parseResponse(Job, job, `data.${index}`)),
      first_id: list.first_id ?? null,
      last_id: list.last_id ?? null,
      has_more: list.has_more === true,
    };
  },
};

export const DEFAULT_PAGE_SIZE = 1000;
const MAX_PAGE_SIZE = 10_000;

/**
 * Jobs of the operations API (`/v1/jobs`): submit items, follow the job, read its output.
 *
 * Every call is retried on 408, 429, 5xx and lost connections, except uploads. Every create
 * (`submit`, `submitAndWait`, `retry`, `uploadFile`) sends an `Idempotency-Key`, the same on each
 * of its retries, so that a retry whose first answer was lost does not create a second job.
 */
export class Batches {
  constructor(private readonly http: HttpClient) {}

  /**
   * Creates a job. With `{ dryRun: true }` the server validates it exactly the same way (the same
   * errors) and answers an estimate instead: items, tokens, cost, seconds.
   */
  submit(params: SubmitJobParams, options: RequestOptions & DryRunOption): Promise<DryRun>;
  submit(params: SubmitJobParams, options?: CreateOptions & { dryRun?: false }): Promise<Job>;
  async submit(params: SubmitJobParams, options: CreateOptions & { dryRun?: boolean } = {}): Promise<Job | DryRun> {
    const { dryRun, idempotencyKey, ...request } = options;
    if (dryRun) {
      // A dry run creates nothing: no key, so that it can never stand in for the real submit's answer.
      return this.http.json(
        { method: 'POST', path: '/v1/jobs', query: { dry_run: true }, json: params, ...request },
        DryRun,
      );
    }
    return this.http.json(
      {
        method: 'POST',
        path: '/v1/jobs',
        json: params,
        ...request,
        idempotencyKey: idempotencyKeyOf({ idempotencyKey }),
      },
      Job,
    );
  }

  /**
   * A new job of exactly the items of a finished job that failed, expired or were cancelled, with
   * the same operation, parameters, model and window; `metadata.retry_of` is `id`. A job still
   * running: `ConflictError`; nothing to retry: `BadRequestError`.
   */
  async retry(id: string, options: CreateOptions = {}): Promise<Job> {
    const { idempotencyKey, ...request } = options;
    return this.http.json(
      {
        method: 'POST',
        path: `${jobPath(id)}/retry`,
        ...request,
        idempotencyKey: idempotencyKeyOf({ idempotencyKey }),
      },
      Job,
    );
  }

  /** Submits the job and waits until it is final (see {@link Batches.wait}). */
  async submitAndWait(params: SubmitAndWaitParams, options: CreateOptions = {}): Promise<Job> {
    const { timeoutMs, pollIntervalMs, onProgress, signal, ...body } = params;
    const job = await this.submit(body as SubmitJobParams, { ...options, signal });
    return this.wait(job.id, { timeoutMs, pollIntervalMs, onProgress, signal });
  }

  retrieve(id: string, options: RequestOptions = {}): Promise<Job> {
    return this.http.json({ method: 'GET', path: jobPath(id), ...options }, Job);
  }

  /** Newest first; pass the last id of a page as `after` for the next one; `status` keeps only jobs in it. */
  list(
    query: { after?: string; limit?: number; status?: BatchStatus } = {},
    options: RequestOptions = {},
  ): Promise<JobList> {
    return this.http.json({ method: 'GET', path: '/v1/jobs', query, ...options }, JobListSchema);
  }

  /** Items not started are not sent upstream; finished ones stay in the output. A final job: `ConflictError`. */
  cancel(id: string, options: RequestOptions = {}): Promise<Job> {
    return this.http.json({ method: 'POST', path: `${jobPath(id)}/cancel`, ...options }, Job);
  }

  /**
   * Polls the job until it is `completed`, `failed`, `cancelled` or `expired` and returns it;
   * throws `WaitTimeoutError` (holding the last job read) after `timeoutMs`.
   */
  async wait(id: string, options: WaitOptions<Job> = {}): Promise<Job> {
    // Closing the client ends the wait at once, not at the next poll.
    const { signal, release } = this.http.linkSignal(options.signal);
    try {
      return await pollUntilTerminal(() => this.retrieve(id, { signal }), { ...options, signal });
    } finally {
      release();
    }
  }

  /**
   * One page of results (`format: 'json'`), or the whole output as text (`jsonl`, `csv`). A
   * running job's page holds only the finished items of its range.
   */
  output(id: string, options?: OutputPageOptions): Promise<OutputPage>;
  output(id: string, options: OutputTextOptions): Promise<string>;
  async output(id: string, options: OutputPageOptions | OutputTextOptions = {}): Promise<OutputPage | string> {
    if (options.format === 'jsonl' || options.format === 'csv') {
      const { format, ...request } = options;
      const response = await this.http.request({ method: 'GET', path: outputPath(id), query: { format }, ...request });
      return response.text();
    }
    const { format = 'json', offset, limit, ...request } = options as OutputPageOptions;
    return this.http.json(
      { method: 'GET', path: outputPath(id), query: { format, offset, limit }, ...request },
      OutputPage,
    );
  }

  /**
   * Every result row, in item order, one page request at a time. Read a final job: a running
   * job's pages hold only the items finished when each page was read.
   */
  async *iterOutput(id: string, options: IterOutputOptions = {}): AsyncGenerator<OperationRow> {
    const { pageSize = DEFAULT_PAGE_SIZE, ...request } = options;
    checkPageSize(pageSize);
    for (let offset = 0; ;) {
      const page = await this.output(id, { format: 'json', offset, limit: pageSize, ...request });
      yield* page.results;
      // Step over the page's whole range, not over the rows it held: a running job's page skips
      // unfinished items, and counting rows would read finished ones twice.
      offset += page.limit;
      if (offset >= page.total) return;
    }
  }

  /**
   * Writes the output to a file (created or replaced; removed again if the download fails) or
   * to a stream (left open). Returns the number of bytes written.
   */
  async downloadOutput(
    id: string,
    destination: string | Writable,
    options: DownloadOutputOptions = {},
  ): Promise<number> {
    const { format = 'jsonl', pageSize = DEFAULT_PAGE_SIZE, ...request } = options;
    checkPageSize(pageSize);
    const source =
      format === 'json'
        ? jsonArray(this.iterOutput(id, { pageSize, ...request }))
        : await this.outputStream(id, format, request);
    let bytes = 0;
    async function* counted(chunks: AsyncIterable<string | Uint8Array>): AsyncGenerator<Uint8Array> {
      for await (const chunk of chunks) {
        const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
        bytes += buffer.byteLength;
        yield buffer;
      }
    }
    if (typeof destination !== 'string') {
      await pipeline(counted(source), destination, { end: false });
      return bytes;
    }
    try {
      await pipeline(counted(source), createWriteStream(destination));
    } catch (error) {
      await unlink(destination).catch(() => undefined);
      throw error;
    }
    return bytes;
  }

  /**
   * Submits a file of items as a job: `.jsonl` (one item object per line) or `.csv` (a header
   * row, then one item per row), each with a `content` field. The file is streamed from disk.
   * Never retried: use a longer `timeoutMs` for large files, the server answers once it has read
   * the whole file. To retry one yourself, pass the same `idempotencyKey` again.
   */
  async uploadFile(path: string, params: UploadJobParams, options: RequestOptions & DryRunOption): Promise<DryRun>;
  async uploadFile(path: string, params: UploadJobParams, options?: CreateOptions & { dryRun?: false }): Promise<Job>;
  async uploadFile(
    path: string,
    params: UploadJobParams,
    options: CreateOptions & { dryRun?: boolean } = {},
  ): Promise<Job | DryRun> {
    const { dryRun, idempotencyKey, ...request } = options;
    const type = extname(path).toLowerCase() === '.csv' ? 'text/csv' : 'application/jsonl';
    const file = await openAsBlob(path, { type });
    const form = new FormData();
    // Params first: the server reads the parts in order and can refuse bad params before it stores the file.
    form.append('params', JSON.stringify(params));
    form.append('file', file, basename(path));
    const spec = {
      method: 'POST' as const,
      path: '/v1/jobs/upload',
      body: form,
      ...request,
      maxRetries: 0,
    };
    if (dryRun) return this.http.json({ ...spec, query: { dry_run: true } }, DryRun);
    return this.http.json({ ...spec, idempotencyKey: idempotencyKeyOf({ idempotencyKey }) }, Job);
  }

  private async outputStream(id: string, format: 'jsonl' | 'csv', request: RequestOptions): Promise<Readable> {
    const response = await this.http.request({
      method: 'GET',
      path: outputPath(id),
      query: { format },
      headers: { accept: '*/*' },
      stream: true,
      ...request,
    });
    if (response.body === null) return Readable.from([]);
    return Readable.fromWeb(response.body as WebReadableStream<Uint8Array>);
  }
}

const jobPath = (id: string) => `/v1/jobs/${encodeURIComponent(id)}`;
const outputPath = (id: string) => `${jobPath(id)}/output`;

function checkPageSize(pageSize: number): void {
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
    throw new ConfigurationError(`pageSize: expected an integer from 1 to ${MAX_PAGE_SIZE}, got ${pageSize}`);
  }
}

/** Rows as a JSON array, one row per line. */
async function* jsonArray(rows: AsyncIterable<OperationRow>): AsyncGenerator<string> {
  let first = true;
  yield '[';
  for await (const row of rows) {
    yield `${first ? '\n' : ',\n'}${JSON.stringify(row)}`;
    first = false;
  }
  yield first ? ']\n' : '\n]\n';
}
