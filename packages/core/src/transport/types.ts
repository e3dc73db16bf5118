import type { TopicSpec } from '../topics.js';

/**
 * The transport is the seam between Sluice's stages and the log they meet through. Kafka
 * implements it for real deployments; an in-process implementation (same semantics: keyed
 * partitions, consumer groups, committed offsets) backs the embedded mode.
 *
 * Consumers never commit on their own: each stage commits what it has made durable, when it
 * has made it durable (the processor its contiguous low watermark, the sink after fsync).
 */
export interface OutgoingMessage {
  key: string | null;
  value: Buffer | null;
  headers?: Record<string, string>;
  /**
   * The partition to write to; by default the key's (Kafka's murmur2 partitioner). Ingest places
   * each new batch on the requests partition with the least backlog (docs/fairness.md).
   */
  partition?: number;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit; kept as decimal strings as kafkajs does. */
  offset: string;
  key: string | null;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Milliseconds since the epoch, as a decimal string. */
  timestamp: string;
}

export interface MessageBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** The partition's end offset when the batch was fetched. */
  highWatermark: string;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

export interface TopicPartitionOffset extends TopicPartition {
  /** The next offset to consume (Kafka's commit convention: last processed + 1). */
  offset: string;
}

export interface BatchContext {
  /** Moves the fetch position past `offset`. It does not commit. */
  resolveOffset(offset: string): void;
  /** Keeps group membership alive during long work; throws when the group is rebalancing. */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping. */
  isRunning(): boolean;
  /** True when the batch's partition was sought or reassigned and the rest of it must not be used. */
  isStale(): boolean;
}

export type EachBatch = (batch: MessageBatch, context: BatchContext) => Promise<void>;

/**
 * What a consumer option left out means, on both transports. The fetch wait is shorter than
 * kafkajs's 5 s so a new message on a quiet partition is read within half a second; the others are
 * kafkajs's own defaults. (Session and heartbeat, left out, are kafkajs's 30 s and 3 s.)
 */
export const CONSUMER_DEFAULTS = {
  maxWaitTimeMs: 500,
  maxBytesPerPartition: 1024 * 1024,
  partitionsConsumedConcurrently: 1,
} as const;

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group with no committed offset starts. Default: false (the end). */
  fromBeginning?: boolean;
  /** Longest a fetch waits for data; low values cut latency for control topics. */
  maxWaitTimeMs?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  maxBytesPerPartition?: number;
  /** Partitions processed at once (each still sequential within itself). Default 1. */
  partitionsConsumedConcurrently?: number;
}

export interface Consumer {
  /** Joins the group and starts fetching; resolves once the consumer is running. */
  run(eachBatch: EachBatch): Promise<void>;
  /** Commits the given offsets for the group. */
  commit(offsets: TopicPartitionOffset[]): Promise<void>;
  /** The partitions assigned to this member now. */
  assignment(): TopicPartition[];
  /** Called after every rebalance with the new assignment. */
  onAssignment(listener: (assignment: TopicPartition[]) => void): void;
  /** Called when the consumer gives up (it will not fetch again). */
  onCrash(listener: (error: Error) => void): void;
  /**
   * Fetches no new batches (the running ones go on) until `stop`. A role that stops drains its
   * work first: without a pause, every batch fetched meanwhile returns at once unhandled and is
   * fetched again, a loop that spins a core for the whole drain (issue 11).
   */
  pause(): void;
  /** Stops fetching, waits for the running batches to return, leaves the group. */
  stop(): Promise<void>;
}

export interface Producer {
  /** Sends messages to one topic and resolves once all are acknowledged by the log. */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  disconnect(): Promise<void>;
}

export interface PartitionOffsets {
  partition: number;
  /** First offset still in the log. */
  low: string;
  /** Offset the next message will get. */
  high: string;
}

export interface Transport {
  readonly kind: 'kafka' | 'embedded';
  /**
   * Checks that the log can be reached with the configured settings. Kafka: a refused login,
   * certificate or protocol fails at once with an error naming the setting; a broker that is not
   * up yet is waited for (about a minute). Call it before anything else at start-up.
   */
  connect(): Promise<void>;
  /** Creates the topics that do not exist yet; leaves existing ones as they are. */
  ensureTopics(specs: TopicSpec[]): Promise<void>;
  producer(): Promise<Producer>;
  consumer(options: ConsumerOptions): Consumer;
  /** Low and high offsets of every partition of a topic. */
  offsets(topic: string): Promise<PartitionOffsets[]>;
  /** A consumer group's committed offset on every partition of `topic` it has committed on. */
  committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]>;
  /** Checks that the log answers; used by readiness probes. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
