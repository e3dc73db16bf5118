import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { infra } from '../harness/context.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { extractShellBlocks, scriptOf, type ShellBlock, SKIPPED } from '../harness/docs-commands.js';

/**
 * Every shell command in README.md and docs/*.md runs as written (issue 11: the README's
 * `submit ... --wait -o labels.csv` did not). Per document, its ```sh / ```bash / ```console blocks
 * run in order in one bash shell, in a fresh directory that holds the repository's files, against a
 * real Sluice: the test broker and registry, and a server this test starts with the simulator as
 * its upstream. The environment is what a user following the docs has exported: KAFKA_BROKERS and
 * SCHEMA_REGISTRY_URL (as `kafka.sh up` prints them) and SLUICE_BASE_URL, since the docs' server
 * listens on :8080 and this one on a free port (`:8080` in a URL is rewritten to it).
 *
 * A command that cannot run here is in SKIPPED (test/harness/docs-commands.ts) with its reason; a block that is
 * not meant to run is marked in the document itself with `<!-- not-run: reason -->`.
 */
const root = resolve(import.meta.dirname, '../..');
const documents = [
  'README.md',
  ...(await readdir(join(root, 'docs')))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

let pipeline: Pipeline;
const workdirs: string[] = [];

beforeAll(async () => {
  pipeline = await startPipeline({ label: 'docs', simulator: { latency: { medianMs: 5, p99Ms: 20 } } });
});
afterAll(async () => {
  await pipeline?.stop();
  await Promise.all(workdirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh directory that looks like a checkout (the repository's top-level entries linked in), so outputs land there. */
async function freshCheckout(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sluice-docs-'));
  workdirs.push(dir);
  for (const entry of await readdir(root)) {
    if (['.git', '.sluice', '.infra', 'coverage'].includes(entry)) continue;
    await symlink(join(root, entry), join(dir, entry));
  }
  return dir;
}

async function runBash(script: string, cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number) {
  return new Promise<{ code: number | string; output: string }>((resolveRun) => {
    const child = spawn('bash', ['-c', script], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolveRun({ code: code ?? signal ?? 'unknown', output });
    });
  });
}

const blocksByDocument = new Map<string, ShellBlock[]>();
for (const document of documents) {
  blocksByDocument.set(document, extractShellBlocks(await readFile(join(root, document), 'utf8'), document));
}

describe('the commands in the docs', () => {
  it.each(documents.filter((document) => blocksByDocument.get(document)!.length > 0))(
    '%s runs as written',
    async (document) => {
      const blocks = blocksByDocument.get(document)!;
      const cwd = await freshCheckout();
      const { brokers, registryUrl } = infra();
      const env: NodeJS.ProcessEnv = {
        PATH: [join(root, '.cache/pnpm/node_modules/.bin'), process.env.PATH].join(delimiter),
        HOME: process.env.HOME,
        KAFKA_BROKERS: brokers.join(','),
        SCHEMA_REGISTRY_URL: registryUrl,
        SLUICE_BASE_URL: pipeline.url,
        // A user's shell has no CI variables; keep pnpm quiet about updates.
        npm_config_update_notifier: 'false',
      };
      const { code, output } = await runBash(scriptOf(blocks, pipeline.url), cwd, env, 540_000);
      if (code !== 0) {
        throw new Error(`${document}: a command failed (exit ${code}); the last lines:\n${output.slice(-4000)}`);
      }
      // Each block that ran said so: the script did not end early.
      for (const block of blocks.filter((b) => b.notRun === undefined)) {
        expect(output).toContain(`### ${block.where}`);
      }
    },
    600_000,
  );

  it('skips only what it says, each with a reason, and each skip still matches a command', () => {
    const all = [...blocksByDocument.values()].flat();
    for (const block of all) if (block.notRun !== undefined) expect(block.notRun.length).toBeGreaterThan(10);
    for (const skip of SKIPPED) {
      expect(skip.reason.length).toBeGreaterThan(10);
      const used = all.some(
        (block) => block.notRun === undefined && block.commands.some((command) => skip.command.test(command)),
      );
      expect(used, `SKIPPED entry ${skip.command} matches no command in the docs: remove it`).toBe(true);
    }
    // The README's blocks exist and most of what a new user types is run.
    expect(existsSync(join(root, 'README.md'))).toBe(true);
    const readme = blocksByDocument.get('README.md')!;
    expect(readme.some((block) => block.notRun === undefined)).toBe(true);
  });
});
