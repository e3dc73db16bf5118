import { randomBytes } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CreateBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { silentLogger, type Logger } from '../logger.js';
import { retrying } from '../retry/index.js';
import { forEachLimited } from './results.js';
import { checkKey, checkPrefix, type ByteRange, type ObjectWriter, type Store, type StoredObject } from './types.js';

export interface S3StoreOptions {
  bucket: string;
  /** Prefix of every key Sluice writes, `''` or ending in `/`. */
  prefix: string;
  /** `AWS_ENDPOINT_URL`: an S3-compatible service; path-style addressing is used with it. Null: AWS itself. */
  endpoint: string | null;
  /** `AWS_REGION`. @defaultValue `us-east-1` */
  region: string;
  /** From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY`; null: the SDK's default chain (instance roles, profiles). */
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } | null;
  /** Creates the bucket when it does not exist (and Sluice may). @defaultValue true */
  createBucket?: boolean;
  /**
   * Whether the service honours `If-None-Match: *` on PutObject (AWS S3 does since 2024; S3Proxy
   * 2.6.0 ignores the header and overwrites). `'probe'` asks the service once, at the first
   * `putIfAbsent`. Without it `putIfAbsent` falls back to claim objects (see `claimedPut`).
   * @defaultValue 'probe'
   */
  conditionalWrites?: boolean | 'probe';
  /** Part size of multipart uploads (at least 5 MiB, S3's minimum). @defaultValue 8 MiB */
  partBytes?: number;
  logger?: Logger;
}

const MIN_PART_BYTES = 5 * 1024 * 1024;

/** The claim objects of the fallback `putIfAbsent`, under a prefix of their own. */
const CLAIMS = 'store-claims/';
/** A claim this much older than ours was left by a writer that died between claim and write. */
const STALE_CLAIM_MS = 60_000;
/** Rounds of the fallback claim before giving up (every round has a rival in the same instant). */
const CLAIM_ROUNDS = 8;

/** Another writer claimed the same key at the same moment: both step back and try again. */
class ContendedClaim extends Error {
  constructor(key: string) {
    super(`could not claim ${key}: other writers claimed it at the same moment, ${CLAIM_ROUNDS} times`);
  }
}

/**
 * The store on an S3-compatible object store (AWS S3, MinIO, S3Proxy, ...) through the AWS SDK v3.
 * Large objects are multipart uploads (`@aws-sdk/lib-storage`) fed as they are produced: nothing is
 * staged on local disk or held whole in memory, and an aborted writer aborts its upload, so no
 * parts are left behind.
 *
 * Checksums are computed and validated only when an operation requires them (`WHEN_REQUIRED`):
 * since 3.729 the SDK sends CRC32 checksum headers on every upload by default, which S3Proxy (and
 * other S3-compatible services) refuse.
 */
