import { createServer, type IncomingMessage, type Server } from 'node:http';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import { signWebhook } from '@sluice/sink';
import { Kafka, logLevel, Partitioners } from 'kafkajs';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, infra } from '../harness/context.js';
import { domainLines } from '../harness/fixtures.js';
import { postJsonl, readJsonl, waitForStatus } from '../harness/http.js';
import { startPipeline, type Pipeline } from '../harness/pipeline.js';

const pipelines: Pipeline[] = [];
const servers: Server[] = [];
afterAll(async () => {
  await Promise.all(pipelines.map((p) => p.stop()));
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

interface Line {
  custom_id: string;
  response: { status_code: number } | null;
  error: { code: string } | null;
}

describe('batch lifecycle', () => {
  it('expires at the end of its window: finished lines stay in the output, the rest go to the error file', async () => {
    const pipeline = await startPipeline({ label: 'expiry', env: { SLUICE_PROCESSOR_CONCURRENCY: '4' } });
    pipelines.push(pipeline);
    const { brokers, registryUrl } = infra();
    const topic = pipeline.config.topics.requests;
    const registry = new SchemaRegistry({ host: registryUrl });
    const schemaId = await registry.getLatestSchemaId(`${topic}-value`);
    // The window starts once the processor is consuming (a first batch finished): joining the
    // group can take seconds on a busy machine, and a call never runs past the window (its timeout
    // is cut to the time left). 60 one-second calls at 4 in flight cannot all finish in 10 s, and
    // a loaded machine still finishes some (with 5 s, CI once finished none).
    const warmUp = await postJsonl(pipeline.url, [
      { custom_id: 'warm', body: { model: 'classify', text: 'warm up', labels: ['a', 'b'] } },
    ]);
    await waitForStatus(pipeline.url, warmUp.body.id as string);
    const now = Math.floor(Date.now() / 1000);
    const expiresAt = now + 10;
    const batchId = 'batch_expiring_window';
    const producer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).producer({
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect();
    const seal = {
      type: 'seal',
      batch_id: batchId,
      total: 60,
      spec: {
        api: 'openai',
        endpoint: '/v1/chat/completions',
        created_at: now,
        expires_at: expiresAt,
        completion_window: '1h',
      },
    };
    const items = Array.from({ length: 60 }, (_, index) => ({
      type: 'item',
      batch_id: batchId,
      index,
      custom_id: `exp-${index}`,
      api: 'openai',
      discriminator: '/v1/chat/completions',
      body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `slow sim:latency=1000 ${index}` }] },
      expires_at: expiresAt,
    }));
    // The seal goes to the results topic, ahead of the items (docs/topics.md).
    const resultsTopic = pipeline.config.topics.results;
    const resultsSchemaId = await registry.getLatestSchemaId(`${resultsTopic}-value`);
    await producer.send({
      topic: resultsTopic,
      messages: [{ key: batchId, value: await registry.encode(resultsSchemaId, seal) }],
    });
    await producer.send({
      topic,
      messages: await Promise.all(
        items.map(async (value) => ({ key: batchId, value: await registry.encode(schemaId, value) })),
      ),
    });
    await producer.disconnect();

    const batch = await waitForStatus(pipeline.url, batchId);
    expect(batch.status).toBe('expired');
    expect(batch.expired_at).toEqual(expect.any(Number));
    const { completed, failed, total } = batch.request_counts;
    // Items never sent because the batch expired are counted as expired, not failed (issue 16).
    const expired = (batch.request_counts as { expired?: number }).expired ?? -1;
    expect(total).toBe(60);
    expect(completed).toBeGreaterThan(0);
    expect(expired).toBeGreaterThan(0);
    expect(failed).toBe(0);
    expect(completed + expired).toBe(60);
    const lines = await readJsonl<Line>(`${pipeline.url}/v1/batches/${batchId}/output`);
    expect(lines).toHaveLength(60);
    expect(lines.filter((l) => l.error?.code === 'batch_expired')).toHaveLength(expired);
    expect(lines.filter((l) => l.response?.status_code === 200)).toHaveLength(completed);
  });

  it('announces final batches to SLUICE_WEBHOOK_URL, signed, and retries until acknowledged', async () => {
    const secret = `whsec_${Buffer.from('sluice-test-secret').toString('base64')}`;
    const received: { headers: IncomingMessage['headers']; body: string; answered: number }[] = [];
    const server = createServer((request, response) => {
      let body = '';
      request.on('data', (chunk: Buffer) => (body += chunk.toString()));
      request.on('end', () => {
        // The first delivery of every event fails: the notifier must retry it.
        const seenBefore = received.some((r) => r.headers['webhook-id'] === request.headers['webhook-id']);
        const answered = seenBefore ? 200 : 503;
        received.push({ headers: request.headers, body, answered });
        response.writeHead(answered).end();
      });
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    const pipeline = await startPipeline({
      label: 'webhooks',
      env: { SLUICE_WEBHOOK_URL: `http://127.0.0.1:${address.port}/hooks`, SLUICE_WEBHOOK_SECRET: secret },
    });
    pipelines.push(pipeline);

    const { body } = await postJsonl(pipeline.url, domainLines(5, 'hook'));
    const id = body.id as string;
    await waitForStatus(pipeline.url, id);
    const acknowledged = await eventually(
      () => received.find((r) => r.answered === 200 && (JSON.parse(r.body) as { data: { id: string } }).data.id === id),
      { timeoutMs: 30_000, what: 'an acknowledged webhook' },
    );
    const event = JSON.parse(acknowledged.body) as { id: string; object: string; type: string; data: { id: string } };
    expect(event).toMatchObject({ object: 'event', type: 'batch.completed', data: { id } });
    expect(acknowledged.headers['webhook-id']).toBe(event.id);
    const expected = signWebhook(
      secret,
      event.id,
      Number(acknowledged.headers['webhook-timestamp']),
      acknowledged.body,
    );
    expect(acknowledged.headers['webhook-signature']).toBe(expected['webhook-signature']);
    const attempts = received.filter((r) => r.headers['webhook-id'] === event.id);
    expect(attempts.map((a) => a.answered)).toEqual([503, 200]);
  });
});
