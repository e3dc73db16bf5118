import { Gauge, type Registry } from 'prom-client';
import type { Logger } from './logger.js';
import type { ReadinessCheck } from './readiness.js';

/**
 * What a role needs beside itself, as `sluice_dependency_up{dependency}` and `/readyz` name it:
 * the object store, the Kafka broker, the upstream LLM.
 */
export type DependencyName = 'store' | 'broker' | 'upstream';

export interface DependencyHealthOptions {
  logger: Logger;
  /** Where `sluice_dependency_up` is registered; null registers nothing. */
  registry: Registry | null;
  /** How often a dependency known to be down is probed. @defaultValue 1000 (ms) */
  probeIntervalMs?: number;
  /**
   * At most one warning per dependency in this window: a link that keeps dropping (connections
   * reset again and again) is reported once, with the count, not at every drop. The gauge and
   * `/readyz` follow every change. @defaultValue 60000 (ms)
   */
  reportEveryMs?: number;
}

interface Watched {
  probe: (() => Promise<void>) | null;
  /** Set while the dependency is known down: since when, and the first failure's message. */
  down: { sinceMs: number; error: string } | null;
  /** When it last came back (ms): failures of calls that began before then say nothing new. */
  upSinceMs: number;
  /** When its last outage was logged at warn (ms), and the outages since that were not. */
  reportedMs: number;
  unreported: number;
  /** Whether the current outage was logged at warn (then its end is logged at info). */
  downReported: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * Whether each dependency of a process answers, learnt from the calls the roles make anyway (no
 * traffic of its own while all is well). A dependency is down from the first call that could not
 * reach it until a call, or the probe run every second while it is down, gets an answer.
 *
 * One fact, said once: the transition to down is logged once (warn) and the return once (info),
 * whatever the number of items waiting on it (issue 25: a store outage must not log per item or
 * per flush). Roles ask `isDown` to keep their own repeated failures out of the warn level while
 * the outage is already reported.
 */
export class DependencyHealth {
  private readonly watched = new Map<DependencyName, Watched>();
  private readonly gauge: Gauge<'dependency'> | null;
  private readonly probeIntervalMs: number;
  private closed = false;

  constructor(private readonly options: DependencyHealthOptions) {
    this.probeIntervalMs = options.probeIntervalMs ?? 1000;
    const existing = options.registry?.getSingleMetric('sluice_dependency_up') as Gauge<'dependency'> | undefined;
    this.gauge =
      existing ??
      (options.registry
        ? new Gauge({
            name: 'sluice_dependency_up',
            help: 'Whether a dependency answers (1) or the last call could not reach it (0), by dependency: store, broker, upstream.',
            labelNames: ['dependency'] as const,
            registers: [options.registry],
          })
        : null);
  }

  /** Starts tracking `name` (up until a call fails); `probe` resolves when it answers again. */
  watch(name: DependencyName, probe: (() => Promise<void>) | null = null): void {
    if (!this.watched.has(name))
      this.watched.set(name, {
        probe,
        down: null,
        upSinceMs: 0,
        timer: null,
        reportedMs: -Infinity,
        unreported: 0,
        downReported: false,
      });
    else if (probe) (this.watched.get(name) as Watched).probe = probe;
    this.gauge?.set({ dependency: name }, this.isDown(name) ? 0 : 1);
  }

  /**
   * A call could not reach `name`. `startedMs`: when the call began; a call that began before the
   * dependency last came back is a straggler of the outage already over, not a new one.
   */
  unreachable(name: DependencyName, error: unknown, startedMs = Date.now()): void {
    const state = this.state(name);
    if (state.down || startedMs < state.upSinceMs || this.closed) return;
    const message = error instanceof Error ? error.message : String(error);
    const now = Date.now();
    state.down = { sinceMs: now, error: message };
    this.gauge?.set({ dependency: name }, 0);
    state.downReported = now - state.reportedMs >= (this.options.reportEveryMs ?? 60_000);
    if (state.downReported) {
      const again = state.unreported > 0 ? ` (and ${state.unreported} shorter outages since the last report)` : '';
      this.options.logger.warn(
        { dependency: name, err: message },
        `${name} unreachable: ${message}; work that needs it waits and resumes when it answers${again}`,
      );
      state.reportedMs = now;
      state.unreported = 0;
    } else {
      state.unreported++;
      this.options.logger.debug({ dependency: name, err: message }, `${name} unreachable again`);
    }
    this.scheduleProbe(name, state);
  }

