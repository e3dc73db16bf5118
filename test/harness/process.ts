import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventually } from './context.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = join(root, 'packages/cli/dist/bin.js');

/** A free TCP port on the loopback interface. */
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

export interface SluiceProcess {
  child: ChildProcess;
  output: string[];
  /** Resolves with the first output line matching `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code (or signal name). */
  exited: Promise<number | string>;
  kill(signal?: NodeJS.Signals): void;
}

/** Runs `sluice <args>` as its own process (each role separately killable), capturing its output lines. */
export function spawnSluice(args: string[], env: Record<string, string | undefined>): SluiceProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const capture = (stream: NodeJS.ReadableStream | null) => {
    let rest = '';
    stream?.on('data', (chunk: Buffer) => {
      const lines = (rest + chunk.toString()).split('\n');
      rest = lines.pop() ?? '';
      output.push(...lines);
    });
  };
  capture(child.stdout);
  capture(child.stderr);
  const exited = new Promise<number | string>((resolveExit) =>
    child.on('exit', (code, signal) => resolveExit(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    output,
    exited,
    waitForOutput: async (pattern, timeoutMs = 60_000) => {
      try {
        return await eventually(() => output.find((line) => pattern.test(line)), {
          timeoutMs,
          what: `output matching ${pattern}`,
        });
      } catch (error) {
        throw new Error(`${(error as Error).message}; the process's last lines:\n${output.slice(-15).join('\n')}`);
      }
    },
    kill: (signal = 'SIGKILL') => {
      child.kill(signal);
    },
  };
}
