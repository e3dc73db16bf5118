import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type BatchRecord,
  BatchSpec,
  createEmbeddedTransport,
  createSerde,
  newBatchRecord,
  topicNames,
  topicSpecs,
} from '@sluice/core';
import { afterEach, describe, expect, it } from 'vitest';
import { IntakeStatusWriter, StatusOwnedBySinkError } from './intake-status.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A writer over the embedded log, with ingest's read-your-writes view reduced to a map. */
async function writer() {
  const directory = mkdtempSync(join(tmpdir(), 'sluice-intake-status-'));
  const transport = createEmbeddedTransport({ directory, segmentBytes: 1 << 20, retentionMs: 3_600_000 });
  cleanups.push(async () => {
    await transport.close();
    rmSync(directory, { recursive: true, force: true });
  });
  const topics = topicNames('unit');
  await transport.ensureTopics(topicSpecs(topics, 2));
  const serde = await createSerde({ topics, registryUrl: null });
  const records = new Map<string, BatchRecord>();
  const view = {
    apply: async (record: BatchRecord) => void records.set(record.id, record),
    get: async (id: string) => records.get(id),
  };
  const status = new IntakeStatusWriter({ producer: await transport.producer(), serde, topics, view });
  return { status, records, transport, topics };
}

const spec = BatchSpec.parse({ created_at: 1_795_299_520 });

describe('IntakeStatusWriter', () => {
  it('writes intake records until the seal, then refuses', async () => {
    const { status, records, transport, topics } = await writer();
    const validating = newBatchRecord('batch_a', spec, 0, 'validating', 'sink');
    const written = await status.publish(validating);
    // Marked as intake's whatever the caller said.
    expect(written.written_by).toBe('intake');
    expect(records.get('batch_a')?.written_by).toBe('intake');
    await status.publish(newBatchRecord('batch_a', spec, 3, 'in_progress', 'intake'));
    await status.seal('batch_a', spec, 3);
    await expect(status.publish(newBatchRecord('batch_a', spec, 3, 'cancelling', 'intake'))).rejects.toThrow(
      StatusOwnedBySinkError,
    );
    // The seal is on the results topic, in the partition of the batch's key; the refused record is nowhere.
    const [results, statuses] = await Promise.all([
      transport.offsets(topics.results),
      transport.offsets(topics.status),
    ]);
    expect(results.reduce((sum, p) => sum + Number(p.high), 0)).toBe(1);
    expect(statuses.reduce((sum, p) => sum + Number(p.high), 0)).toBe(2);
    // Another batch is not affected.
    await status.publish(newBatchRecord('batch_b', spec, 0, 'validating', 'intake'));
  });

  it('refuses a batch the view shows written by a sink (sealed by another ingest)', async () => {
    const { status, records } = await writer();
    records.set('batch_c', newBatchRecord('batch_c', spec, 2, 'in_progress', 'sink'));
    await expect(status.publish(newBatchRecord('batch_c', spec, 2, 'failed', 'intake'))).rejects.toThrow(
      /sealed: its status records are the sink's/,
    );
  });
});
