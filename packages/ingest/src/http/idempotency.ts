import { createHash, randomBytes, type Hash } from 'node:crypto';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  BadRequestError,
  IdempotencyConflictError,
  type Logger,
  putJson,
  readJson,
  type Store,
  storeKeys,
  tenantSegment,
} from '@sluice/core';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { JSONL_TYPES } from '../routes/batches.js';
import { isDryRun } from './dry-run-query.js';
import { mediaType } from './media.js';

/**
 * `Idempotency-Key` on every create, with Stripe's semantics (docs/http-api.md): the same tenant
 * sending the same key within the TTL gets the first request's answer again (status and body),
 * whatever became of the first answer on its way back; the same key with another request is a 409.
 *
 * One record per key in the store (`idempotency/<tenant>/<sha256 of key>.json`), shared by every
 * ingest and kept across restarts. The key is claimed before the work, with a create-if-absent
 * write (`Store.putIfAbsent`), so of concurrent first requests exactly one creates; the others get
 * a 409 `idempotency_key_in_use` (retriable) rather than waiting, so no request holds a
 * connection open on another's behalf. When the answer is sent the record keeps it: a 2xx, or a
 * 4xx that the same request would get again (validation); anything else (5xx, 408, 409, 429)
 * frees the key, so the client's retry runs anew. Three store operations per create (claim,
 * expiry mark, answer), never one per item.
 */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';

/** The routes that create something; the key is ignored elsewhere (gets, cancels, deletes are idempotent already). */
export const CREATE_ROUTES: ReadonlySet<string> = new Set([
  'POST /v1/jobs',
  'POST /v1/jobs/upload',
  'POST /v1/jobs/:id/retry',
  'POST /v1/batches',
  'POST /v1/batches/:id/retry',
  'POST /v1/files',
]);

export interface IdempotencyOptions {
  store: Store;
  /** How long a key is honoured from its first use. @defaultValue 86 400 (Stripe's 24 hours) */
  ttlSeconds: number;
  /**
   * A claim still running after this long was left by an ingest that died mid-request: another
   * request with the key may take it over (the first may or may not have created something).
   */
  abandonedAfterMs: number;
  logger: Logger;
}

/** What the store keeps per key: first the claim (`running`), then the first answer (`done`). */
export interface IdempotencyRecord {
  state: 'running' | 'done';
  /** This claim's identity, so exactly one request takes over an expired or abandoned one. */
  claim: string;
  method: string;
  path: string;
  /** SHA-256 of the query and body; null while a streamed body is still being read. */
  fingerprint: string | null;
  created_ms: number;
  expires_ms: number;
  status?: number;
  content_type?: string;
  body?: string;
}

/** The mark the sweeper finds at the record's expiry (retention/sweeper.ts). */
export interface IdempotencyExpiryMark {
  kind: 'idempotency';
  id: string;
  tenant: string;
  keyHash: string;
  /** Takeover objects of earlier claims, deleted with the record. */
  also: string[];
}

interface HeldClaim {
  key: string;
  recordKey: string;
  record: IdempotencyRecord;
  fingerprint: BodyFingerprint;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The Idempotency-Key this request holds the claim of, until its answer is kept or released. */
    idempotencyClaim: HeldClaim | null;
  }
}

/** Answers that mean "the same request would get this again": kept, and replayed. */
function keepsAnswer(status: number): boolean {
  if (status >= 200 && status < 300) return true;
  return status >= 400 && status < 500 && ![408, 409, 429].includes(status);
}

/** 1–255 printable ASCII characters (Stripe's limit), or a 400 naming the header. */
export function parseIdempotencyKey(value: string | string[] | undefined): string | null {
  if (value === undefined) return null;
  if (Array.isArray(value) || !/^[\x20-\x7e]{1,255}$/.test(value)) {
    throw new BadRequestError(
      'invalid_idempotency_key',
      `The ${IDEMPOTENCY_HEADER} header must be one value of 1 to 255 printable ASCII characters.`,
      IDEMPOTENCY_HEADER,
    );
  }
  return value;
}

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/**
 * The fingerprint of a request: its method, path, query and body. A JSON body is known before the
 * route runs (hashed as parsed, so whitespace does not count); a streamed body (JSONL, multipart)
 * is hashed as the route reads it, through a tap, never buffered. Multipart is hashed by part
 * (names, file names, contents), not as bytes: a client's retry may pick another boundary.
 */
