import {
  BatchingSender,
  ControlView,
  deadLetter,
  HEADERS,
  MessageDecodeError,
  interactiveGroupId,
  processorGroupId,
  requestLineId,
  retrying,
  UpstreamError,
  type Consumer,
  type IncomingMessage,
  type ItemResultMessage,
  type Logger,
  type MessageBatch,
  type BatchContext,
  type DependencyHealth,
  type OutgoingMessage,
  type Producer,
  type RequestItemMessage,
  type Serde,
  type TopicNames,
  type Store,
  type Transport,
  type UpstreamConfig,
  type UpstreamEntry,
} from '@sluice/core';
import { Registry } from 'prom-client';
import { PartitionTracker } from './consume/partition-tracker.js';
import { HandlerRouter, HANDLERS } from './handlers/index.js';
import type { Handler, HandlerContext, HandlerOutcome } from './handlers/types.js';
import { AnswerCache } from './answers/answer-cache.js';
import { requestHash, shouldDedup } from './answers/request-key.js';
import { createProcessorMetrics, type ProcessorMetrics } from './metrics.js';
import { ItemAbandonedError } from './upstream/errors.js';
import { ItemPort } from './upstream/port.js';
import { ItemFailedError, Upstreams, UpstreamStoppedError } from './upstream/upstreams.js';

/** The upstreams and how calls to them are made: the processor's side of `config.upstream`. */
export interface ProcessorUpstreamOptions {
  /** Every configured upstream (core's `config.upstream.list`); items go to those serving their model. */
  list: readonly UpstreamEntry[];
  /** Most time one call may take (`SLUICE_UPSTREAM_TIMEOUT_MS`). */
  timeoutMs: number;
  /** Most time one flex call may take (`SLUICE_FLEX_TIMEOUT_MS`), cut to the item's deadline. @defaultValue 900000 */
  flexTimeoutMs?: number;
  /** Attempts per item, the first included (`SLUICE_MAX_ATTEMPTS`). */
  maxAttempts: number;
  retryBaseMs: number;
  retryMaxMs: number;
  /**
   * Where what was learnt of each upstream (its concurrency) is kept across restarts; null keeps
   * nothing. @defaultValue null
   */
  learntState?: Store | null;
}

export interface ProcessorOptions {
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  upstream: ProcessorUpstreamOptions;
  models: UpstreamConfig['models'];
  /**
   * Upstream calls in flight at once (`SLUICE_PROCESSOR_CONCURRENCY`), and items read ahead per
   * partition: a partition's items wait for their call in the upstream's one fair queue, so a
   * tenant's backlog on many partitions does not crowd out another's on one (docs/fairness.md).
   */
  concurrency: number;
  /** Partitions worked on at once (`SLUICE_PROCESSOR_PARTITIONS_CONCURRENCY`). */
  partitionsConcurrently: number;
  /**
   * Most uncommitted offsets per partition (finished or not) before dispatch waits; bounds memory
   * and the redelivery after a crash when one item is slow.
   * @defaultValue concurrency × 8
   */
  maxWindow?: number;
  /** `SLUICE_COMMIT_INTERVAL_MS` */
  commitIntervalMs: number;
  /** Consumer session timeout: how soon the group gives a dead processor's partitions to another (`SLUICE_SESSION_TIMEOUT_MS`). */
  sessionTimeoutMs: number;
  handlers?: readonly Handler[];
  /**
   * Deduplication of identical upstream requests (docs/deduplication.md): answers are reused for
   * `ttlSeconds` (0: only requests in flight at once), shared with every processor through the
   * answers topic, which this one keeps in a local database under `directory` (its own scratch
   * directory; it must exist). `directory` null: answers stay in this process's memory.
   * @defaultValue 0 seconds, no directory
   */
  dedup?: { ttlSeconds: number; directory: string | null; memoryBytes?: number };
  logger: Logger;
  metricsRegistry?: Registry;
  /**
   * Told whether the upstream and the broker answer (`sluice_dependency_up`, `/readyz`); while one
   * is known down, the processor's own repeated failures stay out of the warn level. @defaultValue none
   */
  health?: DependencyHealth;
}

