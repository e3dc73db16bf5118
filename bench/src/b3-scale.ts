import { type BenchInfra, batchStatus, round, sluiceEnv, submitDomain } from './common.js';
import { brokerPid, cpuSecondsOf, sleep, startRole, startSimulatorProcess } from './processes.js';

export interface B3Result {
  lines: number;
  submitSeconds: number;
  linesPerSecond: number;
  /** CPU microseconds per line during the submit: the ingest, the broker, and this client generating the JSONL. */
  cpuMicrosPerLine: { ingest: number; broker: number; client: number };
  ingestPeakRssMb: number;
  processorConcurrency: number;
  processorPeakInFlightOnePartition: number;
  processorPeakRssMb: number;
  processorHeapUsedMb: number;
  processorExternalMb: number;
  sinkPeakRssMb: number;
  itemsFinishedInWindow: number;
  windowSeconds: number;
}

/**
 * B3 — scale of one batch: a `lines`-line JSONL submitted over HTTP (streamed by the client, never
 * in memory on either side): lines per second through validation, storage and produce, and the
 * ingest's peak RSS. Then one processor with `concurrency` items in flight from that batch's one
 * partition (slow upstream answers keep thousands waiting) and the sink behind it, for a window:
 * their peak RSS.
 */
export async function runB3(
  infra: BenchInfra,
  lines: number,
  concurrency: number,
  windowSeconds: number,
): Promise<B3Result> {
  const env = await sluiceEnv(infra, 'b3', { SLUICE_MAX_BATCH_ITEMS: String(Math.max(lines, 1_000_000)) });
  // Heap caps as docs/configuration.md recommends: V8 otherwise grows the heap far past what is live.
  const ingest = await startRole('ingest', {
    ...env,
    NODE_OPTIONS: process.env.BENCH_INGEST_NODE_OPTIONS ?? '--max-old-space-size=256',
  });
  let submitSeconds: number;
  let id: string;
  const broker = await brokerPid();
  let cpuMicrosPerLine = { ingest: 0, broker: 0, client: 0 };
  try {
    const before = {
      ingest: await ingest.cpuSeconds(),
      broker: broker ? await cpuSecondsOf(broker) : 0,
      client: process.cpuUsage(),
    };
    const started = performance.now();
    id = await submitDomain(ingest.url, 'b3', lines);
    submitSeconds = (performance.now() - started) / 1000;
    const client = process.cpuUsage(before.client);
    cpuMicrosPerLine = {
      ingest: round((((await ingest.cpuSeconds()) - before.ingest) * 1e6) / lines, 1),
      broker: broker ? round((((await cpuSecondsOf(broker)) - before.broker) * 1e6) / lines, 1) : 0,
      client: round((client.user + client.system) / lines, 1),
    };
  } catch (error) {
    await ingest.stop();
    throw error;
  }
  const ingestPeakRssMb = await ingest.peakRssMb();
  const simulator = await startSimulatorProcess(['--latency', '1500,3000']);
  const withUpstream = {
    ...env,
    OPENAI_BASE_URL: `${simulator.url}/v1`,
    SLUICE_PROCESSOR_CONCURRENCY: String(concurrency),
    // V8 grows the heap well past what is live before it collects; a cap makes it collect sooner.
    NODE_OPTIONS: '--max-old-space-size=400',
  };
  const [processor, sink] = await Promise.all([startRole('processor', withUpstream), startRole('sink', withUpstream)]);
  try {
    await sleep(windowSeconds * 1000);
    const batch = await batchStatus(ingest.url, id);
    return {
      lines,
      submitSeconds: round(submitSeconds, 2),
      linesPerSecond: Math.round(lines / submitSeconds),
      cpuMicrosPerLine,
      ingestPeakRssMb,
      processorConcurrency: concurrency,
      processorPeakInFlightOnePartition: await processor.metric('sluice_processor_partition_in_flight_peak'),
      processorPeakRssMb: await processor.peakRssMb(),
      processorHeapUsedMb: Math.round((await processor.metric('nodejs_heap_size_used_bytes')) / 2 ** 20),
      processorExternalMb: Math.round((await processor.metric('nodejs_external_memory_bytes')) / 2 ** 20),
      sinkPeakRssMb: await sink.peakRssMb(),
      itemsFinishedInWindow: batch.request_counts.completed + batch.request_counts.failed,
      windowSeconds,
    };
  } finally {
    await Promise.all([ingest.stop(), processor.stop(), sink.stop(), simulator.stop()]);
  }
}
