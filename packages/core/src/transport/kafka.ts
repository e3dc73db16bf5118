import {
  Kafka,
  logLevel as KafkaLogLevel,
  Partitioners,
  type Consumer as KafkaConsumer,
  type IHeaders,
  type KafkaMessage,
  type LogEntry,
  type Producer as KafkaProducer,
} from 'kafkajs';
import { backoffDelayMs, type BackoffOptions, retrying, type RetryPolicy } from '../retry/index.js';
import { silentLogger, type Logger } from '../logger.js';
import { isUnreachableError, type DependencyHealth } from '../dependency-health.js';
import type { TopicSpec } from '../topics.js';
import {
  checkKafkaConnection,
  diagnoseKafkaError,
  KAFKA_CONNECTION_TIMEOUT_MS,
  kafkajsConnectionConfig,
  PLAINTEXT,
  type KafkaSecurity,
} from './kafka-connection.js';
import {
  CONSUMER_DEFAULTS,
  type Consumer,
  type ConsumerOptions,
  type EachBatch,
  type IncomingMessage,
  type OutgoingMessage,
  type PartitionOffsets,
  type Producer,
  type TopicPartition,
  type TopicPartitionOffset,
  type Transport,
} from './types.js';

export interface KafkaTransportOptions {
  brokers: string[];
  /** Protocol, TLS and SASL settings (compiled from KAFKA_SECURITY_PROTOCOL and its family). Default: PLAINTEXT. */
  security?: KafkaSecurity;
  clientId?: string;
  logger?: Logger;
  /** Upper bound for one produce request's payload; a broker rejects record batches over `message.max.bytes` (1 MiB by default). Default 512 KiB. */
  maxRequestBytes?: number;
  /** Default 3000 ms. */
  connectionTimeoutMs?: number;
  /**
   * Told when a client of this transport loses the broker (its connection errors, logged once
   * there instead of per client and retry) and probes it back. @defaultValue none
   */
  health?: DependencyHealth;
}

/**
 * kafkajs's own retrier, for the calls kafkajs makes (it cannot take `retrying`): the broker may be
 * restarting, so keep trying for about a minute before a call fails.
 */
const KAFKAJS_RETRY = { initialRetryTime: 200, maxRetryTime: 5000, retries: 12 };

/** Reading a topic's offsets: six tries, 200 ms doubling to 2 s, on kafkajs's TypeError (see `offsets`) and its retriable protocol errors. */
const OFFSETS_RETRY: RetryPolicy = {
  maxAttempts: 6,
  initialMs: 200,
  maxMs: 2000,
  // Also a retriable protocol error: right after a topic is created the broker may not host its
  // partitions yet ("This server does not host this topic-partition"), more often the more topics
  // a role creates and reads at start.
  retriable: (error) => error instanceof TypeError || (error as { retriable?: unknown } | null)?.retriable === true,
};

/** Creating topics and reading a new topic's metadata: five tries, 200 ms doubling to 2 s, on kafkajs's retriable protocol errors. */
const TOPICS_RETRY: RetryPolicy = {
  maxAttempts: 5,
  initialMs: 200,
  maxMs: 2000,
  retriable: (error) => (error as { retriable?: unknown } | null)?.retriable === true,
};

/**
 * Restarting a consumer after a crash kafkajs will not restart from: 0.5 s doubling to 30 s before
 * each restart, reset once the group is joined. Not a `retrying` loop: the wait comes before the
 * first try, and a try ends with a group join or a crash, events rather than a call's outcome.
 */
const REJOIN_BACKOFF: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