export interface ProcessorStats {
  inFlight: number;
  peakInFlight: number;
  /** Most items of one partition in flight at once, per `topic:partition`. */
  peakInFlightByPartition: Record<string, number>;
}

export interface Processor {
  start(): Promise<void>;
  /** Stops fetching, lets in-flight items finish (up to `timeoutMs`), commits, leaves the group. */
  stop(timeoutMs?: number): Promise<void>;
  stats(): ProcessorStats;
}

function operationItemOf(item: RequestItemMessage): Record<string, unknown> | null {
  const echoed = item.body.item;
  return echoed && typeof echoed === 'object' && !Array.isArray(echoed) ? (echoed as Record<string, unknown>) : null;
}

/** Result sends: an item's offset may only be committed after its result is in the log. */
const RESULT_SEND_RETRY = { maxAttempts: Infinity, initialMs: 400, maxMs: 5000 } as const;

/** Longest one fetched batch is worked on before the consumer fetches again (see eachBatch). */
const BATCH_SLICE_MS = 1000;

export function createProcessor(options: ProcessorOptions): Processor {
  // Settings with a default come compiled from the config schema (@sluice/core's env.ts), the one place defaults live.
  const concurrency = options.concurrency;
  const maxWindow = options.maxWindow ?? concurrency * 8;
  const commitIntervalMs = options.commitIntervalMs;
  const logger = options.logger;
  const metrics: ProcessorMetrics = createProcessorMetrics(options.metricsRegistry ?? new Registry());
  const router = new HandlerRouter(options.handlers ?? HANDLERS);
  const upstream = new Upstreams(
    {
      list: options.upstream.list,
      maxAttempts: options.upstream.maxAttempts,
      timeoutMs: options.upstream.timeoutMs,
      flexTimeoutMs: options.upstream.flexTimeoutMs ?? 900_000,
      retryBaseMs: options.upstream.retryBaseMs,
      retryMaxMs: options.upstream.retryMaxMs,
      settings: {
        maxSockets: concurrency,
        learntState: options.upstream.learntState ?? null,
        configuredModels: Object.values(options.models),
        health: options.health ?? null,
      },
    },
    metrics,
    logger,
  );
  /** Cancelled batches, from the control topic: their items are not sent upstream. */
  const control = new ControlView({
    transport: options.transport,
    serde: options.serde,
    topics: options.topics,
    reader: 'processor',
    logger,
  });
  /** Items dispatched and not finished, per partition and in all; and who waits for room in a partition. */
  let inFlight = 0;
  let peakInFlight = 0;
  const roomWaiters = new Map<string, () => void>();
  const idleWaiters: (() => void)[] = [];
  const answers = new AnswerCache({
    ttlSeconds: options.dedup?.ttlSeconds ?? 0,
    memoryBytes: options.dedup?.memoryBytes,
    log: options.dedup?.directory
      ? { transport: options.transport, topic: options.topics.answers, directory: options.dedup.directory }
      : null,
    logger,
    onLookup: (source) => metrics.dedupLookups.inc({ source }),
  });
  const trackers = new Map<string, PartitionTracker>();
  const peaks = new Map<string, number>();

  let producer: Producer | null = null;
  let results: BatchingSender | null = null;
  /**
   * Two consumers: batch work on the requests topic, and synchronous calls on the interactive topic
   * with a fetch loop of its own, so a call is read at once even when every requests partition has
   * a backlog (docs/fairness.md). They share the upstream, its limits and its one fair queue.
   */
  const lanes = [
    { topic: options.topics.requests, groupId: processorGroupId(options.topics) },
    { topic: options.topics.interactive, groupId: interactiveGroupId(options.topics) },
  ];
  const consumers = new Map<string, Consumer>();
  let commitTimer: NodeJS.Timeout | null = null;
  let running = false;
  let commitInProgress: Promise<void> = Promise.resolve();

  const trackerKey = (topic: string, partition: number) => `${topic}:${partition}`;

  /** Sends until acknowledged: an item's offset may only be committed after its result is in the log. */
  async function sendReliably(sender: BatchingSender, message: OutgoingMessage): Promise<void> {
    // A stop ends the wait: the item stays uncommitted and is redelivered.
    const scope = upstream.stopScope();
    let triesWhileStopping = 0;
    try {
      await retrying(
        {
          ...RESULT_SEND_RETRY,
          signal: scope.signal,
          // While running, until acknowledged; once stopping, a few attempts, then the item is redelivered.
          retriable: () => running || ++triesWhileStopping <= 3,
          // Per item: while the broker is known down (reported once), not a warning each.
          onRetry: (error, attempt) =>
            logger[options.health?.isDown('broker') ? 'debug' : 'warn'](
              { err: error, attempt },
              'producing a result failed; retrying',
            ),
        },
        () => sender.send(message),
      );
    } finally {
      scope.close();
    }
  }

  function result(
    item: RequestItemMessage,
    fields: Pick<ItemResultMessage, 'ok' | 'response' | 'error' | 'usage' | 'attempts'> & {
      item?: ItemResultMessage['item'];
      model?: string | null;
      cached?: boolean;
      rate_limited?: number;
      upstream?: string | null;
      tier?: ItemResultMessage['tier'];
    },
  ): ItemResultMessage {
    return {
      type: 'item',
      batch_id: item.batch_id,
      index: item.index,
      custom_id: item.custom_id,
      id: requestLineId(item.batch_id, item.index),
      api: item.api,
      discriminator: item.discriminator,
      finished_at: Date.now(),
      ...fields,
      cached: fields.cached ?? false,
      rate_limited: fields.rate_limited ?? 0,
      upstream: fields.upstream ?? null,
      tier: fields.upstream ? (fields.tier ?? 'realtime') : null,
      // Operations rows always carry their item, failed or not (CSV rows need its fields).
      item: fields.item ?? (item.api === 'operations' ? operationItemOf(item) : null),
      model: fields.model ?? modelOf(fields.response?.body),
    };
  }

  function failed(item: RequestItemMessage, code: string, message: string, attempts = 0): ItemResultMessage {
    return result(item, { ok: false, response: null, error: { code, message }, usage: null, attempts });
  }

  /**
   * One call's timeout for an item: its batch's (bounded at submit by the processor's own), and
   * never past the batch's expiry, so a slow upstream cannot hold an item beyond its window.
   */
  const itemTimeoutMs = (item: RequestItemMessage) => {
    const own = Math.min(item.timeout_ms ?? options.upstream.timeoutMs, options.upstream.timeoutMs);
    if (item.expires_at === null) return own;
    return Math.max(1, Math.min(own, item.expires_at * 1000 - Date.now()));
  };

  const isExpired = (item: RequestItemMessage) => item.expires_at !== null && Date.now() / 1000 >= item.expires_at;

  /** Turns one request item into its result. Never throws: every failure becomes an error line. */
  async function processItem(item: RequestItemMessage, interactive: boolean): Promise<ItemResultMessage> {
    const handler = router.route(item.api, item.discriminator);
    if (!handler) {
      return failed(item, 'unknown_operation', `no handler for ${item.api} '${item.discriminator}'`);
    }
    if (control.isCancelled(item.batch_id)) return failed(item, 'batch_cancelled', 'the batch was cancelled');
    if (isExpired(item)) return failed(item, 'batch_expired', 'the batch expired before this request was sent');
    const body = handler.request.safeParse(item.body);
    if (!body.success) {
      const issue = body.error.issues[0];
      return failed(item, 'invalid_request', `body.${issue?.path.join('.') ?? ''}: ${issue?.message ?? 'invalid'}`);
    }
    const port = new ItemPort(upstream, {
      timeoutMs: itemTimeoutMs(item),
      tier: item.tier,
      expiresAtMs: item.expires_at === null ? null : item.expires_at * 1000,
      lane: { interactive, tenant: item.tenant ?? '', batch: item.batch_id },
      dedupe: (endpoint, requestKey, call) =>
        item.tenant !== null && shouldDedup(item.dedup, item.api, requestKey)
          ? answers.answer(item.tenant, requestHash(endpoint, requestKey), call)
          : call().then((value) => ({ value, cached: false, remember: async () => undefined })),
      guard: () => {
        if (control.isCancelled(item.batch_id))
          throw new ItemAbandonedError('batch_cancelled', 'the batch was cancelled');
        if (isExpired(item))
          throw new ItemAbandonedError('batch_expired', 'the batch expired before this request was sent');
      },
    });
    const tally = port.tally;
    const context: HandlerContext = {
      upstream: port,
      models: options.models,
      batchId: item.batch_id,
      index: item.index,
      customId: item.custom_id,
    };
    try {
      const outcome: HandlerOutcome = await handler.handle(body.data, context);
      return result(item, {
        ok: true,
        response: outcome.response,
        error: null,
        usage: outcome.usage,
        attempts: outcome.attempts,
        item: outcome.item ?? null,
        model: outcome.model ?? null,
        cached: outcome.cached ?? false,
        rate_limited: tally.rateLimited,
        upstream: outcome.upstream,
        tier: tally.tier,
      });
    } catch (error) {
      // Interrupted by the stop: no result; the uncommitted item is redelivered after a restart.
      if (error instanceof UpstreamStoppedError || upstream.stopped) throw error;
      if (error instanceof ItemAbandonedError) return failed(item, error.code, error.message);
      if (error instanceof ItemFailedError) {
        const last = error.last;
        const response =
          last instanceof UpstreamError && last.status !== null
            ? { status_code: last.status, request_id: last.requestId, body: last.body }
            : null;
        return result(item, {
          ok: false,
          response,
          error: { code: last.code, message: last.message },
          usage: null,
          attempts: error.attempts,
          rate_limited: tally.rateLimited,
          upstream: tally.upstream,
          tier: tally.tier,
        });
      }
      logger.error({ err: error, batchId: item.batch_id, index: item.index }, 'handler failed unexpectedly');
      return failed(item, 'internal_error', error instanceof Error ? error.message : String(error), 1);
    }
  }

  async function handleMessage(message: IncomingMessage): Promise<void> {
    const sender = results as BatchingSender;
    let decoded;
    try {
      decoded = await (
        message.topic === options.topics.interactive ? options.serde.interactive : options.serde.requests
      ).decode(message);
    } catch (error) {
      if (!(error instanceof MessageDecodeError)) throw error;
      // Seals go to the results topic (where the sink reads them); one written here is a
      // producer's mistake, named as such rather than as a schema mismatch.
      const reason = isSeal(message)
        ? `a seal belongs on the results topic (${options.topics.results}), not on ${message.topic}`
        : error.reason;
      logger.warn({ reason, offset: message.offset, partition: message.partition }, 'dead-lettering a request');
      metrics.deadLettered.inc({ stage: 'processor' });
      await (producer as Producer).send(options.topics.deadLetter, [deadLetter(message, reason, 'processor')]);
      return;
    }
    metrics.itemsIn.inc({ type: decoded.type });
    const outcome = await processItem(decoded, isInteractive(message, options.topics.interactive));
    metrics.itemsOut.inc({ outcome: outcome.ok ? 'ok' : (outcome.error?.code ?? 'error') });
    const headers: Record<string, string> = { [HEADERS.type]: 'item' };
    // A synchronous call's result stays marked: the sink keeps it only once the call is sealed.
    const sync = message.headers[HEADERS.sync];
    if (sync !== undefined) headers[HEADERS.sync] = sync;
    await sendReliably(sender, {
      key: decoded.batch_id,
      value: await options.serde.results.encode(outcome),
      headers,
    });
  }

  /** An item of partition `key` ended (finished, or released by the stop): room for the next. */
  function finished(key: string): void {
    inFlight--;
    metrics.inFlight.set(inFlight);
    roomWaiters.get(key)?.();
    if (inFlight === 0) for (const resolve of idleWaiters.splice(0)) resolve();
  }

  /**
   * Waits until partition `key` may dispatch one more item: fewer than `concurrency` of its items
   * unfinished and its uncommitted window under `maxWindow`. Keeps the group membership alive
   * meanwhile; false when the role stops, the batch went stale, or `deadline` (epoch ms) passed.
   */
  async function waitForRoom(
    key: string,
    tracker: PartitionTracker,
    context: BatchContext,
    deadline: number,
  ): Promise<boolean> {
    for (;;) {
      if (!running || !context.isRunning() || context.isStale()) return false;
      if (tracker.inFlight < concurrency && tracker.window < maxWindow) return true;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        roomWaiters.set(key, resolve);
        // A window also shrinks by a commit, without a wake-up: look again each second.
        timer = setTimeout(resolve, Math.min(1000, left));
      });
      clearTimeout(timer);
      roomWaiters.delete(key);
      await context.heartbeat();
    }
  }

  async function eachBatch(groupId: string, batch: MessageBatch, context: BatchContext): Promise<void> {
    const key = trackerKey(batch.topic, batch.partition);
    let tracker = trackers.get(key);
    if (!tracker) {
      tracker = new PartitionTracker();
      trackers.set(key, tracker);
    }
    const owned = tracker;
    const last = batch.messages[batch.messages.length - 1];
    if (last) {
      metrics.consumerLag.set(
        { group: groupId, topic: batch.topic, partition: String(batch.partition) },
        Math.max(0, Number(batch.highWatermark) - Number(last.offset) - 1),
      );
    }
    // A fetched batch is worked on for one slice at most; the rest is fetched again. kafkajs fetches
    // anew only once every batch of the last fetch returned, so a partition with a backlog that
    // waited here for slots would keep every other partition's new messages (a synchronous call,
    // another tenant's batch) unread behind it.
    const sliceEnd = Date.now() + BATCH_SLICE_MS;
    for (const message of batch.messages) {
      if (!running || !context.isRunning() || context.isStale() || Date.now() >= sliceEnd) return;
      const offset = Number(message.offset);
      if (owned.isKnown(offset)) {
        context.resolveOffset(message.offset);
        continue;
      }
      // Read ahead while the partition has room: its items then wait for their upstream call in the
      // upstream's one fair queue (interactive first, then tenant by tenant and batch by batch;
      // docs/fairness.md), so what a tenant gets does not depend on how many partitions it fills.
      const roomy = await waitForRoom(key, owned, context, sliceEnd);
      if (!roomy) return;
      owned.dispatch(offset);
      context.resolveOffset(message.offset);
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      metrics.inFlight.set(inFlight);
      if (owned.peakInFlight > (peaks.get(key) ?? 0)) {
        peaks.set(key, owned.peakInFlight);
        metrics.partitionInFlightPeak.set(
          { topic: batch.topic, partition: String(batch.partition) },
          owned.peakInFlight,
        );
      }
      handleMessage(message).then(
        () => {
          owned.complete(offset);
          finished(key);
        },
        (error: unknown) => {
          // Not completed: the offset stays uncommitted and the message is redelivered later. An
          // item interrupted by the role's own stop is expected (the stop logs their count once).
          if (error instanceof UpstreamStoppedError) {
            logger.debug({ offset, partition: batch.partition }, 'request message released by the stop');
          } else {
            logger.error({ err: error, offset, partition: batch.partition }, 'request message not finished');
          }
          finished(key);
        },
      );
    }
  }

  async function commit(): Promise<void> {
    for (const consumer of consumers.values()) await commitOf(consumer);
  }

  async function commitOf(consumer: Consumer): Promise<void> {
    const offsets = [];
    const assigned = new Set(consumer.assignment().map((tp) => trackerKey(tp.topic, tp.partition)));
    for (const [key, tracker] of trackers) {
      const candidate = tracker.commitCandidate();
      if (candidate === null || !assigned.has(key)) continue;
      const split = key.lastIndexOf(':');
      offsets.push({
        topic: key.slice(0, split),
        partition: Number(key.slice(split + 1)),
        offset: String(candidate),
        tracker,
      });
    }
    if (offsets.length === 0) return;
    try {
      await consumer.commit(offsets.map(({ topic, partition, offset }) => ({ topic, partition, offset })));
      for (const { offset, tracker } of offsets) tracker.markCommitted(Number(offset));
    } catch (error) {
      logger[options.health?.isDown('broker') ? 'debug' : 'warn']({ err: error }, 'offset commit failed; will retry');
    }
  }

  const scheduleCommit = () => {
    commitInProgress = commitInProgress.then(commit);
    return commitInProgress;
  };

  return {
    async start() {
      running = true;
      await upstream.resumeLearnt();
      producer = await options.transport.producer();
      results = new BatchingSender(producer, options.topics.results);
      await control.start();
      await answers.start();
      for (const lane of lanes) {
        const consumer = options.transport.consumer({
          groupId: lane.groupId,
          topics: [lane.topic],
          fromBeginning: true,
          partitionsConsumedConcurrently: options.partitionsConcurrently,
          sessionTimeoutMs: options.sessionTimeoutMs,
          heartbeatIntervalMs: Math.floor(options.sessionTimeoutMs / 10),
        });
        consumer.onAssignment((assignment) => {
          const keep = new Set(assignment.map((tp) => trackerKey(tp.topic, tp.partition)));
          // A partition that moved away is another member's now; its in-flight items still produce
          // results (harmless duplicates) but are no longer ours to commit.
          for (const key of trackers.keys()) {
            if (key.startsWith(`${lane.topic}:`) && !keep.has(key)) trackers.delete(key);
          }
          logger.info({ group: lane.groupId, assignment: [...keep] }, 'processor assignment');
        });
        consumers.set(lane.groupId, consumer);
        await consumer.run((batch, context) => eachBatch(lane.groupId, batch, context));
      }
      commitTimer = setInterval(() => void scheduleCommit(), commitIntervalMs);
      logger.info({ groups: [...consumers.keys()], concurrency }, 'processor started');
    },

    async stop(timeoutMs = 30_000) {
      if (!running) return;
      running = false;
      // Fetch nothing more while the items in flight drain (else each fetched batch returns at once and is fetched again).
      for (const consumer of consumers.values()) consumer.pause();
      for (const wake of roomWaiters.values()) wake();
      // Items still waiting for their upstream call are released now (redelivered after the
      // restart); only the calls already out get the grace period.
      upstream.drain();
      // Items in flight get most of the bound to finish; then every wait they are in (rate limiter,
      // backoff, a slow or dead upstream) is aborted and they are released uncommitted, so the
      // commit, the consumer's leave and the producer's flush still fit in SLUICE_SHUTDOWN_TIMEOUT_MS.
      const graceMs = Math.max(0, timeoutMs - Math.min(5000, Math.floor(timeoutMs / 3)));
      const idle = (
        inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))
      ).then(() => true);
      let timer: NodeJS.Timeout | undefined;
      const drained = await Promise.race([
        idle,
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
      ]);
      clearTimeout(timer);
      if (!drained) {
        logger.warn({ inFlight }, 'stopping with items in flight; they will be redelivered');
        upstream.stop();
        await Promise.race([idle, new Promise((resolve) => (timer = setTimeout(resolve, 1000)))]);
        clearTimeout(timer);
      }
      if (commitTimer) clearInterval(commitTimer);
      results?.flush();
      await scheduleCommit();
      await Promise.all([...consumers.values()].map((consumer) => consumer.stop()));
      await control.stop();
      await answers.stop();
      await producer?.disconnect();
      await upstream.close();
      consumers.clear();
      logger.info('processor stopped');
    },

    stats() {
      return {
        inFlight,
        peakInFlight,
        peakInFlightByPartition: Object.fromEntries(peaks),
      };
    },
  };
}

