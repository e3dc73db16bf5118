import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { retrying, sleep, type RetryPolicy } from '../retry/index.js';
import { Partitioners, type PartitionMetadata } from 'kafkajs';
import { silentLogger, type Logger } from '../logger.js';
import type { TopicSpec } from '../topics.js';
import { PartitionLog, TOMBSTONE_RETENTION_MS, type PartitionLogOptions } from './file-log.js';
import {
  CONSUMER_DEFAULTS,
  type BatchContext,
  type Consumer,
  type ConsumerOptions,
  type EachBatch,
  type OutgoingMessage,
  type PartitionOffsets,
  type Producer,
  type TopicPartition,
  type TopicPartitionOffset,
  type Transport,
} from './types.js';

export interface EmbeddedTransportOptions {
  /** Where the log, the topic list and the committed offsets live (e.g. `<SLUICE_DATA_DIR>/log`). */
  directory: string;
  /** Bytes per segment file (Kafka's `segment.bytes`; `SLUICE_LOG_SEGMENT_BYTES`). */
  segmentBytes: number;
  /** How long records of non-compacted topics are kept (Kafka's `retention.ms`; `SLUICE_LOG_RETENTION_HOURS`). */
  retentionMs: number;
  /** How often closed segments are cleaned (deleted or compacted). @defaultValue one minute */
  cleanIntervalMs?: number;
  logger?: Logger;
}

/** Thrown by `heartbeat()` when the group rebalanced under a running batch, as kafkajs does. */
export class RebalanceInProgressError extends Error {
  constructor() {
    super('The group is rebalancing');
    this.name = 'RebalanceInProgressError';
  }
}

/**
 * The embedded mode's transport: Kafka's semantics in one process, for the first run and small
 * jobs. Topics have partitions chosen from the key by Kafka's default partitioner (murmur2, the
 * same partition a broker would get); consumer groups split partitions among members and
 * rebalance when members come and go; committed offsets persist in a file; a batch whose handler
 * fails, or that a stopped member never committed, is delivered again. The log is file-backed so a
 * killed process resumes where it was. It is not a distributed log: one process owns the directory.
 */
/** How often the embedded log's cleaner runs (Kafka's `log.retention.check.interval.ms` is 5 minutes). */
const CLEAN_INTERVAL_MS = 60_000;

export function createEmbeddedTransport(options: EmbeddedTransportOptions): Transport {
  const log = new EmbeddedLog(options.directory, options.logger ?? silentLogger, {
    segmentBytes: options.segmentBytes,
    retentionMs: options.retentionMs,
    compact: false,
    delete: true,
    deleteRetentionMs: TOMBSTONE_RETENTION_MS,
  });
  // Retention like Kafka's log cleaner: closed segments are deleted or compacted now and then.
  const cleaner = setInterval(() => log.clean(), options.cleanIntervalMs ?? CLEAN_INTERVAL_MS);
  cleaner.unref();
  return {
    kind: 'embedded',
    async connect() {
      // The embedded log is in this process: nothing to reach.
    },
    async ensureTopics(specs: TopicSpec[]) {
      for (const spec of specs) log.ensureTopic(spec.topic, spec.numPartitions, topicPolicyOf(spec));
    },
    async producer(): Promise<Producer> {
      return {
        async send(topic, messages) {
          log.produce(topic, messages);
        },
        async disconnect() {},
      };
    },
    consumer(consumerOptions: ConsumerOptions): Consumer {
      return new EmbeddedConsumer(log, consumerOptions);
    },
    async offsets(topic: string): Promise<PartitionOffsets[]> {
      return log
        .partitionsOf(topic)
        .map((p) => ({ partition: p.partition, low: String(p.start), high: String(p.end) }));
    },
    async committedOffsets(groupId: string, topic: string): Promise<TopicPartitionOffset[]> {
      return log.partitionsOf(topic).flatMap((p) => {
        const offset = log.committedOffset(groupId, topic, p.partition);
        return offset === undefined ? [] : [{ topic, partition: p.partition, offset: String(offset) }];
      });
    },
    async ping() {},
    async close() {
      clearInterval(cleaner);
      await log.close();
    },
  };
}

class Group {
  readonly members: EmbeddedConsumer[] = [];
  generation = 0;

  constructor(readonly id: string) {}

  /** Round-robin assignment of every subscribed partition over the members, in join order. */
  rebalance(log: EmbeddedLog): void {
    this.generation++;
    const assignments = new Map<EmbeddedConsumer, TopicPartition[]>(this.members.map((m) => [m, []]));
    const topics = [...new Set(this.members.flatMap((m) => m.topics))].sort();
    let next = 0;
    for (const topic of topics) {
      const subscribers = this.members.filter((m) => m.topics.includes(topic));
      if (subscribers.length === 0) continue;
      for (const { partition } of log.partitionsOf(topic)) {
        const member = subscribers[next++ % subscribers.length] as EmbeddedConsumer;
        assignments.get(member)?.push({ topic, partition });
      }
    }
    for (const [member, assignment] of assignments) member.assign(assignment, this.generation);
  }
}

