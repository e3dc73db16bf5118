import { readFile } from 'node:fs/promises';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulator, type Simulator, type SimulatorOptions } from '@sluice/simulator';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, infra, uniquePrefix } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { getJson, postJsonl, readJsonl, waitForStatus, type BatchView } from '../harness/http.js';
import { freePort, spawnSluice, type SluiceProcess } from '../harness/process.js';

/**
 * Issue 11: SIGTERM with a rate-limited backlog never finished and spun a core for 30 minutes. Stop
 * must end within SLUICE_SHUTDOWN_TIMEOUT_MS whatever the in-flight items wait on (the rate limiter,
 * a retry backoff, a slow upstream, a dead one), without busy-waiting, and release the unfinished
 * items for redelivery: a restart against a healthy upstream completes every item exactly once.
 */
const SHUTDOWN_MS = 3000;
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** User + system CPU seconds the process has used, from /proc/<pid>/stat (clock ticks of 10 ms). */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface WaitMode {
  name: string;
  simulator: SimulatorOptions;
  env: Record<string, string>;
  items: number;
}

const MODES: WaitMode[] = [
  { name: 'the rate limiter', simulator: {}, env: { SLUICE_UPSTREAM_RPM: '600' }, items: 1000 },
  {
    name: 'a retry backoff',
    simulator: { errorRate: 1 },
    env: { SLUICE_RETRY_BASE_MS: '20000', SLUICE_RETRY_MAX_MS: '60000', SLUICE_MAX_ATTEMPTS: '5' },
    items: 200,
  },
  { name: 'a slow upstream', simulator: { latency: { medianMs: 60_000, p99Ms: 60_000 } }, env: {}, items: 200 },
  {
    name: 'a dead upstream',
    simulator: { timeoutRate: 1, hangMs: 600_000 },
    env: { SLUICE_UPSTREAM_TIMEOUT_MS: '120000' },
    items: 200,
  },
];

async function simulatorWith(options: SimulatorOptions): Promise<Simulator> {
  const simulator = await startSimulator({ port: 0, ...options });
  cleanups.push(() => simulator.close());
  return simulator;
}

// Both logs: on Kafka, and embedded (no KAFKA_BROKERS: the file-backed log in the data dir), where a
// stop used to hang — the log's fetch loop re-ran a declined batch on microtasks alone, starving the
// timer that ends the stop.
const LOGS = ['kafka', 'embedded'] as const;

describe.each(LOGS)('SIGTERM whatever the items wait on (%s)', (log) => {
  for (const mode of MODES) {
    it(`exits within the bound without spinning while items wait on ${mode.name}; a restart completes each item once`, async () => {
      const stuck = await simulatorWith(mode.simulator);
      const healthy = await simulatorWith({});
      const dataDir = await mkdtemp(join(tmpdir(), 'sluice-waits-'));
      cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
      const port = await freePort();
      const url = `http://127.0.0.1:${port}`;
      const env = {
        ...(log === 'kafka'
          ? { KAFKA_BROKERS: infra().brokers.join(','), SCHEMA_REGISTRY_URL: infra().registryUrl }
          : {}),
        SLUICE_TOPIC_PREFIX: uniquePrefix('waits'),
        SLUICE_PARTITIONS: '2',
        SLUICE_DATA_DIR: dataDir,
        PORT: String(port),
        HOST: '127.0.0.1',
        SLUICE_PROCESSOR_CONCURRENCY: '64',
        SLUICE_SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_MS),
        SLUICE_COMMIT_INTERVAL_MS: '200',
        LOG_LEVEL: 'info',
      };
      const start = (extra: Record<string, string>) => {
        const child: SluiceProcess = spawnSluice(['serve'], { ...env, ...extra });
        cleanups.push(() => child.kill('SIGKILL'));
        return child;
      };
      const first = start({ OPENAI_BASE_URL: stuck.url, ...mode.env });
      await first.waitForOutput(/sluice is running/);
      const lines = domainLines(mode.items, 'wait');
      const { body } = await postJsonl(url, lines);
      const id = body.id as string;
      // Items are in flight (waiting) once the upstream has seen calls.
      await eventually(() => (stuck.stats().requests > 0 ? true : undefined), { what: 'calls reaching the upstream' });
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const { body: before } = await getJson<BatchView>(`${url}/v1/batches/${id}`);
      expect(before.request_counts.completed + before.request_counts.failed).toBeLessThan(mode.items);

      const pid = first.child.pid as number;
      const cpuBefore = await cpuSeconds(pid);
      const sentAt = performance.now();
      let cpuAfter = cpuBefore;
      // Sample until it exits: the last sample is the CPU it spent stopping.
      const sampler = setInterval(() => {
        cpuSeconds(pid).then(
          (seconds) => (cpuAfter = seconds),
          () => undefined,
        );
      }, 100);
      first.kill('SIGTERM');
      const code = await first.exited;
      clearInterval(sampler);
      const tookMs = performance.now() - sentAt;
      expect(code).toBe(0);
      expect(tookMs).toBeLessThan(SHUTDOWN_MS + 2000);
      // Stopping is waiting, not computing: well under a core for the time it took.
      expect(cpuAfter - cpuBefore).toBeLessThan((tookMs / 1000) * 0.5 + 0.5);

      const second = start({ OPENAI_BASE_URL: healthy.url });
      await second.waitForOutput(/sluice is running/);
      const batch = await waitForStatus(url, id);
      expect(batch.request_counts).toEqual({
        total: mode.items,
        completed: mode.items,
        failed: 0,
        cancelled: 0,
        expired: 0,
      });
      const output = await readJsonl<{ custom_id: string }>(`${url}/v1/batches/${id}/output`);
      expect(output.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
      second.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    }, 240_000);
  }
});