class BodyFingerprint {
  /** The finished fingerprint; null until a streamed body has been read to its end. */
  value: string | null = null;
  private readonly hash: Hash;
  private readonly streamed: 'jsonl' | 'multipart' | null;

  constructor(private readonly request: FastifyRequest) {
    const query = request.url.includes('?') ? request.url.slice(request.url.indexOf('?')) : '';
    this.hash = createHash('sha256').update(`${request.method} ${request.url.split('?')[0]}${query}\n`);
    const type = mediaType(request);
    this.streamed = JSONL_TYPES.includes(type) ? 'jsonl' : request.isMultipart() ? 'multipart' : null;
    if (this.streamed === null) {
      this.value = this.hash.update(JSON.stringify(request.body ?? null)).digest('hex');
    } else if (this.streamed === 'jsonl') {
      request.body = this.tapChunks(request.body as AsyncIterable<Buffer>);
    } else {
      // The route reads parts through `request.parts()`; the same function, tapped.
      const parts = request.parts.bind(request);
      request.parts = ((options?: Parameters<typeof parts>[0]) =>
        this.tapParts(parts(options))) as typeof request.parts;
    }
  }

  private async *tapChunks(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
    for await (const chunk of source) {
      this.hash.update(chunk);
      yield chunk;
    }
    this.value = this.hash.digest('hex');
  }

  private async *tapParts<T extends { type: string; fieldname: string }>(parts: AsyncIterable<T>): AsyncGenerator<T> {
    for await (const part of parts) {
      const hash = this.hash;
      if (part.type === 'file') {
        const file = part as T & { filename?: string; file: NodeJS.ReadableStream };
        hash.update(`\0file\0${file.fieldname}\0${file.filename ?? ''}\0`);
        const tap = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            hash.update(chunk);
            done(null, chunk);
          },
        });
        // pipeline passes the source's errors on (the multipart plugin's file-too-large among them).
        pipeline(file.file, tap).catch((error: unknown) => tap.destroy(error as Error));
        file.file = tap;
      } else {
        hash.update(`\0field\0${part.fieldname}\0${String((part as T & { value?: unknown }).value)}`);
      }
      yield part;
    }
    this.value = this.hash.digest('hex');
  }

  /** Reads the rest of a streamed body, only to know its fingerprint (a replay or a refusal follows). */
  async finish(): Promise<string> {
    if (this.value !== null) return this.value;
    if (this.streamed === 'jsonl') {
      for await (const chunk of this.request.body as AsyncIterable<Buffer>) void chunk;
    } else {
      for await (const part of this.request.parts()) {
        if (part.type === 'file') for await (const chunk of part.file) void chunk;
      }
    }
    return this.value ?? '';
  }
}

