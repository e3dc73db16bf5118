import type { ItemResultMessage } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import { chatItem, startInProcess, startStages, startUpstream, until } from '../../../../test/harness/in-process.js';

/**
 * Two tenants on one upstream with few call slots, the processor on the embedded log and the
 * simulator (a fixed latency) over real HTTP: the fair queue hands the slots out in turn, so a
 * tenant's small batch submitted behind another tenant's big one is not served last.
 */

const items = (batchId: string, tenant: string, count: number) =>
  Array.from({ length: count }, (_, index) =>
    chatItem(batchId, index, { tenant, prompt: `${batchId} question ${index}` }),
  );

describe('two tenants sharing one upstream', () => {
  it('interleaves the light tenant’s batch with the heavy tenant’s: it is not served behind the whole big batch', async () => {
    const world = await startInProcess();
    const upstream = await startUpstream({ latency: { medianMs: 10, p99Ms: 10 } });
    await startStages(world, {
      roles: ['processor'],
      upstream,
      env: { SLUICE_UPSTREAM_CONCURRENCY: '2', SLUICE_DEDUP_TTL_SECONDS: '0' },
    });
    const results = await world.follow(world.topics.results);
    const decoded = async () => {
      const out: ItemResultMessage[] = [];
      for (const message of results) {
        const result = await world.serde.results.decode(message);
        if (result.type === 'item') out.push(result);
      }
      return out;
    };

    await world.sendItems(items('batch_heavy', 'heavy', 40));
    // The big batch is being worked on (its items wait for the two slots) when the small one comes.
    await until(() => (results.length > 0 ? true : undefined), 'the heavy batch started');
    await world.sendItems(items('batch_light', 'light', 4));
    const all = await until(async () => {
      const done = await decoded();
      return done.length === 44 ? done : undefined;
    }, 'every result');

    expect(all.every((result) => result.ok)).toBe(true);
    // In the order the upstream answered them: the light tenant's last item is done while most of
    // the heavy batch still waits (served in turn: about one light item per heavy item).
    const order = [...all].sort((a, b) => a.finished_at - b.finished_at);
    const lightDone = Math.max(
      ...order.flatMap((result, position) => (result.batch_id === 'batch_light' ? [position] : [])),
    );
    const heavyAfter = order.slice(lightDone + 1).filter((result) => result.batch_id === 'batch_heavy').length;
    expect(heavyAfter).toBeGreaterThanOrEqual(20);
  });
});
