import { createSerde, kafkajsConnectionConfig, topicNames } from '@sluice/core';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { type BenchInfra, batchStatus, round, sluiceEnv, submitDomain, waitCompleted } from './common.js';
import { brokerPid, cpuSecondsOf, startRole, startSimulatorProcess, until } from './processes.js';

export interface B1Result {
  items: number;
  sluiceItemsPerSecond: number;
  rawMessagesPerSecond: number;
  ratio: number;
  messageBytes: number;
  firstOutputMs: number;
  upstreamCalls: number;
  sinkResults: number;
  /** CPU milliseconds per item spent by each process during the Sluice run: what bounds it. */
  cpuMsPerItem: Record<string, number>;
}

/**
 * B1 — pipeline overhead: `items` small items through the real broker, the simulator answering at
 * once, from the start of the submit to the batch's last output line; and in the same run, plain
 * kafkajs moving the same number of messages of the same size through the same broker.
 */
export async function runB1(infra: BenchInfra, items: number): Promise<B1Result> {
  const simulator = await startSimulatorProcess([]);
  const env = await sluiceEnv(infra, 'b1', {
    OPENAI_BASE_URL: `${simulator.url}/v1`,
    SLUICE_PROCESSOR_CONCURRENCY: '512',
    SLUICE_STATUS_INTERVAL_MS: '250',
  });
  const sink = await startRole('sink', env);
  const processor = await startRole('processor', env);
  const ingest = await startRole('ingest', env);
  let sluice: { itemsPerSecond: number; firstOutputMs: number };
  let counters: { upstreamCalls: number; sinkResults: number };
  const cpuMsPerItem: Record<string, number> = {};
  const broker = await brokerPid();
  const measured = [ingest, processor, sink, simulator];
  const cpuNow = async () => ({
    roles: await Promise.all(measured.map((p) => p.cpuSeconds())),
    broker: broker ? await cpuSecondsOf(broker) : 0,
  });
  try {
    const cpuBefore = await cpuNow();
    const started = performance.now();
    const submitted = submitDomain(ingest.url, 'b1', items);
    const id = await submitted;
    const firstOutputMs = await until(
      async () =>
        (await batchStatus(ingest.url, id)).request_counts.completed > 0 ? performance.now() - started : undefined,
      600_000,
      'the first result',
      20,
    );
    await waitCompleted(ingest.url, [id], 1_800_000);
    const seconds = (performance.now() - started) / 1000;
    const cpuAfter = await cpuNow();
    measured.forEach((p, i) => {
      cpuMsPerItem[p.name] = round((((cpuAfter.roles[i] ?? 0) - (cpuBefore.roles[i] ?? 0)) * 1000) / items, 3);
    });
    if (broker) cpuMsPerItem.broker = round(((cpuAfter.broker - cpuBefore.broker) * 1000) / items, 3);
    sluice = { itemsPerSecond: items / seconds, firstOutputMs };
    counters = {
      upstreamCalls: await processor.metric('sluice_upstream_calls_total'),
      sinkResults: await sink.metric('sluice_sink_results_written_total'),
    };
  } finally {
    await Promise.all([ingest.stop(), processor.stop(), sink.stop(), simulator.stop()]);
  }
  const { messagesPerSecond, messageBytes } = await rawKafkajs(infra, items);
  return {
    items,
    sluiceItemsPerSecond: Math.round(sluice.itemsPerSecond),
    rawMessagesPerSecond: Math.round(messagesPerSecond),
    ratio: round(sluice.itemsPerSecond / messagesPerSecond, 3),
    messageBytes,
    firstOutputMs: Math.round(sluice.firstOutputMs),
    upstreamCalls: counters.upstreamCalls,
    sinkResults: counters.sinkResults,
    cpuMsPerItem,
  };
}

/** Plain kafkajs: one producer and one consumer group, the same count and size of messages, one key. */
async function rawKafkajs(
  infra: BenchInfra,
  count: number,
): Promise<{ messagesPerSecond: number; messageBytes: number }> {
  const topics = topicNames(`bench-raw-${Date.now()}`);
  const serde = await createSerde({ topics, registryUrl: null });
  const sample = await serde.requests.encode({
    type: 'item',
    batch_id: 'batch_0123456789abcdef01234567',
    index: 12345,
    custom_id: 'b1-12345',
    api: 'domain',
    discriminator: 'classify',
    body: {
      model: 'classify',
      text: 'Ticket 12345: I was charged twice for my subscription.',
      labels: ['billing', 'bug', 'other'],
    },
    expires_at: 1_800_000_000,
  });
  const value = Buffer.concat([Buffer.from([0, 0, 0, 0, 1]), sample]); // the registry header, as Sluice writes it
  const kafka = new Kafka({
    clientId: 'bench-raw',
    ...kafkajsConnectionConfig(infra.brokers.split(','), infra.security),
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic: topics.requests, numPartitions: 8 }], waitForLeaders: true });
  await admin.disconnect();
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  const consumer = kafka.consumer({ groupId: `${topics.requests}.raw`, maxBytesPerPartition: 1024 * 1024 });
  await Promise.all([producer.connect(), consumer.connect()]);
  await consumer.subscribe({ topic: topics.requests, fromBeginning: true });
  let received = 0;
  let done: () => void = () => undefined;
  const all = new Promise<void>((resolve) => (done = resolve));
  await consumer.run({
    eachBatch: async ({ batch }) => {
      received += batch.messages.length;
      if (received >= count) done();
    },
  });
  await new Promise((r) => setTimeout(r, 3000)); // let the group settle before timing
  const started = performance.now();
  const inFlight = new Set<Promise<unknown>>();
  for (let sent = 0; sent < count; sent += 2000) {
    const messages = Array.from({ length: Math.min(2000, count - sent) }, () => ({ key: 'batch_raw', value }));
    const sending = producer.send({ topic: topics.requests, acks: -1, messages });
    inFlight.add(sending);
    void sending.finally(() => inFlight.delete(sending));
    if (inFlight.size >= 4) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  await all;
  const seconds = (performance.now() - started) / 1000;
  await Promise.all([producer.disconnect(), consumer.disconnect()]);
  return { messagesPerSecond: count / seconds, messageBytes: value.length };
}
