import { Sluice } from '@sluice/sdk';
import type { StructuredDialect } from '@sluice/simulator';
import { afterAll, describe, expect, it } from 'vitest';
import {
  DOMAIN_CASES,
  emptyTally,
  metricValue,
  OPERATION_CASES,
  runDomain,
  runOperation,
  type DomainCaseName,
  type OperationCaseName,
} from '../harness/output-contract.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

/**
 * Structured output on upstreams that speak other dialects (DESIGN invariant 9): the simulator
 * plays OpenAI (json_schema), llama-cpp-python (json_object with a schema), TGI ({type: json,
 * value}) and a server without response_format; every operation and domain model succeeds on each,
 * every success conforms, and the dialect is negotiated once per model, not once per item.
 */
const tickets = [
  'I was charged twice for my subscription this month, please refund one charge.',
  'The app crashes when I export a report to PDF.',
  'Could you add a dark mode to the dashboard?',
  'How do I remove a former employee from our team account?',
  'My invoice shows the wrong VAT number.',
  'Search returns an error 500 since this morning.',
];
const items = tickets.map((content, i) => ({ id: `t-${i}`, content }));

const pipelines: Pipeline[] = [];
afterAll(async () => {
  await Promise.all(pipelines.map((p) => p.stop()));
});

async function pipelineFor(label: string, structured: StructuredDialect, env: Record<string, string> = {}) {
  const pipeline = await startPipeline({
    label,
    simulator: { structured, latency: { medianMs: 5, p99Ms: 20 } },
    env: { SLUICE_PROCESSOR_CONCURRENCY: '32', ...env },
  });
  pipelines.push(pipeline);
  return pipeline;
}

const negotiated: [StructuredDialect, string, number][] = [
  // simulator dialect, what Sluice settles on, refusals before it
  ['json_schema', 'json_schema', 0],
  ['json_object', 'json_object', 1],
  ['json', 'json_value', 2],
  ['none', 'prompt', 3],
];

describe.each(negotiated)('an upstream that speaks %s', (structured, settled, refusals) => {
  it(`runs every operation and domain model; Sluice settles on ${settled} after ${refusals} refusal(s) per model`, async () => {
    const pipeline = await pipelineFor(`dialect-${structured}`, structured);
    const client = new Sluice({ baseURL: pipeline.url });
    const tally = emptyTally();
    // All operations at once: the items race for the first call of one model.
    await Promise.all(
      (Object.keys(OPERATION_CASES) as OperationCaseName[]).map((operation) =>
        runOperation(client, operation, items, tally),
      ),
    );
    for (const model of Object.keys(DOMAIN_CASES) as DomainCaseName[]) {
      await Promise.all(tickets.slice(0, 3).map((text) => runDomain(pipeline.url, model, text, tally)));
    }
    expect(tally.problems).toEqual([]);
    expect(tally.items).toBe(items.length * 5 + 9);
    expect(tally.succeeded).toBe(tally.items);
    expect(tally.conforming).toBe(tally.succeeded);

    const metrics = pipeline.sluice.metrics;
    expect(await metricValue(metrics, 'sluice_structured_output_dialect', { dialect: settled })).toBe(1);
    // One model serves everything: each refused dialect was refused once, not once per item.
    const stats = pipeline.simulator.stats();
    const refused = (stats.byStatus['400'] ?? 0) + (stats.byStatus['422'] ?? 0) + (stats.byStatus['500'] ?? 0);
    expect(refused).toBe(refusals);
    expect(await metricValue(metrics, 'sluice_structured_answers_total', { outcome: 'valid' })).toBe(tally.items);
  });
});

describe('the output contract', () => {
  it('repairs an answer that breaks the schema once, and fails one that breaks it twice with invalid_model_output', async () => {
    const pipeline = await pipelineFor('dialect-repair', 'json_schema');
    const client = new Sluice({ baseURL: pipeline.url });
    const answer = await client.completions.classify({
      categories: ['billing', 'bug'],
      items: [
        { id: 'once', content: 'I was charged twice. sim:invalid-once' },
        { id: 'always', content: 'The app crashes. sim:invalid' },
        { id: 'fine', content: 'Please refund my invoice.' },
      ],
    });
    const [once, always, fine] = answer.results;
    expect(once?.error).toBeNull();
    expect(fine?.error).toBeNull();
    expect(always?.result).toBeNull();
    expect(always?.error?.code).toBe('invalid_model_output');
    // The reason names what was wrong: the out-of-range confidence the simulator wrote.
    expect(always?.error?.message).toMatch(/confidence/);
    const metrics = pipeline.sluice.metrics;
    expect(await metricValue(metrics, 'sluice_structured_answers_total', { outcome: 'repaired' })).toBe(1);
    expect(await metricValue(metrics, 'sluice_structured_answers_total', { outcome: 'invalid' })).toBe(1);
    // One first answer and one repair round each for the two broken items, one call for the fine one.
    expect(pipeline.simulator.stats().requests).toBe(5);
  });

  it('does not retry a refused dialect as a transient fault when SLUICE_STRUCTURED_OUTPUT forbids falling back', async () => {
    const pipeline = await pipelineFor('dialect-forced', 'json_object', { SLUICE_STRUCTURED_OUTPUT: 'json_schema' });
    const client = new Sluice({ baseURL: pipeline.url });
    const answer = await client.completions.classify({ categories: ['billing', 'bug'], items: items.slice(0, 2) });
    for (const row of answer.results) {
      expect(row.error?.code).toBe('structured_output_unsupported');
      expect(row.error?.message).toMatch(/json_schema.*SLUICE_STRUCTURED_OUTPUT/);
    }
    // One call per item: a 422 capability answer is not retried.
    expect(pipeline.simulator.stats().requests).toBe(2);
  });

  it('uses the dialect configured per model without probing', async () => {
    const pipeline = await pipelineFor('dialect-per-model', 'json', {
      SLUICE_STRUCTURED_OUTPUT: 'gpt-4o-mini=json_object',
    });
    const client = new Sluice({ baseURL: pipeline.url });
    const tally = await runOperation(client, 'classify', items);
    expect(tally.conforming).toBe(items.length);
    // json_object with a schema refused once by the TGI-like upstream, then TGI's own dialect.
    expect(pipeline.simulator.stats().byStatus['422']).toBe(1);
    expect(
      await metricValue(pipeline.sluice.metrics, 'sluice_structured_output_dialect', { dialect: 'json_value' }),
    ).toBe(1);
  });
});
