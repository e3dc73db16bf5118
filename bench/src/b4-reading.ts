import {
  compileConfig,
  createKafkaTransport,
  createSerde,
  type ItemResultMessage,
  newBatchId,
  newBatchRecord,
  nowSeconds,
  openStore,
  parseEnv,
  requestLineId,
  ResultWriter,
  topicNames,
  topicSpecs,
  writeFinalOutputs,
} from '@sluice/core';
import { type BenchInfra, round, sluiceEnv } from './common.js';
import { startRole, until } from './processes.js';

export interface B4Result {
  store: string;
  rows: number;
  outputMb: number;
  pageMedianMs: number;
  pageP95Ms: number;
  csvMb: number;
  csvMbPerSecond: number;
  jsonlMbPerSecond: number;
}

const CATEGORIES = ['billing', 'bug', 'feature_request'];

/** One row of a finished classify job. */
function result(batchId: string, index: number): ItemResultMessage {
  const label = CATEGORIES[index % 3] as string;
  return {
    type: 'item',
    model: 'simulated',
    batch_id: batchId,
    index,
    custom_id: `row-${index}`,
    id: requestLineId(batchId, index),
    api: 'operations',
    discriminator: 'classify',
    ok: true,
    response: {
      status_code: 200,
      request_id: `req_${index}`,
      body: { label, confidence: 0.91, scores: { billing: 0.91, bug: 0.05, feature_request: 0.04 } },
    },
    error: null,
    usage: { input_tokens: 60, output_tokens: 20 },
    attempts: 1,
    rate_limited: 0,
    finished_at: Date.now(),
    item: {
      content: `Ticket ${index}: I was charged twice for my subscription.`,
      channel: index % 2 ? 'chat' : 'email',
    },
    cached: false,
    upstream: null,
    tier: null,
  };
}

/**
 * B4 — reading results: a finished job of `rows` rows (written with Sluice's own result store and
 * final-output writer, then announced on the status topic), read through the real HTTP server: the
 * time to serve a page of 1,000 rows from the middle, and the throughput of the CSV and JSONL exports.
 */
export async function runB4(
  infra: BenchInfra,
  rows: number,
  /** Extra environment choosing the store (SLUICE_STORAGE_URL and AWS_*); none: the local directory. */
  storeEnv: Record<string, string> = {},
): Promise<B4Result> {
  const env = await sluiceEnv(infra, 'b4', storeEnv);
  const store = await openStore(compileConfig(parseEnv(env)).storage);
  const batchId = newBatchId();
  const writer = await ResultWriter.open(store, batchId);
  for (let index = 0; index < rows; index++) {
    writer.append(result(batchId, index));
    // As the sink does: a segment per 8 MB of results.
    if (writer.bufferedBytes >= 8 * 1024 * 1024) await writer.flush();
  }
  await writer.flush();
  const itemFields = ['content', 'channel'];
  const resultFields = ['label', 'confidence', ...CATEGORIES.map((c) => `scores.${c}`)];
  // As the sink finalizes a job: the JSONL output, its line index, and the CSV export.
  const outputs = await writeFinalOutputs(store, batchId, 'operations', { itemFields, resultFields });
  await store.close();

  const topics = topicNames(env.SLUICE_TOPIC_PREFIX);
  const transport = createKafkaTransport({
    brokers: infra.brokers.split(','),
    security: infra.security,
    clientId: 'bench-b4',
  });
  await transport.ensureTopics(topicSpecs(topics, 8));
  const serde = await createSerde({ topics, registryUrl: infra.registryUrl, registryAccess: infra.registryAccess });
  const now = nowSeconds();
  const record = newBatchRecord(
    batchId,
    {
      api: 'operations',
      tenant: 'default',
      endpoint: '/v1/jobs',
      operation: 'label',
      model: null,
      input_file_id: null,
      completion_window: '24h',
      created_at: now,
      in_progress_at: now,
      expires_at: now + 86_400,
      metadata: null,
      output_expires_after_seconds: null,
      item_fields: itemFields,
      result_fields: resultFields,
      name: null,
      sync: false,
      parameters: null,
      request_timeout_seconds: null,
      dedup: null,
      tier: 'auto',
    },
    rows,
    'completed',
    'sink',
  );
  record.request_counts = { total: rows, completed: rows, failed: 0, cancelled: 0, expired: 0 };
  record.completed_at = now;
  record.output_file_id = `file-${batchId}-output`;
  const producer = await transport.producer();
  await producer.send(topics.status, [{ key: batchId, value: await serde.status.encode(record) }]);
  await transport.close();

  const ingest = await startRole('ingest', env);
  try {
    const url = `${ingest.url}/v1/jobs/${batchId}`;
    await until(
      async () => ((await fetch(url)).status === 200 ? true : undefined),
      60_000,
      'the job in the status view',
    );
    const times: number[] = [];
    for (let i = 0; i < 30; i++) {
      const offset = Math.floor(rows / 2) + (i - 15) * 1000;
      const started = performance.now();
      const page = (await (await fetch(`${url}/output?format=json&offset=${offset}&limit=1000`)).json()) as {
        results: unknown[];
      };
      times.push(performance.now() - started);
      if (page.results.length !== 1000) throw new Error(`a page had ${page.results.length} rows`);
    }
    times.sort((a, b) => a - b);
    const csv = await download(`${url}/output?format=csv`);
    const jsonl = await download(`${url}/output?format=jsonl`);
    return {
      store: storeEnv.SLUICE_STORAGE_URL?.startsWith('s3://') ? 's3' : 'local',
      rows,
      outputMb: round(outputs.outputBytes / 1e6, 1),
      pageMedianMs: round(times[Math.floor(times.length / 2)] as number, 1),
      pageP95Ms: round(times[Math.floor(times.length * 0.95)] as number, 1),
      csvMb: round(csv.bytes / 1e6, 1),
      csvMbPerSecond: round(csv.bytes / 1e6 / csv.seconds, 1),
      jsonlMbPerSecond: round(jsonl.bytes / 1e6 / jsonl.seconds, 1),
    };
  } finally {
    await ingest.stop();
  }
}

async function download(url: string): Promise<{ bytes: number; seconds: number }> {
  const started = performance.now();
  const response = await fetch(url);
  let bytes = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) bytes += chunk.length;
  return { bytes, seconds: (performance.now() - started) / 1000 };
}
