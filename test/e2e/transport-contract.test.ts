import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  compileConfig,
  createEmbeddedTransport,
  createKafkaTransport,
  parseEnv,
  type Consumer,
  type IncomingMessage,
  type Transport,
} from '@sluice/core';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, infra, uniquePrefix } from '../harness/context.js';

/**
 * One contract, two transports: the embedded (in-process, file-backed) log must behave like
 * Kafka for everything Sluice relies on, so the suite runs unchanged against both.
 */
const directories: string[] = [];
const transports: Transport[] = [];
afterAll(async () => {
  await Promise.allSettled(transports.map((t) => t.close()));
  await Promise.all(directories.map((d) => rm(d, { recursive: true, force: true })));
});

/** The embedded log's settings as Sluice configures them by default (from the config schema, their one home). */
const LOG_DEFAULTS = compileConfig(parseEnv({})).embeddedLog;

async function embeddedTransport(directory?: string): Promise<Transport> {
  const dir = directory ?? (await mkdtemp(join(tmpdir(), 'sluice-log-')));
  if (!directory) directories.push(dir);
  const transport = createEmbeddedTransport({ directory: dir, ...LOG_DEFAULTS });
  transports.push(transport);
  return transport;
}

function kafkaTransport(): Transport {
  const transport = createKafkaTransport({ brokers: infra().brokers, clientId: 'contract-test' });
  transports.push(transport);
  return transport;
}

const KINDS = {
  embedded: () => embeddedTransport(),
  kafka: async () => kafkaTransport(),
};

const KEYS = ['batch_a', 'batch_b', 'batch_c', 'batch_d', 'batch_e', 'batch_f', 'batch_g', 'batch_h'];

function messages(count: number, keys = KEYS) {
  return Array.from({ length: count }, (_, i) => ({
    key: keys[i % keys.length] as string,
    value: Buffer.from(JSON.stringify({ n: i })),
    headers: { 'sluice-type': 'item' },
  }));
}

interface Collected {
  seen: IncomingMessage[];
  consumer: Consumer;
}

/** A consumer that records what it gets and resolves (but never commits) every message. */
async function collect(
  transport: Transport,
  groupId: string,
  topic: string,
  options: { fromBeginning?: boolean; failFirst?: boolean } = {},
): Promise<Collected> {
  const seen: IncomingMessage[] = [];
  let failed = false;
  const consumer = transport.consumer({
    groupId,
    topics: [topic],
    fromBeginning: options.fromBeginning ?? true,
    maxWaitTimeMs: 100,
    partitionsConsumedConcurrently: 4,
  });
  await consumer.run(async (batch, context) => {
    for (const message of batch.messages) {
      if (options.failFirst && !failed) {
        failed = true;
        throw new Error('handler failure');
      }
      seen.push(message);
      context.resolveOffset(message.offset);
    }
  });
  return { seen, consumer };
}

const values = (list: IncomingMessage[]) =>
  list.map((m) => (JSON.parse(m.value?.toString() ?? '{}') as { n: number }).n);

