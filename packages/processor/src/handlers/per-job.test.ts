import { describe, expect, it } from 'vitest';
import { classifyJob } from './operations/classify.js';
import { runJob } from './operations/run.js';
import { perJob } from './per-job.js';

describe('perJob', () => {
  it("compiles a job's parameters once for all its items, once per job", () => {
    let compiled = 0;
    const job = perJob((params: { categories: string[] }) => ({ n: ++compiled, joined: params.categories.join() }));
    const params = { categories: ['a', 'b'] };
    for (let item = 0; item < 1000; item++) expect(job('batch_1', params).joined).toBe('a,b');
    for (let item = 0; item < 1000; item++) job('batch_2', { categories: ['c'] });
    expect(compiled).toBe(2);
    expect(job.compilations).toBe(2);
  });

  it('keeps at most maxJobs jobs, dropping the least recently used', () => {
    const job = perJob((params: number) => params, 2);
    job('a', 1);
    job('b', 2);
    job('a', 1); // a is now the most recent
    job('c', 3); // b goes
    job('a', 1);
    expect(job.compilations).toBe(3);
    job('b', 2);
    expect(job.compilations).toBe(4);
  });

  it("the operation handlers' compilers are per job: 500 items of one classify job build one schema", () => {
    const before = classifyJob.compilations;
    const params = { categories: ['billing', 'bug'], multi_label: false } as Parameters<typeof classifyJob>[1];
    const first = classifyJob('batch_per_job_test', params);
    for (let item = 0; item < 500; item++) expect(classifyJob('batch_per_job_test', params)).toBe(first);
    expect(classifyJob.compilations - before).toBe(1);
  });

  it("a run job's JSON Schema is checked and compiled once for all its items", () => {
    const before = runJob.compilations;
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const params = {
      user_prompt_template: '{text}',
      response_format: { type: 'json_schema', json_schema: { name: 'place', schema } },
    } as Parameters<typeof runJob>[1];
    const first = runJob('batch_run_per_job_test', params);
    expect(first.problem).toBeNull();
    expect(first.validate?.({ city: 'Oslo' })).toBe(true);
    expect(first.validate?.({ town: 'Oslo' })).toBe(false);
    for (let item = 0; item < 500; item++) expect(runJob('batch_run_per_job_test', params)).toBe(first);
    expect(runJob.compilations - before).toBe(1);
    const bad = runJob('batch_run_bad_schema', {
      ...params,
      response_format: { type: 'json_schema', json_schema: { name: 'bad', schema: { type: 'nonsense' } } },
    } as Parameters<typeof runJob>[1]);
    expect(bad.problem).toMatch(/./);
    expect(bad.validate).toBeNull();
  });
});
