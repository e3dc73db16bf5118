import { tmpdir } from 'node:os';
import {
  putJson,
  readJson,
  retrying,
  sleep,
  storeKeys,
  UpstreamError,
  type Logger,
  type RetryPolicy,
  type Store,
  type UpstreamEntry,
} from '@sluice/core';
import { writeBatchFiles, type ProviderBatchItem } from './batch-files.js';
import { FINAL_PROVIDER_STATUSES, ProviderApi, type ProviderBatch, type ProviderBatchStatus } from './provider-api.js';

export type { ProviderBatchItem } from './batch-files.js';
export type { ProviderBatch, ProviderBatchStatus } from './provider-api.js';

export interface ProviderBatchesOptions {
  /** The upstream whose Batch API is called: its base URL, key and headers. */
  upstream: Pick<UpstreamEntry, 'name' | 'baseUrl' | 'apiKey' | 'headers'>;
  /** Where the journal of provider batches lives (one object per provider batch). */
  store: Store;
  /** @defaultValue `/v1/chat/completions` */
  endpoint?: string;
  /** @defaultValue 50_000 (OpenAI's limit) */
  maxRequestsPerFile?: number;
  /** @defaultValue 200 MB (OpenAI's limit) */
  maxBytesPerFile?: number;
  /** Between two polls of a running batch (SLUICE_BATCH_POLL_SECONDS, once wired). @defaultValue 60_000 */
  pollIntervalMs?: number;
  /** @defaultValue `24h`, the only window OpenAI offers */
  completionWindow?: string;
  /**
   * The input files' `expires_after` (so a file orphaned by a crash mid-upload still ends); null
   * sends none, for a provider that refuses the field. @defaultValue 30 days (OpenAI's most)
   */
  fileExpiresAfterSeconds?: number | null;
  /** Where input files are written before upload, one at a time. @defaultValue the OS temp directory */
  scratchDirectory?: string;
  /** Each provider call's timeout. @defaultValue 300_000 (an upload of 200 MB) */
  requestTimeoutMs?: number;
  /** How failed provider calls are retried. @defaultValue PROVIDER_CALL_RETRY */
  retry?: RetryPolicy;
  logger?: Logger;
}

/** Provider API calls: transient failures (5xx, 408, 409, 429, timeouts, refused connections), 6 attempts. */
export const PROVIDER_CALL_RETRY: RetryPolicy = { maxAttempts: 6, initialMs: 1000, maxMs: 30_000 };

/**
 * The journal's record of one provider batch. Written before the first provider call of its file,
 * updated when the file is uploaded and when the batch is created: whatever the moment a process
 * dies, the next one knows what the provider holds and sends nothing twice.
 */
export interface ProviderBatchRecord {
  journalId: string;
  upstream: string;
  /** The caller's name for the work this belongs to (a Sluice batch id); opaque here. */
  job: string;
  /**
   * `uploading`: the file may or may not be at the provider; `uploaded`: it is, no batch yet (or
   * its create's answer was lost); `submitted`: the provider runs it; `unsent`: found after a
   * restart never to have reached the provider (its items were never sent).
   */
  state: 'uploading' | 'uploaded' | 'submitted' | 'unsent';
  filename: string;
  inputFileId: string | null;
  providerBatchId: string | null;
  customIds: string[];
  bytes: number;
  createdAtMs: number;
}

/** One line read back from the provider, mapped to its item by custom_id. */
export type ProviderBatchLine =
  | { customId: string; ok: true; statusCode: number; body: unknown; requestId: string | null }
  | {
      customId: string;
      ok: false;
      /** The provider's answer status for the request, when it was sent; null when it never got one. */
      statusCode: number | null;
      body: unknown;
      error: { code: string; message: string };
    };

export interface ProviderBatchOutcome {
  status: ProviderBatchStatus | 'unsent';
  /** Lines answered (2xx) and lines failed, each handed to `onLine` once. */
  succeeded: number;
  failed: number;
  /**
   * Items the provider never finished: in neither file, or in the error file as never sent
   * (`batch_expired`, `batch_cancelled`). They are the caller's to send another way.
   */
  unfinished: string[];
}