export async function createS3Store(options: S3StoreOptions): Promise<Store> {
  const logger = options.logger ?? silentLogger;
  const config: S3ClientConfig = {
    region: options.region,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    maxAttempts: 5,
  };
  if (options.endpoint) {
    config.endpoint = options.endpoint;
    // Virtual-hosted addressing needs DNS for <bucket>.<host>; S3-compatible services are addressed by path.
    config.forcePathStyle = true;
  }
  if (options.credentials) config.credentials = options.credentials;
  const client = new S3Client(config);
  const bucket = options.bucket;
  const prefix = options.prefix;
  if (prefix !== '' && !prefix.endsWith('/')) throw new Error(`S3 key prefix must end with '/': ${prefix}`);
  const partBytes = Math.max(MIN_PART_BYTES, options.partBytes ?? 8 * 1024 * 1024);
  const full = (key: string) => `${prefix}${checkKey(key)}`;
  const location = `s3://${bucket}/${prefix}`;
  let multiDelete = true;

  await ensureBucket(client, bucket, options.createBucket ?? true, logger);

  let conditional: Promise<boolean> | null =
    options.conditionalWrites === undefined || options.conditionalWrites === 'probe'
      ? null
      : Promise.resolve(options.conditionalWrites);
  const conditionalPut = async (key: string, body: Buffer | string): Promise<boolean> => {
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: full(key), Body: body, IfNoneMatch: '*' }));
      return true;
    } catch (error) {
      if (statusOf(error) === 412) return false;
      throw error;
    }
  };
  /** Writes a probe object twice with `If-None-Match: *`: a service that honours it refuses the second. */
  const probeConditionalWrites = async (): Promise<boolean> => {
    const probe = `${CLAIMS}probe/${Date.now()}-${randomBytes(8).toString('hex')}`;
    try {
      const honoured = (await conditionalPut(probe, 'probe')) && !(await conditionalPut(probe, 'probe'));
      logger.info(
        { location, conditionalWrites: honoured },
        honoured ? 'the S3 service honours If-None-Match' : 'the S3 service ignores If-None-Match: claims by objects',
      );
      return honoured;
    } catch (error) {
      // 501 NotImplemented (or 400) for the header: not supported.
      logger.info({ location, err: error }, 'the S3 service refuses If-None-Match: claims by objects');
      return false;
    } finally {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(probe) })).catch(() => undefined);
    }
  };

  /**
   * `putIfAbsent` on a service without conditional writes, from S3's strong read-after-write and
   * list-after-write consistency alone: each writer puts a claim object of its own, then lists the
   * claims; it goes on only when it sees no other, and only when the object is still absent.
   * Two writers cannot both go on: the later of two claims is written after the earlier writer
   * listed, so the later writer's listing sees the earlier claim (while it stands) or, once the
   * earlier writer is done, its object (claims are deleted only after the object is written).
   * Two writers that see each other both step back and try again after a random pause.
   * A claim older than STALE_CLAIM_MS is a writer that died and is ignored: a writer paused for
   * longer than that between its claim and its write could race, which is the fallback's limit.
   */
  const claimedPut = (key: string, body: Buffer | string): Promise<boolean> =>
    retrying(
      { maxAttempts: CLAIM_ROUNDS, initialMs: 20, maxMs: 500, retriable: (error) => error instanceof ContendedClaim },
      async () => {
        const claims = `${CLAIMS}${key}/`;
        if (await store.head(key)) return false;
        const mine = `${claims}${randomBytes(12).toString('hex')}`;
        await store.put(mine, 'claim');
        try {
          const listed: StoredObject[] = [];
          for await (const claim of store.list(claims)) listed.push(claim);
          // Ages on the service's clock: ours and the others' both come from it.
          const myTime = listed.find((claim) => claim.key === mine)?.modifiedMs ?? Date.now();
          const others = listed.filter((claim) => claim.key !== mine);
          const stale = others.filter((claim) => myTime - claim.modifiedMs >= STALE_CLAIM_MS);
          if (stale.length > 0) await store.delete(stale.map((claim) => claim.key));
          if (others.length > stale.length) throw new ContendedClaim(key);
          if (await store.head(key)) return false;
          await store.put(key, body);
          return true;
        } finally {
          await store.delete([mine]);
        }
      },
    );

  const rangeHeader = (range?: ByteRange) =>
    range ? `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}` : undefined;
  const emptyRange = (range?: ByteRange) => range?.end !== undefined && range.end <= range.start;

  const get = async (key: string, range?: ByteRange) => {
    try {
      return await client.send(new GetObjectCommand({ Bucket: bucket, Key: full(key), Range: rangeHeader(range) }));
    } catch (error) {
      if (isNotFound(error)) return null;
      // A range that starts at or past the end: S3 answers 416; the contract says "cut short".
      if (statusOf(error) === 416) return 'empty' as const;
      throw error;
    }
  };

  const store: Store = {
    kind: 's3',
    location,

    async put(key, body) {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: full(key), Body: body }));
    },

    async putIfAbsent(key, body) {
      checkKey(key);
      if (!(await (conditional ??= probeConditionalWrites()))) return claimedPut(key, body);
      // 409 ConditionalRequestConflict: a concurrent write of the same key was in the middle; AWS
      // says to try again (the next attempt then sees the object, or wins).
      return retrying(
        { maxAttempts: 3, initialMs: 20, maxMs: 200, retriable: (error) => statusOf(error) === 409 },
        () => conditionalPut(key, body),
      );
    },

    writer(key) {
      return new S3Writer(client, bucket, full(key), key, partBytes);
    },

    async read(key, range) {
      if (emptyRange(range)) return (await store.head(key)) ? Buffer.alloc(0) : null;
      const answer = await get(key, range);
      if (answer === null) return null;
      if (answer === 'empty') return Buffer.alloc(0);
      const bytes = await answer.Body?.transformToByteArray();
      return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : Buffer.alloc(0);
    },

    async stream(key, range) {
      if (emptyRange(range)) {
        if (!(await store.head(key))) return null;
        const { Readable } = await import('node:stream');
        return Readable.from([]);
      }
      const answer = await get(key, range);
      if (answer === null) return null;
      if (answer === 'empty' || !answer.Body) {
        const { Readable } = await import('node:stream');
        return Readable.from([]);
      }
      return answer.Body as Readable;
    },

    async head(key) {
      try {
        const answer = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: full(key) }));
        return { key, bytes: answer.ContentLength ?? 0, modifiedMs: answer.LastModified?.getTime() ?? 0 };
      } catch (error) {
        if (isNotFound(error)) return null;
        throw error;
      }
    },

    list(listPrefix, listOptions = {}) {
      checkPrefix(listPrefix);
      return (async function* (): AsyncGenerator<StoredObject> {
        let token: string | undefined;
        do {
          const page = await client.send(
            new ListObjectsV2Command({
              Bucket: bucket,
              Prefix: `${prefix}${listPrefix}`,
              StartAfter: token || !listOptions.startAfter ? undefined : `${prefix}${listOptions.startAfter}`,
              ContinuationToken: token,
            }),
          );
          for (const object of page.Contents ?? []) {
            // Some services (S3Proxy's filesystem backend) list their directories as `name/` objects.
            if (!object.Key || object.Key.endsWith('/')) continue;
            yield {
              key: object.Key.slice(prefix.length),
              bytes: object.Size ?? 0,
              modifiedMs: object.LastModified?.getTime() ?? 0,
            };
          }
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
      })();
    },

    async delete(keys) {
      for (let at = 0; at < keys.length; at += 1000) {
        const chunk = keys.slice(at, at + 1000);
        if (chunk.length > 1 && multiDelete) {
          try {
            const answer = await client.send(
              new DeleteObjectsCommand({
                Bucket: bucket,
                Delete: { Objects: chunk.map((key) => ({ Key: full(key) })), Quiet: true },
              }),
            );
            const failed = (answer.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
            if (failed.length > 0) {
              throw new Error(
                `S3 refused to delete ${failed.length} object(s) in ${location}, e.g. ${failed[0]?.Key}: ${failed[0]?.Code} ${failed[0]?.Message}`,
              );
            }
            continue;
          } catch (error) {
            // DeleteObjects requires a checksum header; with WHEN_REQUIRED the SDK sends a CRC32
            // one, which S3Proxy 2.6 answers NotImplemented. Then objects are deleted one by one.
            if ((error as { name?: string }).name !== 'NotImplemented') throw error;
            multiDelete = false;
          }
        }
        await forEachLimited(chunk, 16, async (key) => {
          await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: full(key) }));
        });
      }
    },

    async deletePrefix(deletePrefixKey) {
      checkPrefix(deletePrefixKey);
      let count = 0;
      let batch: string[] = [];
      for await (const object of store.list(deletePrefixKey)) {
        batch.push(object.key);
        count++;
        if (batch.length === 1000) {
          await store.delete(batch);
          batch = [];
        }
      }
      if (batch.length > 0) await store.delete(batch);
      await abortUploads(client, bucket, `${prefix}${deletePrefixKey}`, logger);
      return count;
    },

    async ping() {
      await client.send(new HeadBucketCommand({ Bucket: bucket }));
    },

    async close() {
      client.destroy();
    },
  };
  return store;
}