describe.each(Object.keys(KINDS) as (keyof typeof KINDS)[])('transport contract: %s', (kind) => {
  it('keeps every message of a key in one partition; a group of two splits the partitions and gets every message', async () => {
    const transport = await KINDS[kind]();
    const topic = `${uniquePrefix(`contract-${kind}`)}.t`;
    await transport.ensureTopics([{ topic, numPartitions: 4 }]);
    const producer = await transport.producer();
    await producer.send(topic, messages(80));
    const group = `${topic}.group`;
    const a = await collect(transport, group, topic);
    const b = await collect(transport, group, topic);
    await eventually(() => (a.seen.length + b.seen.length >= 80 ? true : undefined), { what: '80 messages' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const all = [...a.seen, ...b.seen];
    // Once each: the two members split the partitions. (A rebalance may redeliver unresolved
    // messages to the new owner; here every message was resolved before any commit, so the
    // check is on distinct values plus the members' disjoint partitions at the end.)
    expect(new Set(values(all))).toEqual(new Set(Array.from({ length: 80 }, (_, i) => i)));
    const partitionsOf = (key: string) => new Set(all.filter((m) => m.key === key).map((m) => m.partition));
    for (const key of KEYS) expect(partitionsOf(key).size).toBe(1);
    const assignedA = a.consumer.assignment().map((tp) => tp.partition);
    const assignedB = b.consumer.assignment().map((tp) => tp.partition);
    expect([...assignedA, ...assignedB].sort()).toEqual([0, 1, 2, 3]);
    expect(assignedA.filter((p) => assignedB.includes(p))).toEqual([]);
    await Promise.all([a.consumer.stop(), b.consumer.stop()]);
  });

  it('resumes a group from its committed offset, and redelivers what was never committed', async () => {
    const transport = await KINDS[kind]();
    const topic = `${uniquePrefix(`commit-${kind}`)}.t`;
    await transport.ensureTopics([{ topic, numPartitions: 1 }]);
    const producer = await transport.producer();
    await producer.send(topic, messages(10, ['one-key']));
    const group = `${topic}.group`;
    const first = await collect(transport, group, topic);
    await eventually(() => (first.seen.length >= 10 ? true : undefined), { what: 'first read' });
    // Commit after the 4th message only: 0..3 are done, 4..9 were seen but not committed.
    await first.consumer.commit([
      {
        topic,
        partition: 0,
        offset: first.seen[3]?.offset === undefined ? '0' : String(Number(first.seen[3].offset) + 1),
      },
    ]);
    await first.consumer.stop();
    const second = await collect(transport, group, topic);
    await eventually(() => (second.seen.length >= 6 ? true : undefined), { what: 'redelivery' });
    expect(values(second.seen)).toEqual([4, 5, 6, 7, 8, 9]);
    await second.consumer.stop();
  });

  it('delivers a batch again when its handler fails', async () => {
    const transport = await KINDS[kind]();
    const topic = `${uniquePrefix(`retry-${kind}`)}.t`;
    await transport.ensureTopics([{ topic, numPartitions: 1 }]);
    const producer = await transport.producer();
    await producer.send(topic, messages(5, ['k']));
    const consumer = await collect(transport, `${topic}.group`, topic, { failFirst: true });
    await eventually(() => (consumer.seen.length >= 5 ? true : undefined), { what: 'redelivered batch' });
    expect(values(consumer.seen)).toEqual([0, 1, 2, 3, 4]);
    await consumer.consumer.stop();
  });

  it('rejoins and delivers again after an error kafkajs will not restart from (a member the coordinator forgot)', async () => {
    const transport = await KINDS[kind]();
    const topic = `${uniquePrefix(`crash-${kind}`)}.t`;
    await transport.ensureTopics([{ topic, numPartitions: 1 }]);
    const producer = await transport.producer();
    await producer.send(topic, messages(5, ['k']));
    // The shape kafkajs gives a protocol error it does not retry: its runner then stops for good
    // (CRASH with restart: false) unless the transport starts it again.
    const forgotten = Object.assign(new Error('The coordinator is not aware of this member'), {
      name: 'KafkaJSProtocolError',
      type: 'UNKNOWN_MEMBER_ID',
      retriable: false,
    });
    const seen: IncomingMessage[] = [];
    let thrown = false;
    const consumer = transport.consumer({
      groupId: `${topic}.group`,
      topics: [topic],
      fromBeginning: true,
      maxWaitTimeMs: 100,
      // The forgotten member's partitions come back once its session has lapsed: a short session
      // keeps the rejoin well inside the wait below on a busy machine (kafkajs's default is 30 s).
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
    });
    await consumer.run(async (batch, context) => {
      if (!thrown) {
        thrown = true;
        throw forgotten;
      }
      for (const message of batch.messages) {
        seen.push(message);
        context.resolveOffset(message.offset);
      }
    });
    await eventually(() => (seen.length >= 5 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'delivery after the crash',
    });
    expect(values(seen)).toEqual([0, 1, 2, 3, 4]);
    await consumer.stop();
  });

  it('starts a new group at the end unless told to read from the beginning', async () => {
    const transport = await KINDS[kind]();
    const topic = `${uniquePrefix(`latest-${kind}`)}.t`;
    await transport.ensureTopics([{ topic, numPartitions: 2 }]);
    const producer = await transport.producer();
    await producer.send(topic, messages(6));
    const latest = await collect(transport, `${topic}.latest`, topic, { fromBeginning: false });
    await eventually(() => (latest.consumer.assignment().length === 2 ? true : undefined), { what: 'assignment' });
    // kafkajs resolves "latest" on the first fetch after joining; give it that fetch.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await producer.send(topic, [{ key: 'late', value: Buffer.from(JSON.stringify({ n: 99 })) }]);
    await eventually(() => (latest.seen.length >= 1 ? true : undefined), { what: 'the new message' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(values(latest.seen)).toEqual([99]);
    const offsets = await transport.offsets(topic);
    expect(offsets.reduce((sum, p) => sum + Number(p.high) - Number(p.low), 0)).toBe(7);
    await latest.consumer.stop();
  });

  it('writes to the partition a message names, whatever its key; reports a group’s committed offsets', async () => {
    const transport = await KINDS[kind]();
    const topic = `${uniquePrefix(`placed-${kind}`)}.t`;
    await transport.ensureTopics([{ topic, numPartitions: 3 }]);
    const producer = await transport.producer();
    // Every key of KEYS, all placed on partition 2: the placement wins over the key's hash.
    await producer.send(
      topic,
      messages(8).map((m) => ({ ...m, partition: 2 })),
    );
    const offsets = await transport.offsets(topic);
    expect(offsets.map((p) => Number(p.high) - Number(p.low))).toEqual([0, 0, 8]);
    const group = `${topic}.group`;
    expect(await transport.committedOffsets(group, topic)).toEqual([]);
    const reader = await collect(transport, group, topic);
    await eventually(() => (reader.seen.length >= 8 ? true : undefined), { what: '8 messages' });
    expect(new Set(reader.seen.map((m) => m.partition))).toEqual(new Set([2]));
    await reader.consumer.commit([{ topic, partition: 2, offset: '5' }]);
    expect(await transport.committedOffsets(group, topic)).toEqual([{ topic, partition: 2, offset: '5' }]);
    await reader.consumer.stop();
    // A partition the topic does not have is refused, not written elsewhere.
    await expect(producer.send(topic, [{ key: 'k', value: Buffer.from('{}'), partition: 7 }])).rejects.toThrow();
  });
});

describe('the embedded log', () => {
  it('chooses the partition Kafka chooses for each key', async () => {
    const embedded = await embeddedTransport();
    const kafka = kafkaTransport();
    const topic = `${uniquePrefix('partitioner')}.t`;
    await embedded.ensureTopics([{ topic, numPartitions: 6 }]);
    await kafka.ensureTopics([{ topic, numPartitions: 6 }]);
    const keys = Array.from({ length: 40 }, (_, i) => `batch_${i.toString(36)}_${i * 7919}`);
    for (const transport of [embedded, kafka]) {
      const producer = await transport.producer();
      await producer.send(topic, messages(keys.length, keys));
    }
    const a = await collect(embedded, `${topic}.m`, topic);
    const b = await collect(kafka, `${topic}.k`, topic);
    await eventually(() => (a.seen.length >= 40 && b.seen.length >= 40 ? true : undefined), { what: 'both logs read' });
    const partitionByKey = (list: IncomingMessage[]) => Object.fromEntries(list.map((m) => [m.key, m.partition]));
    expect(partitionByKey(a.seen)).toEqual(partitionByKey(b.seen));
    await Promise.all([a.consumer.stop(), b.consumer.stop()]);
  });

  it('keeps messages and committed offsets across a restart of the process', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sluice-log-'));
    directories.push(directory);
    const before = await embeddedTransport(directory);
    const topic = 'restart.t';
    await before.ensureTopics([{ topic, numPartitions: 2 }]);
    await (await before.producer()).send(topic, messages(20));
    const reader = await collect(before, 'g', topic);
    await eventually(() => (reader.seen.length >= 20 ? true : undefined), { what: 'first read' });
    await reader.consumer.commit(
      (await before.offsets(topic)).map((p) => ({ topic, partition: p.partition, offset: p.high })),
    );
    await before.close();

    const after = await embeddedTransport(directory);
    expect((await after.offsets(topic)).map((p) => Number(p.high)).reduce((a, b) => a + b)).toBe(20);
    await (await after.producer()).send(topic, messages(3));
    const again = await collect(after, 'g', topic);
    await eventually(() => (again.seen.length >= 3 ? true : undefined), { what: 'new messages only' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(values(again.seen).sort()).toEqual([0, 1, 2]);
    await again.consumer.stop();
  });

  it('rolls segments and deletes closed ones past the retention, like Kafka; consumers start at the new low offset', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sluice-log-'));
    directories.push(directory);
    const transport = createEmbeddedTransport({ directory, segmentBytes: 600, retentionMs: 400, cleanIntervalMs: 100 });
    transports.push(transport);
    const topic = 'retention.t';
    await transport.ensureTopics([{ topic, numPartitions: 1 }]);
    const producer = await transport.producer();
    for (let i = 0; i < 20; i++) await producer.send(topic, messages(5, ['k']));
    const segments = await readdir(join(directory, encodeURIComponent(topic), '0'));
    expect(segments.length).toBeGreaterThan(3);
    await new Promise((resolve) => setTimeout(resolve, 700));
    await producer.send(topic, messages(1, ['k'])); // the newest segment stays
    const [offsets] = await transport.offsets(topic);
    expect(Number(offsets?.low)).toBeGreaterThan(0);
    expect(offsets?.high).toBe('101');
    const left = await readdir(join(directory, encodeURIComponent(topic), '0'));
    expect(left.length).toBeLessThan(segments.length);
    // The cleaner goes on deleting while the reader starts (every 100 ms), so the low offset may
    // have moved on again: the reader starts at a low offset no older than the one read above, and
    // reads every record from there to the end without a gap.
    const reader = await collect(transport, 'from-start', topic);
    await eventually(() => (reader.seen.at(-1)?.offset === '100' ? true : undefined), {
      what: 'the retained records',
    });
    const first = Number(reader.seen[0]?.offset);
    expect(first).toBeGreaterThanOrEqual(Number(offsets?.low));
    expect(reader.seen.map((message) => Number(message.offset))).toEqual(
      Array.from({ length: 101 - first }, (_, i) => first + i),
    );
    await reader.consumer.stop();
  });

  it('compacts a compacted topic: the newest record per key stays, old tombstones go, offsets keep their gaps', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sluice-log-'));
    directories.push(directory);
    const transport = createEmbeddedTransport({ directory, segmentBytes: 1500, retentionMs: 1, cleanIntervalMs: 100 });
    transports.push(transport);
    const topic = 'compact.t';
    await transport.ensureTopics([{ topic, numPartitions: 1, configs: { 'cleanup.policy': 'compact' } }]);
    const producer = await transport.producer();
    for (let round = 0; round < 20; round++) {
      await producer.send(
        topic,
        ['a', 'b', 'c'].map((key) => ({ key, value: Buffer.from(JSON.stringify({ n: round })) })),
      );
    }
    await producer.send(topic, [{ key: 'b', value: null }]);
    // Enough after it that every a, b and c record is in a closed segment (the active one is never cleaned).
    for (let i = 0; i < 5; i++) await producer.send(topic, messages(12, ['filler']));
    await new Promise((resolve) => setTimeout(resolve, 400));
    const reader = await collect(transport, 'compacted', topic);
    await eventually(() => (reader.seen.some((m) => m.key === 'filler') ? true : undefined), { what: 'the log' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const byKey = (key: string) => reader.seen.filter((m) => m.key === key);
    expect(byKey('a').map((m) => m.value?.toString())).toEqual(['{"n":19}']);
    expect(byKey('c').map((m) => m.value?.toString())).toEqual(['{"n":19}']);
    // The tombstone is younger than delete.retention (a day): it stays, the records before it go.
    expect(byKey('b').map((m) => m.value)).toEqual([null]);
    const bytes = await Promise.all(
      (await readdir(join(directory, encodeURIComponent(topic), '0'))).map(
        async (name) => (await stat(join(directory, encodeURIComponent(topic), '0', name))).size,
      ),
    );
    expect(bytes.reduce((a, b) => a + b, 0)).toBeLessThan(60 * 60);
    await reader.consumer.stop();
  });

  it("honours compact,delete with the topic's own retention.ms and segment.ms (the answers topic), across a restart", async () => {
    const directory = await mkdtemp(join(tmpdir(), 'sluice-log-'));
    directories.push(directory);
    // The log's own retention is an hour and its segments 1 MiB: only the topics' configs can act here.
    const options = { directory, segmentBytes: 1024 * 1024, retentionMs: 3_600_000, cleanIntervalMs: 100 };
    const before = createEmbeddedTransport(options);
    const policy = (retentionMs: number) => ({
      'cleanup.policy': 'compact,delete',
      'retention.ms': String(retentionMs),
      'segment.ms': '200',
    });
    await before.ensureTopics([
      { topic: 'expiring.t', numPartitions: 1, configs: policy(300) },
      { topic: 'kept.t', numPartitions: 1, configs: policy(3_600_000) },
    ]);
    await before.close();
    // The policies are remembered with the topics.
    const transport = createEmbeddedTransport(options);
    transports.push(transport);
    const producer = await transport.producer();
    const record = (key: string, n: number) => ({ key, value: Buffer.from(String(n)) });
    for (const topic of ['expiring.t', 'kept.t'])
      await producer.send(topic, [record('a', 1), record('a', 2), record('b', 3)]);
    await new Promise((resolve) => setTimeout(resolve, 250));
    // A quiet partition's segment is 250 ms old: this record goes into a new one (segment.ms), so the
    // cleaner may act on the first.
    for (const topic of ['expiring.t', 'kept.t']) await producer.send(topic, [record('c', 4)]);
    // Past its retention, the closed segment is deleted whole.
    await eventually(async () => ((await transport.offsets('expiring.t'))[0]?.low === '3' ? true : undefined), {
      what: 'the expired segment deleted',
    });
    // Within its retention, it is compacted: the newest record per key stays.
    const kept = await collect(transport, 'compacted', 'kept.t');
    await eventually(() => (kept.seen.some((m) => m.key === 'c') ? true : undefined), { what: 'the kept log' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const again = await collect(transport, 'compacted-later', 'kept.t');
    await eventually(() => (again.seen.some((m) => m.key === 'c') ? true : undefined), { what: 'the kept log' });
    expect(again.seen.map((m) => `${m.key}=${m.value?.toString()}`)).toEqual(['a=2', 'b=3', 'c=4']);
    await Promise.all([kept.consumer.stop(), again.consumer.stop()]);
  });
});
