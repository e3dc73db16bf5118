import {
  type DependencyHealth,
  type Logger,
  SluiceError,
  type Store,
  type UpstreamEntry,
  UpstreamError,
  upstreamModelFor,
} from '@sluice/core';
import { Admission, type Admitted } from './admission.js';
import type { ReplicaLoad } from './choice.js';
import { Circuit, CIRCUIT_STATES, type CircuitOutcome, type CircuitState } from './circuit.js';
import { AdaptiveConcurrency, type CallOutcome } from './concurrency.js';
import { toSluiceError } from './errors.js';
import { UpstreamHttp } from './http.js';
import { LearntLimits } from './learnt-limits.js';
import { LearntState } from './learnt-state.js';
import type { ProcessorMetrics } from '../metrics.js';
import { RateLimiter } from './rate-limiter.js';
import type { Lane } from '../fairness/fair-queue.js';
import { DIALECTS, StructuredOutputNegotiator } from './structured-output.js';
import { type CallTier, isFlexCapacityRefusal } from '../tiers/call-tier.js';

/** What every upstream instance shares: the processor's settings, not an entry's. */
export interface UpstreamSettings {
  /** Keep-alive connections to each upstream; about the processor's concurrency. */
  maxSockets: number;
  /** Where what was learnt of each upstream (its concurrency) is kept across restarts; null keeps nothing. */
  learntState: Store | null;
  /**
   * The models the configuration names (SLUICE_MODEL and its per-operation kin): the only ones a
   * metric label shows as themselves (see `modelLabel`), with those the upstreams file names.
   */
  configuredModels: readonly string[];
  /**
   * Told when every upstream is out of rotation and when one is back: `sluice_dependency_up`
   * and `/readyz` of this process say so (issue 25). Null: told nothing.
   */
  health: DependencyHealth | null;
}

/**
 * A model as a metric label: itself when the configuration names it (`configuredModels`, an
 * upstreams file, or a per-model SLUICE_STRUCTURED_OUTPUT entry), else `other`. A request's
 * `model` is the tenant's choice and /metrics is every tenant's to read: as a label it would show
 * one tenant's names to the others and add series without bound (a 100 KB name became a 100 KB label).
 */
export function modelLabel(model: string, configured: ReadonlySet<string>): string {
  return configured.has(model) ? model : 'other';
}

/** Checked before every attempt: a cancelled or expired item stops here. */
export type AttemptGuard = () => void;

/** What one attempt's call sends, and what it tells the rate budget. */
export interface AttemptResult<T> {
  value: T;
  /** Tokens the upstream reported for this attempt, to settle the rate-limit reservation. */
  totalTokens: number;
}

/** What one item's upstream calls met, summed over its attempts (its result carries them). */
export interface CallTally {
  rateLimited: number;
  /** The configured name of the upstream of the item's last call (the one that answered, when it succeeded). */
  upstream: string | null;
  /** How that call went (`service_tier: "flex"` or not): the price it is billed at. */
  tier: CallTier | null;
}

/** One call of one item to one upstream: where it waits, how long it may take, what it reports to. */
export interface UpstreamCall {
  /** For metrics: the operation or endpoint, e.g. `classify`. */
  route: string;
  estimatedTokens: number;
  lane: Lane;
  /** The item's call scope (see Stopper): aborts the wait and the call when the role stops. */
  signal: AbortSignal;
  guard: AttemptGuard;
  tally: CallTally;
  /** This call is its upstream's single probe (the router set it on placing the call; reported once). */
  probe: boolean;
  /** The tier the router chose for this attempt: `flex` sends `service_tier: "flex"`. */
  tier: CallTier;
  /** Most time this attempt may take: the tier's timeout, cut to the item's deadline (set by the router). */
  timeoutMs: number;
}

/**
 * A call the upstream (or the way to it) failed: retriable as its error says. `fault` says the
 * upstream itself is failing (unreachable, reset, timed out, a 5xx), which its circuit counts and
 * which another replica may not share.
 */
export class CallFailed extends SluiceError {
  constructor(
    readonly error: SluiceError,
    readonly fault: boolean,
  ) {
    super(error.code, error.message, { retriable: error.retriable, cause: error });
  }
}

/** The upstream went out of rotation while a call waited in its queue: the call goes elsewhere. */
export class UpstreamWentDownError extends SluiceError {
  constructor(name: string) {
    super('upstream_down', `upstream ${name} went out of rotation`, { retriable: true });
  }
}

/** Answer latency's moving average: each answer moves it a fifth of the way. */
const LATENCY_WEIGHT = 0.2;

/**
 * One configured upstream (an entry of SLUICE_UPSTREAMS_FILE): its own HTTP client with its
 * headers, its rate limiter, adaptive concurrency, learnt limits, structured-output negotiator and
 * circuit, with one fair queue in front of it (Admission) where those policies decide together.
 * Its metrics carry its configured `name` only. It makes single calls; which upstream an item's
 * call goes to, and retries, are the router's (Upstreams).
 */