export function createKafkaTransport(options: KafkaTransportOptions): Transport {
  const logger = options.logger ?? silentLogger;
  const security = options.security ?? PLAINTEXT;
  const clientId = options.clientId ?? 'sluice';
  const kafka = new Kafka({
    clientId,
    ...kafkajsConnectionConfig(options.brokers, security),
    connectionTimeout: options.connectionTimeoutMs ?? KAFKA_CONNECTION_TIMEOUT_MS,
    logLevel: KafkaLogLevel.INFO,
    logCreator: () => (entry: LogEntry) => forwardKafkaLog(logger, entry, options.health),
    retry: KAFKAJS_RETRY,
  });
  const maxRequestBytes = options.maxRequestBytes ?? 512 * 1024;
  const admin = kafka.admin();
  let adminConnected: Promise<void> | null = null;
  let closed = false;
  const connectAdmin = () =>
    (adminConnected ??= admin.connect().catch((error: unknown) => {
      adminConnected = null;
      throw error;
    }));
  const producers = new Set<KafkaProducer>();
  const partitionCounts = new Map<string, number>();

  /**
   * Kafka's default partitioner, murmur2 of the key, computed once per key: a batch's thousands of
   * messages share one key, and kafkajs would hash it for every message.
   */
  async function keyedPartitioner(topic: string): Promise<(key: string | null) => number | undefined> {
    let count = partitionCounts.get(topic);
    if (count === undefined) {
      await connectAdmin();
      // A topic created a moment ago may not be hosted by its leader yet: ask again.
      const metadata = await retrying(TOPICS_RETRY, () => admin.fetchTopicMetadata({ topics: [topic] }));
      count = metadata.topics[0]?.partitions.length ?? 0;
      partitionCounts.set(topic, count);
    }
    const partitions = Array.from({ length: count }, (_, partitionId) => ({
      partitionId,
      leader: 0,
      partitionErrorCode: 0,
      replicas: [0],
      isr: [0],
    }));
    const partitioner = Partitioners.DefaultPartitioner();
    const cache = new Map<string, number>();
    return (key) => {
      if (key === null || count === 0) return undefined;
      let partition = cache.get(key);
      if (partition === undefined) {
        partition = partitioner({ topic, partitionMetadata: partitions, message: { key, value: null } });
        cache.set(key, partition);
      }
      return partition;
    };
  }
  const consumers = new Set<KafkaConsumer>();

  let checked: Promise<void> | null = null;

  async function ping(): Promise<void> {
    try {
      await connectAdmin();
      await admin.describeCluster();
    } catch (error) {
      // Readiness shows the setting to fix, not kafkajs' bare "Closed connection".
      throw diagnoseKafkaError(error, options.brokers, security).error;
    }
  }
  options.health?.watch('broker', ping);

  return {
    kind: 'kafka',

    connect() {
      checked ??= checkKafkaConnection({
        brokers: options.brokers,
        security,
        clientId,
        connectionTimeoutMs: options.connectionTimeoutMs ?? KAFKA_CONNECTION_TIMEOUT_MS,
        onRetry: (error, delayMs) => logger.warn({ delayMs }, `kafka not reachable yet, retrying: ${error.message}`),
      }).catch((error: unknown) => {
        checked = null;
        throw error;
      });
      return checked;
    },

    async ensureTopics(specs: TopicSpec[]) {
      await connectAdmin();
      // A topic just created may not be hosted by its leader yet when kafkajs looks for the leaders
      // ("This server does not host this topic-partition", retriable): ask again; topics created by
      // the first try are then found by listTopics.
      await retrying(TOPICS_RETRY, async () => {
        const existing = new Set(await admin.listTopics());
        const missing = specs.filter((spec) => !existing.has(spec.topic));
        if (missing.length === 0) return;
        try {
          await admin.createTopics({
            waitForLeaders: true,
            topics: missing.map((spec) => ({
              topic: spec.topic,
              numPartitions: spec.numPartitions,
              replicationFactor: -1,
              configEntries: Object.entries(spec.configs ?? {}).map(([name, value]) => ({ name, value })),
            })),
          });
        } catch (error) {
          // Another process may have created them between listTopics and createTopics.
          if (!isTopicExistsError(error)) throw error;
        }
      });
    },

    async producer(): Promise<Producer> {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      producers.add(producer);
      return {
        async send(topic, messages) {
          let partitionOf = await keyedPartitioner(topic);
          // kafkajs drops a message bound for a partition the topic lacks without an error: refuse it
          // here (after reading the count again: partitions may have been added since).
          let highest = -1;
          for (const message of messages) highest = Math.max(highest, message.partition ?? -1);
          if (highest >= partitionCounts.get(topic)!) {
            partitionCounts.delete(topic);
            partitionOf = await keyedPartitioner(topic);
            if (highest >= partitionCounts.get(topic)!) {
              throw new Error(`This server does not host this topic-partition: ${topic} has no partition ${highest}`);
            }
          }
          for (const chunk of chunkByBytes(messages, maxRequestBytes)) {
            await producer.send({ topic, acks: -1, messages: chunk.map((m) => toKafkaMessage(m, partitionOf)) });
          }
        },
        async disconnect() {
          producers.delete(producer);
          await producer.disconnect();
        },
      };
    },

    consumer(consumerOptions: ConsumerOptions): Consumer {
      return createKafkaConsumer(kafka, consumerOptions, consumers, logger, () => closed, options.health);
    },

    async offsets(topic: string): Promise<PartitionOffsets[]> {
      await connectAdmin();
      // kafkajs 2.2 throws a TypeError ("Cannot destructure property 'partitions' of 'high.pop(...)'")
      // when the broker's answer momentarily lacks the topic, e.g. while a restarted member rejoins:
      // refresh the metadata and ask again rather than fail the role's start.
      const offsets = await retrying(OFFSETS_RETRY, () => admin.fetchTopicOffsets(topic));
      return offsets
        .map((o) => ({ partition: o.partition, low: o.low, high: o.high }))
        .sort((a, b) => a.partition - b.partition);
    },

    async committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
      await connectAdmin();
      const [answer] = await admin.fetchOffsets({ groupId, topics: [topic] });
      // kafkajs answers -1 for a partition the group never committed on.
      return (answer?.partitions ?? [])
        .filter((p) => Number(p.offset) >= 0)
        .map((p) => ({ topic, partition: p.partition, offset: p.offset }));
    },

    ping,

    async close() {
      closed = true;
      await Promise.allSettled([...consumers].map((c) => c.disconnect()));
      await Promise.allSettled([...producers].map((p) => p.disconnect()));
      if (adminConnected) await admin.disconnect().catch(() => undefined);
      adminConnected = null;
    },
  };
}