class EmbeddedLog {
  private readonly topics = new Map<string, PartitionLog[]>();
  private readonly groups = new Map<string, Group>();
  private committed: Record<string, Record<string, number>>;
  private readonly listeners = new Map<string, Set<() => void>>();
  private readonly partitioner = Partitioners.DefaultPartitioner();
  private readonly offsetsFile: string;
  private readonly topicsFile: string;

  private readonly policies = new Map<string, TopicPolicy>();

  constructor(
    private readonly directory: string,
    readonly logger: Logger,
    private readonly logOptions: PartitionLogOptions,
  ) {
    mkdirSync(directory, { recursive: true });
    this.offsetsFile = join(directory, 'offsets.json');
    this.topicsFile = join(directory, 'topics.json');
    this.committed = readJson<Record<string, Record<string, number>>>(this.offsetsFile) ?? {};
    type TopicEntry = { partitions: number; compact: boolean } & Partial<TopicPolicy>;
    for (const [topic, entry] of Object.entries(readJson<Record<string, TopicEntry>>(this.topicsFile) ?? {})) {
      const { partitions, ...policy } = entry;
      this.open(topic, partitions, { delete: !policy.compact, ...policy });
    }
  }

  ensureTopic(topic: string, partitions: number, policy: TopicPolicy): void {
    if (this.topics.has(topic)) return;
    this.open(topic, partitions, policy);
    writeJsonAtomic(
      this.topicsFile,
      Object.fromEntries(
        [...this.topics].map(([name, logs]) => [
          name,
          { partitions: logs.length, ...(this.policies.get(name) ?? DELETE_POLICY) },
        ]),
      ),
    );
  }

  /** Deletes or compacts closed segments (see PartitionLog.clean). */
  clean(now = Date.now()): void {
    let freed = 0;
    for (const partitions of this.topics.values()) for (const p of partitions) freed += p.clean(now);
    if (freed > 0) this.logger.info({ freedBytes: freed }, 'embedded log: retention applied');
  }

  partitionsOf(topic: string): PartitionLog[] {
    const partitions = this.topics.get(topic);
    if (!partitions) throw new Error(`This server does not host this topic-partition: unknown topic ${topic}`);
    return partitions;
  }

  produce(topic: string, messages: OutgoingMessage[]): void {
    const partitions = this.partitionsOf(topic);
    const metadata: PartitionMetadata[] = partitions.map((p) => ({
      partitionErrorCode: 0,
      partitionId: p.partition,
      leader: 0,
      replicas: [0],
      isr: [0],
    }));
    const byPartition = new Map<number, OutgoingMessage[]>();
    for (const message of messages) {
      if (message.partition !== undefined && !partitions[message.partition]) {
        throw new Error(
          `This server does not host this topic-partition: ${topic} has no partition ${message.partition}`,
        );
      }
      const partition =
        message.partition ??
        this.partitioner({
          topic,
          partitionMetadata: metadata,
          message: { key: message.key, value: message.value },
        });
      const list = byPartition.get(partition) ?? [];
      list.push(message);
      byPartition.set(partition, list);
    }
    for (const [partition, list] of byPartition) {
      partitions[partition]?.append(list);
      this.notify(topic, partition);
    }
  }

  group(id: string): Group {
    let group = this.groups.get(id);
    if (!group) this.groups.set(id, (group = new Group(id)));
    return group;
  }

  committedOffset(groupId: string, topic: string, partition: number): number | undefined {
    return this.committed[groupId]?.[`${topic}:${partition}`];
  }

  commit(groupId: string, offsets: TopicPartitionOffset[]): void {
    const group = (this.committed[groupId] ??= {});
    for (const { topic, partition, offset } of offsets) group[`${topic}:${partition}`] = Number(offset);
    writeJsonAtomic(this.offsetsFile, this.committed);
  }

