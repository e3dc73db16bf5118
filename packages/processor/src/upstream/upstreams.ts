import {
  backoffDelayMs,
  type JobTier,
  type Logger,
  retrying,
  servedModels,
  sleep,
  SluiceError,
  type UpstreamEntry,
  UpstreamError,
} from '@sluice/core';
import type { ProcessorMetrics } from '../metrics.js';
import {
  autoFlexMarginMs,
  type CallTier,
  chooseCallTier,
  FlexSupport,
  isFlexCapacityRefusal,
  isFlexUnsupported,
  type TierOffer,
  tierUnavailable,
} from '../tiers/call-tier.js';
import { chooseReplica, type ReplicaLoad } from './choice.js';
import type { CircuitState } from './circuit.js';
import { Stopper } from './stopper.js';
import { CallFailed, Upstream, type UpstreamCall, type UpstreamSettings, UpstreamWentDownError } from './upstream.js';

export interface UpstreamsOptions {
  /** The configured upstreams, in the file's order (compiled by core: `config.upstream.list`). */
  list: readonly UpstreamEntry[];
  /** Attempts per item, the first included. */
  maxAttempts: number;
  /** Most time one realtime call may take (`SLUICE_UPSTREAM_TIMEOUT_MS`): with the flex timeout, `auto`'s margin. */
  timeoutMs: number;
  /** Most time one flex call may take (`SLUICE_FLEX_TIMEOUT_MS`), cut to the item's deadline. */
  flexTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  settings: UpstreamSettings;
}

/** The role is stopping: the item was interrupted, not failed, and must not produce a result. */
export class UpstreamStoppedError extends SluiceError {
  constructor() {
    super('stopping', 'the processor is stopping; the item will be redelivered', { retriable: true });
  }
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

/** What an item's call is and whom it is for; the router picks the upstream and the tier. */
export type RoutedCall = Omit<UpstreamCall, 'signal' | 'probe' | 'tier'> & {
  /** The model as the client named it: it picks the upstreams that serve it. */
  model: string;
  /** The tier the item's batch asked for (`auto` is resolved per attempt: chooseCallTier). */
  tier: JobTier;
  /** The endpoint takes `service_tier` (chat completions, responses): it may go by flex. */
  flexCapable: boolean;
  /** The item's deadline (its batch's expiry), epoch ms; null: none. */
  expiresAtMs: number | null;
  /** Most time one realtime call may take for this item (its batch's timeout, cut to its deadline). */
  timeoutMs: number;
};

/** One attempt on the upstream the router chose: `model` is that upstream's own name for the model. */
export type RoutedAttempt<T> = (upstream: Upstream, model: string, call: UpstreamCall) => Promise<T>;

/** The upstreams serving one model on one tier, with their own names for it and their load views (filled per choice). */
interface Replicas {
  upstreams: Upstream[];
  models: string[];
  loads: ReplicaLoad[];
}

/** The upstreams serving one model, by tier. */
interface Serving {
  realtime: Replicas | null;
  /** Those offering flex, less those known to refuse the model on flex (FlexSupport). */
  flex: Replicas | null;
  offer: TierOffer;
  /** The same without flex: for an endpoint that does not take `service_tier`. */
  offerWithoutFlex: TierOffer;
  /** Upstreams offering flex that refused the model on it (for the error when nothing is left). */
  flexRefusedBy: string[];
}

/** Models whose serving upstreams are remembered; past this the memory starts afresh (clients choose the names). */
const MAX_REMEMBERED_MODELS = 1024;
/** A longer name is looked up each time rather than kept (a configured name is at most 256 characters). */
const MAX_REMEMBERED_NAME = 256;
/** Longest a call waiting for a replica sleeps before it checks its item again (cancelled, expired). */
const REPLICA_WAIT_CHECK_MS = 1000;

/**
 * Every configured upstream, and the one retry owner of the processor. A call names its model;
 * the router places each attempt on one of the upstreams serving that model, chosen by what each
 * can take now (chooseReplica: concurrency, rate budget, latency), never on one out of rotation
 * (Circuit). An attempt the upstream itself failed (unreachable, reset, timed out, 5xx) is placed
 * again on another replica at once, without using up one of the item's attempts, while another
 * replica of the model is in rotation: an upstream's death is not the item's fault. With no
 * other, a fault of an upstream in rotation is retried here with backoff up to the attempt cap;
 * the fault that takes it out of rotation, and a failed probe, cost no attempt. When every
 * upstream of the model is out of rotation, calls wait for one to come back (a probe), bounded by
 * the item's own end (its guard: cancelled, expired) and the role's stop.
 */
export class Upstreams {
  readonly all: readonly Upstream[];
  /**
   * The role's stop, reaching every wait of a call: its place in an upstream's queue, the HTTP
   * call itself and the backoff sleep (issue 11). Each item's call opens a scope of its own, so
   * nothing is left on a shared signal (issues 22 and 25).
   */
  private readonly stopping = new Stopper();
  private draining: Error | null = null;
  private readonly byModel = new Map<string, Serving | null>();
  /** Calls waiting for a replica of their model to come back: woken by any circuit change. */
  private readonly waitingForReplica = new Set<() => void>();
  /** Upstream + model pairs that refused flex: routed by another tier or upstream from then on. */
  private readonly flexSupport = new FlexSupport();
  /** The time left below which `auto` sends by realtime (autoFlexMarginMs). */
  private readonly autoMarginMs: number;

