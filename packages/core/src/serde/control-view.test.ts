import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../logger.js';
import { topicNames, topicSpecs } from '../topics.js';
import { createEmbeddedTransport } from '../transport/embedded.js';
import type { Transport } from '../transport/types.js';
import { createSerde } from './codec.js';
import { ControlView } from './control-view.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function embedded(): Promise<Transport> {
  const directory = mkdtempSync(join(tmpdir(), 'sluice-control-view-'));
  const transport = createEmbeddedTransport({ directory, segmentBytes: 1 << 20, retentionMs: 3_600_000 });
  cleanups.push(async () => {
    await transport.close();
    rmSync(directory, { recursive: true, force: true });
  });
  return transport;
}

const until = async (condition: () => boolean) => {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

describe('ControlView (on the embedded log)', () => {
  it('knows every cancel written before it started, learns new ones, and forgets a batch at its tombstone', async () => {
    const transport = await embedded();
    const topics = topicNames('unit');
    await transport.ensureTopics(topicSpecs(topics, 2));
    const serde = await createSerde({ topics, registryUrl: null });
    const producer = await transport.producer();
    const cancel = async (batchId: string, at: number) =>
      producer.send(topics.control, [
        { key: batchId, value: await serde.control.encode({ type: 'cancel', batch_id: batchId, requested_at: at }) },
      ]);
    await cancel('batch_before', 100);
    // An undecodable message is skipped, not fatal.
    await producer.send(topics.control, [{ key: 'batch_bad', value: Buffer.from('{"type":"nonsense"}') }]);

    const view = new ControlView({ transport, serde, topics, reader: 'unit', logger: silentLogger });
    const heard: string[] = [];
    view.onCancel((fact) => heard.push(fact.batch_id));
    await view.start(5000);
    cleanups.push(() => view.stop());
    expect(view.isCancelled('batch_before')).toBe(true);
    expect(view.cancelledAt('batch_before')).toBe(100);
    expect(view.isCancelled('batch_other')).toBe(false);

    await cancel('batch_after', 200);
    await until(() => view.isCancelled('batch_after'));
    expect(heard).toEqual(['batch_before', 'batch_after']);

    await producer.send(topics.control, [{ key: 'batch_before', value: null }]);
    await until(() => !view.isCancelled('batch_before'));
    expect(view.isCancelled('batch_after')).toBe(true);
  });
});
