import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra, uniquePrefix } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl, readJsonl, waitForStatus, type BatchView } from '../harness/http.js';
import { freePort, spawnSluice, type SluiceProcess } from '../harness/process.js';

/** SIGTERM: stop fetching, finish or release in-flight items, commit, exit within the bound; nothing lost. */
let simulator: Simulator;
let dataDir: string;
const processes: SluiceProcess[] = [];
beforeAll(async () => {
  simulator = await startSimulator({ port: 0, latency: { medianMs: 300, p99Ms: 600 } });
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-shutdown-'));
});
afterAll(async () => {
  for (const p of processes) p.kill('SIGKILL');
  await simulator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('graceful shutdown', () => {
  it('exits 0 within SLUICE_SHUTDOWN_TIMEOUT_MS on SIGTERM mid-batch; a restart finishes every item once', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      SLUICE_TOPIC_PREFIX: uniquePrefix('shutdown'),
      SLUICE_PARTITIONS: '2',
      SLUICE_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      OPENAI_BASE_URL: simulator.url,
      SLUICE_PROCESSOR_CONCURRENCY: '16',
      SLUICE_SHUTDOWN_TIMEOUT_MS: '5000',
      SLUICE_COMMIT_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
    };
    const first = spawnSluice(['serve'], env);
    processes.push(first);
    await first.waitForOutput(/sluice is running/);
    const lines = domainLines(240, 'term');
    const { body } = await postJsonl(url, lines);
    const id = body.id as string;
    await eventually(
      async () => {
        const { body: batch } = await getJson<BatchView>(`${url}/v1/batches/${id}`);
        return batch.request_counts.completed >= 40 ? true : undefined;
      },
      { what: 'some progress' },
    );
    const sentAt = performance.now();
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect(performance.now() - sentAt).toBeLessThan(5000 + 3000);
    expect(first.output.some((line) => line.includes('processor stopped'))).toBe(true);

    const second = spawnSluice(['serve'], env);
    processes.push(second);
    await second.waitForOutput(/sluice is running/);
    const batch = await waitForStatus(url, id);
    expect(batch.request_counts).toEqual({ total: 240, completed: 240, failed: 0, cancelled: 0, expired: 0 });
    const output = await readJsonl<{ custom_id: string }>(`${url}/v1/batches/${id}/output`);
    expect(output.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
