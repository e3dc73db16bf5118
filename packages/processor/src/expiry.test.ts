import { BatchRecord, HEADERS, storeKeys, type ResultMessageInput } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { chatItem, startInProcess, startStages, startUpstream, until } from '../../../test/harness/in-process.js';

/**
 * A batch's expiry on the embedded log, processor and sink together, the simulator as the
 * upstream over real HTTP: items still waiting when `expires_at` passes are never sent and end
 * `batch_expired`, and the batch is finalized `expired` with the counts to match.
 */

describe('a batch whose expires_at passes while items wait', () => {
  it('fails the waiting items batch_expired and finalizes the batch expired, counting each item once', async () => {
    const world = await startInProcess();
    const upstream = await startUpstream();
    // One upstream call at a time: items wait their turn, and the slow one holds it past the expiry.
    await startStages(world, {
      roles: ['processor', 'sink'],
      upstream,
      env: { SLUICE_UPSTREAM_CONCURRENCY: '1', SLUICE_DEDUP_TTL_SECONDS: '0' },
    });
    const status = await world.follow(world.topics.status);

    // expires_at is in whole seconds: the next second at least 300 ms away (the first item's margin).
    const expiresAt = Math.ceil((Date.now() + 300) / 1000);
    const batchId = 'batch_expiring';
    const seal: ResultMessageInput = {
      type: 'seal',
      batch_id: batchId,
      total: 5,
      spec: { api: 'openai', endpoint: '/v1/chat/completions', created_at: expiresAt - 60, expires_at: expiresAt },
    };
    const prompts = ['answered at once', 'held past the expiry sim:latency=5000', 'waits', 'waits', 'waits'];
    const items = prompts.map((prompt, index) =>
      chatItem(batchId, index, { prompt, customId: `item-${index}`, expiresAt, tenant: 'default' }),
    );
    // As an outside producer writes a batch (docs/topics.md): the seal to the results topic, then the items.
    await world.send(world.topics.results, [
      {
        key: batchId,
        value: await world.serde.results.encode(world.serde.results.schema.parse(seal)),
        headers: { [HEADERS.type]: 'seal' },
      },
    ]);
    await world.sendItems(items);

    const final = await until(() => {
      for (const message of status) {
        const record = BatchRecord.parse(JSON.parse((message.value as Buffer).toString('utf8')));
        if (record.id === batchId && record.status === 'expired') return record;
      }
      return undefined;
    }, 'the batch expired');
    expect(final.request_counts).toEqual({ total: 5, completed: 1, failed: 0, cancelled: 0, expired: 4 });
    expect(final.expired_at).not.toBeNull();
    const errors = (await world.store.read(storeKeys.errors(batchId)))?.toString('utf8') ?? '';
    const failedLines = errors
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { custom_id: string; error: { code: string } });
    expect(failedLines.map((line) => [line.custom_id, line.error.code])).toEqual(
      [1, 2, 3, 4].map((index) => [`item-${index}`, 'batch_expired']),
    );
    // The waiting items were never sent: the upstream saw the first two calls only.
    expect(upstream.stats().requests).toBe(2);
  });
});