function createKafkaConsumer(
  kafka: Kafka,
  options: ConsumerOptions,
  registry: Set<KafkaConsumer>,
  logger: Logger,
  /** True once the transport closes: a consumer disconnected by `close()` must not rejoin. */
  transportClosed: () => boolean,
  health: DependencyHealth | undefined,
): Consumer {
  const consumer = kafka.consumer({
    groupId: options.groupId,
    ...(options.sessionTimeoutMs === undefined ? {} : { sessionTimeout: options.sessionTimeoutMs }),
    ...(options.heartbeatIntervalMs === undefined ? {} : { heartbeatInterval: options.heartbeatIntervalMs }),
    maxWaitTimeInMs: options.maxWaitTimeMs ?? CONSUMER_DEFAULTS.maxWaitTimeMs,
    maxBytesPerPartition: options.maxBytesPerPartition ?? CONSUMER_DEFAULTS.maxBytesPerPartition,
    allowAutoTopicCreation: false,
    retry: KAFKAJS_RETRY,
  });
  registry.add(consumer);
  let assignment: TopicPartition[] = [];
  const assignmentListeners: ((assignment: TopicPartition[]) => void)[] = [];
  const crashListeners: ((error: Error) => void)[] = [];

  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    assignment = Object.entries(event.payload.memberAssignment).flatMap(([topic, partitions]) =>
      partitions.map((partition) => ({ topic, partition })),
    );
    restarts = 0;
    for (const listener of assignmentListeners) listener(assignment);
  });
  // kafkajs restarts a crashed consumer only after a retriable error. A member the coordinator
  // forgot (UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION: a handler that outlived the session timeout on a
  // loaded machine, then committed) is not retriable, so kafkajs stops for good and the role sits
  // alive with nothing consuming. Sluice rejoins instead, with a backoff: what was never committed
  // is delivered again, which the pipeline already tolerates (at-least-once, results deduplicated).
  let handler: EachBatch | null = null;
  let stopped = false;
  let restarts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  const scheduleRestart = () => {
    const delayMs = backoffDelayMs(restarts, REJOIN_BACKOFF);
    restarts += 1;
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (stopped || transportClosed() || handler === null) return;
      start(handler).then(
        () => logger.warn({ groupId: options.groupId, restarts }, 'consumer rejoined its group after a crash'),
        (error: unknown) => {
          logger[health?.isDown('broker') ? 'debug' : 'error'](
            { err: error, groupId: options.groupId },
            'consumer restart failed; trying again',
          );
          if (!stopped) scheduleRestart();
        },
      );
    }, delayMs);
  };

  consumer.on(consumer.events.CRASH, (event) => {
    const error = event.payload.error;
    // A crash because the broker is gone is part of the outage the health already reported once.
    const level = health?.isDown('broker') ? 'debug' : 'error';
    logger[level]({ err: error, groupId: options.groupId, restart: event.payload.restart }, 'consumer crashed');
    if (event.payload.restart) return;
    for (const listener of crashListeners) listener(error);
    if (!stopped && !transportClosed()) scheduleRestart();
  });

  const start = async (eachBatch: EachBatch) => {
    await consumer.connect();
    await consumer.subscribe({ topics: options.topics, fromBeginning: options.fromBeginning ?? false });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently:
        options.partitionsConsumedConcurrently ?? CONSUMER_DEFAULTS.partitionsConsumedConcurrently,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        await eachBatch(
          {
            topic: batch.topic,
            partition: batch.partition,
            highWatermark: batch.highWatermark,
            messages: batch.messages.map((m) => fromKafkaMessage(batch.topic, batch.partition, m)),
          },
          { resolveOffset, heartbeat, isRunning, isStale },
        );
      },
    });
  };

  return {
    async run(eachBatch: EachBatch) {
      handler = eachBatch;
      await start(eachBatch);
    },
    async commit(offsets) {
      if (offsets.length === 0) return;
      await consumer.commitOffsets(offsets);
    },
    assignment: () => assignment,
    onAssignment(listener) {
      assignmentListeners.push(listener);
    },
    onCrash(listener) {
      crashListeners.push(listener);
    },
    pause() {
      // kafkajs refuses a pause before `run` (no group yet): then there is nothing to stop fetching.
      if (handler === null) return;
      consumer.pause(options.topics.map((topic) => ({ topic })));
    },
    async stop() {
      stopped = true;
      clearTimeout(restartTimer);
      registry.delete(consumer);
      await consumer.disconnect();
    },
  };
}