/** Registers the hooks that give every create route its Idempotency-Key. */
export function registerIdempotency(app: FastifyInstance, options: IdempotencyOptions): void {
  const { store, logger } = options;
  app.decorateRequest('idempotencyClaim', null);

  app.addHook('preHandler', async (request, reply) => {
    if (!CREATE_ROUTES.has(`${request.method} ${request.routeOptions.url ?? ''}`)) return;
    const key = parseIdempotencyKey(request.headers['idempotency-key']);
    // A dry run creates nothing: nothing to remember, the key is only checked.
    if (key === null || isDryRun(request)) return;
    const keyHash = sha256(key);
    const recordKey = storeKeys.idempotencyRecord(request.tenant, keyHash);
    const fingerprint = new BodyFingerprint(request);
    const path = request.url.split('?')[0] ?? '';
    const also: string[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const now = Date.now();
      const record: IdempotencyRecord = {
        state: 'running',
        claim: randomBytes(12).toString('hex'),
        method: request.method,
        path,
        fingerprint: fingerprint.value,
        created_ms: now,
        expires_ms: now + options.ttlSeconds * 1000,
      };
      if (await store.putIfAbsent(recordKey, JSON.stringify(record))) {
        const mark: IdempotencyExpiryMark = {
          kind: 'idempotency',
          id: `${tenantSegment(request.tenant)}.${keyHash}`,
          tenant: request.tenant,
          keyHash,
          also,
        };
        await putJson(store, storeKeys.expiry(record.expires_ms / 1000, 'idempotency', mark.id), mark);
        request.idempotencyClaim = { key, recordKey, record, fingerprint };
        return;
      }
      const first = await readJson<IdempotencyRecord>(store, recordKey);
      if (first === null) continue; // released (a 5xx) or swept in between: claim again
      const expired = first.expires_ms <= now;
      const abandoned = first.state === 'running' && now - first.created_ms > options.abandonedAfterMs;
      if (expired || abandoned) {
        // Replaced by exactly one request: whoever writes the takeover object of this claim.
        const takeover = storeKeys.idempotencyTakeover(request.tenant, keyHash, first.claim);
        if (!(await store.putIfAbsent(takeover, String(now)))) throw inUse(key);
        also.push(takeover);
        await store.delete([recordKey]);
        continue;
      }
      if (first.method !== request.method || first.path !== path) throw reused(key, first);
      if (first.fingerprint !== null && fingerprint.value !== null && first.fingerprint !== fingerprint.value) {
        throw reused(key, first);
      }
      if (first.state === 'running') throw inUse(key);
      if (first.fingerprint !== (await fingerprint.finish())) throw reused(key, first);
      return replay(reply, first);
    }
    throw inUse(key);
  });

  // The answer is kept before it leaves: a client that loses it finds it on its retry.
  app.addHook('onSend', async (request, reply, payload) => {
    const held = request.idempotencyClaim;
    if (!held) return payload;
    request.idempotencyClaim = null;
    const body = typeof payload === 'string' ? payload : Buffer.isBuffer(payload) ? payload.toString('utf8') : null;
    // A streamed body the route did not read to its end (refused early) has no fingerprint to keep.
    const keep = keepsAnswer(reply.statusCode) && body !== null && held.fingerprint.value !== null;
    try {
      if (keep) {
        const done: IdempotencyRecord = {
          ...held.record,
          state: 'done',
          fingerprint: held.fingerprint.value,
          status: reply.statusCode,
          content_type: String(reply.getHeader('content-type') ?? 'application/json; charset=utf-8'),
          body: body ?? '',
        };
        await putJson(store, held.recordKey, done);
      } else {
        await store.delete([held.recordKey]);
      }
    } catch (error) {
      // The answer still goes out; the claim then lapses as abandoned (IdempotencyOptions).
      logger.warn({ err: error, record: held.recordKey }, 'keeping the answer of an Idempotency-Key failed');
    }
    return payload;
  });
}

function replay(reply: FastifyReply, first: IdempotencyRecord): FastifyReply {
  return reply
    .code(first.status ?? 200)
    .header('content-type', first.content_type ?? 'application/json; charset=utf-8')
    .header('idempotent-replayed', 'true')
    .send(first.body ?? '');
}

function reused(key: string, first: IdempotencyRecord): IdempotencyConflictError {
  return new IdempotencyConflictError(
    'idempotency_key_reused',
    `${IDEMPOTENCY_HEADER} '${key}' was first used with another request (${first.method} ${first.path}, a different query or body); use a new key for a new request.`,
  );
}

function inUse(key: string): IdempotencyConflictError {
  return new IdempotencyConflictError(
    'idempotency_key_in_use',
    `The first request with ${IDEMPOTENCY_HEADER} '${key}' is still running; retry in a moment to get its answer.`,
  );
}

/**
 * Deletes a key's record at its expiry mark (the sweeper). A record claimed again since (after an
 * expiry, a release or a takeover) is left alone: its claim wrote a mark of its own.
 */
export async function forgetIdempotencyKey(store: Store, mark: IdempotencyExpiryMark, nowMs: number): Promise<void> {
  const recordKey = storeKeys.idempotencyRecord(mark.tenant, mark.keyHash);
  const record = await readJson<IdempotencyRecord>(store, recordKey);
  if (record && record.expires_ms > nowMs) return;
  await store.delete([recordKey, ...mark.also]);
}
