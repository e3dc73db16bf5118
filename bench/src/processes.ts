import { type ChildProcess, spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const CLI = join(root, 'packages/cli/dist/bin.js');

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** One `sluice` process (a role, or the simulator), as production runs it. */
export class SluiceProcess {
  readonly output: string[] = [];
  readonly exited: Promise<number | string>;

  private constructor(
    readonly name: string,
    readonly port: number,
    readonly child: ChildProcess,
  ) {
    let rest = '';
    const capture = (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      this.output.push(...lines.slice(-50));
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
    this.exited = new Promise((resolveExit) =>
      child.on('exit', (code, signal) => resolveExit(code ?? signal ?? 'unknown')),
    );
  }

  static async start(name: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<SluiceProcess> {
    const port = Number(env.PORT ?? args[args.indexOf('--port') + 1] ?? 0);
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = new SluiceProcess(name, port, child);
    const deadline = Date.now() + 120_000;
    while (!started.output.some((line) => ready.test(line))) {
      if (child.exitCode !== null) throw new Error(`${name} exited: ${started.output.slice(-10).join('\n')}`);
      if (Date.now() > deadline) throw new Error(`${name} did not start: ${started.output.slice(-10).join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    return started;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** CPU seconds (user + system) used so far. */
  async cpuSeconds(): Promise<number> {
    return cpuSecondsOf(this.child.pid ?? 0);
  }

  /** Peak resident set size so far, in MB (VmHWM). */
  async peakRssMb(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  }

  /** Resident set size now, in MB (VmRSS). */
  async rssMb(): Promise<number> {
    const status = await readFile(`/proc/${this.child.pid}/status`, 'utf8');
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    return Math.round(kb / 1024);
  }

  /** The value of a Prometheus series (summed over its labels when `labels` is omitted). */
  async metric(name: string, labels?: Record<string, string>): Promise<number> {
    const text = await (await fetch(`${this.url}/metrics`)).text();
    let total = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
      if (labels && !Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return total;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 20_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function startSimulatorProcess(flags: string[]): Promise<SluiceProcess> {
  const port = await freePort();
  return SluiceProcess.start('simulator', ['simulate', '--port', String(port), ...flags], {}, /simulator listening/);
}

export async function startRole(
  role: 'ingest' | 'processor' | 'sink' | 'all',
  env: Record<string, string>,
): Promise<SluiceProcess> {
  const port = await freePort();
  return SluiceProcess.start(
    role,
    ['serve', '--role', role],
    { ...env, PORT: String(port), HOST: '127.0.0.1' },
    /sluice is running/,
  );
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Polls until `probe` returns a value, or throws after `timeoutMs`. */
export async function until<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(intervalMs);
  }
}

/** CPU seconds (user + system) a process used so far, from /proc/<pid>/stat (clock ticks of 1/100 s). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The pid of the local Kafka broker (`kafka.Kafka`), when it runs on this machine. */
export async function brokerPid(): Promise<number | null> {
  const { readdir } = await import('node:fs/promises');
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('kafka.Kafka')) return Number(entry);
    } catch {
      // gone
    }
  }
  return null;
}
