/**
 * The store is the seam between Sluice's roles and everything they keep outside Kafka: input
 * files, result logs and their indexes, final outputs and error files, CSV exports, File records.
 * A local directory implements it for one machine (the default, the demo); an S3-compatible
 * object store implements it for several. One contract suite (`test/e2e/store-contract.test.ts`)
 * runs against both.
 *
 * The interface is an object store's, because that is the weaker of the two: objects are written
 * whole (or assembled from parts) and never modified, there is no append and no rename, reads may
 * take a byte range, listings are in key order. Everything above it (the result log, final
 * outputs, File records) is written once, in core, against this interface.
 *
 * Keys are `/`-separated paths of `[A-Za-z0-9._=-]` segments that never start with a dot.
 */
export interface StoredObject {
  key: string;
  bytes: number;
  /** Milliseconds since the epoch when the object was written. */
  modifiedMs: number;
}

/** A byte range: `start` included, `end` excluded (omitted: to the end of the object). */
export interface ByteRange {
  start: number;
  end?: number;
}

/**
 * An object written piece by piece (an S3 multipart upload, or a temporary file renamed into
 * place): readers see nothing until `complete`, and `abort` leaves nothing behind, not even parts.
 */
export interface ObjectWriter {
  readonly key: string;
  /** Bytes written so far. */
  readonly bytes: number;
  /** Resolves once the chunk is accepted (back-pressure: await every call). */
  write(chunk: Buffer | string): Promise<void>;
  /** Publishes the object; resolves with its size. */
  complete(): Promise<number>;
  /** Discards everything written; safe to call more than once and after a failure. */
  abort(): Promise<void>;
}

export interface Store {
  readonly kind: 'local' | 's3';
  /** Where the bytes are, for logs and errors: a directory, or `s3://bucket/prefix`. */
  readonly location: string;
  /** Writes a whole object atomically: readers see the old content or the new, never a part. */
  put(key: string, body: Buffer | string): Promise<void>;
  /**
   * Writes a whole object only when `key` does not exist yet; resolves with whether it wrote.
   * Of several concurrent calls for one key exactly one resolves true (a claim: idempotency keys).
   */
  putIfAbsent(key: string, body: Buffer | string): Promise<boolean>;
  /** Starts an object written in pieces; see ObjectWriter. */
  writer(key: string): ObjectWriter;
  /** An object's bytes (or a range of them); null when it does not exist. A range past the end is cut short. */
  read(key: string, range?: ByteRange): Promise<Buffer | null>;
  /** An object's bytes as a stream (or a range of them); null when it does not exist. */
  stream(key: string, range?: ByteRange): Promise<NodeJS.ReadableStream | null>;
  head(key: string): Promise<StoredObject | null>;
  /** Objects whose key starts with `prefix`, in key order, after `startAfter` when given. */
  list(prefix: string, options?: { startAfter?: string }): AsyncIterable<StoredObject>;
  /** Deletes objects; missing ones are not an error. */
  delete(keys: string[]): Promise<void>;
  /** Deletes every object under `prefix` (and unfinished uploads there); resolves with the count. */
  deletePrefix(prefix: string): Promise<number>;
  /** Checks that the store answers; used by readiness probes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

const KEY_SEGMENT = /^[A-Za-z0-9_=-][A-Za-z0-9._=-]*$/;

/** Throws unless `key` is a well-formed store key (no `..`, no leading dot, no empty segment). */
export function checkKey(key: string, what = 'key'): string {
  if (key.length === 0 || key.length > 900 || !key.split('/').every((segment) => KEY_SEGMENT.test(segment))) {
    throw new Error(`invalid store ${what}: ${JSON.stringify(key)}`);
  }
  return key;
}

/** Throws unless `prefix` is empty or a key prefix ending in `/` or a key (listing prefixes). */
export function checkPrefix(prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(prefix.endsWith('/') ? prefix.slice(0, -1) : prefix, 'prefix');
  return prefix;
}

/** Reads and parses a JSON object; null when missing. */
export async function readJson<T>(store: Store, key: string): Promise<T | null> {
  const bytes = await store.read(key);
  return bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as T);
}

export async function putJson(store: Store, key: string, value: unknown): Promise<void> {
  await store.put(key, JSON.stringify(value));
}

/** Writes a whole stream into `key` through a writer: nothing is kept when the stream fails. */
export async function uploadStream(
  store: Store,
  key: string,
  source: AsyncIterable<Buffer | string> | NodeJS.ReadableStream,
): Promise<number> {
  const writer = store.writer(key);
  try {
    for await (const chunk of source as AsyncIterable<Buffer | string>) await writer.write(chunk);
    return await writer.complete();
  } catch (error) {
    await writer.abort();
    throw error;
  }
}
