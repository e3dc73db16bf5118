import { describe, expect, it } from 'vitest';
import { chooseReplica, type ReplicaLoad } from './choice.js';

const replica = (overrides: Partial<ReplicaLoad> = {}): ReplicaLoad => ({
  available: true,
  probing: false,
  waiting: 0,
  inFlight: 0,
  concurrencyLimit: 4,
  latencyMs: 50,
  rateWaitMs: 0,
  requestsPerMs: Infinity,
  ...overrides,
});

/** Places `calls` calls one after another, none finishing: how a backlog is split. */
function place(loads: ReplicaLoad[], calls: number): number[] {
  const placed = loads.map(() => 0);
  for (let i = 0; i < calls; i++) {
    const chosen = chooseReplica(loads);
    placed[chosen] = (placed[chosen] ?? 0) + 1;
    const load = loads[chosen] as ReplicaLoad;
    if (load.inFlight < load.concurrencyLimit) load.inFlight++;
    else load.waiting++;
  }
  return placed;
}

describe("choosing a model's replica", () => {
  it('a replica at half the speed (twice the latency) gets about half as many calls', () => {
    const [fast, slow] = place([replica({ latencyMs: 50 }), replica({ latencyMs: 100 })], 300) as [number, number];
    expect(fast / slow).toBeGreaterThan(1.8);
    expect(fast / slow).toBeLessThan(2.2);
  });

  it('replicas rate-limited at 600 and 1,200 rpm split a backlog about 1:2, both kept at their limit', () => {
    const perMinute = (rpm: number) => rpm / 60_000;
    const [small, large] = place(
      [replica({ requestsPerMs: perMinute(600) }), replica({ requestsPerMs: perMinute(1200) })],
      300,
    ) as [number, number];
    expect(large / small).toBeGreaterThan(1.8);
    expect(large / small).toBeLessThan(2.2);
  });

  it('equal replicas share evenly, not all on the first', () => {
    const placed = place([replica(), replica(), replica()], 90);
    for (const count of placed) expect(count).toBe(30);
  });

  it('never places a call on a replica out of rotation; none in rotation: -1', () => {
    const down = replica({ available: false, latencyMs: 1 });
    expect(chooseReplica([down, replica({ latencyMs: 500, inFlight: 100 })])).toBe(1);
    expect(chooseReplica([down, { ...down }])).toBe(-1);
  });

  it('a probing replica gets the next call: a replica that came back is tried at once', () => {
    expect(chooseReplica([replica(), replica({ probing: true, latencyMs: 5000 })])).toBe(1);
  });

  it('a replica that has not answered yet is assumed as slow as the others, so the first calls spread', () => {
    const placed = place([replica({ latencyMs: 40 }), replica({ latencyMs: null })], 40);
    expect(placed[1]).toBeGreaterThan(10);
  });
});