export class Upstream {
  readonly name: string;
  private readonly http: UpstreamHttp;
  readonly limiter: RateLimiter;
  readonly concurrency: AdaptiveConcurrency;
  readonly learntLimits: LearntLimits;
  readonly admission: Admission;
  readonly structuredOutput: StructuredOutputNegotiator;
  readonly circuit: Circuit;
  /** The circuit state last shown (metric, log): an outage is reported once, not at each failed probe. */
  private shownState: CircuitState = 'up';
  private readonly learntState: LearntState | null;
  private latencyMs: number | null = null;
  /** The router's view of it, refreshed in place by `load` (no allocation per call). */
  private readonly loadView: ReplicaLoad = {
    available: true,
    probing: false,
    waiting: 0,
    inFlight: 0,
    concurrencyLimit: 1,
    latencyMs: null,
    rateWaitMs: 0,
    requestsPerMs: Infinity,
  };
  /**
   * Calls the router placed here and not ended yet, wherever they wait (for a dialect probe, in the
   * queue) or run: a call counts from the moment it is placed, so a burst is not all placed on the
   * replica that looked idle before any of it reached its queue.
   */
  placed = 0;
  /** Told when its circuit changes (the router wakes the calls waiting for a replica). */
  onCircuitChange: () => void = () => undefined;

  constructor(
    readonly entry: UpstreamEntry,
    settings: UpstreamSettings,
    private readonly metrics: ProcessorMetrics,
    private readonly logger: Logger,
  ) {
    const name = entry.name;
    this.name = name;
    this.learntState = settings.learntState
      ? new LearntState(settings.learntState, `${name} ${entry.baseUrl}`, logger)
      : null;
    this.http = new UpstreamHttp({
      baseUrl: entry.baseUrl,
      apiKey: entry.apiKey,
      headers: entry.headers,
      maxSockets: settings.maxSockets,
      // Every answer, success or error, passes here: its rate-limit headers are read once.
      onHeaders: (headers) => this.learntLimits.observe(headers),
    });
    this.limiter = new RateLimiter({
      requestsPerMinute: entry.requestsPerMinute,
      tokensPerMinute: entry.tokensPerMinute,
      onChange: () => this.admission.pump(),
    });
    this.learntLimits = new LearntLimits({
      requests: entry.requestsPerMinute <= 0,
      tokens: entry.tokensPerMinute <= 0,
      target: this.limiter,
      onKnown: () => this.admission.pump(),
      onLearnt: (learnt) => {
        logger.info({ upstream: name, ...learnt }, 'rate limits learnt from the upstream');
        metrics.learntLimit.set({ upstream: name, budget: 'requests' }, learnt.requestsPerMinute ?? 0);
        metrics.learntLimit.set({ upstream: name, budget: 'tokens' }, learnt.tokensPerMinute ?? 0);
      },
    });
    this.concurrency = new AdaptiveConcurrency({
      max: entry.concurrency || settings.maxSockets,
      onChange: (limit, reason) => {
        logger.info({ upstream: name, limit, reason }, 'upstream concurrency changed');
        metrics.concurrencyLimit.set({ upstream: name }, limit);
        this.learntState?.remember(limit);
        this.admission.pump();
      },
    });
    this.admission = new Admission({
      concurrency: this.concurrency,
      rate: this.limiter,
      learnt: this.learntLimits,
    });
    this.circuit = new Circuit({
      onChange: (state) => {
        // Said once per outage: a failed probe (probing → down again) is the same outage.
        if (state === 'down' && this.shownState === 'up')
          logger.warn({ upstream: name }, 'upstream out of rotation: it stopped answering');
        else if (state === 'up') logger.info({ upstream: name }, 'upstream back in rotation');
        else logger.debug({ upstream: name, state }, 'upstream circuit changed');
        this.shownState = state;
        this.showState();
        // Calls waiting in its queue would wait for a dead upstream: they are placed again.
        if (state === 'down') this.admission.refuseWaiting(new UpstreamWentDownError(name));
        this.onCircuitChange();
      },
    });
    metrics.concurrencyLimit.set({ upstream: name }, this.concurrency.limit);
    metrics.upstreamInFlight.set({ upstream: name }, 0);
    this.showState();
    const labelled = new Set([
      ...settings.configuredModels,
      ...Object.keys(entry.structuredOutput.perModel),
      ...entry.models.filter((route) => !route.prefix).map((route) => route.match),
      ...entry.models.flatMap((route) => (route.upstreamModel ? [route.upstreamModel] : [])),
    ]);
    this.structuredOutput = new StructuredOutputNegotiator(
      name,
      entry.structuredOutput,
      logger,
      (model, dialect, settled) => {
        // Models the configuration does not name share `other`: it shows the last one settled.
        const label = modelLabel(model, labelled);
        for (const each of DIALECTS)
          metrics.structuredDialect.set(
            { upstream: name, model: label, dialect: each },
            settled && each === dialect ? 1 : 0,
          );
      },
    );
  }