  constructor(
    private readonly options: UpstreamsOptions,
    private readonly metrics: ProcessorMetrics,
    private readonly logger: Logger,
  ) {
    this.all = options.list.map((entry) => {
      const upstream = new Upstream(entry, options.settings, metrics, logger.child({ upstream: entry.name }));
      upstream.onCircuitChange = () => {
        this.showHealth();
        this.wakeWaiting();
      };
      return upstream;
    });
    options.settings.health?.watch('upstream');
    this.autoMarginMs = autoFlexMarginMs(options.flexTimeoutMs, options.timeoutMs);
  }

  /**
   * The process's one `upstream` dependency: down while every upstream is out of rotation (the
   * circuits probe them; nothing else does), up again when one is back. One replica down among
   * several is routed around and shown by `sluice_upstream_state` only.
   */
  private showHealth(): void {
    const health = this.options.settings.health;
    if (!health) return;
    const down = this.all.filter((upstream) => upstream.circuit.state === 'down');
    if (down.length === this.all.length && down.length > 0) {
      health.unreachable(
        'upstream',
        new Error(`every upstream is out of rotation: ${down.map((u) => u.name).join(', ')}`),
      );
    } else if (health.isDown('upstream')) {
      health.answered('upstream');
    }
  }

  /** Every upstream's circuit state, by configured name (for status and readiness). */
  states(): Record<string, CircuitState> {
    return Object.fromEntries(this.all.map((upstream) => [upstream.name, upstream.circuit.state]));
  }

  /** Counts a structured answer by how it ended: valid at once, valid after the repair round, or invalid. */
  recordAnswer(route: string, outcome: 'valid' | 'repaired' | 'invalid'): void {
    this.metrics.structuredAnswers.inc({ route, outcome });
  }

  get maxAttempts(): number {
    return this.options.maxAttempts;
  }

