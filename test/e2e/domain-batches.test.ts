import { ClassifyResult, ExtractResult, SummarizeResult, estimateTokens } from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { domainLine, domainLines } from '../harness/fixtures.js';
import { postJsonl, readJsonl, waitForStatus, type BatchView } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

interface OutputLine {
  id: string;
  custom_id: string;
  response: {
    status_code: number;
    body: { object: string; model: string; choices: { message: { content: string } }[] };
  } | null;
  error: { code: string; message: string } | null;
}

let pipeline: Pipeline;
beforeAll(async () => {
  pipeline = await startPipeline({ label: 'domain', simulator: { latency: { medianMs: 20, p99Ms: 80 } } });
});
afterAll(async () => {
  await pipeline?.stop();
});

/** Checks a success line's content against the domain schema of the line's request. */
function checkContent(line: OutputLine, request: { body: Record<string, unknown> }) {
  expect(line.error).toBeNull();
  expect(line.response?.status_code).toBe(200);
  const completion = line.response?.body;
  expect(completion?.object).toBe('chat.completion');
  expect(completion?.model).toBe(request.body.model);
  const content = JSON.parse(completion?.choices[0]?.message.content ?? 'null') as unknown;
  switch (request.body.model) {
    case 'classify': {
      const result = ClassifyResult.parse(content);
      expect(request.body.labels).toContain(result.label);
      expect(Object.keys(result.scores).sort()).toEqual([...(request.body.labels as string[])].sort());
      break;
    }
    case 'extract': {
      const result = ExtractResult.parse(content);
      expect(result.entities.map((e) => e.name)).toEqual(['company', 'person']);
      const text = request.body.text as string;
      for (const mention of result.entities.flatMap((e) => e.mentions)) {
        if (mention.start !== null)
          expect(text.slice(mention.start, mention.end ?? 0).toLowerCase()).toBe(mention.value.toLowerCase());
      }
      break;
    }
    case 'summarize': {
      const result = SummarizeResult.parse(content);
      expect(estimateTokens(result.summary)).toBeLessThanOrEqual(request.body.max_tokens as number);
      break;
    }
    default:
      throw new Error(`unexpected model ${String(request.body.model)}`);
  }
}