/** Error codes of requests a provider never sent: they go back to the caller, not to the results. */
const NEVER_SENT = new Set(['batch_expired', 'batch_cancelled', 'batch_not_started']);
/** How far back a create's lost answer is looked for among the provider's batches. */
const LOOKUP_MARGIN_SECONDS = 300;

/**
 * The batch tier of one upstream (issue 24): items become the provider's JSONL input, split by its
 * limits, uploaded with purpose `batch`; each file becomes a provider batch, polled until final; its
 * output and error files are read back and every line mapped to its item by custom_id; cancel;
 * the provider's files are deleted at the end. A journal in the store (one record per provider
 * batch) lets a restarted process resume polling instead of submitting again.
 */
export class ProviderBatches {
  private readonly api: ProviderApi;
  private readonly endpoint: string;
  private readonly pollIntervalMs: number;

  constructor(private readonly options: ProviderBatchesOptions) {
    this.api = new ProviderApi({
      baseUrl: options.upstream.baseUrl,
      apiKey: options.upstream.apiKey,
      headers: options.upstream.headers,
      requestTimeoutMs: options.requestTimeoutMs ?? 300_000,
      retry: options.retry ?? PROVIDER_CALL_RETRY,
    });
    this.endpoint = options.endpoint ?? '/v1/chat/completions';
    this.pollIntervalMs = options.pollIntervalMs ?? 60_000;
  }

  /**
   * Sends `items` to the provider as one or more provider batches (split by the per-file limits) and
   * resolves with their journal records, all `submitted`. A failure part-way leaves the parts sent
   * so far journalled (see `resume`) and throws.
   */
  async submit(
    job: string,
    items: Iterable<ProviderBatchItem> | AsyncIterable<ProviderBatchItem>,
  ): Promise<ProviderBatchRecord[]> {
    const records: ProviderBatchRecord[] = [];
    const limits = {
      maxRequestsPerFile: this.options.maxRequestsPerFile ?? 50_000,
      maxBytesPerFile: this.options.maxBytesPerFile ?? 200 * 1024 * 1024,
    };
    const parts = writeBatchFiles(items, this.endpoint, limits, this.options.scratchDirectory ?? tmpdir());
    for await (const part of parts) {
      const record: ProviderBatchRecord = {
        journalId: part.journalId,
        upstream: this.options.upstream.name,
        job,
        state: 'uploading',
        filename: part.filename,
        inputFileId: null,
        providerBatchId: null,
        customIds: part.customIds,
        bytes: part.bytes,
        createdAtMs: Date.now(),
      };
      await this.journal(record);
      const file = await this.api.uploadBatchFile(
        part.path,
        part.filename,
        this.options.fileExpiresAfterSeconds === undefined ? 30 * 24 * 3600 : this.options.fileExpiresAfterSeconds,
      );
      record.state = 'uploaded';
      record.inputFileId = file.id;
      await this.journal(record);
      records.push(await this.create(record, false));
    }
    return records;
  }

  /**
   * The journalled provider batches of this upstream (of `job` only, when given), each brought to a
   * known state: one whose upload or create was interrupted is looked for at the provider and
   * created if need be (`submitted`), or found never to have reached it (`unsent`). Poll the
   * `submitted` ones with `wait`; nothing is submitted twice.
   */
  async resume(job?: string): Promise<ProviderBatchRecord[]> {
    const records: ProviderBatchRecord[] = [];
    for await (const object of this.options.store.list(storeKeys.providerBatchesPrefix(this.options.upstream.name))) {
      const record = await readJson<ProviderBatchRecord>(this.options.store, object.key);
      if (!record || (job !== undefined && record.job !== job)) continue;
      if (record.state === 'uploading') {
        const file = await this.findUploadedFile(record);
        if (file) {
          record.state = 'uploaded';
          record.inputFileId = file;
        } else {
          record.state = 'unsent';
        }
        await this.journal(record);
      }
      if (record.state === 'uploaded') await this.create(record, true);
      records.push(record);
    }
    return records;
  }

