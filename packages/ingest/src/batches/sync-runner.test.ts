import { type RunningSluice } from '@sluice/cli';
import { BATCHES } from '@sluice/core';
import { describe, expect, it } from 'vitest';
import {
  startInProcess,
  startStages,
  startUpstream,
  until,
  type InProcess,
} from '../../../../test/harness/in-process.js';

/**
 * A synchronous call through ingest, processor and sink on the embedded log, with the simulator
 * over real HTTP: answered in time it leaves nothing in the store and nothing on the status topic;
 * one that outlives SLUICE_SYNC_TIMEOUT_MS is sealed, kept whole and served to its poller.
 */

interface Rig {
  world: InProcess;
  sluice: RunningSluice;
}

async function rig(timeoutMs: number): Promise<Rig> {
  const world = await startInProcess();
  const upstream = await startUpstream();
  const sluice = await startStages(world, {
    roles: ['ingest', 'processor', 'sink'],
    upstream,
    env: {
      SLUICE_SYNC_TIMEOUT_MS: String(timeoutMs),
      // The processor's shared answer cache keeps answers of its own; this is about the call's objects.
      SLUICE_DEDUP_TTL_SECONDS: '0',
    },
  });
  return { world, sluice };
}

async function post(url: string, path: string, body: unknown) {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function keysUnder(world: InProcess, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of world.store.list(prefix)) keys.push(object.key);
  return keys;
}

/** Results of synchronous calls the sink read and dropped (no seal: the call was answered in time). */
async function unsealedSyncDropped(sluice: RunningSluice): Promise<number> {
  const metric = await sluice.metrics.getSingleMetric('sluice_sink_messages_in_total')?.get();
  return metric?.values.find((each) => each.labels.type === 'unsealed_sync')?.value ?? 0;
}

const summarize = (items: { id: string; content: string }[]) => ({ summary_instructions: 'one line', items });

describe('a synchronous call on the embedded log', () => {
  it('answered in time, leaves nothing in the store and nothing on the status topic', async () => {
    const { world, sluice } = await rig(5000);
    const answer = await post(
      sluice.url,
      '/v1/operations/summarize',
      summarize([
        { id: 'a', content: 'The export fails after the upgrade.' },
        { id: 'b', content: 'The customer agreed to wait for the fix.' },
      ]),
    );
    expect(answer.status).toBe(200);
    expect((answer.body.results as { custom_id: string }[]).map((row) => row.custom_id)).toEqual(['a', 'b']);
    // The sink has read both results (and kept neither) before the store and the topic are looked at.
    await until(async () => ((await unsealedSyncDropped(sluice)) === 2 ? true : undefined), 'the results dropped');
    expect(await keysUnder(world, BATCHES)).toEqual([]);
    expect(await keysUnder(world, 'expiry/')).toEqual([]);
    const statusEnds = await world.transport.offsets(world.topics.status);
    expect(statusEnds.reduce((sum, each) => sum + Number(each.high), 0)).toBe(0);
  });

  it('outliving SLUICE_SYNC_TIMEOUT_MS, is sealed and kept whole: its poller reads every result', async () => {
    const { world, sluice } = await rig(100);
    const answer = await post(
      sluice.url,
      '/v1/operations/summarize',
      summarize([
        { id: 'fast', content: 'The export fails after the upgrade.' },
        { id: 'slow', content: 'The customer will wait. sim:latency=400' },
      ]),
    );
    expect(answer.status).toBe(504);
    const error = answer.body.error as { code: string; batch_id: string };
    expect(error.code).toBe('sync_timeout');
    const job = await until(async () => {
      const polled = (await (await fetch(`${sluice.url}/v1/jobs/${error.batch_id}`)).json()) as Record<string, unknown>;
      return polled.status === 'completed' ? polled : undefined;
    }, `the timed-out call ${error.batch_id} completed`);
    expect(job.completed_items).toBe(2);
    const output = (await (await fetch(`${sluice.url}/v1/jobs/${error.batch_id}/output`)).json()) as {
      results: { custom_id: string }[];
    };
    // The fast result, read by ingest before the seal (and dropped by the sink then), is kept too.
    expect(output.results.map((row) => row.custom_id).sort()).toEqual(['fast', 'slow']);
    expect(await keysUnder(world, `${BATCHES}${error.batch_id}/results/`)).not.toEqual([]);
    // Hidden, and deleted at the end of its retention.
    expect((await keysUnder(world, 'expiry/')).some((key) => key.endsWith(error.batch_id))).toBe(true);
  });
});
