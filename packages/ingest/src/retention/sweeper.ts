import { EXPIRY, isTerminal, type BatchRecord, nowSeconds, putJson, readJson, storeKeys } from '@sluice/core';
import type { IngestContext } from '../context.js';
import { forgetIdempotencyKey, type IdempotencyExpiryMark } from '../http/idempotency.js';
import { deleteBatch } from './deletion.js';

type ExpiryMark =
  | {
      kind: 'file' | 'batch' | 'deleted';
      id: string;
      tenant: string;
    }
  | IdempotencyExpiryMark;

/** How long an unfinished batch is left before its mark is looked at again. */
const RECHECK_SECONDS = 24 * 60 * 60;

/** When a final batch became final (seconds). */
export function terminalAt(record: BatchRecord): number {
  return (
    record.completed_at ??
    record.failed_at ??
    record.cancelled_at ??
    record.expired_at ??
    Math.floor(record.updated_at_ms / 1000)
  );
}

/**
 * Deletes what has reached its end. Whoever creates something with an end writes an expiry mark
 * (`expiry/<unix seconds>/<kind>.<id>`); keys sort by time, so a sweep lists only what is due and
 * stops at the first mark in the future. A mark is a hint: the sweeper looks at the thing itself
 * before deleting (a batch still running is looked at again later; a file given a later expiry
 * is left alone). Every ingest sweeps; deleting twice is harmless.
 */
export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<number> | null = null;

  constructor(
    private readonly context: IngestContext,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    // Jitter, so several ingests do not sweep in step.
    const every = this.intervalMs + Math.floor(Math.random() * Math.min(5000, this.intervalMs / 4));
    this.timer = setInterval(() => void this.sweep().catch(() => undefined), every);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running?.catch(() => undefined);
  }

  /** One pass over the marks due by `now`; resolves with how many it handled. */
  sweep(now = nowSeconds()): Promise<number> {
    this.running ??= this.pass(now).finally(() => (this.running = null));
    return this.running;
  }

  private async pass(now: number): Promise<number> {
    const { store, logger } = this.context;
    let handled = 0;
    for await (const object of store.list(EXPIRY)) {
      const at = Number(object.key.slice(EXPIRY.length, EXPIRY.length + 10));
      if (!(at <= now)) break;
      const mark = await readJson<ExpiryMark>(store, object.key).catch(() => null);
      try {
        if (mark) await this.handle(mark, now);
        await store.delete([object.key]);
        handled++;
      } catch (error) {
        logger.warn({ err: error, mark: object.key }, 'deleting an expired item failed; will retry');
      }
    }
    if (handled > 0) logger.info({ handled }, 'swept expired items');
    return handled;
  }

  private async handle(mark: ExpiryMark, now: number): Promise<void> {
    const { context } = this;
    if (mark.kind === 'idempotency') {
      await forgetIdempotencyKey(context.store, mark, now * 1000);
      return;
    }
    if (mark.kind === 'deleted') {
      await context.store.delete([storeKeys.deleted(mark.id)]);
      return;
    }
    if (mark.kind === 'file') {
      const record = await context.files.get(mark.tenant, mark.id);
      if (!record) {
        // An upload whose process died before it became a File: only its bytes exist.
        await context.store.delete([storeKeys.fileContent(mark.tenant, mark.id)]);
      } else if (record.expires_at !== null && record.expires_at <= now) {
        await context.files.delete(record);
      }
      return;
    }
    const record = await context.view.get(mark.id);
    if (record && !isTerminal(record.status)) {
      await this.remark(mark, now + RECHECK_SECONDS);
      return;
    }
    if (record) {
      const keep = record.sync ? context.retention.syncSeconds : context.retention.batchSeconds;
      const due = terminalAt(record) + keep;
      if (due > now) {
        await this.remark(mark, due);
        return;
      }
    }
    await deleteBatch(context, mark.id, record?.tenant ?? mark.tenant);
  }

  private async remark(mark: ExpiryMark, at: number): Promise<void> {
    await putJson(this.context.store, storeKeys.expiry(at, mark.kind, mark.id), mark);
  }
}
