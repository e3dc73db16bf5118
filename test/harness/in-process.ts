import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compileConfig,
  createEmbeddedTransport,
  createLogger,
  createLocalStore,
  createSerde,
  HEADERS,
  parseEnv,
  topicSpecs,
  type IncomingMessage,
  type OutgoingMessage,
  type Producer,
  type RequestItemMessageInput,
  type Serde,
  type SluiceConfig,
  type Store,
  type TopicNames,
  type Transport,
} from '@sluice/core';
import { startSluice, type Role, type RunningSluice } from '@sluice/cli';
import { startSimulator, type Simulator, type SimulatorOptions } from '@sluice/simulator';
import { onTestFinished } from 'vitest';

export type { Simulator, SimulatorOptions };

/**
 * What a stage loop runs on in a unit test, with no broker: the embedded log (the transport
 * `sluice run` uses, same semantics as Kafka's: keyed partitions, consumer groups, committed
 * offsets, redelivery) and a local store, both in a fresh temporary directory, and the config a
 * deployment with the same environment would get. A stage under test is built by the test from
 * these, exactly as the CLI builds it (`packages/cli/src/runtime.ts`); everything is closed and
 * removed when the test ends.
 */
export interface InProcess {
  config: SluiceConfig;
  /** The environment `config` was compiled from (stages started by `startStages` add to it). */
  env: Record<string, string>;
  topics: TopicNames;
  serde: Serde;
  store: Store;
  /** The current transport; `restart` replaces it. */
  transport: Transport;
  /** A producer on the current transport, for writing the messages a test feeds a stage. */
  producer: Producer;
  /** Encodes and writes messages to a topic (keyed as given). */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  /** Writes request items to the requests topic as ingest does: keyed by batch, with their headers. */
  sendItems(items: RequestItemMessageInput[]): Promise<void>;
  /**
   * Reads a topic from its beginning into the returned array, which grows as messages arrive
   * (a consumer group of its own that never commits). Stops when the test ends.
   */
  follow(topic: string): Promise<IncomingMessage[]>;
  /**
   * A process restart as far as the log is concerned: closes the transport (stop the stages on it
   * first) and opens a new one over the same directory, so only what was committed survives.
   */
  restart(): Promise<void>;
}

export interface InProcessOptions {
  /** Extra environment, as a deployment would set it (SLUICE_* variables). */
  env?: Record<string, string>;
  /** @defaultValue 2 */
  partitions?: number;
}