  /** The upstream's own name for `model` when it serves it, else undefined. */
  modelFor(model: string): string | undefined {
    return upstreamModelFor(this.entry, model);
  }

  /** What it can take now, for the router's choice (the same object, refreshed). */
  load(estimatedTokens: number): ReplicaLoad {
    const view = this.loadView;
    view.available = this.circuit.available;
    view.probing = this.circuit.state === 'probing';
    view.inFlight = this.concurrency.inFlight;
    view.waiting = Math.max(this.admission.waiting, this.placed - view.inFlight);
    view.concurrencyLimit = Math.min(this.concurrency.limit, this.learntLimits.callCap);
    view.latencyMs = this.latencyMs;
    view.rateWaitMs = this.limiter.waitMs(estimatedTokens);
    view.requestsPerMs = this.limiter.requestsPerMs;
    return view;
  }

  /**
   * One call: its place in this upstream's queue, the HTTP call `send` makes, and what its
   * outcome tells the policies (concurrency, rate budget, circuit) and the metrics. Throws
   * {@link CallFailed} when the call failed, {@link UpstreamWentDownError} when the upstream went
   * out of rotation while the call waited, or the signal's reason when it aborts.
   */
  async call<T>(call: UpstreamCall, send: (http: UpstreamHttp, signal: AbortSignal) => Promise<AttemptResult<T>>) {
    const { signal, estimatedTokens, route } = call;
    const probe = call.probe;
    call.probe = false;
    let admitted: Admitted | undefined;
    try {
      // One wait for everything the upstream's policies ask (concurrency, learnt limits, rate): a call
      // let through goes out at once, so calls reach the upstream at the paced rate.
      admitted = await this.admission.acquire(estimatedTokens, signal, call.lane);
      call.guard();
    } catch (error) {
      admitted?.finish('ignore', estimatedTokens);
      this.circuit.report('none', probe);
      throw error;
    }
    admitted.begin();
    const started = performance.now();
    const name = this.name;
    this.metrics.upstreamInFlight.inc({ upstream: name });
    call.tally.upstream = name;
    call.tally.tier = call.tier;
    const settle = (outcome: CallOutcome, tokens: number, circuit: CircuitOutcome) => {
      const latencyMs = performance.now() - started;
      admitted.finish(outcome, tokens);
      this.circuit.report(circuit, probe);
      this.metrics.upstreamInFlight.dec({ upstream: name });
      this.metrics.upstreamLatency.observe({ upstream: name, route }, latencyMs / 1000);
      if (outcome === 'answer')
        this.latencyMs =
          this.latencyMs === null ? latencyMs : this.latencyMs + LATENCY_WEIGHT * (latencyMs - this.latencyMs);
    };
    let result: AttemptResult<T>;
    try {
      result = await send(this.http, signal);
    } catch (thrown) {
      if (signal.aborted) {
        settle('ignore', estimatedTokens, 'none');
        throw signal.reason as Error;
      }
      const error = toSluiceError(thrown);
      // No flex capacity now: not the upstream's queue, nor its rate limit (the router waits it out).
      if (call.tier === 'flex' && isFlexCapacityRefusal(error)) {
        settle('ignore', estimatedTokens, 'answered');
        this.metrics.upstreamCalls.inc({ upstream: name, route, outcome: 'flex_unavailable' });
        throw new CallFailed(error, false);
      }
      const fault = isFault(error);
      settle(callOutcomeOf(error), estimatedTokens, fault ? 'fault' : 'answered');
      this.metrics.upstreamCalls.inc({ upstream: name, route, outcome: error.code });
      if (error instanceof UpstreamError && error.status === 429) {
        this.metrics.rateLimited.inc({ upstream: name });
        call.tally.rateLimited++;
        this.limiter.onRateLimited(error.retryAfterMs);
      }
      throw new CallFailed(error, fault);
    }
    settle('answer', result.totalTokens, 'answered');
    this.metrics.upstreamCalls.inc({ upstream: name, route, outcome: 'ok' });
    return result.value;
  }

  /** Sends no new call: calls waiting in its queue are refused with `reason`; those out finish. */
  drain(reason: Error): void {
    this.admission.close(reason);
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

  private showState(): void {
    const now = this.circuit.state;
    for (const state of CIRCUIT_STATES)
      this.metrics.upstreamState.set({ upstream: this.name, state }, state === now ? 1 : 0);
  }
}

/** The upstream itself failed the call (not the request): it stopped answering, timed out, or broke (5xx). */
function isFault(error: SluiceError): boolean {
  if (!(error instanceof UpstreamError)) return false;
  if (error.status !== null) return error.status >= 500;
  return error.code === 'upstream_unreachable' || error.code === 'upstream_timeout';
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
