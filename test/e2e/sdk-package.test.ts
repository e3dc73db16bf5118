import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * @sluice/sdk as a project outside the monorepo gets it: packed with `pnpm pack`, installed with npm
 * from the tarball (zod from the registry, nothing else of Sluice), type-checked with `tsc`, and run
 * against the real server.
 */
const run = promisify(execFile);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const pnpm = join(root, '.cache/pnpm/node_modules/.bin/pnpm');
const tsc = join(root, 'node_modules/typescript/bin/tsc');

let pipeline: Pipeline;
let project: string;

beforeAll(async () => {
  pipeline = await startPipeline({ label: 'sdk-package', simulator: { latency: { medianMs: 5, p99Ms: 20 } } });
  project = await mkdtemp(join(tmpdir(), 'sluice-sdk-consumer-'));
}, 300_000);
afterAll(async () => {
  await pipeline?.stop();
  if (project) await rm(project, { recursive: true, force: true });
});

const consumer = `
import { BadRequestError, Sluice, type Job, type OperationRow } from '@sluice/sdk';

const baseURL = process.argv[2] ?? '';
const seen: string[] = [];
let used: Sluice | undefined;
{
  await using client = new Sluice({ baseURL, maxRetries: 0 });
  used = client;
  const sync = await client.completions.classify({ items: [{ content: 'I was charged twice' }], categories: ['billing', 'bug'] });
  const row: OperationRow | undefined = sync.results[0];
  seen.push(\`classify \${(row?.result as { label: string }).label}\`);
  const job: Job = await client.batches.submitAndWait({
    operation: 'summarize',
    items: [{ content: 'A long call about invoices.' }],
    summary_instructions: 'One line.',
    pollIntervalMs: 100,
  });
  seen.push(\`job \${job.status}\`);
  try {
    await client.batches.submit({ operation: 'label', items: [{ content: '' }], categories: ['a', 'b'] });
  } catch (error) {
    if (error instanceof BadRequestError) seen.push(\`400 \${error.param}\`);
  }
}
console.log(JSON.stringify({ seen, closed: used?.closed }));
`;

it('packs, installs outside the monorepo with zod alone, type-checks and runs', async () => {
  await run(pnpm, ['--filter', '@sluice/sdk', 'pack', '--pack-destination', project], {
    cwd: root,
    timeout: 240_000,
  });
  const tarball = (await readdir(project)).find((name) => name.endsWith('.tgz'));
  expect(tarball).toMatch(/^sluice-sdk-\d+\.\d+\.\d+\.tgz$/);
  const { stdout: listing } = await run('tar', ['tzf', join(project, tarball ?? '')]);
  expect(listing.split('\n').filter(Boolean).sort()).toEqual([
    'package/README.md',
    'package/dist/bundle/index.d.ts',
    'package/dist/bundle/index.js',
    'package/dist/bundle/index.js.map',
    'package/package.json',
  ]);

  await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', `./${tarball}`], {
    cwd: project,
    timeout: 240_000,
  });
  const { stdout: tree } = await run('npm', ['ls', '--all', '--parseable'], { cwd: project });
  const installed = tree
    .split('\n')
    .filter((line) => line.includes('node_modules'))
    .map((line) => line.slice(line.lastIndexOf('node_modules/') + 'node_modules/'.length))
    .sort();
  expect(installed).toEqual(['@sluice/sdk', 'zod']);

  await writeFile(join(project, 'consumer.mts'), consumer);
  // Strict, with the library's declarations checked too: a published package must type-check as shipped.
  // tsc fails on any type error (and emits consumer.mjs otherwise).
  await run(
    process.execPath,
    [
      tsc,
      '--strict',
      '--skipLibCheck',
      'false',
      '--target',
      'es2022',
      '--lib',
      'es2023,esnext.disposable',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--types',
      'node',
      '--typeRoots',
      join(root, 'node_modules/@types'),
      '--outDir',
      '.',
      'consumer.mts',
    ],
    { cwd: project, timeout: 120_000 },
  );
  const { stdout } = await run(process.execPath, ['consumer.mjs', pipeline.url], { cwd: project, timeout: 120_000 });
  const result = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { seen: string[]; closed: boolean };
  expect(result.seen[0]).toMatch(/^classify (billing|bug)$/);
  expect(result.seen.slice(1)).toEqual(['job completed', '400 items.0.content']);
  expect(result.closed).toBe(true);

  // The README's example as a user copies it into a plain .mjs file: it runs on every Node the
  // README supports (issue 25: its `await using` was a syntax error on Node 20).
  const readme = await readFile(join(root, 'packages/sdk/README.md'), 'utf8');
  const example = /```js\n([\s\S]*?)```/.exec(readme)?.[1];
  expect(example).toContain("from '@sluice/sdk'");
  await writeFile(join(project, 'example.mjs'), example ?? '');
  const { SLUICE_API_KEY: _unused, ...env } = process.env;
  const { stdout: printed } = await run(process.execPath, ['example.mjs'], {
    cwd: project,
    timeout: 120_000,
    env: { ...env, SLUICE_BASE_URL: pipeline.url },
  });
  expect(printed).toContain('label');
  const csv = (await readFile(join(project, 'labels.csv'), 'utf8')).trim().split('\n');
  expect(csv).toHaveLength(3);
}, 600_000);