/**
 * A request of a synchronous call (on the interactive topic, or marked by an outside writer on the
 * requests topic): served before batch work.
 */
function isInteractive(message: IncomingMessage, interactiveTopic: string): boolean {
  return message.topic === interactiveTopic || message.headers[HEADERS.priority] === 'interactive';
}

/** A message that is a seal, by its header or its value's `type` (read only for a message that did not decode). */
function isSeal(message: IncomingMessage): boolean {
  if (message.headers[HEADERS.type] === 'seal') return true;
  const value = message.value;
  if (!value || value.length === 0) return false;
  try {
    // The Confluent wire format puts 5 bytes (magic byte 0, schema id) before the JSON.
    const parsed: unknown = JSON.parse(value.toString('utf8', value[0] === 0 ? 5 : 0));
    return typeof parsed === 'object' && parsed !== null && (parsed as { type?: unknown }).type === 'seal';
  } catch {
    return false;
  }
}

/** The `model` an OpenAI-shaped answer names (chat completions, embeddings, responses...). */
function modelOf(body: unknown): string | null {
  const model = body && typeof body === 'object' ? (body as { model?: unknown }).model : undefined;
  return typeof model === 'string' && model.length > 0 ? model : null;
}

/** Resolves when the upstream gives any HTTP answer (a 401 or 404 too): only a failed connection is "unreachable". */
