import { appendFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { OperationRow } from '@sluice/core';
import { Sluice } from '@sluice/sdk';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  CATEGORIES,
  classificationProblem,
  DOMAIN_CASES,
  emptyTally,
  metricValue,
  OPERATION_CASES,
  runDomain,
  runOperation,
  tallyRow,
  type DomainCaseName,
  type OperationCaseName,
  type Tally,
} from '../harness/output-contract.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';
import { spawnSluice } from '../harness/process.js';

/**
 * Sluice against a real OpenAI-compatible server with a real model: llama-cpp-python serving
 * SmolLM2-135M-Instruct (scripts/infra/llama.sh). The server refuses `json_schema`, so Sluice must
 * negotiate; the model is tiny, so its answers break their schemas now and then, and the output
 * contract must hold anyway: no item fails for a dialect reason, every success conforms.
 *
 * SLUICE_LLAMA_ITEMS sets how many support tickets the label runs take (default 20, `all` for the
 * README example's 300). Each run's figures are printed and appended to .infra/llama/report.jsonl.
 */
const root = resolve(import.meta.dirname, '../..');
const llama = inject('llama');
const count = process.env.SLUICE_LLAMA_ITEMS === 'all' ? Infinity : Number(process.env.SLUICE_LLAMA_ITEMS ?? 20);

let tickets: { id: string; content: string }[];
let workdir: string;
beforeAll(async () => {
  const lines = (await readFile(join(root, 'examples/support-tickets.jsonl'), 'utf8')).split('\n').filter(Boolean);
  tickets = lines.slice(0, count).map((line) => JSON.parse(line) as { id: string; content: string });
  workdir = await mkdtemp(join(tmpdir(), 'sluice-llama-'));
});
afterAll(async () => {
  await rm(workdir, { recursive: true, force: true });
});

const upstreamEnv = () => ({ OPENAI_BASE_URL: llama.url, OPENAI_API_KEY: 'sk-local', SLUICE_MODEL: llama.model });

async function report(name: string, tally: Tally, extra: Record<string, unknown> = {}) {
  const figures = {
    name,
    items: tally.items,
    succeeded: tally.succeeded,
    successRate: tally.items === 0 ? 0 : tally.succeeded / tally.items,
    validShareOfSuccesses: tally.succeeded === 0 ? 1 : tally.conforming / tally.succeeded,
    errors: tally.errors,
    ...extra,
  };
  console.log(
    `[llama] ${JSON.stringify(figures)}${tally.problems.length ? `\n  e.g. ${tally.problems.join('\n  ')}` : ''}`,
  );
  await mkdir(join(root, '.infra/llama'), { recursive: true });
  await appendFile(
    join(root, '.infra/llama/report.jsonl'),
    `${JSON.stringify({ at: new Date().toISOString(), ...figures })}\n`,
  );
}

/** No item may fail because of the dialect: a refused response_format is Sluice's to negotiate. */
function expectNoDialectFailures(tally: Tally) {
  expect(tally.errors.structured_output_unsupported ?? 0).toBe(0);
  expect(tally.errors.upstream_bad_request ?? 0).toBe(0);
  expect(tally.errors.upstream_server_error ?? 0).toBe(0);
}

