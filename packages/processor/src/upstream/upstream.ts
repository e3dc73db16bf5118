import {
  type DependencyHealth,
  type Logger,
  retrying,
  SluiceError,
  type Store,
  type StructuredOutputSetting,
  UpstreamError,
} from '@sluice/core';
import { Admission } from './admission.js';
import { AdaptiveConcurrency, type CallOutcome } from './concurrency.js';
import { UpstreamHttp } from './http.js';
import { toSluiceError } from './errors.js';
import { LearntLimits } from './learnt-limits.js';
import type { ProcessorMetrics } from '../metrics.js';
import { RateLimiter } from './rate-limiter.js';
import { Stopper } from './stopper.js';
import { LearntState } from './learnt-state.js';
import { BATCH_LANE, type Lane } from '../fairness/fair-queue.js';
import { DIALECTS, StructuredOutputNegotiator } from './structured-output.js';

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
  /**
   * Most calls in flight to the upstream; adapted down when the upstream queues them.
   * @defaultValue maxSockets
   */
  concurrency?: number;
  /**
   * Where what was learnt of the upstream (its concurrency) is kept across restarts; null keeps
   * nothing. @defaultValue null
   */
  learntState?: Store | null;
  /** Structured-output dialects allowed, per model. @defaultValue auto for every model */
  structuredOutput?: StructuredOutputSetting;
  /**
   * The models the configuration names (SLUICE_MODEL and its per-operation kin): the only ones a
   * metric label shows as themselves (see `modelLabel`). @defaultValue none
   */
  configuredModels?: readonly string[];
  /**
   * Told whether calls reach the upstream. While it is known unreachable, attempts wait for it to
   * answer again instead of spending the items' attempts on refused connections. @defaultValue none
   */
  health?: DependencyHealth;
}

/**
 * A model as a metric label: itself when the configuration names it (`configuredModels`, or a
 * per-model SLUICE_STRUCTURED_OUTPUT entry), else `other`. A request's `model` is the tenant's
 * choice and /metrics is every tenant's to read: as a label it would show one tenant's names to
 * the others and add series without bound (a 100 KB name became a 100 KB label).
 */
export function modelLabel(model: string, configured: ReadonlySet<string>): string {
  return configured.has(model) ? model : 'other';
}

/** What one attempt is told about the ones before it. */
export interface AttemptInfo {
  /** 1-based. */
  number: number;
  previousError: SluiceError | null;
  /**
   * This attempt's own signal, aborted when the role stops: hand it to the HTTP call so a slow or
   * dead upstream does not hold the stop. It is the attempt's alone (see Stopper): never the role's.
   */
  signal: AbortSignal;
}

export interface AttemptResult<T> {
  value: T;
  /** Tokens the upstream reported for this attempt, to settle the rate-limit reservation. */
  totalTokens: number;
}

/** Checked before every attempt: a cancelled or expired item stops here. */
export type AttemptGuard = () => void;

/** The role is stopping: the item was interrupted, not failed, and must not produce a result. */
export class UpstreamStoppedError extends SluiceError {
  constructor() {
    super('stopping', 'the processor is stopping; the item will be redelivered', { retriable: true });
  }
}