/**
 * A multipart upload fed as it is written: lib-storage buffers one part at a time (two in
 * flight), so memory stays at a few parts whatever the object's size. An object smaller than one
 * part is a single PutObject.
 */
class S3Writer implements ObjectWriter {
  bytes = 0;
  private readonly body = new PassThrough({ highWaterMark: 1024 * 1024 });
  private readonly upload: Upload;
  private readonly done: Promise<void>;
  private failure: Error | null = null;
  private finished = false;

  constructor(
    client: S3Client,
    bucket: string,
    fullKey: string,
    readonly key: string,
    partBytes: number,
  ) {
    this.upload = new Upload({
      client,
      params: { Bucket: bucket, Key: fullKey, Body: this.body },
      partSize: partBytes,
      queueSize: 2,
      leavePartsOnError: false,
    });
    this.done = this.upload.done().then(
      () => undefined,
      (error: unknown) => {
        this.failure ??= error instanceof Error ? error : new Error(String(error));
        this.body.destroy();
      },
    );
  }

  async write(chunk: Buffer | string): Promise<void> {
    if (this.finished) throw new Error(`writer for ${this.key} is finished`);
    if (this.failure) throw this.failure;
    this.bytes += typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length;
    if (!this.body.write(chunk)) {
      await new Promise<void>((resolve) => {
        const onDrain = () => {
          this.body.off('close', onDrain);
          resolve();
        };
        this.body.once('drain', onDrain);
        this.body.once('close', onDrain);
      });
      if (this.failure) throw this.failure;
    }
  }

