import { createHash } from 'node:crypto';
import { type Logger, putJson, readJson, type Store } from '@sluice/core';

/** What a processor learnt of an upstream that outlives it: the concurrency the upstream takes. */
interface LearntUpstream {
  concurrency: number;
  updated_at_ms: number;
}

/** Least time between two writes of what was learnt (one store operation per change at most, never per item). */
const SAVE_INTERVAL_MS = 30_000;

/**
 * What was learnt of one upstream, kept in the store so that a restarted processor (or another
 * one) starts from it instead of from scratch (issue 25: after a restart adaptive concurrency began
 * at 8 again and grew only with measured answers; with a 25-second upstream, 9 calls went out in the
 * first 45 s and 40 items took 145 s). Keyed by the upstream's configured name and base URL
 * (`identity`), which hold no secret: two entries on one URL (other headers, another deployment
 * behind a gateway) learn apart, and a name moved to another server starts afresh.
 */
export class LearntState {
  private readonly key: string;
  private pending: number | null = null;
  private lastSaveMs = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly store: Store,
    identity: string,
    private readonly logger: Logger,
  ) {
    this.key = `state/upstreams/${createHash('sha256').update(identity).digest('hex').slice(0, 32)}.json`;
  }

  /** The concurrency learnt before, or null (none, or the store did not answer: start from scratch). */
  async concurrency(): Promise<number | null> {
    try {
      const learnt = await readJson<LearntUpstream>(this.store, this.key);
      return learnt && Number.isInteger(learnt.concurrency) && learnt.concurrency >= 1 ? learnt.concurrency : null;
    } catch (error) {
      this.logger.warn({ err: error }, 'reading what was learnt of the upstream failed; starting from scratch');
      return null;
    }
  }

  /** Records a new concurrency limit; written at most every SAVE_INTERVAL_MS (and at `flush`). */
  remember(concurrency: number): void {
    this.pending = concurrency;
    if (this.timer) return;
    const wait = Math.max(0, this.lastSaveMs + SAVE_INTERVAL_MS - Date.now());
    this.timer = setTimeout(() => void this.flush(), wait);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const concurrency = this.pending;
    if (concurrency === null) return;
    this.pending = null;
    this.lastSaveMs = Date.now();
    await putJson(this.store, this.key, { concurrency, updated_at_ms: this.lastSaveMs }).catch((error: unknown) =>
      this.logger.warn({ err: error }, 'saving what was learnt of the upstream failed'),
    );
  }
}