  /** The provider's batch now (one call). */
  status(record: ProviderBatchRecord): Promise<ProviderBatch> {
    return this.api.getBatch(this.providerId(record));
  }

  /** Polls every `pollIntervalMs` until the provider batch is final; resolves with it. */
  async wait(record: ProviderBatchRecord, options: { signal?: AbortSignal } = {}): Promise<ProviderBatch> {
    for (;;) {
      const batch = await this.status(record);
      if (FINAL_PROVIDER_STATUSES.includes(batch.status)) return batch;
      await sleep(this.pollIntervalMs, options.signal);
    }
  }

  /**
   * Reads a final provider batch's output and error files and hands each line to `onLine`, once
   * per custom_id of the record (lines of other ids, and repeats, are skipped). The items the
   * provider never finished are returned as `unfinished`.
   */
  async collect(
    record: ProviderBatchRecord,
    onLine: (line: ProviderBatchLine) => Promise<void> | void,
  ): Promise<ProviderBatchOutcome> {
    if (record.state === 'unsent')
      return { status: 'unsent', succeeded: 0, failed: 0, unfinished: [...record.customIds] };
    const batch = await this.status(record);
    if (!FINAL_PROVIDER_STATUSES.includes(batch.status)) {
      throw new Error(`provider batch ${batch.id} is ${batch.status}, not final: wait for it first`);
    }
    const expected = new Set(record.customIds);
    const mapped = new Set<string>();
    const neverSent = new Set<string>();
    const outcome: ProviderBatchOutcome = { status: batch.status, succeeded: 0, failed: 0, unfinished: [] };
    const read = async (fileId: string | null | undefined) => {
      if (!fileId) return;
      await this.api.readLines(fileId, async (text) => {
        const line = parseOutputLine(text);
        if (!line || !expected.has(line.customId) || mapped.has(line.customId) || neverSent.has(line.customId)) return;
        if (!line.ok && line.statusCode === null && NEVER_SENT.has(line.error.code)) {
          neverSent.add(line.customId);
          return;
        }
        mapped.add(line.customId);
        if (line.ok) outcome.succeeded++;
        else outcome.failed++;
        await onLine(line);
      });
    };
    await read(batch.output_file_id);
    await read(batch.error_file_id);
    for (const customId of record.customIds) if (!mapped.has(customId)) outcome.unfinished.push(customId);
    return outcome;
  }

  /** Asks the provider to cancel; a batch already final is returned as it is. */
  async cancel(record: ProviderBatchRecord): Promise<ProviderBatch> {
    try {
      return await this.api.cancelBatch(this.providerId(record));
    } catch (error) {
      // OpenAI and Sluice answer 409 (or 400) for a batch that is already final.
      if (error instanceof UpstreamError && (error.status === 409 || error.status === 400)) return this.status(record);
      throw error;
    }
  }

  /**
   * Deletes the provider's input, output and error files of a final (or unsent) batch, then its
   * journal record: call once its answers are safely handed on.
   */
  async finish(record: ProviderBatchRecord): Promise<void> {
    const files = new Set<string>();
    if (record.inputFileId) files.add(record.inputFileId);
    if (record.providerBatchId) {
      const batch = await this.status(record);
      if (!FINAL_PROVIDER_STATUSES.includes(batch.status)) {
        throw new Error(`provider batch ${batch.id} is ${batch.status}: cancel it and wait before finishing`);
      }
      for (const id of [batch.input_file_id, batch.output_file_id, batch.error_file_id]) if (id) files.add(id);
    }
    for (const id of files) await this.api.deleteFile(id);
    await this.options.store.delete([storeKeys.providerBatch(record.upstream, record.journalId)]);
  }