  /** Resolves when `topic:partition` gets a record, or after `timeoutMs`. */
  waitForData(topic: string, partition: number, timeoutMs: number): Promise<void> {
    const key = `${topic}:${partition}`;
    return new Promise((resolve) => {
      const listeners = this.listeners.get(key) ?? new Set();
      this.listeners.set(key, listeners);
      const done = () => {
        clearTimeout(timer);
        listeners.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      listeners.add(done);
    });
  }

  /** Ends the waits for data on `topic:partition` now (a consumer that stops need not wait out its fetch). */
  wakeReaders(topic: string, partition: number): void {
    this.notify(topic, partition);
  }

  async close(): Promise<void> {
    for (const group of this.groups.values()) for (const member of [...group.members]) await member.stop();
    for (const partitions of this.topics.values()) for (const p of partitions) p.close();
    this.topics.clear();
  }

  private open(topic: string, partitions: number, policy: TopicPolicy): void {
    const directory = join(this.directory, encodeURIComponent(topic));
    this.policies.set(topic, policy);
    const options: PartitionLogOptions = {
      ...this.logOptions,
      compact: policy.compact,
      delete: policy.delete,
      retentionMs: policy.retentionMs ?? this.logOptions.retentionMs,
      segmentMs: policy.segmentMs,
    };
    this.topics.set(
      topic,
      Array.from({ length: partitions }, (_, partition) => new PartitionLog(topic, partition, directory, options)),
    );
  }

  private notify(topic: string, partition: number): void {
    const listeners = this.listeners.get(`${topic}:${partition}`);
    if (listeners) for (const listener of [...listeners]) listener();
  }
}

/** Where a partition's fetch loop reads next, and the group generation that position belongs to. */
interface FetchCursor {
  position: number;
  seenGeneration: number;
}

/**
 * A batch whose handler failed is fetched and handed over again, as kafkajs does: 200 ms doubling
 * to 5 s between deliveries, for as long as the partition stays assigned (the loop stops retrying
 * when it is not).
 */
const REDELIVERY_RETRY: RetryPolicy = { maxAttempts: Infinity, initialMs: 200, maxMs: 5000, retriable: () => true };

class EmbeddedConsumer implements Consumer {
  readonly topics: string[];
  private assignmentNow: TopicPartition[] = [];
  private generation = 0;
  private running = false;
  private paused = false;
  private readonly pauseWaiters: (() => void)[] = [];
  private eachBatch: EachBatch | null = null;
  private readonly workers = new Map<string, Promise<void>>();
  private readonly assignmentListeners: ((assignment: TopicPartition[]) => void)[] = [];
  private readonly group: Group;
  private slots: number;
  private readonly slotWaiters: (() => void)[] = [];

  constructor(
    private readonly log: EmbeddedLog,
    private readonly options: ConsumerOptions,
  ) {
    this.topics = options.topics;
    this.group = log.group(options.groupId);
    this.slots = options.partitionsConsumedConcurrently ?? CONSUMER_DEFAULTS.partitionsConsumedConcurrently;
  }

  async run(eachBatch: EachBatch): Promise<void> {
    for (const topic of this.topics) this.log.partitionsOf(topic); // unknown topics fail here, as with Kafka
    this.eachBatch = eachBatch;
    this.running = true;
    this.group.members.push(this);
    this.group.rebalance(this.log);
  }

  /** Called by the group on every rebalance. */
  assign(assignment: TopicPartition[], generation: number): void {
    this.assignmentNow = assignment;
    this.generation = generation;
    for (const listener of this.assignmentListeners) listener(assignment);
    if (!this.running) return;
    for (const tp of assignment) {
      const key = `${tp.topic}:${tp.partition}`;
      if (this.workers.has(key)) continue;
      const worker = this.work(tp).finally(() => this.workers.delete(key));
      this.workers.set(key, worker);
    }
  }

  async commit(offsets: TopicPartitionOffset[]): Promise<void> {
    if (offsets.length === 0) return;
    this.log.commit(this.options.groupId, offsets);
  }

  assignment(): TopicPartition[] {
    return this.assignmentNow;
  }

  onAssignment(listener: (assignment: TopicPartition[]) => void): void {
    this.assignmentListeners.push(listener);
  }

  onCrash(): void {
    // An embedded consumer does not crash on its own: handler errors are retried.
  }

  pause(): void {
    this.paused = true;
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const waiter of this.slotWaiters.splice(0)) waiter();
    for (const waiter of this.pauseWaiters.splice(0)) waiter();
    // A fetch loop waiting for data would otherwise hold the stop for up to its fetch wait (as a
    // kafkajs stop does not: it aborts the fetch in flight).
    for (const tp of this.assignmentNow) this.log.wakeReaders(tp.topic, tp.partition);
    await Promise.allSettled([...this.workers.values()]);
    const index = this.group.members.indexOf(this);
    if (index !== -1) this.group.members.splice(index, 1);
    this.assignmentNow = [];
    this.group.rebalance(this.log);
  }

  private owns(tp: TopicPartition, generation: number): boolean {
    return this.running && this.generation === generation;
  }

  private stillAssigned(tp: TopicPartition): boolean {
    return this.running && this.assignmentNow.some((a) => a.topic === tp.topic && a.partition === tp.partition);
  }

