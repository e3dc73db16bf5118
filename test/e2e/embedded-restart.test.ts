import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator } from '@sluice/simulator';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl, readJsonl, waitForStatus, type BatchView } from '../harness/http.js';
import { freePort, spawnSluice, type SluiceProcess } from '../harness/process.js';

/**
 * The embedded mode (no KAFKA_BROKERS) keeps inputs, the log, outputs and status under
 * SLUICE_DATA_DIR: a process killed with SIGKILL mid-batch and started again finishes every batch
 * with each item exactly once.
 */
let simulator: Simulator;
let dataDir: string;
const processes: SluiceProcess[] = [];

beforeAll(async () => {
  simulator = await startSimulator({ port: 0, latency: { medianMs: 40, p99Ms: 120 } });
  dataDir = await mkdtemp(join(tmpdir(), 'sluice-embedded-'));
});
afterAll(async () => {
  for (const p of processes) p.kill('SIGKILL');
  await simulator?.close();
  await rm(dataDir, { recursive: true, force: true });
});

describe('embedded mode', () => {
  it('says so first, and survives SIGKILL mid-batch: every item exactly once after a restart', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = {
      SLUICE_DATA_DIR: dataDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      OPENAI_BASE_URL: simulator.url,
      SLUICE_PROCESSOR_CONCURRENCY: '8',
      SLUICE_COMMIT_INTERVAL_MS: '200',
      SLUICE_STATUS_INTERVAL_MS: '100',
      LOG_LEVEL: 'info',
    };
    const first = spawnSluice(['serve'], env);
    processes.push(first);
    await first.waitForOutput(/sluice is running/);
    expect(first.output.find((line) => line.includes('"msg"'))).toMatch(/embedded mode/);

    const lines = domainLines(300, 'crash');
    const batches: string[] = [];
    for (const slice of [lines.slice(0, 150), lines.slice(150)]) {
      const { status, body } = await postJsonl(url, slice);
      expect(status).toBe(200);
      batches.push(body.id as string);
    }
    // Kill at a point somewhere in the middle of the work.
    const killAt = 40 + Math.floor(Math.random() * 150);
    await eventually(
      async () => {
        let done = 0;
        for (const id of batches) {
          const { body } = await getJson<BatchView>(`${url}/v1/batches/${id}`);
          done += body.request_counts.completed + body.request_counts.failed;
        }
        return done >= killAt ? done : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `${killAt} finished items` },
    );
    first.kill('SIGKILL');
    await first.exited;

    const second = spawnSluice(['serve'], env);
    processes.push(second);
    await second.waitForOutput(/sluice is running/);
    for (const [i, id] of batches.entries()) {
      const batch = await waitForStatus(url, id);
      expect(batch.status).toBe('completed');
      expect(batch.request_counts.total).toBe(150);
      expect(batch.request_counts.completed + batch.request_counts.failed).toBe(150);
      const output = await readJsonl<{ custom_id: string }>(`${url}/v1/batches/${id}/output`);
      const expected = lines.slice(i * 150, (i + 1) * 150).map((l) => l.custom_id);
      expect(output.map((l) => l.custom_id)).toEqual(expected);
    }
    second.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });
});