/** Quiet unless SLUICE_TEST_LOG_LEVEL asks for the stages' logs (e.g. `debug` when a test fails). */
export const testLogger = createLogger({ name: 'unit', level: process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent' });

/** Cleanups of the running test, last first; registered once per test. */
let cleanups: (() => Promise<void>)[] | null = null;

/** Runs `cleanup` when the current test ends (pass or fail), after those registered later. */
export function atTestEnd(cleanup: () => Promise<void>): void {
  if (!cleanups) {
    const list: (() => Promise<void>)[] = [];
    cleanups = list;
    onTestFinished(async () => {
      cleanups = null;
      for (const each of list.reverse()) await each().catch(() => undefined);
    });
  }
  cleanups.push(cleanup);
}

export async function startInProcess(options: InProcessOptions = {}): Promise<InProcess> {
  const directory = await mkdtemp(join(tmpdir(), 'sluice-unit-'));
  atTestEnd(() => rm(directory, { recursive: true, force: true }));
  const env: Record<string, string> = {
    SLUICE_DATA_DIR: directory,
    SLUICE_STORAGE_URL: join(directory, 'store'),
    SLUICE_PARTITIONS: String(options.partitions ?? 2),
    // Short intervals: a unit test waits on the loops' conditions, not on their timers.
    SLUICE_COMMIT_INTERVAL_MS: '20',
    SLUICE_STATUS_INTERVAL_MS: '20',
    SLUICE_SINK_FLUSH_MS: '20',
    SLUICE_RETRY_BASE_MS: '10',
    SLUICE_RETRY_MAX_MS: '50',
    ...options.env,
  };
  const config = compileConfig(parseEnv(env));
  const topics = config.topics;
  const serde = await createSerde({ topics, registryUrl: null });
  const store = createLocalStore({ directory: join(directory, 'store') });
  atTestEnd(() => store.close());

  const open = async () => {
    const transport = createEmbeddedTransport({
      directory: join(directory, 'log'),
      segmentBytes: config.embeddedLog.segmentBytes,
      retentionMs: config.embeddedLog.retentionMs,
    });
    await transport.ensureTopics(topicSpecs(topics, config.partitions));
    return { transport, producer: await transport.producer() };
  };
  const world: InProcess = {
    config,
    env,
    topics,
    serde,
    store,
    ...(await open()),
    send: (topic, messages) => world.producer.send(topic, messages),
    async sendItems(items) {
      const messages = [];
      for (const item of items) {
        messages.push({
          key: item.batch_id,
          value: await world.serde.requests.encode(world.serde.requests.schema.parse(item)),
          headers: { [HEADERS.type]: 'item', [HEADERS.tenant]: item.tenant ?? '' },
        });
      }
      await world.send(world.topics.requests, messages);
    },
    async follow(topic) {
      const seen: IncomingMessage[] = [];
      const consumer = world.transport.consumer({
        groupId: `${topic}.test-follower.${Math.random().toString(36).slice(2)}`,
        topics: [topic],
        fromBeginning: true,
        maxWaitTimeMs: 50,
      });
      await consumer.run(async (batch, context) => {
        for (const message of batch.messages) {
          seen.push(message);
          context.resolveOffset(message.offset);
        }
      });
      atTestEnd(() => consumer.stop());
      return seen;
    },
    async restart() {
      await world.transport.close();
      Object.assign(world, await open());
    },
  };
  atTestEnd(() => world.transport.close());
  return world;
}

export interface StagesOptions {
  /** The roles to run, as `sluice serve --role ...` would. */
  roles: Role[];
  /** The upstream the processor calls (required with the processor role). */
  upstream?: Simulator;
  /** Environment beyond the world's, for these stages only (e.g. SLUICE_SYNC_TIMEOUT_MS). */
  env?: Record<string, string>;
}

/**
 * Several stages together, built by the CLI's own `startSluice` on the world's transport and
 * store directory (ingest's HTTP API on 127.0.0.1 and a free port): for behaviour that spans
 * stages, such as a synchronous call (ingest ⇄ processor ⇄ sink) or a batch's expiry (processor
 * fails the items, sink counts them). Stopped when the test ends; the stop closes the transport,
 * so a test that restarts the world stops these first.
 */
export async function startStages(world: InProcess, options: StagesOptions): Promise<RunningSluice> {
  const config = compileConfig(
    parseEnv({
      ...world.env,
      HOST: '127.0.0.1',
      PORT: '0',
      ...(options.upstream ? { OPENAI_BASE_URL: options.upstream.url } : {}),
      ...options.env,
    }),
  );
  const sluice = await startSluice(config, { roles: options.roles, transport: world.transport, logger: testLogger });
  atTestEnd(() => sluice.stop());
  return sluice;
}

/** The simulator as the upstream, over real HTTP on 127.0.0.1 and a free port; closed when the test ends. */
export async function startUpstream(options: SimulatorOptions = {}): Promise<Simulator> {
  const simulator = await startSimulator({ host: '127.0.0.1', port: 0, ...options });
  atTestEnd(() => simulator.close());
  return simulator;
}

/**
 * Waits until `probe` returns something other than undefined (checked on every turn of the
 * timers, about every 5 ms), or fails naming `what` after `timeoutMs`. Tests wait on the
 * condition they need, never for a fixed time.
 */
export async function until<T>(
  probe: () => Promise<T | undefined> | T | undefined,
  what: string,
  timeoutMs = 5000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/**
 * A plain chat-completion request item of the OpenAI API (one upstream call per attempt, no
 * structured-output negotiation), as an outside producer or ingest would write it.
 */
export function chatItem(
  batchId: string,
  index: number,
  options: { prompt?: string; tenant?: string; customId?: string; expiresAt?: number | null } = {},
): RequestItemMessageInput {
  return {
    type: 'item',
    batch_id: batchId,
    index,
    custom_id: options.customId ?? `${batchId}-${index}`,
    api: 'openai',
    discriminator: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: options.prompt ?? `question ${index}` }] },
    expires_at: options.expiresAt ?? null,
    tenant: options.tenant ?? 'acme',
  };
}