  /** One partition's fetch loop, as long as the partition stays assigned to this member. */
  private async work(tp: TopicPartition): Promise<void> {
    const partitionLog = this.log.partitionsOf(tp.topic)[tp.partition] as PartitionLog;
    const committed = this.log.committedOffset(this.options.groupId, tp.topic, tp.partition);
    const cursor: FetchCursor = {
      position: committed ?? (this.options.fromBeginning ? 0 : partitionLog.end),
      seenGeneration: this.generation,
    };
    const policy: RetryPolicy = {
      ...REDELIVERY_RETRY,
      onRetry: (error) => {
        if (error instanceof RebalanceInProgressError) return;
        this.log.logger.warn(
          { err: error, topic: tp.topic, partition: tp.partition },
          'batch handler failed; redelivering',
        );
      },
    };
    while (this.stillAssigned(tp)) await retrying(policy, () => this.fetchAndHand(tp, partitionLog, cursor));
  }

  /**
   * One fetch from `cursor.position` and one hand-over to the handler. Throws what the handler
   * threw, once the resolved part is skipped: REDELIVERY_RETRY then pauses, and the next call
   * fetches the unresolved rest again.
   */
  private async fetchAndHand(tp: TopicPartition, partitionLog: PartitionLog, cursor: FetchCursor): Promise<void> {
    if (!this.stillAssigned(tp)) return;
    if (this.paused) {
      await new Promise<void>((resolve) => this.pauseWaiters.push(resolve));
      return;
    }
    const maxWait = this.options.maxWaitTimeMs ?? CONSUMER_DEFAULTS.maxWaitTimeMs;
    const maxBytes = this.options.maxBytesPerPartition ?? CONSUMER_DEFAULTS.maxBytesPerPartition;
    if (this.generation !== cursor.seenGeneration) {
      // As after a Kafka rebalance: fetching resumes from the committed offset.
      cursor.seenGeneration = this.generation;
      cursor.position = this.log.committedOffset(this.options.groupId, tp.topic, tp.partition) ?? cursor.position;
    }
    const messages = partitionLog.read(cursor.position, 1000, maxBytes);
    if (messages.length === 0) {
      await this.log.waitForData(tp.topic, tp.partition, maxWait);
      return;
    }
    await this.takeSlot();
    if (!this.stillAssigned(tp)) {
      this.releaseSlot();
      return;
    }
    const generation = this.generation;
    let resolved = -1;
    const context: BatchContext = {
      resolveOffset: (offset) => {
        resolved = Math.max(resolved, Number(offset));
      },
      heartbeat: async () => {
        if (!this.owns(tp, generation)) throw new RebalanceInProgressError();
      },
      isRunning: () => this.running,
      isStale: () => !this.owns(tp, generation),
    };
    try {
      await (this.eachBatch as EachBatch)(
        { topic: tp.topic, partition: tp.partition, messages, highWatermark: String(partitionLog.end) },
        context,
      );
    } finally {
      this.releaseSlot();
      if (resolved >= cursor.position) cursor.position = resolved + 1;
      // A handler that returned without taking anything is not asked again at once: the loop has
      // no I/O of its own, so retrying immediately would run on microtasks alone and starve the
      // timers of the whole process (a stop's own deadline among them).
      else await sleep(Math.min(maxWait, 100));
    }
  }

  private async takeSlot(): Promise<void> {
    while (this.slots === 0 && this.running) await new Promise<void>((resolve) => this.slotWaiters.push(resolve));
    this.slots--;
  }

  private releaseSlot(): void {
    this.slots++;
    this.slotWaiters.shift()?.();
  }
}

/**
 * The part of a topic's Kafka configs the embedded log honours: `cleanup.policy` (`delete`,
 * `compact` or both), and per topic `retention.ms` and `segment.ms` (else the log's own retention,
 * and segments rolled by size only).
 */
interface TopicPolicy {
  compact: boolean;
  delete: boolean;
  retentionMs?: number;
  segmentMs?: number;
}

const DELETE_POLICY: TopicPolicy = { compact: false, delete: true };

function topicPolicyOf(spec: TopicSpec): TopicPolicy {
  const policies = (spec.configs?.['cleanup.policy'] ?? 'delete').split(',').map((each) => each.trim());
  const policy: TopicPolicy = { compact: policies.includes('compact'), delete: policies.includes('delete') };
  const retentionMs = Number(spec.configs?.['retention.ms']);
  if (retentionMs > 0) policy.retentionMs = retentionMs;
  const segmentMs = Number(spec.configs?.['segment.ms']);
  if (segmentMs > 0) policy.segmentMs = segmentMs;
  return policy;
}

function readJson<T>(path: string): T | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return null;
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  const temp = `${path}.tmp`;
  writeFileSync(temp, JSON.stringify(value));
  renameSync(temp, path);
}
