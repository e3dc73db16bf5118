import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { link, mkdir, open, readdir, rename, rm, rmdir, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { retrying, type RetryPolicy } from '../retry/index.js';
import { checkKey, checkPrefix, type ObjectWriter, type Store, type StoredObject } from './types.js';

export interface LocalStoreOptions {
  /** The directory objects live in (keys are paths below it). */
  directory: string;
}

/** Temporary files of unfinished writes, invisible to listings; left-overs of a crash older than this are removed. */
const TEMP_DIR = '.tmp';
const STALE_TEMP_MS = 24 * 60 * 60 * 1000;

/**
 * Publishing a written object (mkdir, rename) races the pruning of empty directories: ten tries,
 * without a pause beyond a turn of the event loop, on ENOENT alone (see `publish`).
 */
const PUBLISH_RETRY: RetryPolicy = {
  maxAttempts: 10,
  initialMs: 0,
  maxMs: 0,
  retriable: (error) => (error as NodeJS.ErrnoException | null)?.code === 'ENOENT',
};

/**
 * The store as a directory tree: a key is a path below `directory`. Whole objects are written to a
 * temporary file, fsynced, then renamed into place, so a reader or a crash never sees half of one.
 * Deleting an object also removes the directories it leaves empty, so nothing of a deleted batch
 * or file stays behind, not even its name.
 */
export function createLocalStore(options: LocalStoreOptions): Store {
  const root = resolve(options.directory);
  const tempDir = join(root, TEMP_DIR);
  const pathOf = (key: string) => join(root, ...checkKey(key).split('/'));
  let tempReady: Promise<void> | null = null;
  const ensureTemp = () => (tempReady ??= mkdir(tempDir, { recursive: true }).then(() => sweepStaleTemp(tempDir)));
  const tempPath = async () => {
    await ensureTemp();
    return join(tempDir, `${Date.now()}-${randomBytes(8).toString('hex')}.tmp`);
  };

  /**
   * `body` in a new temporary file, on disk (fsynced) before it is published, so that a crash after
   * the rename or link never leaves a published object short. On failure the file is gone.
   */
  const writeSyncedTemp = async (body: Buffer | string): Promise<string> => {
    const temp = await tempPath();
    try {
      const handle = await open(temp, 'w');
      try {
        await handle.writeFile(body);
        await handle.sync();
      } finally {
        await handle.close();
      }
      return temp;
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
  };

  /** Removes `dir` and its parents while they are empty, up to (not including) the root. */
  const pruneEmpty = async (dir: string) => {
    let current = dir;
    while (current.startsWith(root + sep) && current !== tempDir) {
      try {
        await rmdir(current);
      } catch {
        return; // not empty (or already gone)
      }
      current = dirname(current);
    }
  };

  /**
   * A delete prunes empty parents: it may remove a directory between this mkdir and the rename (or
   * in the middle of a recursive mkdir), which fails with ENOENT. Creating it again is right then;
   * a few attempts, since each race needs a delete of the directory's last file to land in between.
   */
  const publish = async (temp: string, key: string) => {
    const target = pathOf(key);
    await retrying(PUBLISH_RETRY, async () => {
      await mkdir(dirname(target), { recursive: true });
      await rename(temp, target);
    });
  };

  return {
    kind: 'local',
    location: root,

    async put(key, body) {
      pathOf(key);
      const temp = await writeSyncedTemp(body);
      try {
        await publish(temp, key);
      } catch (error) {
        await rm(temp, { force: true });
        throw error;
      }
    },

    async putIfAbsent(key, body) {
      const target = pathOf(key);
      const temp = await writeSyncedTemp(body);
      try {
        // link(2) fails with EEXIST when the target exists, atomically, and publishes a complete
        // file (an exclusive open('wx') would show readers the file before its bytes are written).
        return await retrying(PUBLISH_RETRY, async () => {
          await mkdir(dirname(target), { recursive: true });
          try {
            await link(temp, target);
            return true;
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
            throw error;
          }
        });
      } finally {
        await rm(temp, { force: true });
      }
    },

    writer(key) {
      pathOf(key); // checks the key now, not at the end
      return new LocalWriter(key, tempPath, publish);
    },

    async read(key, range) {
      const handle = await openIfExists(pathOf(key));
      if (!handle) return null;
      try {
        const { size } = await handle.stat();
        const start = Math.min(range?.start ?? 0, size);
        const end = Math.min(range?.end ?? size, size);
        const bytes = Buffer.alloc(Math.max(0, end - start));
        let read = 0;
        while (read < bytes.length) {
          const { bytesRead } = await handle.read(bytes, read, bytes.length - read, start + read);
          if (bytesRead === 0) break;
          read += bytesRead;
        }
        return read === bytes.length ? bytes : bytes.subarray(0, read);
      } finally {
        await handle.close();
      }
    },

    async stream(key, range) {
      const handle = await openIfExists(pathOf(key));
      if (!handle) return null;
      if (range?.end !== undefined && range.end <= range.start) {
        await handle.close();
        const { Readable } = await import('node:stream');
        return Readable.from([]);
      }
      // The stream owns the handle and closes it at its end, on error and on destroy.
      return handle.createReadStream({
        start: range?.start ?? 0,
        end: range?.end === undefined ? undefined : range.end - 1,
        highWaterMark: 256 * 1024,
      });
    },

    async head(key) {
      try {
        const info = await stat(pathOf(key));
        if (!info.isFile()) return null;
        return { key, bytes: info.size, modifiedMs: Math.floor(info.mtimeMs) };
      } catch (error) {
        if (isMissing(error)) return null;
        throw error;
      }
    },

    list(prefix, options = {}) {
      checkPrefix(prefix);
      return walk(root, prefix, options.startAfter ?? '');
    },

    async delete(keys) {
      const dirs = new Set<string>();
      for (const key of keys) {
        const path = pathOf(key);
        try {
          await unlink(path);
          dirs.add(dirname(path));
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
      }
      for (const dir of dirs) await pruneEmpty(dir);
    },

    async deletePrefix(prefix) {
      checkPrefix(prefix);
      let count = 0;
      if (prefix.endsWith('/')) {
        // A whole directory: count it, then remove it in one call.
        for await (const object of walk(root, prefix, '')) {
          void object;
          count++;
        }
        const dir = join(root, ...prefix.slice(0, -1).split('/'));
        await rm(dir, { recursive: true, force: true });
        await pruneEmpty(dirname(dir));
        return count;
      }
      const batch: string[] = [];
      for await (const object of walk(root, prefix, '')) {
        batch.push(object.key);
        count++;
        if (batch.length >= 1000) await this.delete(batch.splice(0));
      }
      if (batch.length > 0) await this.delete(batch);
      return count;
    },

    async ping() {
      await mkdir(root, { recursive: true });
    },

    async close() {},
  };
}

class LocalWriter implements ObjectWriter {
  bytes = 0;
  private stream: WriteStream | null = null;
  private temp: string | null = null;
  private failure: Error | null = null;
  private opening: Promise<void> | null = null;
  private done = false;

  constructor(
    readonly key: string,
    private readonly tempPath: () => Promise<string>,
    private readonly publish: (temp: string, key: string) => Promise<void>,
  ) {}

  private open(): Promise<void> {
    return (this.opening ??= (async () => {
      this.temp = await this.tempPath();
      const stream = createWriteStream(this.temp, { highWaterMark: 256 * 1024 });
      // Without a listener an error event would crash the process; it is reported by the next call.
      stream.on('error', (error) => (this.failure ??= error));
      this.stream = stream;
    })());
  }

  async write(chunk: Buffer | string): Promise<void> {
    if (this.done) throw new Error(`writer for ${this.key} is finished`);
    await this.open();
    if (this.failure) throw this.failure;
    const stream = this.stream as WriteStream;
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (!stream.write(chunk)) {
      await new Promise<void>((resolveDrain, reject) => {
        const onError = (error: Error) => {
          stream.off('drain', onDrain);
          reject(error);
        };
        const onDrain = () => {
          stream.off('error', onError);
          resolveDrain();
        };
        stream.once('error', onError);
        stream.once('drain', onDrain);
      });
    }
  }

  async complete(): Promise<number> {
    if (this.done) throw new Error(`writer for ${this.key} is finished`);
    await this.open();
    const stream = this.stream as WriteStream;
    try {
      if (this.failure) throw this.failure;
      await new Promise<void>((resolveEnd, reject) =>
        stream.end((error?: Error | null) => (error ? reject(error) : resolveEnd())),
      );
      const handle = await open(this.temp as string, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.publish(this.temp as string, this.key);
      this.done = true;
      return this.bytes;
    } catch (error) {
      await this.abort();
      throw error;
    }
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.opening?.catch(() => undefined);
    // The stream opens its file asynchronously: removing the file before the stream has closed could
    // run before the open creates it, and leave the temporary file behind. Wait for 'close' first.
    const stream = this.stream;
    if (stream && !stream.closed) {
      await new Promise<void>((resolveClose) => {
        stream.once('close', () => resolveClose());
        stream.destroy();
      });
    }
    if (this.temp) await rm(this.temp, { force: true });
  }
}

/**
 * Objects under `prefix`, in key order (the order S3 lists in: by the full key, so `a-b` comes
 * before `a/b`), skipping whole directories that sort before `startAfter`.
 */
async function* walk(root: string, prefix: string, startAfter: string): AsyncGenerator<StoredObject> {
  const cut = prefix.lastIndexOf('/');
  const base = cut === -1 ? '' : prefix.slice(0, cut + 1);
  yield* walkDir(root, base, prefix, startAfter);
}

async function* walkDir(root: string, base: string, prefix: string, startAfter: string): AsyncGenerator<StoredObject> {
  let entries;
  try {
    entries = await readdir(base === '' ? root : join(root, ...base.slice(0, -1).split('/')), { withFileTypes: true });
  } catch (error) {
    if (isMissing(error) || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw error;
  }
  const named = entries
    .filter((entry) => !entry.name.startsWith('.') && (entry.isFile() || entry.isDirectory()))
    .map((entry) => ({ entry, sortKey: `${base}${entry.name}${entry.isDirectory() ? '/' : ''}` }))
    .sort((a, b) => (a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0));
  for (const { entry, sortKey } of named) {
    if (entry.isDirectory()) {
      // Every key below starts with sortKey: skip the directory when it cannot hold a match.
      if (!(sortKey.startsWith(prefix) || prefix.startsWith(sortKey))) continue;
      if (startAfter > sortKey && !startAfter.startsWith(sortKey)) continue;
      yield* walkDir(root, sortKey, prefix, startAfter);
    } else {
      if (!sortKey.startsWith(prefix) || sortKey <= startAfter) continue;
      try {
        const info = await stat(join(root, ...sortKey.split('/')));
        yield { key: sortKey, bytes: info.size, modifiedMs: Math.floor(info.mtimeMs) };
      } catch (error) {
        if (!isMissing(error)) throw error; // deleted while listing
      }
    }
  }
}

async function sweepStaleTemp(tempDir: string): Promise<void> {
  const now = Date.now();
  for (const name of await readdir(tempDir).catch(() => [] as string[])) {
    const path = join(tempDir, name);
    const info = await stat(path).catch(() => null);
    if (info && now - info.mtimeMs > STALE_TEMP_MS) await rm(path, { force: true });
  }
}

async function openIfExists(path: string) {
  try {
    return await open(path, 'r');
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

function isMissing(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR';
}