  /**
   * Creates the provider batch of an uploaded file. A create whose answer was lost may have
   * happened: before a retry, and first of all after a restart (`lookFirst`), the provider's recent
   * batches are searched for this file.
   */
  private async create(record: ProviderBatchRecord, lookFirst: boolean): Promise<ProviderBatchRecord> {
    const batch = await retrying(this.options.retry ?? PROVIDER_CALL_RETRY, async (attempt) => {
      const existing = attempt > 1 || lookFirst ? await this.findBatch(record) : null;
      return (
        existing ??
        this.api.createBatch({
          input_file_id: record.inputFileId as string,
          endpoint: this.endpoint,
          completion_window: this.options.completionWindow ?? '24h',
          metadata: { sluice_journal_id: record.journalId, sluice_job: record.job.slice(0, 512) },
        })
      );
    });
    record.state = 'submitted';
    record.providerBatchId = batch.id;
    await this.journal(record);
    this.options.logger?.info(
      { upstream: record.upstream, job: record.job, providerBatch: batch.id, requests: record.customIds.length },
      'provider batch submitted',
    );
    return record;
  }

  /** The provider batch made from the record's file, among those created since it was journalled. */
  private async findBatch(record: ProviderBatchRecord): Promise<ProviderBatch | null> {
    const since = Math.floor(record.createdAtMs / 1000) - LOOKUP_MARGIN_SECONDS;
    let after: string | null = null;
    for (;;) {
      const page = await this.api.listBatches(after);
      for (const batch of page.data) {
        if (batch.input_file_id === record.inputFileId || batch.metadata?.sluice_journal_id === record.journalId) {
          return batch;
        }
      }
      const last = page.data.at(-1);
      if (!page.has_more || !last || last.created_at < since) return null;
      after = last.id;
    }
  }

  /** The id of the file uploaded for the record, if the upload reached the provider. */
  private async findUploadedFile(record: ProviderBatchRecord): Promise<string | null> {
    let after: string | null = null;
    for (;;) {
      const page = await this.api.listBatchFiles(after);
      const found = page.data.find((file) => file.filename === record.filename);
      if (found) return found.id;
      const last = page.data.at(-1);
      if (!page.has_more || !last) return null;
      after = last.id;
    }
  }

  private providerId(record: ProviderBatchRecord): string {
    if (!record.providerBatchId)
      throw new Error(`provider batch ${record.journalId} was never created (${record.state})`);
    return record.providerBatchId;
  }

  private journal(record: ProviderBatchRecord): Promise<void> {
    return putJson(this.options.store, storeKeys.providerBatch(record.upstream, record.journalId), record);
  }
}

/**
 * One line of a provider's output or error file: `{custom_id, response: {status_code, request_id,
 * body} | null, error: {code, message} | null}`. A line that is not of this shape is skipped.
 */
export function parseOutputLine(text: string): ProviderBatchLine | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null) return null;
  const {
    custom_id: customId,
    response,
    error,
  } = raw as {
    custom_id?: unknown;
    response?: { status_code?: unknown; request_id?: unknown; body?: unknown } | null;
    error?: { code?: unknown; message?: unknown } | null;
  };
  if (typeof customId !== 'string') return null;
  const statusCode = typeof response?.status_code === 'number' ? response.status_code : null;
  const body = response?.body ?? null;
  if (!error && statusCode !== null && statusCode >= 200 && statusCode < 300) {
    const requestId = typeof response?.request_id === 'string' ? response.request_id : null;
    return { customId, ok: true, statusCode, body, requestId };
  }
  const bodyError = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  const code = stringOr(
    error?.code,
    stringOr(bodyError?.code, statusCode === null ? 'provider_error' : `http_${statusCode}`),
  );
  const message = stringOr(error?.message, stringOr(bodyError?.message, 'the provider did not answer this request'));
  return { customId, ok: false, statusCode, body, error: { code, message } };
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' && value !== '' ? value : fallback;
}