  /** A call got an answer from `name` (any answer: an error status is an answer too). */
  answered(name: DependencyName): void {
    const state = this.watched.get(name);
    if (!state?.down) return;
    const downMs = Date.now() - state.down.sinceMs;
    state.down = null;
    state.upSinceMs = Date.now();
    if (state.timer) clearTimeout(state.timer);
    state.timer = null;
    this.gauge?.set({ dependency: name }, 1);
    this.options.logger[state.downReported ? 'info' : 'debug'](
      { dependency: name, downMs },
      `${name} answers again after ${(downMs / 1000).toFixed(1)} s`,
    );
  }

  /** Whether any watched dependency is known down. */
  anyDown(): boolean {
    return [...this.watched.values()].some((state) => state.down !== null);
  }

  isDown(name: DependencyName): boolean {
    return this.watched.get(name)?.down != null;
  }

  /** Resolves once `name` is not known down (at once when it is not), or rejects when `signal` aborts. */
  async untilAnswering(name: DependencyName, signal?: AbortSignal): Promise<void> {
    while (this.isDown(name) && !this.closed) {
      signal?.throwIfAborted();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, Math.min(250, this.probeIntervalMs));
        function done() {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
      });
    }
    signal?.throwIfAborted();
  }

  /** One `/readyz` check per watched dependency, from what the last calls found. */
  checks(): ReadinessCheck[] {
    return [...this.watched].map(([name, state]) =>
      state.down
        ? {
            name,
            ok: false,
            error: `unreachable for ${Math.round((Date.now() - state.down.sinceMs) / 1000)} s: ${state.down.error}`,
          }
        : { name, ok: true },
    );
  }

  /** Stops the probes. */
  close(): void {
    this.closed = true;
    for (const state of this.watched.values()) if (state.timer) clearTimeout(state.timer);
  }

  private state(name: DependencyName): Watched {
    if (!this.watched.has(name)) this.watch(name);
    return this.watched.get(name) as Watched;
  }

  private scheduleProbe(name: DependencyName, state: Watched): void {
    if (!state.probe || this.closed) return;
    const probe = state.probe;
    state.timer = setTimeout(() => {
      state.timer = null;
      const startedMs = Date.now();
      // A client that retries inside (kafkajs for about a minute) must not hold the probe that long.
      let deadline: NodeJS.Timeout | undefined;
      Promise.race([
        probe(),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => reject(new Error('probe timed out')), 5000);
        }),
      ])
        .finally(() => clearTimeout(deadline))
        .then(
          () => {
            // Only an answer to a probe sent after the outage began says it is over.
            if (state.down && startedMs >= state.down.sinceMs) this.answered(name);
          },
          () => {
            if (state.down) this.scheduleProbe(name, state);
          },
        );
    }, this.probeIntervalMs);
    state.timer.unref();
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * Whether an error says a service could not be reached (a refused or lost connection, a socket
 * timeout, a 5xx from the service or a proxy in front of it), as opposed to an answer about the
 * request itself (a missing object, a refused condition).
 */
export function isUnreachableError(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    const e = current as {
      code?: unknown;
      name?: unknown;
      $metadata?: { httpStatusCode?: number };
      cause?: unknown;
    };
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
    if (e.name === 'TimeoutError' || e.name === 'RequestTimeout') return true;
    const status = e.$metadata?.httpStatusCode;
    if (typeof status === 'number' && status >= 500) return true;
    current = e.cause;
  }
  return false;
}