/** What one item's upstream calls met, summed over its attempts (its result carries them). */
export interface CallTally {
  rateLimited: number;
}

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
  /** The upstream's OpenAI-compatible HTTP API (see UpstreamHttp: why not the `openai` client). */
  readonly http: UpstreamHttp;
  /**
   * The role's stop, reaching every wait of a call: its place in the upstream's queue, the HTTP
   * call itself and the backoff sleep (issue 11: SIGTERM with a rate-limited backlog never finished
   * because nothing a waiting item awaited could be interrupted). Each attempt opens a scope of its
   * own, so nothing is left on a shared signal (issues 22 and 25).
   */
  private readonly stopping = new Stopper();
  readonly limiter: RateLimiter;
  readonly concurrency: AdaptiveConcurrency;
  readonly learntLimits: LearntLimits;
  /** The one fair queue in front of this upstream: concurrency, learnt limits and rate budget decide together. */
  readonly admission: Admission;
  private readonly learntState: LearntState | null;
  readonly structuredOutput: StructuredOutputNegotiator;

  constructor(
    private readonly options: UpstreamOptions,
    private readonly metrics: ProcessorMetrics,
    private readonly logger: Logger,
  ) {
    this.learntState = options.learntState ? new LearntState(options.learntState, options.baseUrl, logger) : null;
    this.http = new UpstreamHttp({
      baseUrl: options.baseUrl,
      apiKey: options.apiKey,
      maxSockets: options.maxSockets ?? 256,
      // Every answer, success or error, passes here: its rate-limit headers are read once.
      onHeaders: (headers) => this.learntLimits.observe(headers),
    });
    this.limiter = new RateLimiter({
      requestsPerMinute: options.requestsPerMinute,
      tokensPerMinute: options.tokensPerMinute,
      onChange: () => this.admission.pump(),
    });
    this.learntLimits = new LearntLimits({
      requests: options.requestsPerMinute <= 0,
      tokens: options.tokensPerMinute <= 0,
      target: this.limiter,
      onKnown: () => this.admission.pump(),
      onLearnt: (learnt) => {
        logger.info({ upstream: options.baseUrl, ...learnt }, 'rate limits learnt from the upstream');
        metrics.learntLimit.set({ budget: 'requests' }, learnt.requestsPerMinute ?? 0);
        metrics.learntLimit.set({ budget: 'tokens' }, learnt.tokensPerMinute ?? 0);
      },
    });
    this.concurrency = new AdaptiveConcurrency({
      max: options.concurrency || options.maxSockets || 256,
      onChange: (limit, reason) => {
        logger.info({ upstream: options.baseUrl, limit, reason }, 'upstream concurrency changed');
        metrics.concurrencyLimit.set(limit);
        this.learntState?.remember(limit);
        this.admission.pump();
      },
    });
    this.admission = new Admission({
      concurrency: this.concurrency,
      rate: this.limiter,
      learnt: this.learntLimits,
    });
    metrics.concurrencyLimit.set(this.concurrency.limit);
    const labelled = new Set([
      ...(options.configuredModels ?? []),
      ...Object.keys(options.structuredOutput?.perModel ?? {}),
    ]);
    this.structuredOutput = new StructuredOutputNegotiator(
      options.baseUrl,
      options.structuredOutput ?? { default: 'auto', perModel: {} },
      logger,
      (model, dialect, settled) => {
        // Models the configuration does not name share `other`: it shows the last one settled.
        const label = modelLabel(model, labelled);
        for (const each of DIALECTS)
          metrics.structuredDialect.set({ model: label, dialect: each }, settled && each === dialect ? 1 : 0);
      },
    );
  }

  /** Counts a structured answer by how it ended: valid at once, valid after the repair round, or invalid. */
  recordAnswer(route: string, outcome: 'valid' | 'repaired' | 'invalid'): void {
    this.metrics.structuredAnswers.inc({ route, outcome });
  }

  /** Ends every wait and call in flight with {@link UpstreamStoppedError}; their items are released for redelivery. */
  stop(): void {
    const reason = new UpstreamStoppedError();
    this.admission.close(reason);
    this.stopping.stop(reason);
  }

  /** Starts from what was learnt of this upstream before (its concurrency), when it was kept. */
  async resumeLearnt(): Promise<void> {
    const concurrency = await this.learntState?.concurrency();
    if (concurrency) this.concurrency.resume(concurrency);
  }

  /** Keeps what was learnt, and closes the keep-alive connections (after the stop). */
  async close(): Promise<void> {
    await this.learntState?.flush();
    this.http.close();
  }

  /** Sends no new call: calls still waiting to go are released with {@link UpstreamStoppedError}; those out finish. */
  drain(): void {
    this.admission.close(new UpstreamStoppedError());
  }

  get stopped(): boolean {
    return this.stopping.stopped;
  }

  /** A signal of its own for a wait outside a call (e.g. a result send's backoff); close it when done. */
  stopScope() {
    return this.stopping.scope();
  }

  /** Attempts open now; 0 when nothing is in flight (nothing is left behind by finished calls). */
  get openScopes(): number {
    return this.stopping.openScopes;
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
    {
      guard = () => undefined,
      lane = BATCH_LANE,
      tally,
    }: { guard?: AttemptGuard; lane?: Lane; tally?: CallTally } = {},
  ): Promise<{ value: T; attempts: number }> {
    // One stop scope for the item's whole call, attempts and backoff waits included (see Stopper).
    const scope = this.stopping.scope();
    const signal = scope.signal;
    let previousError: SluiceError | null = null;
    let attempts = 0;
    try {
      const value = await retrying(
        {
          maxAttempts: this.options.maxAttempts,
          initialMs: this.options.retryBaseMs,
          maxMs: this.options.retryMaxMs,
          maxServerDelayMs: 10 * 60_000,
          signal,
          // The role's stop and an abandoned item end the call; everything else says for itself.
          retriable: (error) =>
            error instanceof SluiceError &&
            error.retriable &&
            !(error instanceof UpstreamStoppedError) &&
            !signal.aborted,
          // After a 429 the rate budget holds every call until retry-after: no second wait here.
          retryAfterMs: (failed) => {
            const error = failed instanceof CallFailed ? failed.error : failed;
            return error instanceof UpstreamError ? (error.status === 429 ? 0 : error.retryAfterMs) : null;
          },
          onRetry: (failed, number, delayMs) => {
            previousError = failed instanceof CallFailed ? failed.error : (failed as SluiceError);
            this.metrics.retries.inc({ reason: previousError.code });
            this.logger.debug({ route, attempt: number, code: previousError.code, delayMs }, 'retrying upstream call');
          },
        },
        async (number) => {
          attempts = number;
          return this.attemptOnce(route, estimatedTokens, signal, lane, guard, tally, () =>
            attempt({ number, previousError, signal }),
          );
        },
      );
      return { value, attempts };
    } catch (error) {
      // Stopping, or the item was cancelled or expired before a call: not a failure of the call.
      if (signal.aborted) throw signal.reason as Error;
      if (!(error instanceof CallFailed)) throw error;
      throw new ItemFailedError(error.error, attempts);
    } finally {
      scope.close();
    }
  }

  /** One attempt: its place in the upstream's queue, the call, and what its outcome tells the policies. */
  private async attemptOnce<T>(
    route: string,
    estimatedTokens: number,
    signal: AbortSignal,
    lane: Lane,
    guard: AttemptGuard,
    tally: CallTally | undefined,
    call: () => Promise<AttemptResult<T>>,
  ): Promise<T> {
    guard();
    // An upstream known unreachable (issue 25): wait for it rather than fail every item in a few
    // backoffs; the health's probe says when it answers again.
    await this.options.health?.untilAnswering('upstream', signal);
    const startedMs = Date.now();
    // One wait for everything the upstream's policies ask (concurrency, learnt limits, rate): a call
    // let through goes out at once, so calls reach the upstream at the paced rate.
    const admitted = await this.admission.acquire(estimatedTokens, signal, lane);
    try {
      guard();
    } catch (error) {
      admitted.finish('ignore', estimatedTokens);
      throw error;
    }
    admitted.begin();
    const started = performance.now();
    this.metrics.upstreamInFlight.inc();
    const settle = (outcome: CallOutcome, tokens: number) => {
      admitted.finish(outcome, tokens);
      this.metrics.upstreamInFlight.dec();
      this.metrics.upstreamLatency.observe({ route }, (performance.now() - started) / 1000);
    };
    let result: AttemptResult<T>;
    try {
      result = await call();
    } catch (thrown) {
      if (signal.aborted) {
        settle('ignore', estimatedTokens);
        throw signal.reason as Error;
      }
      const error = toSluiceError(thrown);
      settle(callOutcomeOf(error), estimatedTokens);
      if (error.code === 'upstream_unreachable') this.options.health?.unreachable('upstream', error, startedMs);
      else if (error instanceof UpstreamError && error.status !== null) this.options.health?.answered('upstream');
      this.metrics.upstreamCalls.inc({ route, outcome: error.code });
      if (error instanceof UpstreamError && error.status === 429) {
        this.metrics.rateLimited.inc();
        if (tally) tally.rateLimited++;
        this.limiter.onRateLimited(error.retryAfterMs);
      }
      throw new CallFailed(error);
    }
    settle('answer', result.totalTokens);
    this.options.health?.answered('upstream');
    this.metrics.upstreamCalls.inc({ route, outcome: 'ok' });
    return result.value;
  }
}

/** A call the upstream (or the way to it) failed: retriable as its error says. */
class CallFailed extends SluiceError {
  constructor(readonly error: SluiceError) {
    super(error.code, error.message, { retriable: error.retriable, cause: error });
  }
}

/**
 * What a failed call tells the concurrency limit: an answer (any status but 429) took the
 * upstream's time; a timeout is a very slow answer; a 429 or a lost connection says nothing about
 * the upstream's queue.
 */
function callOutcomeOf(error: SluiceError): CallOutcome {
  if (error instanceof UpstreamError && error.status !== null) return error.status === 429 ? 'ignore' : 'answer';
  return error.code === 'upstream_timeout' ? 'timeout' : 'ignore';
}
