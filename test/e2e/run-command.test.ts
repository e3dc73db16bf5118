import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSluice } from '../harness/process.js';

/** `sluice run`: the one-shot job of the README's first command, with no Kafka and no upstream configured. */
const examples = resolve(import.meta.dirname, '../../examples');
let workdir: string;
beforeAll(async () => {
  workdir = await mkdtemp(join(tmpdir(), 'sluice-run-'));
});
afterAll(async () => {
  await rm(workdir, { recursive: true, force: true });
});

const lines = async (path: string) => (await readFile(path, 'utf8')).split('\n').filter(Boolean);

describe('sluice run', () => {
  it('says first that answers are simulated, then writes one output line per example item', async () => {
    const output = join(workdir, 'mixed.jsonl');
    const run = spawnSluice(['run', join(examples, 'domain-mixed.jsonl'), '-o', output], {
      SLUICE_DATA_DIR: join(workdir, 'data'),
    });
    expect(await run.exited).toBe(0);
    expect(run.output[0]).toMatch(/simulated/);
    const input = await lines(join(examples, 'domain-mixed.jsonl'));
    const written = await lines(output);
    expect(written).toHaveLength(input.length);
    expect(written.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id)).toEqual(
      input.map((l) => (JSON.parse(l) as { custom_id: string }).custom_id),
    );
    expect(run.output.at(-1)).toMatch(/completed: 300 items, 300 completed, 0 failed, [\d,]+ tokens, [\d.]+ s/);
  });

  it('runs an operation over a CSV of items and writes CSV', async () => {
    const output = join(workdir, 'companies.csv');
    const run = spawnSluice(
      [
        'run',
        join(examples, 'companies.csv'),
        '--operation',
        'enrich',
        '--fields-json',
        JSON.stringify([
          { name: 'segment', type: 'categorical', valid_values: ['enterprise', 'smb'], description: 'segment' },
        ]),
        '-o',
        output,
      ],
      { SLUICE_DATA_DIR: join(workdir, 'data') },
    );
    expect(await run.exited).toBe(0);
    const rows = await lines(output);
    expect(rows[0]).toBe('index,custom_id,id,content,segment,error_code,error_message');
    expect(rows).toHaveLength((await lines(join(examples, 'companies.csv'))).length);
  });

  it('writes failed items to an error file beside the output', async () => {
    const input = join(workdir, 'some-fail.jsonl');
    const body = (text: string) => ({ model: 'summarize', text });
    await writeFile(
      input,
      [
        { custom_id: 'ok-1', body: body('A fine text to summarize.') },
        { custom_id: 'bad-1', body: body('This one is refused upstream for good sim:status=400') },
        { custom_id: 'ok-2', body: body('Another fine text.') },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    const output = join(workdir, 'some-fail.out.jsonl');
    const run = spawnSluice(['run', input, '-o', output], { SLUICE_DATA_DIR: join(workdir, 'data') });
    expect(await run.exited).toBe(0);
    expect(await lines(output)).toHaveLength(3);
    const errors = (await lines(join(workdir, 'some-fail.out.errors.jsonl'))).map(
      (l) => JSON.parse(l) as { custom_id: string },
    );
    expect(errors.map((e) => e.custom_id)).toEqual(['bad-1']);
    expect(run.output.at(-1)).toMatch(/3 items, 2 completed, 1 failed/);
  });

  it('refuses a bad input file with one line naming the line, and exit code 1', async () => {
    const input = join(workdir, 'bad.jsonl');
    await writeFile(
      input,
      '{"custom_id": "a", "body": {"model": "summarize", "text": "x"}}\n{"custom_id": "b", "body": {"model": "translate", "text": "x"}}\n',
    );
    const run = spawnSluice(['run', input, '-o', join(workdir, 'bad.out.jsonl')], {
      SLUICE_DATA_DIR: join(workdir, 'data'),
    });
    expect(await run.exited).toBe(1);
    expect(run.output.at(-1)).toMatch(/^sluice: HTTP 400 .*line 2, body\.model/);
  });
});
