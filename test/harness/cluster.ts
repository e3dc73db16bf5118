import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startSimulator, type Simulator, type SimulatorOptions } from '@sluice/simulator';
import { infra, uniquePrefix } from './context.js';
import { getJson, postJsonl, readJsonl, waitForStatus, type BatchView } from './http.js';
import { freePort, spawnSluice, type SluiceProcess } from './process.js';

type Role = 'ingest' | 'processor' | 'sink';

interface Member {
  role: Role;
  port: number;
  /** The member's SLUICE_DATA_DIR: its own, or the cluster's shared one. */
  dataDir: string;
  process: SluiceProcess;
}

/**
 * Sluice as separate processes, one per role (and several of each), on the real broker and
 * registry: what the chaos and several-machines tests kill and restart. By default the members
 * share one data directory (the local store); with `ownDirectories` each has its own empty one,
 * as on separate machines, and the store must be S3 (give its variables in `env`).
 */
export class Cluster {
  private constructor(
    readonly simulator: Simulator,
    readonly dataDir: string,
    readonly env: Record<string, string>,
    readonly members: Member[],
  ) {}

  static async start(options: {
    label: string;
    ingests?: number;
    processors?: number;
    sinks?: number;
    simulator?: SimulatorOptions;
    /** The roles' extra environment; a function gets the simulator (e.g. to put a proxy in front of it). */
    env?: Record<string, string> | ((simulator: Simulator) => Promise<Record<string, string>>);
    ownDirectories?: boolean;
  }): Promise<Cluster> {
    const simulator = await startSimulator({ port: 0, ...options.simulator });
    const extraEnv = typeof options.env === 'function' ? await options.env(simulator) : options.env;
    const dataDir = await mkdtemp(join(tmpdir(), `sluice-${options.label}-`));
    const env = {
      KAFKA_BROKERS: infra().brokers.join(','),
      SCHEMA_REGISTRY_URL: infra().registryUrl,
      SLUICE_TOPIC_PREFIX: uniquePrefix(options.label),
      SLUICE_PARTITIONS: '4',
      SLUICE_DATA_DIR: dataDir,
      HOST: '127.0.0.1',
      OPENAI_BASE_URL: simulator.url,
      SLUICE_SESSION_TIMEOUT_MS: '6000',
      SLUICE_COMMIT_INTERVAL_MS: '200',
      SLUICE_STATUS_INTERVAL_MS: '200',
      LOG_LEVEL: 'info',
      ...extraEnv,
    };
    const cluster = new Cluster(simulator, dataDir, env, []);
    const roles: Role[] = [
      ...Array.from({ length: options.ingests ?? 1 }, () => 'ingest' as const),
      ...Array.from({ length: options.processors ?? 2 }, () => 'processor' as const),
      ...Array.from({ length: options.sinks ?? 1 }, () => 'sink' as const),
    ];
    for (const [i, role] of roles.entries()) {
      const own = options.ownDirectories ? join(dataDir, `${role}-${i}`) : dataDir;
      if (options.ownDirectories) await mkdir(own, { recursive: true });
      cluster.members.push({ role, port: await freePort(), dataDir: own, process: null as unknown as SluiceProcess });
    }
    await Promise.all(cluster.members.map((_, i) => cluster.launch(i)));
    return cluster;
  }

  get url(): string {
    return `http://127.0.0.1:${this.members.find((m) => m.role === 'ingest')?.port}`;
  }

  /** The base URL of every ingest. */
  get urls(): string[] {
    return this.members.filter((m) => m.role === 'ingest').map((m) => `http://127.0.0.1:${m.port}`);
  }

  indexesOf(role: Role): number[] {
    return this.members.flatMap((m, i) => (m.role === role ? [i] : []));
  }

  /** Starts member `index` (again) and waits until it runs. */
  async launch(index: number): Promise<void> {
    const member = this.members[index] as Member;
    member.process = spawnSluice(['serve', '--role', member.role], {
      ...this.env,
      SLUICE_DATA_DIR: member.dataDir,
      PORT: String(member.port),
    });
    await member.process.waitForOutput(/sluice is running/, 90_000);
  }

  /** kill -9, then start it again. */
  async crashAndRestart(index: number): Promise<void> {
    const member = this.members[index] as Member;
    member.process.kill('SIGKILL');
    await member.process.exited;
    await this.launch(index);
  }

  /** The sum of a counter in every member's /metrics. */
  async metric(name: string): Promise<number> {
    let total = 0;
    for (const member of this.members) {
      try {
        const text = await (await fetch(`http://127.0.0.1:${member.port}/metrics`)).text();
        for (const line of text.split('\n')) {
          if (line.startsWith(name) && !line.startsWith('#')) total += Number(line.split(' ').pop());
        }
      } catch {
        // a member being restarted
      }
    }
    return total;
  }

  async stop(): Promise<void> {
    for (const member of this.members) member.process?.kill('SIGKILL');
    await Promise.all(this.members.map((m) => m.process?.exited));
    await this.simulator.close();
    await rm(this.dataDir, { recursive: true, force: true });
  }
}

/** Items finished so far across batches. */
export async function finishedItems(url: string, ids: string[]): Promise<number> {
  let done = 0;
  for (const id of ids) {
    const { body } = await getJson<BatchView>(`${url}/v1/batches/${id}`);
    done += body.request_counts.completed + body.request_counts.failed;
  }
  return done;
}

export async function submitBatches(url: string, count: number, size: number, prefix: string) {
  const { domainLines } = await import('./fixtures.js');
  const batches: { id: string; customIds: string[] }[] = [];
  for (let b = 0; b < count; b++) {
    const lines = domainLines(size, `${prefix}-${b}`);
    const { status, body } = await postJsonl(url, lines);
    if (status !== 200) throw new Error(`submit failed: ${JSON.stringify(body)}`);
    batches.push({ id: body.id as string, customIds: lines.map((l) => l.custom_id) });
  }
  return batches;
}

/**
 * Waits for every batch to finish and checks that each input line is in its output exactly once:
 * returns the lost and duplicated lines (both should be 0).
 */
export async function verifyExactlyOnce(url: string, batches: { id: string; customIds: string[] }[]) {
  let lost = 0;
  let duplicated = 0;
  let items = 0;
  for (const batch of batches) {
    const final = await waitForStatus(url, batch.id, undefined, 170_000);
    if (final.status !== 'completed') throw new Error(`batch ${batch.id} ended ${final.status}`);
    const output = await readJsonl<{ custom_id: string }>(`${url}/v1/batches/${batch.id}/output`);
    const seen = new Map<string, number>();
    for (const line of output) seen.set(line.custom_id, (seen.get(line.custom_id) ?? 0) + 1);
    for (const id of batch.customIds) {
      const n = seen.get(id) ?? 0;
      if (n === 0) lost++;
      if (n > 1) duplicated += n - 1;
    }
    items += batch.customIds.length;
  }
  return { items, lost, duplicated };
}

/** Appends a chaos run's figures to .cache/reliability/<name>.json, for docs/reliability.md. */
export async function recordFigures(name: string, figures: Record<string, unknown>): Promise<void> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
  const dir = join(root, '.cache', 'reliability');
  await mkdir(dir, { recursive: true });
  await writeFile(
    join(dir, `${name}.json`),
    `${JSON.stringify({ at: new Date().toISOString(), ...figures }, null, 2)}\n`,
  );
  console.info(`[reliability] ${name}: ${JSON.stringify(figures)}`);
}