describe('llama-cpp-python + SmolLM2-135M-Instruct', () => {
  it('sluice run labels the README support tickets: ≥ 95% succeed, every success valid', async () => {
    const input = join(workdir, 'tickets.jsonl');
    await writeFile(input, tickets.map((t) => JSON.stringify(t)).join('\n') + '\n');
    const output = join(workdir, 'labels.jsonl');
    const started = performance.now();
    const run = spawnSluice(
      ['run', input, '--operation', 'label', '--categories', CATEGORIES.join(','), '-o', output],
      { ...upstreamEnv(), SLUICE_DATA_DIR: join(workdir, 'run-data') },
    );
    const exit = await run.exited;
    const seconds = (performance.now() - started) / 1000;
    expect(exit, run.output.join('\n')).toBe(0);
    const rows = (await readFile(output, 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as OperationRow);
    const tally = emptyTally();
    for (const row of rows) tallyRow(tally, row, (result) => classificationProblem(result, CATEGORIES));
    await report('sluice run --operation label', tally, { seconds: Math.round(seconds) });
    expect(tally.items).toBe(tickets.length);
    expectNoDialectFailures(tally);
    expect(tally.conforming).toBe(tally.succeeded);
    expect(tally.succeeded / tally.items).toBeGreaterThanOrEqual(0.95);
  });

  describe('through the Kafka pipeline', () => {
    let pipeline: Pipeline;
    let client: Sluice;
    beforeAll(async () => {
      pipeline = await startPipeline({ label: 'llama', env: upstreamEnv() });
      client = new Sluice({ baseURL: pipeline.url });
    });
    afterAll(async () => {
      await pipeline?.stop();
    });

    const repaired = async () => ({
      repaired: await metricValue(pipeline.sluice.metrics, 'sluice_structured_answers_total', { outcome: 'repaired' }),
      answers: await metricValue(pipeline.sluice.metrics, 'sluice_structured_answers_total'),
    });

    it('a label job: ≥ 95% succeed, every success valid; the dialect settles on json_object', async () => {
      const started = performance.now();
      const job = await client.batches.submitAndWait({
        operation: 'label',
        items: tickets,
        categories: [...CATEGORIES],
        timeoutMs: 800_000,
      });
      const seconds = (performance.now() - started) / 1000;
      expect(job.status).toBe('completed');
      const tally = emptyTally();
      for await (const row of client.batches.iterOutput(job.id)) {
        tallyRow(tally, row, (result) => classificationProblem(result, CATEGORIES));
      }
      const { repaired: fixed, answers } = await repaired();
      await report('label job through Kafka', tally, {
        seconds: Math.round(seconds),
        repairedShare: answers === 0 ? 0 : fixed / answers,
        concurrencyLimit: await metricValue(pipeline.sluice.metrics, 'sluice_upstream_concurrency_limit'),
      });
      expect(tally.items).toBe(tickets.length);
      expectNoDialectFailures(tally);
      expect(tally.conforming).toBe(tally.succeeded);
      expect(tally.succeeded / tally.items).toBeGreaterThanOrEqual(0.95);
      expect(
        await metricValue(pipeline.sluice.metrics, 'sluice_structured_output_dialect', { dialect: 'json_object' }),
      ).toBe(1);
    });

    it('every operation and the domain API: no dialect failures, every success conforms', async () => {
      const sample = tickets.slice(0, 4);
      const before = await repaired();
      const tally = emptyTally();
      const byCase: Record<string, Tally> = {};
      for (const operation of Object.keys(OPERATION_CASES) as OperationCaseName[]) {
        byCase[operation] = await runOperation(client, operation, sample);
      }
      for (const model of Object.keys(DOMAIN_CASES) as DomainCaseName[]) {
        byCase[`domain.${model}`] = emptyTally();
        for (const ticket of sample.slice(0, 3))
          await runDomain(pipeline.url, model, ticket.content, byCase[`domain.${model}`] as Tally);
      }
      for (const [name, each] of Object.entries(byCase)) {
        await report(name, each);
        tally.items += each.items;
        tally.succeeded += each.succeeded;
        tally.conforming += each.conforming;
        for (const [code, n] of Object.entries(each.errors)) tally.errors[code] = (tally.errors[code] ?? 0) + n;
      }
      const after = await repaired();
      const answers = after.answers - before.answers;
      await report('all operations and domain models', tally, {
        repairedShare: answers === 0 ? 0 : (after.repaired - before.repaired) / answers,
      });
      expectNoDialectFailures(tally);
      expect(tally.conforming).toBe(tally.succeeded);
      // Only the contract's own error may remain: an answer that broke its schema twice.
      for (const code of Object.keys(tally.errors)) expect(code).toBe('invalid_model_output');
      expect(tally.succeeded).toBeGreaterThan(0);
    });
  });
});
