import { FileRecord, type FilePurpose } from '../contracts/files.js';
import { newFileId, nowSeconds } from '../ids.js';
import { storeKeys } from './layout.js';
import { forEachLimited } from './results.js';
import { putJson, readJson, type ObjectWriter, type Store } from './types.js';

export interface PendingUpload {
  id: string;
  /** Streams the content into the store; resolves with its size. Call once. */
  write(content: NodeJS.ReadableStream | AsyncIterable<Buffer>): Promise<number>;
  commit(meta: { filename: string; purpose: FilePurpose; expiresAt: number | null }): Promise<FileRecord>;
  /** Removes whatever was written (the content, or an unfinished upload's parts). Safe to call twice. */
  abort(): Promise<void>;
}

export interface ListFilesOptions {
  tenant: string;
  purpose?: FilePurpose;
  limit: number;
  order: 'asc' | 'desc';
  after?: string;
}

export interface FileStoreOptions {
  /** Seconds an uploaded file without its own expiry is kept; null: until deleted. */
  uploadRetentionSeconds: number | null;
}

/** How long a half-finished upload may wait for its record before the sweeper removes its bytes. */
const ORPHAN_CHECK_SECONDS = 24 * 60 * 60;

/**
 * The Files API's storage, per tenant: a File record by id (`files/<tenant>/by-id/`), the same
 * record under a newest-first key for listings (`files/<tenant>/by-time/`), and an upload's
 * content (`files/<tenant>/content/`); output files point at their batch's objects. A listing
 * reads only the caller's records, a page at a time. Deleting a file deletes its bytes and every
 * copy of them; an expiry marker is written for every file that has an end.
 */
export class FileStore {
  constructor(
    private readonly store: Store,
    private readonly options: FileStoreOptions = { uploadRetentionSeconds: null },
  ) {}

  /**
   * Starts an upload: content is streamed into the store, and becomes a File only when `commit`
   * is called (after the upload's other fields were checked). A marker makes the sweeper remove
   * the bytes should the process die before either `commit` or `abort`.
   */
  beginUpload(tenant: string): PendingUpload {
    const id = newFileId();
    const key = storeKeys.fileContent(tenant, id);
    let writer: ObjectWriter | null = null;
    let written = false;
    let marked: Promise<void> | null = null;
    const mark = () =>
      (marked ??= putJson(this.store, storeKeys.expiry(nowSeconds() + ORPHAN_CHECK_SECONDS, 'file', id), {
        kind: 'file',
        id,
        tenant,
      }));
    return {
      id,
      write: async (content) => {
        await mark();
        writer = this.store.writer(key);
        try {
          for await (const chunk of content as AsyncIterable<Buffer>) await writer.write(chunk);
          const bytes = await writer.complete();
          written = true;
          return bytes;
        } catch (error) {
          await writer.abort();
          throw error;
        }
      },
      commit: async ({ filename, purpose, expiresAt }) => {
        if (!written) throw new Error('upload committed before its content was written');
        const head = await this.store.head(key);
        const retention = this.options.uploadRetentionSeconds;
        return this.save({
          id,
          tenant,
          filename,
          purpose,
          key,
          bytes: head?.bytes ?? 0,
          expiresAt: expiresAt ?? (retention === null ? null : nowSeconds() + retention),
          batchId: null,
          copies: [],
        });
      },
      abort: async () => {
        await (writer as ObjectWriter | null)?.abort();
        await this.store.delete([key]);
      },
    };
  }

  /** Records a file whose content already exists (a batch's output), under a chosen id. */
  async register(options: {
    id: string;
    tenant: string;
    filename: string;
    purpose: FilePurpose;
    key: string;
    bytes: number;
    expiresAt: number | null;
    batchId: string | null;
    createdAt?: number;
    copies?: string[];
  }): Promise<FileRecord> {
    return this.save({ ...options, copies: options.copies ?? [] });
  }

  /** A tenant's file by id; null when it does not exist (or belongs to another tenant). */
  async get(tenant: string, id: string): Promise<FileRecord | null> {
    let key: string;
    try {
      key = storeKeys.fileRecord(tenant, id);
    } catch {
      return null; // not a well-formed file id
    }
    const raw = await readJson<unknown>(this.store, key);
    return raw === null ? null : FileRecord.parse(raw);
  }

  /** A file's bytes, streamed. */
  async content(record: FileRecord): Promise<NodeJS.ReadableStream | null> {
    return this.store.stream(record.path);
  }