  async complete(): Promise<number> {
    if (this.finished) throw new Error(`writer for ${this.key} is finished`);
    this.body.end();
    await this.done;
    if (this.failure) {
      await this.abort();
      throw this.failure;
    }
    this.finished = true;
    return this.bytes;
  }

  async abort(): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    this.failure ??= new Error('aborted');
    // Aborts the multipart upload on the server (its parts are deleted) and stops the body.
    await this.upload.abort().catch(() => undefined);
    this.body.destroy();
    await this.done;
  }
}

async function ensureBucket(client: S3Client, bucket: string, create: boolean, logger: Logger): Promise<void> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return;
  } catch (error) {
    if (!isNotFound(error)) {
      throw new Error(
        `S3 bucket ${bucket}: ${describe(error)} (check AWS_ENDPOINT_URL, AWS_REGION and the credentials in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)`,
      );
    }
  }
  if (!create) throw new Error(`S3 bucket ${bucket} does not exist`);
  try {
    await client.send(new CreateBucketCommand({ Bucket: bucket }));
    logger.info({ bucket }, 'created the S3 bucket');
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'BucketAlreadyOwnedByYou' || name === 'BucketAlreadyExists') return;
    throw new Error(`S3 bucket ${bucket} does not exist and could not be created: ${describe(error)}`);
  }
}

/** Aborts unfinished multipart uploads under a prefix (a writer killed with its process leaves one). */
export async function abortUploads(client: S3Client, bucket: string, prefix: string, logger: Logger): Promise<void> {
  try {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
      );
      for (const upload of page.Uploads ?? []) {
        await client.send(
          new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }),
        );
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker);
  } catch (error) {
    // Some S3-compatible services do not list uploads; a bucket lifecycle rule covers them (docs/storage.md).
    logger.debug({ err: error, prefix }, 'could not list unfinished multipart uploads');
  }
}

function statusOf(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket' || statusOf(error) === 404;
}

function describe(error: unknown): string {
  const status = statusOf(error);
  const name = (error as { name?: string }).name ?? 'Error';
  const message = error instanceof Error ? error.message : String(error);
  return `${name}${status ? ` (HTTP ${status})` : ''}${message && message !== name ? `: ${message}` : ''}`;
}
