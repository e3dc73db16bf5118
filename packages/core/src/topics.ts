/** The six topics Sluice uses, named from one prefix so several deployments can share a cluster. */
export interface TopicNames {
  /** Per-item request messages of batches; key = batch id. */
  requests: string;
  /**
   * The same messages for synchronous calls (interactive work): a topic of their own, read by a
   * consumer of its own, so a call never waits behind a batch backlog in the log (docs/fairness.md).
   */
  interactive: string;
  /**
   * Seals (written by ingest before a batch's items, so the sink knows the batch before its first
   * result) and per-item results; key = batch id.
   */
  results: string;
  /** One batch record per batch; compacted; key = batch id. */
  status: string;
  /**
   * Control facts about batches (a cancel), written by ingest and read whole by every processor
   * and sink (ControlView); compacted; key = batch id.
   */
  control: string;
  /** Messages a consumer could not decode or validate, with the reason in headers. */
  deadLetter: string;
  /**
   * Upstream answers kept for identical requests (docs/deduplication.md): written and read by the
   * processors only, each of which keeps the whole topic in a local database; compacted and
   * deleted after the dedup TTL; key = `<tenant>\0<request hash>`.
   */
  answers: string;
}

export function topicNames(prefix: string): TopicNames {
  return {
    requests: `${prefix}.requests`,
    interactive: `${prefix}.requests.interactive`,
    results: `${prefix}.results`,
    status: `${prefix}.status`,
    control: `${prefix}.control`,
    deadLetter: `${prefix}.dead-letter`,
    answers: `${prefix}.answers`,
  };
}

/** The processor's consumer group on the requests topic (its committed offsets measure the backlog). */
export function processorGroupId(names: TopicNames): string {
  return `${names.requests}.processor`;
}

/** The processor's consumer group on the interactive topic. */
export function interactiveGroupId(names: TopicNames): string {
  return `${names.interactive}.processor`;
}

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  /** Topic-level configs, e.g. `cleanup.policy=compact`. */
  configs?: Record<string, string>;
}

export interface TopicSpecOptions {
  /**
   * How long the answers topic keeps an answer: the dedup TTL (`SLUICE_DEDUP_TTL_SECONDS`), at
   * least a minute. An answer is never served past its own `expires_at_ms` whatever the topic
   * keeps, so a topic created with another TTL costs log space, never a wrong answer.
   * @defaultValue one day
   */
  answersRetentionMs?: number;
}

/** The smallest retention and segment age of the answers topic (a TTL of 0 keeps no answer at all). */
const MIN_ANSWERS_RETENTION_MS = 60_000;

export function topicSpecs(names: TopicNames, partitions: number, options: TopicSpecOptions = {}): TopicSpec[] {
  const answersRetentionMs = String(
    Math.max(MIN_ANSWERS_RETENTION_MS, Math.floor(options.answersRetentionMs ?? 86_400_000)),
  );
  return [
    { topic: names.requests, numPartitions: partitions },
    { topic: names.interactive, numPartitions: partitions },
    { topic: names.results, numPartitions: partitions },
    {
      topic: names.status,
      numPartitions: Math.max(1, Math.min(partitions, 3)),
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
    },
    // One partition: every reader reads all of it, and it holds one small message per cancelled batch.
    {
      topic: names.control,
      numPartitions: 1,
      configs: { 'cleanup.policy': 'compact', 'min.compaction.lag.ms': '60000' },
    },
    { topic: names.deadLetter, numPartitions: 1 },
    {
      topic: names.answers,
      // Every processor reads every partition: a few are plenty.
      numPartitions: Math.max(1, Math.min(partitions, 3)),
      configs: {
        // Compaction keeps one answer per request; deletion drops answers past the TTL. Segments
        // roll once a TTL old (Kafka's default is a week), since only closed segments are deleted:
        // an answer stays in the log at most about two TTLs.
        'cleanup.policy': 'compact,delete',
        'retention.ms': answersRetentionMs,
        'segment.ms': answersRetentionMs,
      },
    },
  ];
}

/** Header names Sluice sets on its messages. */
export const HEADERS = {
  /** `item` or `seal` (requests, results), `cancel` (control): lets consumers filter without decoding. */
  type: 'sluice-type',
  /**
   * `true` on the request messages of a synchronous call, copied by the processor onto their
   * results: the sink drops such a result while it has no seal for its batch (a call answered in
   * time keeps nothing), and ingest reads it off the results topic to answer the call.
   */
  sync: 'sluice-sync',
  /**
   * `interactive` on the request messages of a synchronous call: the processor serves them before
   * batch work (docs/fairness.md). Absent: batch work.
   */
  priority: 'sluice-priority',
  /**
   * The tenant of a request item (the value's `tenant`), readable without decoding by consumers
   * that filter; the processor takes the tenant from the value. Outside writers may leave it out.
   */
  tenant: 'sluice-tenant',
  /** Dead-letter: why the message was rejected. */
  dlqReason: 'sluice-dlq-reason',
  dlqTopic: 'sluice-dlq-topic',
  dlqPartition: 'sluice-dlq-partition',
  dlqOffset: 'sluice-dlq-offset',
  dlqStage: 'sluice-dlq-stage',
} as const;