  /**
   * A page of the tenant's files. Newest first (the default) reads one listing page and the
   * page's records; oldest first walks the tenant's listing keys to the start of the page.
   */
  async list(options: ListFilesOptions): Promise<{ data: FileRecord[]; hasMore: boolean }> {
    const prefix = storeKeys.fileListingPrefix(options.tenant);
    let startAfter: string | undefined;
    let stopAt: string | undefined;
    if (options.after) {
      const after = await this.get(options.tenant, options.after);
      if (!after) return { data: [], hasMore: false };
      const afterKey = listingKey(after);
      if (options.order === 'desc') startAfter = afterKey;
      else stopAt = afterKey;
    }
    // Records are read in windows; a purpose filter may skip some, so read until the page is full.
    const data: FileRecord[] = [];
    let hasMore = false;
    const keys =
      options.order === 'desc'
        ? this.store.list(prefix, { startAfter })
        : oldestFirst(this.store.list(prefix), stopAt, options.limit + 1);
    let window: string[] = [];
    const drain = async () => {
      const records = new Array<FileRecord | null>(window.length);
      await forEachLimited(
        window.map((key, i) => [key, i] as const),
        16,
        async ([key, i]) => {
          const raw = await readJson<unknown>(this.store, key);
          records[i] = raw === null ? null : FileRecord.parse(raw);
        },
      );
      window = [];
      for (const record of records) {
        if (!record || (options.purpose && record.purpose !== options.purpose)) continue;
        if (data.length === options.limit) {
          hasMore = true;
          return true;
        }
        data.push(record);
      }
      return false;
    };
    for await (const object of keys) {
      window.push(typeof object === 'string' ? object : object.key);
      if (window.length >= Math.min(options.limit + 1, 256) && (await drain())) break;
    }
    if (!hasMore && window.length > 0) await drain();
    return { data, hasMore };
  }

  /** Deletes a file: its bytes, every copy of them, its records and its listing entry. */
  async delete(record: FileRecord): Promise<void> {
    const prefixes = record.copies.filter((key) => key.endsWith('/'));
    const keys = record.copies.filter((key) => !key.endsWith('/'));
    await this.store.delete([record.path, ...keys]);
    for (const prefix of prefixes) await this.store.deletePrefix(prefix);
    // The record last: until it is gone the file can be deleted again after a failure.
    await this.store.delete([listingKey(record)]);
    await this.store.delete([storeKeys.fileRecord(record.tenant, record.id)]);
  }

  private async save(options: {
    id: string;
    tenant: string;
    filename: string;
    purpose: FilePurpose;
    key: string;
    bytes: number;
    expiresAt: number | null;
    batchId: string | null;
    createdAt?: number;
    copies: string[];
  }): Promise<FileRecord> {
    const nowMs = Date.now();
    const createdAt = options.createdAt ?? Math.floor(nowMs / 1000);
    const record: FileRecord = FileRecord.parse({
      id: options.id,
      object: 'file',
      bytes: options.bytes,
      created_at: createdAt,
      filename: options.filename,
      purpose: options.purpose,
      expires_at: options.expiresAt,
      status: 'processed',
      status_details: null,
      tenant: options.tenant,
      path: options.key,
      batch_id: options.batchId,
      created_ms: Math.max(createdAt * 1000, Math.min(nowMs, createdAt * 1000 + 999)),
      copies: options.copies,
    });
    if (record.expires_at !== null) {
      await putJson(this.store, storeKeys.expiry(record.expires_at, 'file', record.id), {
        kind: 'file',
        id: record.id,
        tenant: record.tenant,
      });
    }
    await putJson(this.store, storeKeys.fileRecord(record.tenant, record.id), record);
    await putJson(this.store, listingKey(record), record);
    return record;
  }
}

function listingKey(record: FileRecord): string {
  return storeKeys.fileListing(record.tenant, record.created_ms || record.created_at * 1000, record.id);
}

/**
 * Oldest first from a newest-first listing: walks the keys up to `stopAt` (the `after` file)
 * keeping the last `count`, then reverses them. Time grows with the tenant's files; memory does not.
 */
async function* oldestFirst(
  keys: AsyncIterable<{ key: string }>,
  stopAt: string | undefined,
  count: number,
): AsyncGenerator<string> {
  const ring: string[] = [];
  for await (const { key } of keys) {
    if (stopAt !== undefined && key >= stopAt) break;
    ring.push(key);
    if (ring.length > count) ring.shift();
  }
  for (let i = ring.length - 1; i >= 0; i--) yield ring[i] as string;
}

/** The public File object: the record without Sluice's bookkeeping. */
export function publicFile(record: FileRecord) {
  return {
    id: record.id,
    object: record.object,
    bytes: record.bytes,
    created_at: record.created_at,
    filename: record.filename,
    purpose: record.purpose,
    expires_at: record.expires_at,
    status: record.status,
    status_details: record.status_details,
  };
}
