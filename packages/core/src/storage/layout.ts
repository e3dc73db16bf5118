import { BatchId, FileId } from '../contracts/common.js';

/**
 * Where everything lives in the store (keys, see storage/types.ts). One place names them all, so
 * what is kept, by whom and until when can be read here (and in docs/storage.md):
 *
 *   batches/<batch>/input.jsonl              the validated input, one item per line (ingest)
 *   batches/<batch>/results/<seq>.seg        results in arrival order, JSON lines, immutable (sink)
 *   batches/<batch>/results/index/<page>     24 bytes per item index → its segment and line (sink)
 *   batches/<batch>/results/bill/<seq>.json  what a segment's results cost, per index page (sink)
 *   batches/<batch>/output.jsonl             every line in input order, final (sink)
 *   batches/<batch>/output.idx               8 bytes per output line: its byte offset (sink)
 *   batches/<batch>/output.csv               operations jobs with known result columns (sink)
 *   batches/<batch>/succeeded.jsonl          OpenAI batches: the successful lines (sink)
 *   batches/<batch>/errors.jsonl             the failed lines (sink)
 *   batches/<batch>/sink/spec.json           the seal and a cancel (sink only; key in the sink)
 *   batches/<batch>/sink/final.json          the final record (sink only; key in the sink)
 *   sink/orphans/<batch>.json                a batch with results and no seal: since when, and its
 *                                            results partition (sink only; gone at its seal, or
 *                                            SLUICE_ORPHAN_TTL_S later with its results)
 *   files/<tenant>/by-id/<file>.json         a File record (ingest for uploads, sink for outputs)
 *   files/<tenant>/by-time/<t>-<file>.json   the same record, keyed newest first, for listings
 *   files/<tenant>/content/<file>            an uploaded file's bytes (ingest)
 *   ingest/work/<batch>.json                 a batch ingest is validating or producing, with a lease (ingest only; key in ingest)
 *   deleted/<batch>                          a deleted batch, so late results do not bring it back (ingest, sink)
 *   idempotency/<tenant>/<sha256 of key>.json  an Idempotency-Key's claim, then its first answer (ingest)
 *   idempotency/<tenant>/<sha256>.<claim>.takeover  who replaced an expired or abandoned claim (ingest)
 *   expiry/<unix seconds>/<kind>.<id>        what to delete when (ingest sweeps it)
 *   provider-batches/<upstream>/<journal id>.json  one batch Sluice sent to a provider's Batch API:
 *                                            its file and batch ids and custom_ids (processor;
 *                                            deleted once its answers are read back)
 *
 * Answers reused for identical requests are not here: they live in the answers topic and each
 * processor's local database (docs/deduplication.md), never one store object per answer.
 */
export const BATCHES = 'batches/';
export const EXPIRY = 'expiry/';
export const WORK = 'ingest/work/';
export const ORPHANS = 'sink/orphans/';

/** Batch ids come from messages too; the schema keeps them to a safe alphabet. */
const batch = (batchId: string) => `${BATCHES}${BatchId.parse(batchId)}/`;

export const storeKeys = {
  batchPrefix: batch,
  input: (batchId: string) => `${batch(batchId)}input.jsonl`,
  resultsPrefix: (batchId: string) => `${batch(batchId)}results/`,
  resultSegment: (batchId: string, seq: number) => `${batch(batchId)}results/${String(seq).padStart(10, '0')}.seg`,
  resultBill: (batchId: string, seq: number) => `${batch(batchId)}results/bill/${String(seq).padStart(10, '0')}.json`,
  resultIndexPrefix: (batchId: string) => `${batch(batchId)}results/index/`,
  resultIndexPage: (batchId: string, page: number) => `${batch(batchId)}results/index/${String(page).padStart(8, '0')}`,
  output: (batchId: string) => `${batch(batchId)}output.jsonl`,
  outputIndex: (batchId: string) => `${batch(batchId)}output.idx`,
  outputCsv: (batchId: string) => `${batch(batchId)}output.csv`,
  succeeded: (batchId: string) => `${batch(batchId)}succeeded.jsonl`,
  errors: (batchId: string) => `${batch(batchId)}errors.jsonl`,
  deleted: (batchId: string) => `deleted/${BatchId.parse(batchId)}`,
  orphan: (batchId: string) => `${ORPHANS}${BatchId.parse(batchId)}.json`,

  filesPrefix: (tenant: string) => `files/${tenantSegment(tenant)}/`,
  fileRecord: (tenant: string, fileId: string) => `files/${tenantSegment(tenant)}/by-id/${FileId.parse(fileId)}.json`,
  fileListingPrefix: (tenant: string) => `files/${tenantSegment(tenant)}/by-time/`,
  /** Newest first: the key starts with the creation time subtracted from a constant. */
  fileListing: (tenant: string, createdMs: number, fileId: string) =>
    `files/${tenantSegment(tenant)}/by-time/${String(9_999_999_999_999 - createdMs).padStart(13, '0')}-${FileId.parse(fileId)}.json`,
  fileContent: (tenant: string, fileId: string) => `files/${tenantSegment(tenant)}/content/${FileId.parse(fileId)}`,

  /** `keyHash`: the SHA-256 of the Idempotency-Key, hex (the key itself is any printable ASCII). */
  idempotencyRecord: (tenant: string, keyHash: string) =>
    `idempotency/${tenantSegment(tenant)}/${hexDigest(keyHash)}.json`,
  /** Won by the one request that replaces an expired or abandoned record `claim` (a hex nonce). */
  idempotencyTakeover: (tenant: string, keyHash: string, claim: string) =>
    `idempotency/${tenantSegment(tenant)}/${hexDigest(keyHash)}.${/^[0-9a-f]{1,64}$/.test(claim) ? claim : 'x'}.takeover`,

  /** `upstream`: a configured upstream's name (`[a-z0-9-]`); `journalId`: `pb_` + hex. */
  providerBatchesPrefix: (upstream: string) => `provider-batches/${checkName(upstream, /^[a-z0-9-]{1,32}$/)}/`,
  providerBatch: (upstream: string, journalId: string) =>
    `provider-batches/${checkName(upstream, /^[a-z0-9-]{1,32}$/)}/${checkName(journalId, /^pb_[0-9a-f]{8,64}$/)}.json`,

  expiry: (atSeconds: number, kind: ExpiryKind, id: string) =>
    `${EXPIRY}${String(Math.max(0, Math.floor(atSeconds))).padStart(10, '0')}/${kind}.${id}`,
};

export type ExpiryKind = 'file' | 'batch' | 'deleted' | 'idempotency';

function checkName(value: string, pattern: RegExp): string {
  if (!pattern.test(value)) throw new Error(`not a valid key segment: ${JSON.stringify(value)}`);
  return value;
}

function hexDigest(value: string): string {
  if (!/^[0-9a-f]{64}$/.test(value)) throw new Error(`not a SHA-256 hex digest: ${JSON.stringify(value)}`);
  return value;
}

/**
 * A tenant as one key segment: tenants from API keys are already safe (`[A-Za-z0-9._-]`); any
 * other (a batch sealed by an outside producer) is encoded, `=` + base64url, so it cannot escape.
 */
export function tenantSegment(tenant: string): string {
  if (/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(tenant)) return tenant;
  return `=${Buffer.from(tenant).toString('base64url')}`;
}
