import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FileRecord, type FilePurpose } from '../contracts/files.js';
import { newFileId, nowSeconds } from '../ids.js';
import { isNotFound, readJsonFile, writeFileAtomic } from './fs.js';
import type { DataLayout } from './layout.js';

export interface PendingUpload {
  id: string;
  /** Streams the content to disk; resolves with its size. Call once. */
  write(content: NodeJS.ReadableStream | AsyncIterable<Buffer>): Promise<number>;
  commit(meta: {
    tenant: string;
    filename: string;
    purpose: FilePurpose;
    expiresAt: number | null;
  }): Promise<FileRecord>;
  abort(): Promise<void>;
}

export interface ListFilesOptions {
  tenant: string;
  purpose?: FilePurpose;
  limit: number;
  order: 'asc' | 'desc';
  after?: string;
}

/**
 * The Files API's storage: metadata as one JSON file per file id, content beside it (uploads)
 * or in a batch directory (outputs). Content is streamed in and out, never held in memory.
 */
export class FileStore {
  constructor(private readonly layout: DataLayout) {}

  /**
   * Starts an upload: content is streamed to a temporary file, and becomes a File only when
   * `commit` is called (after the upload's other fields were checked).
   */
  async beginUpload(): Promise<PendingUpload> {
    await mkdir(this.layout.filesDir, { recursive: true });
    const id = newFileId();
    const path = this.layout.fileContent(id);
    const partial = `${path}.partial`;
    return {
      id,
      write: async (content) => {
        try {
          await pipeline(content, createWriteStream(partial));
        } catch (error) {
          await rm(partial, { force: true });
          throw error;
        }
        return (await stat(partial)).size;
      },
      commit: async ({ tenant, filename, purpose, expiresAt }) => {
        await rename(partial, path);
        const { size } = await stat(path);
        return this.save({ id, tenant, filename, purpose, path, bytes: size, expiresAt, batchId: null });
      },
      abort: async () => {
        await rm(partial, { force: true });
      },
    };
  }

  /** Records a file whose content already exists (a batch's output), under a chosen id. */
  async register(options: {
    id: string;
    tenant: string;
    filename: string;
    purpose: FilePurpose;
    path: string;
    expiresAt: number | null;
    batchId: string | null;
    createdAt?: number;
  }): Promise<FileRecord> {
    await mkdir(this.layout.filesDir, { recursive: true });
    const { size } = await stat(options.path);
    return this.save({ ...options, bytes: size });
  }

  async get(id: string): Promise<FileRecord | null> {
    let path: string;
    try {
      path = this.layout.fileMeta(id);
    } catch {
      return null; // not a well-formed file id
    }
    const raw = await readJsonFile<unknown>(path);
    return raw === null ? null : FileRecord.parse(raw);
  }

  /** Absolute path of a file's content. */
  contentPath(record: FileRecord): string {
    return join(this.layout.root, record.path);
  }

  async list(options: ListFilesOptions): Promise<{ data: FileRecord[]; hasMore: boolean }> {
    let names: string[];
    try {
      names = await readdir(this.layout.filesDir);
    } catch (error) {
      if (isNotFound(error)) return { data: [], hasMore: false };
      throw error;
    }
    const records: FileRecord[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const record = await this.get(name.slice(0, -'.json'.length)).catch(() => null);
      if (!record || record.tenant !== options.tenant) continue;
      if (options.purpose && record.purpose !== options.purpose) continue;
      records.push(record);
    }
    const sign = options.order === 'asc' ? 1 : -1;
    records.sort((a, b) => sign * (a.created_at - b.created_at || a.id.localeCompare(b.id)));
    let start = 0;
    if (options.after) {
      const at = records.findIndex((r) => r.id === options.after);
      start = at === -1 ? records.length : at + 1;
    }
    const data = records.slice(start, start + options.limit);
    return { data, hasMore: start + options.limit < records.length };
  }

  /** Deletes a file's metadata and, for uploads, its content. */
  async delete(record: FileRecord): Promise<void> {
    await rm(this.layout.fileMeta(record.id), { force: true });
    if (record.purpose === 'batch') await rm(this.contentPath(record), { force: true });
  }

  private async save(options: {
    id: string;
    tenant: string;
    filename: string;
    purpose: FilePurpose;
    path: string;
    bytes: number;
    expiresAt: number | null;
    batchId: string | null;
    createdAt?: number;
  }): Promise<FileRecord> {
    const record: FileRecord = FileRecord.parse({
      id: options.id,
      object: 'file',
      bytes: options.bytes,
      created_at: options.createdAt ?? nowSeconds(),
      filename: options.filename,
      purpose: options.purpose,
      expires_at: options.expiresAt,
      status: 'processed',
      status_details: null,
      tenant: options.tenant,
      path: relative(this.layout.root, options.path),
      batch_id: options.batchId,
    });
    await writeFileAtomic(this.layout.fileMeta(record.id), JSON.stringify(record));
    return record;
  }
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
