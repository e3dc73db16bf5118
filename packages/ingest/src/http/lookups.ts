import { type BatchRecord, type FileRecord, NotFoundError, nowSeconds } from '@sluice/core';
import type { IngestContext } from '../context.js';

/**
 * Looks a batch up for a tenant: another tenant's batch is as absent as a missing one. A
 * synchronous call's batch is found too (never listed): a call that timed out is polled here.
 */
export async function batchFor(context: IngestContext, tenant: string, id: string): Promise<BatchRecord> {
  const record = await context.view.get(id);
  if (!record || record.tenant !== tenant) throw new NotFoundError('batch', id);
  return record;
}

/** A tenant's file, or 404 (another tenant's file looks the same as a missing one; so does an expired one). */
export async function fileFor(context: IngestContext, tenant: string, id: string): Promise<FileRecord> {
  const record = await context.files.get(tenant, id);
  if (!record || record.tenant !== tenant || (record.expires_at !== null && record.expires_at <= nowSeconds())) {
    throw new NotFoundError('file', id);
  }
  return record;
}
