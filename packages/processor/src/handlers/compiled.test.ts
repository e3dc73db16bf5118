import { domainAsOperation, OPERATION_ITEM_PARAMS } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { classifyCompiled } from './classify.js';
import { CompiledParams } from './compiled.js';
import { jobOf } from './index.js';
import { runCompiled } from './run.js';

describe('compiled parameters', () => {
  it("compiles a job's parameters once for all its items, once per job", () => {
    let compiled = 0;
    const compiledFor = new CompiledParams().of('classify', (params: { categories: string[] }) => ({
      n: ++compiled,
      joined: params.categories.join(),
    }));
    const params = { categories: ['a', 'b'] };
    for (let item = 0; item < 1000; item++) expect(compiledFor('batch_1', params).joined).toBe('a,b');
    for (let item = 0; item < 1000; item++) compiledFor('batch_2', { categories: ['c'] });
    expect(compiled).toBe(2);
    expect(compiledFor.compilations).toBe(2);
  });

  it('keeps at most maxJobs jobs, dropping the least recently used', () => {
    const compiledFor = new CompiledParams(2).of('run', (params: number) => params);
    compiledFor('a', 1);
    compiledFor('b', 2);
    compiledFor('a', 1); // a is now the most recent
    compiledFor('c', 3); // b goes
    compiledFor('a', 1);
    expect(compiledFor.compilations).toBe(3);
    compiledFor('b', 2);
    expect(compiledFor.compilations).toBe(4);
  });

  it('keeps each operation apart in the one cache', () => {
    const cache = new CompiledParams();
    const classify = cache.of('classify', (params: string) => `classify ${params}`);
    const summarize = cache.of('summarize', (params: string) => `summarize ${params}`);
    expect(classify('batch_1', 'x')).toBe('classify x');
    expect(summarize('batch_1', 'x')).toBe('summarize x');
  });

  it("the classify handler's compiler is per job: 500 items of one job build one schema", () => {
    const before = classifyCompiled.compilations;
    const params = OPERATION_ITEM_PARAMS.classify.parse({ categories: ['billing', 'bug'] });
    const job = jobOf('operations', 'batch_per_job_test', { params, item: { content: 'x' } });
    const first = classifyCompiled(job, params);
    for (let item = 0; item < 500; item++) {
      const body = { params, item: { content: `item ${item}` } };
      expect(classifyCompiled(jobOf('operations', 'batch_per_job_test', body), params)).toBe(first);
    }
    expect(classifyCompiled.compilations - before).toBe(1);
  });

  it("a domain batch's lines each compile their own parameters, once for every line that shares them", () => {
    const before = classifyCompiled.compilations;
    const compiledForLine = (labels: string[], text: string) => {
      const { params, item } = domainAsOperation({ model: 'classify', text, labels });
      const parsed = OPERATION_ITEM_PARAMS.classify.parse(params);
      return classifyCompiled(jobOf('domain', 'batch_domain_mixed', { params: parsed, item }), parsed);
    };
    const billing = compiledForLine(['billing', 'bug'], 'I was charged twice');
    const colours = compiledForLine(['red', 'green', 'blue'], 'The sky');
    expect(billing.schema.safeParse({ label: 'bug', confidence: 1, scores: { billing: 0, bug: 1 } }).success).toBe(
      true,
    );
    expect(colours.schema.safeParse({ label: 'bug', confidence: 1, scores: { billing: 0, bug: 1 } }).success).toBe(
      false,
    );
    for (let line = 0; line < 100; line++) expect(compiledForLine(['billing', 'bug'], `ticket ${line}`)).toBe(billing);
    expect(classifyCompiled.compilations - before).toBe(2);
  });

  it("a run job's JSON Schema is checked and compiled once for all its items", () => {
    const before = runCompiled.compilations;
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const params = OPERATION_ITEM_PARAMS.run.parse({
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema } },
    });
    const first = runCompiled('batch_run_per_job_test', params);
    expect(first.problem).toBeNull();
    expect(first.validate?.({ city: 'Oslo' })).toBe(true);
    expect(first.validate?.({ town: 'Oslo' })).toBe(false);
    for (let item = 0; item < 500; item++) expect(runCompiled('batch_run_per_job_test', params)).toBe(first);
    expect(runCompiled.compilations - before).toBe(1);
    const bad = runCompiled('batch_run_bad_schema', {
      ...params,
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'nonsense' } } },
    } as z.infer<typeof OPERATION_ITEM_PARAMS.run>);
    expect(bad.problem).toMatch(/./);
    expect(bad.validate).toBeNull();
  });
});