  /**
   * Runs `attempt` on an upstream serving `call.model` until it succeeds, fails with a
   * non-retriable error, or the attempt cap is reached. Returns the value and the attempts used.
   * A model no upstream serves fails at once, `model_not_found` (ingest refuses it at submit;
   * an outside producer's item may still carry one).
   */
  async run<T>(call: RoutedCall, attempt: RoutedAttempt<T>): Promise<{ value: T; attempts: number }> {
    if (!this.serving(call.model)) throw new ItemFailedError(this.notServed(call.model), 0);
    // One stop scope for the item's whole call, attempts and waits included (see Stopper).
    const scope = this.stopping.scope();
    const signal = scope.signal;
    const upstreamCall: UpstreamCall = {
      route: call.route,
      estimatedTokens: call.estimatedTokens,
      lane: call.lane,
      guard: call.guard,
      tally: call.tally,
      signal,
      probe: false,
      tier: 'realtime',
      timeoutMs: call.timeoutMs,
    };
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
            const error = failed instanceof CallFailed ? failed.error : (failed as SluiceError);
            this.metrics.retries.inc({ upstream: call.tally.upstream ?? 'none', reason: error.code });
            this.logger.debug(
              { route: call.route, upstream: call.tally.upstream, attempt: number, code: error.code, delayMs },
              'retrying upstream call',
            );
          },
        },
        async (number) => {
          attempts = number;
          return this.attemptOnAReplica(call, upstreamCall, attempt);
        },
      );
      return { value, attempts };
    } catch (error) {
      // Stopping, or the item was cancelled or expired before a call: not a failure of the call.
      if (signal.aborted) throw signal.reason as Error;
      if (error instanceof UpstreamStoppedError) throw error;
      if (!(error instanceof CallFailed)) throw error;
      throw new ItemFailedError(error.error, attempts);
    } finally {
      scope.close();
    }
  }

  /**
   * One of the item's attempts: by the tier chosen for it now (chooseCallTier), placed on the
   * replica of that tier that can take it soonest, and placed again on another, within the same
   * attempt, when that upstream fails it and another is in rotation. A flex refusal for lack of
   * capacity is waited out with backoff within the attempt (it uses none of the item's attempts),
   * the tier chosen again after each wait: `auto` moves to realtime once the deadline is near. An
   * upstream that refuses the model on flex is remembered, and the attempt goes by another route.
   */
  private async attemptOnAReplica<T>(routed: RoutedCall, call: UpstreamCall, attempt: RoutedAttempt<T>): Promise<T> {
    let tier: CallTier | null = null;
    // Bounds the moves of one attempt, so replicas failing in turn without going down cannot loop.
    let movesLeft = 0;
    // The replicas that failed this attempt (by index, the first 30): it is not placed on them again.
    let failedOn = 0;
    let refusals = 0;
    let waitMs = 0;
    for (;;) {
      if (waitMs > 0) {
        await sleep(waitMs, call.signal);
        waitMs = 0;
      }
      call.guard();
      const serving = this.serving(routed.model) as Serving;
      const chosenTier = this.tierOf(routed, serving);
      const replicas = serving[chosenTier] as Replicas;
      if (chosenTier !== tier) {
        tier = chosenTier;
        movesLeft = 2 * replicas.upstreams.length;
        failedOn = 0;
      }
      call.tier = tier;
      call.timeoutMs = tier === 'flex' ? this.flexTimeoutMs(routed) : routed.timeoutMs;
      const chosen = await this.choose(replicas, call, failedOn);
      const upstream = replicas.upstreams[chosen] as Upstream;
      const model = replicas.models[chosen] as string;
      // While it is probing, this call is its single probe: nothing else goes there until it ends.
      call.probe = upstream.circuit.take();
      const probing = call.probe;
      upstream.placed++;
      try {
        return await attempt(upstream, model, call);
      } catch (error) {
        if (call.signal.aborted) throw error;
        // The upstream is out of rotation (this fault took it out, or it was the probe of one
        // already out): its outage, not the item's fault, so it costs the item no attempt. The
        // attempt waits for a replica to come back (choose), bounded by the item's guard and the
        // stop. Faults of an upstream still in rotation are charged as before.
        if (
          error instanceof CallFailed &&
          error.fault &&
          (probing || upstream.circuit.state !== 'up') &&
          !this.anotherInRotation(replicas, upstream)
        ) {
          this.metrics.rerouted.inc({ upstream: upstream.name });
          failedOn = 0; // every replica is out: the first back takes it
          continue;
        }
        if (tier === 'flex' && error instanceof CallFailed) {
          if (isFlexCapacityRefusal(error.error)) {
            this.metrics.flexRefused.inc({ upstream: upstream.name, reason: 'capacity' });
            waitMs = this.flexRefusalWaitMs(routed, refusals++);
            continue;
          }
          if (isFlexUnsupported(error.error)) {
            this.metrics.flexRefused.inc({ upstream: upstream.name, reason: 'unsupported' });
            if (this.flexSupport.remember(upstream.name, model)) {
              this.logger.info(
                { upstream: upstream.name, reason: error.message },
                'upstream does not serve this model on flex; its items go by another route',
              );
              // The model's routes are computed again without it.
              this.byModel.clear();
            }
            continue;
          }
        }
        // It never reached the upstream: it went down while the call waited in its queue.
        const wentDown = error instanceof UpstreamWentDownError;
        const moved =
          wentDown ||
          (error instanceof CallFailed && error.fault && movesLeft-- > 0 && this.anotherInRotation(replicas, upstream));
        if (!moved) throw error;
        if (chosen < 30) failedOn |= 1 << chosen;
        this.metrics.rerouted.inc({ upstream: upstream.name });
      } finally {
        upstream.placed--;
        // The attempt ended before its call (a dialect wait, the guard): the probe is free again.
        if (call.probe) upstream.circuit.report('none', true);
        call.probe = false;
      }
    }
  }

  /** The tier of the item's next call; fails the item (not retriable) when its model offers none it may take. */
  private tierOf(routed: RoutedCall, serving: Serving): CallTier {
    const offer = routed.flexCapable ? serving.offer : serving.offerWithoutFlex;
    const msLeft = routed.expiresAtMs === null ? null : routed.expiresAtMs - Date.now();
    const tier = chooseCallTier(routed.tier, offer, msLeft, this.autoMarginMs);
    if (tier !== null) return tier;
    const learnt =
      routed.tier === 'flex' && serving.flexRefusedBy.length > 0
        ? `refused on flex by ${serving.flexRefusedBy.join(', ')}`
        : routed.tier === 'flex' && !routed.flexCapable
          ? 'this endpoint does not take service_tier'
          : null;
    throw new CallFailed(tierUnavailable(routed.tier, routed.model, offer, learnt), false);
  }

  /** A flex call's timeout: the flex timeout, cut to the time left before the item's deadline. */
  private flexTimeoutMs(routed: RoutedCall): number {
    const own = this.options.flexTimeoutMs;
    return routed.expiresAtMs === null ? own : Math.max(1, Math.min(own, routed.expiresAtMs - Date.now()));
  }

  /**
   * How long to wait after the item's `refusals`-th flex refusal for lack of capacity (0 for the
   * first): backoff, and for `auto` never past the margin, where it moves to realtime.
   */
  private flexRefusalWaitMs(routed: RoutedCall, refusals: number): number {
    const backoff = backoffDelayMs(refusals, { initialMs: this.options.retryBaseMs, maxMs: this.options.retryMaxMs });
    if (routed.tier !== 'auto' || routed.expiresAtMs === null) return backoff;
    return Math.max(1, Math.min(backoff, routed.expiresAtMs - this.autoMarginMs - Date.now()));
  }

  private anotherInRotation(replicas: Replicas, failed: Upstream): boolean {
    for (const upstream of replicas.upstreams)
      if (upstream !== failed && upstream.circuit.state !== 'down') return true;
    return false;
  }

  /**
   * The index of the replica to place the call on, never one in `failedOn` (a bit per index);
   * waits while every other replica of the model is out of rotation.
   */
  private async choose(replicas: Replicas, call: UpstreamCall, failedOn: number): Promise<number> {
    for (;;) {
      if (this.draining) throw this.draining;
      const { upstreams, loads } = replicas;
      let chosen: number;
      if (upstreams.length === 1) {
        chosen = (upstreams[0] as Upstream).circuit.available ? 0 : -1;
      } else {
        for (let i = 0; i < upstreams.length; i++) {
          const load = (upstreams[i] as Upstream).load(call.estimatedTokens);
          if (i < 30 && (failedOn >> i) & 1) load.available = false;
          loads[i] = load;
        }
        chosen = chooseReplica(loads);
      }
      if (chosen >= 0) return chosen;
      let untilProbeMs = REPLICA_WAIT_CHECK_MS;
      for (const upstream of upstreams) untilProbeMs = Math.min(untilProbeMs, upstream.circuit.msUntilProbe);
      await this.waitForReplica(Math.max(1, untilProbeMs), call.signal);
      // The item may have been cancelled or expired meanwhile.
      call.guard();
    }
  }

  /** Resolves on the next circuit change, after `ms`, or rejects when `signal` aborts. */
  private waitForReplica(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    return new Promise<void>((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.waitingForReplica.delete(done);
        resolve();
      };
      const onAbort = () => {
        done();
        reject(signal.reason as Error);
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener('abort', onAbort, { once: true });
      this.waitingForReplica.add(done);
    });
  }

  private wakeWaiting(): void {
    const waiting = [...this.waitingForReplica];
    this.waitingForReplica.clear();
    for (const wake of waiting) wake();
  }

  /** The upstreams serving `model`, by tier, remembered per model name; null when none does. */
  private serving(model: string): Serving | null {
    const known = this.byModel.get(model);
    if (known !== undefined) return known;
    const realtime: Replicas = { upstreams: [], models: [], loads: [] };
    const flex: Replicas = { upstreams: [], models: [], loads: [] };
    const flexRefusedBy: string[] = [];
    let any = false;
    for (const upstream of this.all) {
      const own = upstream.modelFor(model);
      if (own === undefined) continue;
      any = true;
      const tiers = upstream.entry.tiers;
      if (tiers.includes('realtime')) {
        realtime.upstreams.push(upstream);
        realtime.models.push(own);
      }
      if (!tiers.includes('flex')) continue;
      if (this.flexSupport.refuses(upstream.name, own)) {
        flexRefusedBy.push(upstream.name);
        continue;
      }
      flex.upstreams.push(upstream);
      flex.models.push(own);
    }
    const ready = (replicas: Replicas) => {
      if (replicas.upstreams.length === 0) return null;
      replicas.loads = new Array<ReplicaLoad>(replicas.upstreams.length);
      return replicas;
    };
    const offer = { realtime: realtime.upstreams.length > 0, flex: flex.upstreams.length > 0 };
    const serving: Serving | null = any
      ? {
          realtime: ready(realtime),
          flex: ready(flex),
          offer,
          offerWithoutFlex: { realtime: offer.realtime, flex: false },
          flexRefusedBy,
        }
      : null;
    if (model.length <= MAX_REMEMBERED_NAME) {
      if (this.byModel.size >= MAX_REMEMBERED_MODELS) this.byModel.clear();
      this.byModel.set(model, serving);
    }
    return serving;
  }

  private notServed(model: string): SluiceError {
    const name = model.length > 100 ? `${model.slice(0, 100)}…` : model;
    return new SluiceError(
      'model_not_found',
      `no upstream serves model ${JSON.stringify(name)}; served: ${servedModels(this.options.list).join(', ') || 'none'}`,
      { retriable: false },
    );
  }

  /** Ends every wait and call in flight with {@link UpstreamStoppedError}; their items are released for redelivery. */
  stop(): void {
    const reason = new UpstreamStoppedError();
    this.draining ??= reason;
    for (const upstream of this.all) upstream.drain(reason);
    this.stopping.stop(reason);
    this.wakeWaiting();
  }

  /** Sends no new call: calls still waiting to go are released with {@link UpstreamStoppedError}; those out finish. */
  drain(): void {
    const reason = new UpstreamStoppedError();
    this.draining = reason;
    for (const upstream of this.all) upstream.drain(reason);
    this.wakeWaiting();
  }

  get stopped(): boolean {
    return this.stopping.stopped;
  }

  /** A signal of its own for a wait outside a call (e.g. a result send's backoff); close it when done. */
  stopScope() {
    return this.stopping.scope();
  }

  /** Calls open now; 0 when nothing is in flight (nothing is left behind by finished calls). */
  get openScopes(): number {
    return this.stopping.openScopes;
  }

  /** Starts each upstream from what was learnt of it before (its concurrency), when it was kept. */
  async resumeLearnt(): Promise<void> {
    await Promise.all(this.all.map((upstream) => upstream.resumeLearnt()));
  }

  /** Keeps what was learnt, and closes the keep-alive connections (after the stop). */
  async close(): Promise<void> {
    await Promise.all(this.all.map((upstream) => upstream.close()));
  }
}