describe('the domain Batch API through Kafka', () => {
  it('completes a mixed batch: every custom_id once, in input order, each content valid for its model', async () => {
    const lines = domainLines(60, 'mixed');
    const submitted = await postJsonl(pipeline.url, lines);
    expect(submitted.status).toBe(200);
    expect(submitted.body).toMatchObject({ object: 'batch', status: 'in_progress', request_counts: { total: 60 } });
    const batch = await waitForStatus(pipeline.url, submitted.body.id as string);
    expect(batch.status).toBe('completed');
    expect(batch.request_counts).toEqual({ total: 60, completed: 60, failed: 0, cancelled: 0, expired: 0 });
    expect(batch.usage.total_tokens).toBeGreaterThan(0);

    const output = await readJsonl<OutputLine>(`${pipeline.url}/v1/batches/${batch.id}/output`);
    expect(output.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
    output.forEach((line, i) => checkContent(line, lines[i] as { body: Record<string, unknown> }));
  });

  it('refuses a batch with an unknown model on line 3 of 5, naming the line, and forwards nothing', async () => {
    const before = await pipeline.sluice.transport.offsets(pipeline.config.topics.requests);
    const lines: unknown[] = domainLines(5, 'bad');
    lines[2] = { custom_id: 'bad-2', body: { model: 'translate', text: 'hola' } };
    const response = await postJsonl(pipeline.url, lines);
    expect(response.status).toBe(400);
    const error = (
      response.body as { error: { message: string; details: { line: number; param: string; code: string }[] } }
    ).error;
    expect(error.message).toMatch(/line 3/);
    expect(error.details).toEqual([expect.objectContaining({ line: 3, param: 'body.model', code: 'unknown_model' })]);
    const after = await pipeline.sluice.transport.offsets(pipeline.config.topics.requests);
    expect(after).toEqual(before);
  });

  it('names every bad line: bad JSON, missing and duplicate custom_id, wrong types, empty body', async () => {
    const body = [
      JSON.stringify(domainLine(0, 'v')),
      '{"custom_id": "v-1", "body": {',
      JSON.stringify({ body: domainLine(2).body }),
      JSON.stringify({ ...domainLine(3, 'v'), custom_id: 'v-0' }),
      JSON.stringify({ custom_id: 'v-4', body: { model: 'classify', text: 42, labels: ['a', 'b'] } }),
      JSON.stringify({ custom_id: 'v-5', body: {} }),
    ].join('\n');
    const response = await postJsonl(pipeline.url, body);
    expect(response.status).toBe(400);
    const details = (response.body as { error: { details: { line: number; param: string | null; code: string }[] } })
      .error.details;
    expect(details).toEqual([
      expect.objectContaining({ line: 2, code: 'invalid_json_line' }),
      expect.objectContaining({ line: 3, param: 'custom_id', code: 'missing_required_parameter' }),
      expect.objectContaining({ line: 4, param: 'custom_id', code: 'duplicate_custom_id' }),
      expect.objectContaining({ line: 5, param: 'body.text', code: 'invalid_value' }),
      expect.objectContaining({ line: 6, param: 'body', code: 'empty_body' }),
    ]);
  });

  it('accepts a single JSON object, and answers the realtime endpoints directly', async () => {
    const single = await fetch(`${pipeline.url}/v1/batches`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(domainLine(0, 'single')),
    });
    expect(single.status).toBe(200);
    const created = (await single.json()) as BatchView;
    expect(created.request_counts.total).toBe(1);
    const done = await waitForStatus(pipeline.url, created.id);
    expect(done.request_counts).toMatchObject({ completed: 1, failed: 0 });

    const classify = await fetch(`${pipeline.url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'The app crashes when I export a report', labels: ['billing', 'bug'] }),
    });
    expect(classify.status).toBe(200);
    const label = ClassifyResult.parse(await classify.json());
    expect(['billing', 'bug']).toContain(label.label);

    const summary = await fetch(`${pipeline.url}/v1/summarization/abstractive`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'A long meeting about budgets. We agreed to cut travel.', max_tokens: 30 }),
    });
    expect(summary.status).toBe(200);
    SummarizeResult.parse(await summary.json());

    const extract = await fetch(`${pipeline.url}/extract`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'Sarah Chen works at Acme Corp.', entities: ['person', 'company'] }),
    });
    expect(extract.status).toBe(200);
    expect(ExtractResult.parse(await extract.json()).entities).toHaveLength(2);

    const invalid = await fetch(`${pipeline.url}/classify`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ text: 'x', labels: ['only-one'] }),
    });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { param: string } }).error.param).toBe('labels');
  });

  it('serves the finished lines while the batch runs, then every line in input order', async () => {
    const slow = await startPipeline({
      label: 'partial',
      simulator: { latency: { medianMs: 150, p99Ms: 300 } },
      env: { SLUICE_PROCESSOR_CONCURRENCY: '8' },
    });
    try {
      const lines = domainLines(120, 'partial');
      const { body } = await postJsonl(slow.url, lines);
      const id = body.id as string;
      const partial = await (async () => {
        for (;;) {
          const response = await fetch(`${slow.url}/v1/batches/${id}/output`);
          const text = await response.text();
          const rows = text
            .split('\n')
            .filter(Boolean)
            .map((l) => JSON.parse(l) as OutputLine);
          if (rows.length > 0) return { rows, partialHeader: response.headers.get('x-sluice-partial') };
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      })();
      expect(partial.partialHeader).toBe('true');
      expect(partial.rows.length).toBeLessThan(lines.length);
      const indexes = partial.rows.map((r) => Number(r.custom_id.split('-')[1]));
      expect(indexes).toEqual([...indexes].sort((a, b) => a - b));
      for (const row of partial.rows) expect(row.response?.status_code).toBe(200);

      await waitForStatus(slow.url, id);
      const final = await readJsonl<OutputLine>(`${slow.url}/v1/batches/${id}/output`);
      expect(final.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
    } finally {
      await slow.stop();
    }
  });

  it('runs 10,000 mixed items with many items of one partition in flight at once', async () => {
    const lines = domainLines(10_000, 'big');
    const { status, body } = await postJsonl(pipeline.url, lines);
    expect(status).toBe(200);
    const batch = await waitForStatus(pipeline.url, body.id as string, undefined, 170_000);
    expect(batch.request_counts).toEqual({ total: 10_000, completed: 10_000, failed: 0, cancelled: 0, expired: 0 });
    const output = await readJsonl<OutputLine>(`${pipeline.url}/v1/batches/${batch.id}/output`);
    expect(output).toHaveLength(10_000);
    expect(new Set(output.map((l) => l.custom_id)).size).toBe(10_000);
    expect(output.map((l) => l.custom_id)).toEqual(lines.map((l) => l.custom_id));
    const peaks = Object.values(pipeline.sluice.processor?.stats().peakInFlightByPartition ?? {});
    // The whole batch is one partition; with 20 ms upstream latency the processor kept ~concurrency of it in flight.
    console.info(`peak in flight in one partition: ${Math.max(...peaks)}`);
    expect(Math.max(...peaks)).toBeGreaterThanOrEqual(100);
  });
});
