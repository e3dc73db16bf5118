import { SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import {
  createKafkaTransport,
  createSerde,
  MessageDecodeError,
  topicNames,
  topicSpecs,
  type IncomingMessage,
  type RequestMessage,
  type RequestMessageInput,
} from '@sluice/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, infra, uniquePrefix } from '../harness/context.js';

const { brokers, registryUrl } = infra();
const topics = topicNames(uniquePrefix('foundation'));
const transport = createKafkaTransport({ brokers, clientId: 'foundation-test' });

beforeAll(async () => {
  await transport.ensureTopics(topicSpecs(topics, 4));
});
afterAll(async () => {
  await transport.close();
});

function item(batchId: string, index: number): RequestMessageInput {
  return {
    type: 'item',
    batch_id: batchId,
    index,
    custom_id: `${batchId}-${index}`,
    api: 'domain',
    discriminator: 'classify',
    body: { model: 'classify', text: `ticket ${index}`, labels: ['billing', 'bug'] },
    expires_at: null,
  };
}

describe('registry-encoded messages through the real broker', () => {
  it('decode equal, keep every key in one partition, and reject a wrongly-shaped message with a typed error', async () => {
    const serde = await createSerde({ topics, registryUrl });
    expect(serde.mode).toBe('registry');

    // The subject follows TopicNameStrategy and holds a JSON Schema.
    const subject = await fetch(`${registryUrl}/subjects/${topics.requests}-value/versions/latest`);
    expect(subject.status).toBe(200);
    const registered = (await subject.json()) as { schemaType: string; schema: string };
    expect(registered.schemaType).toBe('JSON');
    expect(JSON.parse(registered.schema)).toMatchObject({ $schema: 'http://json-schema.org/draft-07/schema#' });

    const batchIds = ['batch_a', 'batch_b', 'batch_c', 'batch_d', 'batch_e'];
    const sent: RequestMessage[] = [];
    const producer = await transport.producer();
    for (const batchId of batchIds) {
      const messages = [];
      for (let index = 0; index < 20; index++) {
        const value = serde.requests.schema.parse(item(batchId, index));
        sent.push(value);
        messages.push({ key: batchId, value: await serde.requests.encode(value) });
      }
      await producer.send(topics.requests, messages);
    }

    // A message encoded with a schema registered elsewhere: valid for its writer, not for us.
    const rogue = new SchemaRegistry({ host: registryUrl });
    const { id: rogueId } = await rogue.register(
      {
        type: SchemaType.JSON,
        schema: JSON.stringify({
          $schema: 'http://json-schema.org/draft-07/schema#',
          type: 'object',
          properties: { order: { type: 'number' } },
        }),
      },
      { subject: `${topics.requests}-rogue-value` },
    );
    await producer.send(topics.requests, [{ key: 'batch_rogue', value: await rogue.encode(rogueId, { order: 7 }) }]);
    // ...and one valid message after it, to show consumption goes on.
    const after = serde.requests.schema.parse(item('batch_after', 0));
    await producer.send(topics.requests, [{ key: 'batch_after', value: await serde.requests.encode(after) }]);
    await producer.disconnect();

    const decoded: { message: IncomingMessage; value: RequestMessage }[] = [];
    const rejected: MessageDecodeError[] = [];
    const consumer = transport.consumer({
      groupId: `${topics.requests}.test`,
      topics: [topics.requests],
      fromBeginning: true,
    });
    await consumer.run(async (batch, context) => {
      for (const message of batch.messages) {
        try {
          decoded.push({ message, value: await serde.requests.decode(message) });
        } catch (error) {
          if (!(error instanceof MessageDecodeError)) throw error;
          rejected.push(error);
        }
        context.resolveOffset(message.offset);
      }
    });
    try {
      await eventually(() => (decoded.length + rejected.length >= sent.length + 2 ? true : undefined), {
        what: 'all messages consumed',
      });
    } finally {
      await consumer.stop();
    }

    expect(decoded.map((d) => d.value)).toEqual(expect.arrayContaining([...sent, after]));
    expect(decoded).toHaveLength(sent.length + 1);

    const partitionsByKey = new Map<string, Set<number>>();
    for (const { message } of decoded) {
      const set = partitionsByKey.get(message.key ?? '') ?? new Set<number>();
      set.add(message.partition);
      partitionsByKey.set(message.key ?? '', set);
    }
    for (const batchId of batchIds) expect(partitionsByKey.get(batchId)?.size).toBe(1);
    // Five keys over four partitions: the keys really were spread, not all on partition 0.
    const used = new Set([...partitionsByKey.values()].flatMap((s) => [...s]));
    expect(used.size).toBeGreaterThan(1);

    expect(rejected).toHaveLength(1);
    const [error] = rejected;
    expect(error).toBeInstanceOf(MessageDecodeError);
    expect(error?.topic).toBe(topics.requests);
    expect(Number(error?.offset)).toBeGreaterThanOrEqual(0);
    expect(error?.reason).toMatch(/does not match the .*requests schema/);
    expect(error?.message).toContain(`${topics.requests}[${error?.partition}]@${error?.offset}`);
  });

  it('without a registry, writes plain JSON checked by the same zod schema', async () => {
    const serde = await createSerde({ topics, registryUrl: null });
    const value = serde.requests.schema.parse(item('batch_json', 3));
    const encoded = await serde.requests.encode(value);
    expect(JSON.parse(encoded.toString())).toEqual(value);
    const at = { topic: topics.requests, partition: 0, offset: '42', key: null, headers: {}, timestamp: '0' };
    await expect(serde.requests.decode({ ...at, value: encoded })).resolves.toEqual(value);
    await expect(serde.requests.decode({ ...at, value: Buffer.from('{"type":"item"}') })).rejects.toThrow(
      MessageDecodeError,
    );
    await expect(serde.requests.decode({ ...at, value: Buffer.from('not json') })).rejects.toThrow(/@42/);
  });
});