function toKafkaMessage(message: OutgoingMessage, partitionOf: (key: string | null) => number | undefined) {
  return {
    key: message.key,
    value: message.value,
    headers: message.headers,
    partition: message.partition ?? partitionOf(message.key),
  };
}

function fromKafkaMessage(topic: string, partition: number, message: KafkaMessage): IncomingMessage {
  return {
    topic,
    partition,
    offset: message.offset,
    key: message.key ? message.key.toString('utf8') : null,
    value: message.value,
    headers: headersToStrings(message.headers),
    timestamp: message.timestamp,
  };
}

function headersToStrings(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!headers) return out;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    const last = Array.isArray(value) ? value[value.length - 1] : value;
    if (last !== undefined) out[name] = last.toString();
  }
  return out;
}

function* chunkByBytes(messages: OutgoingMessage[], maxBytes: number): Generator<OutgoingMessage[]> {
  let chunk: OutgoingMessage[] = [];
  let bytes = 0;
  for (const message of messages) {
    const size = (message.value?.length ?? 0) + (message.key?.length ?? 0) + 64;
    if (chunk.length > 0 && bytes + size > maxBytes) {
      yield chunk;
      chunk = [];
      bytes = 0;
    }
    chunk.push(message);
    bytes += size;
  }
  if (chunk.length > 0) yield chunk;
}

function isTopicExistsError(error: unknown): boolean {
  const e = error as { type?: string; errors?: { type?: string }[] } | undefined;
  if (e?.type === 'TOPIC_ALREADY_EXISTS') return true;
  return Array.isArray(e?.errors) && e.errors.every((inner) => inner.type === 'TOPIC_ALREADY_EXISTS');
}

/**
 * What kafkajs says when it loses the broker: each client (producers, consumers, admin) and each
 * retry says it again, dozens of lines a second during an outage. With a DependencyHealth these
 * go to it (which logs the outage once) and to debug.
 */
const LOST_BROKER =
  /ECONNREFUSED|ECONNRESET|ECONNABORTED|EPIPE|ETIMEDOUT|Connection error|Connection timeout|Closed connection|connection closed|KafkaJSConnectionError|KafkaJSConnectionClosedError|KafkaJSRequestTimeoutError|Request .* timed out|Not connected|socket hang up|This server is not the leader|There is no leader/i;

function forwardKafkaLog(logger: Logger, entry: LogEntry, health: DependencyHealth | undefined): void {
  const { message, ...extra } = entry.log;
  const fields = { kafka: entry.namespace, ...extra };
  if (health && entry.level <= KafkaLogLevel.WARN) {
    const text = `${message} ${typeof extra.error === 'string' ? extra.error : ''}`;
    if (LOST_BROKER.test(text)) {
      health.unreachable('broker', new Error(`${message}${typeof extra.error === 'string' ? `: ${extra.error}` : ''}`));
      logger.debug(fields, message);
      return;
    }
    // A handler that failed because a dependency is gone (the sink's store): kafkajs retries the
    // batch and says so each time; the outage itself is reported once by the health.
    if (extra.error !== undefined && isUnreachableError(extra.error) && health.anyDown()) {
      logger.debug(fields, message);
      return;
    }
  }
  switch (entry.level) {
    case KafkaLogLevel.ERROR:
      // kafkajs reports retried, recovered conditions (a broker restart, a rebalance) at ERROR.
      logger.warn(fields, message);
      break;
    case KafkaLogLevel.WARN:
      logger.warn(fields, message);
      break;
    case KafkaLogLevel.INFO:
      logger.debug(fields, message);
      break;
    default:
      logger.trace(fields, message);
  }
}
