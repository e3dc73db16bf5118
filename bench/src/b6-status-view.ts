import {
  createKafkaTransport,
  createSerde,
  newBatchRecord,
  nowSeconds,
  type OutgoingMessage,
  topicNames,
  topicSpecs,
} from '@sluice/core';
import { type BenchInfra, round, sluiceEnv } from './common.js';
import { startRole, until } from './processes.js';

export interface B6Result {
  batches: number;
  tenants: number;
  produceSeconds: number;
  /** A new ingest with an empty directory: from start until it serves the newest batch. */
  catchUpSeconds: number;
  ingestPeakRssMb: number;
  ingestRssAfterMb: number;
  listPageMedianMs: number;
  listPageP95Ms: number;
  statusReadMedianMs: number;
  /** The same ingest restarted on its directory: from spawn until its first status read is answered. */
  restartFirstReadSeconds: number;
  restartPeakRssMb: number;
}

const TENANTS = 10;

/**
 * B6 — ingest's status view with many batches: `batches` terminal batch records (10 tenants) in
 * the status topic; a new ingest reads them into its local view; then list pages of 100 (deep into
 * one tenant's history), single status reads, its memory, and a restart on the same directory.
 */
export async function runB6(infra: BenchInfra, batches: number): Promise<B6Result> {
  const keys = Array.from({ length: TENANTS }, (_, t) => `key-${t}=tenant-${t}`).join(',');
  const env = await sluiceEnv(infra, 'b6', {
    SLUICE_API_KEYS: keys,
    // As B3 and docs/configuration.md ("Memory"): a memory-bounded role gets a heap cap, else V8
    // lets garbage from reading 200,000 records pile up well past what is live.
    NODE_OPTIONS: process.env.BENCH_INGEST_NODE_OPTIONS ?? '--max-old-space-size=128',
  });
  const topics = topicNames(env.SLUICE_TOPIC_PREFIX);
  const transport = createKafkaTransport({ brokers: infra.brokers.split(','), clientId: 'bench-b6' });
  await transport.ensureTopics(topicSpecs(topics, 8));
  const serde = await createSerde({ topics, registryUrl: infra.registryUrl });
  const producer = await transport.producer();
  const started = performance.now();
  const now = nowSeconds();
  const ids: string[] = [];
  let chunk: OutgoingMessage[] = [];
  for (let i = 0; i < batches; i++) {
    const id = `batch_${(now * 1000 - batches + i).toString(16).padStart(12, '0')}${i.toString(16).padStart(12, '0')}`;
    ids.push(id);
    const record = newBatchRecord(
      id,
      {
        api: i % 3 === 0 ? 'operations' : 'openai',
        tenant: `tenant-${i % TENANTS}`,
        endpoint: i % 3 === 0 ? '/v1/jobs' : '/v1/chat/completions',
        operation: i % 3 === 0 ? 'label' : null,
        model: 'gpt-4o-mini',
        input_file_id: `file-${i.toString(16).padStart(24, '0')}`,
        completion_window: '24h',
        created_at: now - batches + i,
        in_progress_at: now - batches + i,
        expires_at: now + 86_400,
        metadata: { project: `p${i % 17}`, owner: 'bench' },
        output_expires_after_seconds: null,
        item_fields: null,
        result_fields: null,
        name: null,
        sync: false,
        parameters: null,
        request_timeout_seconds: null,
        dedup: null,
        tier: 'auto',
      },
      1000,
      'completed',
      'sink',
    );
    record.request_counts = { total: 1000, completed: 990, failed: 10, cancelled: 0, expired: 0 };
    record.output_file_id = `file-${id.slice(6)}-output`;
    record.error_file_id = `file-${id.slice(6)}-errors`;
    record.completed_at = now;
    record.finalizing_at = now;
    chunk.push({ key: id, value: await serde.status.encode(record) });
    if (chunk.length === 2000) {
      await producer.send(topics.status, chunk);
      chunk = [];
    }
  }
  if (chunk.length > 0) await producer.send(topics.status, chunk);
  const produceSeconds = (performance.now() - started) / 1000;
  await producer.disconnect();
  await transport.close();

  const newest = ids[ids.length - 1] as string;
  const auth = (tenant: number) => ({ authorization: `Bearer key-${tenant}` });
  const newestTenant = (ids.length - 1) % TENANTS;

  const spawnAt = performance.now();
  let ingest = await startRole('ingest', env);
  await until(
    async () =>
      (await fetch(`${ingest.url}/v1/batches/${newest}`, { headers: auth(newestTenant) })).status === 200
        ? true
        : undefined,
    600_000,
    'the newest batch in the view',
    50,
  );
  const catchUpSeconds = (performance.now() - spawnAt) / 1000;

  // Pages of 100 of one tenant, newest first, walking up to 30 pages deep with `after`.
  const pageTimes: number[] = [];
  let after: string | null = null;
  const pages = Math.max(1, Math.min(30, Math.floor(batches / TENANTS / 100) - 1));
  for (let page = 0; page < pages; page++) {
    const t0 = performance.now();
    const response = await fetch(`${ingest.url}/v1/batches?limit=100${after ? `&after=${after}` : ''}`, {
      headers: auth(3),
    });
    const body = (await response.json()) as { data: { id: string }[]; last_id: string | null };
    pageTimes.push(performance.now() - t0);
    if (body.data.length !== 100) throw new Error(`a page had ${body.data.length} batches`);
    after = body.last_id;
  }
  const readTimes: number[] = [];
  for (let i = 0; i < 100; i++) {
    const index = Math.floor(Math.random() * ids.length);
    const t0 = performance.now();
    const response = await fetch(`${ingest.url}/v1/batches/${ids[index]}`, { headers: auth(index % TENANTS) });
    await response.arrayBuffer();
    readTimes.push(performance.now() - t0);
    if (response.status !== 200) throw new Error(`status read answered ${response.status}`);
  }
  const ingestPeakRssMb = await ingest.peakRssMb();
  const ingestRssAfterMb = await ingest.rssMb();
  await ingest.stop();

  const oldest = ids[0] as string;
  const restartAt = performance.now();
  ingest = await startRole('ingest', env);
  await until(
    async () =>
      (await fetch(`${ingest.url}/v1/batches/${oldest}`, { headers: auth(0) })).status === 200 ? true : undefined,
    120_000,
    'the first status read after a restart',
    20,
  );
  const restartFirstReadSeconds = (performance.now() - restartAt) / 1000;
  const restartPeakRssMb = await ingest.peakRssMb();
  await ingest.stop();

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  const p95 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length * 0.95)] as number;
  return {
    batches,
    tenants: TENANTS,
    produceSeconds: round(produceSeconds, 1),
    catchUpSeconds: round(catchUpSeconds, 1),
    ingestPeakRssMb,
    ingestRssAfterMb,
    listPageMedianMs: round(median(pageTimes), 1),
    listPageP95Ms: round(p95(pageTimes), 1),
    statusReadMedianMs: round(median(readTimes), 1),
    restartFirstReadSeconds: round(restartFirstReadSeconds, 1),
    restartPeakRssMb,
  };
}
