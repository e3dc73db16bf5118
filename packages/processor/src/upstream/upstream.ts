import { type Logger, SluiceError, UpstreamError } from '@sluice/core';
import OpenAI from 'openai';
import { retryDelayMs } from './backoff.js';
import { createKeepAliveFetch } from './keep-alive-fetch.js';
import { toSluiceError } from './errors.js';
import type { ProcessorMetrics } from '../metrics.js';
import { RateLimiter } from './rate-limiter.js';

export interface UpstreamOptions {
  baseUrl: string;
  apiKey: string;
  timeoutMs: number;
  /** Attempts per item, the first included. */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Keep-alive connections to the upstream; about the processor's concurrency. @defaultValue 256 */
  maxSockets?: number;
}

/** What one attempt is told about the ones before it. */
export interface AttemptInfo {
  /** 1-based. */
  number: number;
  previousError: SluiceError | null;
}

export interface AttemptResult<T> {
  value: T;
  /** Tokens the upstream reported for this attempt, to settle the rate-limit reservation. */
  totalTokens: number;
}

/** Checked before every attempt: a cancelled or expired item stops here. */
export type AttemptGuard = () => void;

/** The item's last error, after `attempts` attempts (one when the error was not retriable). */
export class ItemFailedError extends SluiceError {
  constructor(
    readonly last: SluiceError,
    readonly attempts: number,
  ) {
    super(last.code, last.message, { retriable: false, cause: last });
  }
}

/**
 * The processor's one retry owner. The `openai` client is built with `maxRetries: 0`; every
 * attempt goes through the rate limiter, and every failure is classified once (retriable or not)
 * and retried here with backoff, up to the attempt cap.
 */
export class Upstream {
  readonly client: OpenAI;
  readonly limiter: RateLimiter;

  constructor(
    private readonly options: UpstreamOptions,
    private readonly metrics: ProcessorMetrics,
    private readonly logger: Logger,
  ) {
    this.client = new OpenAI({
      baseURL: options.baseUrl,
      apiKey: options.apiKey,
      maxRetries: 0,
      timeout: options.timeoutMs,
      fetch: createKeepAliveFetch(options.maxSockets ?? 256),
    });
    this.limiter = new RateLimiter({
      requestsPerMinute: options.requestsPerMinute,
      tokensPerMinute: options.tokensPerMinute,
    });
  }

  get maxAttempts(): number {
    return this.options.maxAttempts;
  }

  /**
   * Runs `attempt` until it succeeds, fails with a non-retriable error, or the attempt cap is
   * reached. Returns the value and the number of attempts used.
   */
  async run<T>(
    route: string,
    estimatedTokens: number,
    attempt: (info: AttemptInfo) => Promise<AttemptResult<T>>,
    guard: AttemptGuard = () => undefined,
  ): Promise<{ value: T; attempts: number }> {
    let previousError: SluiceError | null = null;
    for (let number = 1; ; number++) {
      guard();
      const reservation = await this.limiter.acquire(estimatedTokens);
      guard();
      const started = performance.now();
      this.metrics.upstreamInFlight.inc();
      try {
        const result = await attempt({ number, previousError });
        reservation.settle(result.totalTokens);
        this.metrics.upstreamCalls.inc({ route, outcome: 'ok' });
        return { value: result.value, attempts: number };
      } catch (thrown) {
        reservation.settle(estimatedTokens);
        const error = toSluiceError(thrown);
        this.metrics.upstreamCalls.inc({ route, outcome: error.code });
        if (error instanceof UpstreamError && error.status === 429) {
          this.metrics.rateLimited.inc();
          this.limiter.onRateLimited(error.retryAfterMs);
        }
        if (!error.retriable || number >= this.options.maxAttempts) throw new ItemFailedError(error, number);
        previousError = error;
        this.metrics.retries.inc({ reason: error.code });
        const delay =
          error instanceof UpstreamError && error.status === 429
            ? 0 // the limiter holds everyone until retry-after; no second wait here
            : retryDelayMs(number, error instanceof UpstreamError ? error.retryAfterMs : null, {
                baseMs: this.options.retryBaseMs,
                maxMs: this.options.retryMaxMs,
              });
        this.logger.debug({ route, attempt: number, code: error.code, delayMs: delay }, 'retrying upstream call');
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
      } finally {
        this.metrics.upstreamInFlight.dec();
        this.metrics.upstreamLatency.observe({ route }, (performance.now() - started) / 1000);
      }
    }
  }
}
