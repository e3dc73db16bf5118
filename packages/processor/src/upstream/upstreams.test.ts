import { createLogger, type JobTier, type UpstreamEntry, upstreamEntry } from '@sluice/core';
import { startSimulator, type Simulator, type SimulatorOptions } from '@sluice/simulator';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createProcessorMetrics } from '../metrics.js';
import { ItemPort } from './port.js';
import { ItemFailedError, Upstreams } from './upstreams.js';

const simulators: Simulator[] = [];
const pools: Upstreams[] = [];
afterEach(async () => {
  for (const pool of pools.splice(0)) {
    pool.stop();
    await pool.close();
  }
  await Promise.allSettled(simulators.splice(0).map((simulator) => simulator.close()));
});

async function simulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const started = await startSimulator({ port: 0, ...options });
  simulators.push(started);
  return started;
}

/** An upstream at `at` serving `models` (a file's names), four calls in flight. */
function entry(
  name: string,
  at: Simulator,
  models: string[],
  more: Partial<Omit<UpstreamEntry, 'models'>> = {},
): UpstreamEntry {
  return upstreamEntry({ name, baseUrl: at.url, models, apiKey: 'test', concurrency: 4, ...more });
}

const every = (name: string) => [name];

function pool(list: UpstreamEntry[]) {
  const registry = new Registry();
  const upstreams = new Upstreams(
    {
      list,
      maxAttempts: 3,
      timeoutMs: 5000,
      flexTimeoutMs: 60_000,
      retryBaseMs: 50,
      retryMaxMs: 200,
      settings: { maxSockets: 64, learntState: null, configuredModels: [], health: null },
    },
    createProcessorMetrics(registry),
    createLogger({ name: 'test', level: 'silent' }),
  );
  pools.push(upstreams);
  return { upstreams, registry };
}

/** One item's chat call through the port, as a handler makes it (text: no dialect). */
async function ask(
  upstreams: Upstreams,
  model: string,
  text: string,
  guard: () => void = () => undefined,
  tiering: { tier: JobTier; expiresAtMs: number | null } = { tier: 'auto', expiresAtMs: null },
) {
  const port = new ItemPort(upstreams, {
    guard,
    lane: { interactive: false, tenant: 't', batch: 'b' },
    timeoutMs: 5000,
    ...tiering,
    dedupe: (_endpoint, _key, call) => call().then((value) => ({ value, cached: false, remember: async () => {} })),
  });
  const answer = await port.complete({ route: 'run', model, system: null, user: text, format: { kind: 'text' } });
  return { ...answer, tier: port.tally.tier };
}

/** Runs `count` calls, `parallel` at a time; `during` is told how many finished after each. */
async function many(
  count: number,
  parallel: number,
  call: (i: number) => Promise<{ attempts: number; upstream: string | null }>,
  during: (finished: number) => Promise<void> | void = () => undefined,
) {
  const answers: { attempts: number; upstream: string | null }[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) {
        const i = next++;
        answers.push(await call(i));
        await during(answers.length);
      }
    }),
  );
  return answers;
}

const share = (answers: { upstream: string | null }[], name: string) =>
  answers.filter((answer) => answer.upstream === name).length / answers.length;

describe('the upstream router', () => {
  it("routes by model to the upstreams serving it, in the upstream's own name, and refuses a model nobody serves", async () => {
    const a = await simulator();
    const b = await simulator();
    const { upstreams } = pool([
      entry('alpha', a, every('model-a')),
      { ...entry('beta', b, []), models: [{ match: 'fast', prefix: false, upstreamModel: 'beta-own-name' }] },
    ]);
    const answers = await many(10, 4, (i) => ask(upstreams, i % 2 ? 'fast' : 'model-a', `item ${i}`));
    expect(a.stats().requests).toBe(5);
    expect(b.stats().requests).toBe(5);
    expect(share(answers, 'alpha')).toBe(0.5);
    const renamed = await ask(upstreams, 'fast', 'which model?');
    expect(renamed.upstream).toBe('beta');
    // The upstream was asked as beta-own-name; the client's name is what the result shows.
    expect(renamed.completion.model).toBe('fast');

    const refused = await ask(upstreams, 'gpt-nobody', 'x').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ItemFailedError);
    expect((refused as ItemFailedError).code).toBe('model_not_found');
    expect((refused as ItemFailedError).attempts).toBe(0);
    expect((refused as ItemFailedError).message).toContain('"gpt-nobody"');
    expect(a.stats().requests + b.stats().requests).toBe(11);
  });

  it('spreads a model over its replicas by what each can take: one at a quarter of the speed gets about a fifth', async () => {
    // Both take 4 calls at a time; one answers in 20 ms, the other in 80 ms: 200 and 50 answers a second.
    const fast = await simulator({ latency: { medianMs: 20, p99Ms: 24 } });
    const slow = await simulator({ latency: { medianMs: 80, p99Ms: 96 } });
    const { upstreams } = pool([entry('fast', fast, every('m')), entry('slow', slow, every('m'))]);
    const answers = await many(300, 48, (i) => ask(upstreams, 'm', `spread ${i}`));
    const slowShare = share(answers, 'slow');
    expect(slowShare).toBeGreaterThan(0.1);
    expect(slowShare).toBeLessThan(0.32);
    expect(answers.every((answer) => answer.attempts === 1)).toBe(true);
  });

  it('takes a replica that dies out of rotation at once: its items go to the other without using up attempts; a probe brings it back', async () => {
    const stays = await simulator({ latency: { medianMs: 10, p99Ms: 15 } });
    const dies = await simulator({ latency: { medianMs: 10, p99Ms: 15 } });
    const port = dies.port;
    const { upstreams, registry } = pool([entry('stays', stays, every('m')), entry('dies', dies, every('m'))]);
    const closing: Promise<void>[] = [];
    const answers = await many(
      300,
      16,
      (i) => ask(upstreams, 'm', `failover ${i}`),
      (finished) => {
        if (finished === 60) closing.push(dies.close());
      },
    );
    await Promise.all(closing);
    expect(answers).toHaveLength(300);
    // Not one item paid an attempt for the replica's death.
    expect(answers.every((answer) => answer.attempts === 1)).toBe(true);
    // Out of rotation: down, or being probed (a failed probe keeps it down, up to 5 s at a time).
    expect(upstreams.states().stays).toBe('up');
    expect(upstreams.states().dies).not.toBe('up');
    const rerouted = (await registry.getSingleMetric('sluice_upstream_rerouted_total')?.get())?.values ?? [];
    expect(rerouted.find((value) => value.labels.upstream === 'dies')?.value ?? 0).toBeGreaterThan(0);
    const state = (await registry.getSingleMetric('sluice_upstream_state')?.get())?.values ?? [];
    expect(state.find((v) => v.labels.upstream === 'dies' && v.labels.state === 'down')?.value).toBe(1);

    // It comes back on the same address: the next probe finds it, and it takes calls again.
    const back = await simulator({ port, latency: { medianMs: 10, p99Ms: 15 } });
    // Calls keep coming (a probe rides on one) until it is back in rotation: at most one 5 s wait.
    const deadline = Date.now() + 12_000;
    for (let round = 0; upstreams.states().dies !== 'up' && Date.now() < deadline; round++) {
      await many(8, 8, (i) => ask(upstreams, 'm', `probe ${round} ${i}`));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(upstreams.states().dies).toBe('up');
    await many(60, 8, (i) => ask(upstreams, 'm', `back ${i}`));
    expect(back.stats().requests).toBeGreaterThan(5);
  });

  it('when every upstream of a model is down, its items wait until one comes back, rather than fail', async () => {
    const only = await simulator();
    const port = only.port;
    const { upstreams } = pool([entry('only', only, every('m'))]);
    await ask(upstreams, 'm', 'warm');
    await only.close();
    // A dozen calls fail at once: the circuit opens; the calls that did not fail yet wait.
    const waiting = many(12, 12, (i) => ask(upstreams, 'm', `wait ${i}`));
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(upstreams.states().only).toBe('down');
    await simulator({ port });
    const answers = await waiting;
    expect(answers.every((answer) => answer.upstream === 'only')).toBe(true);
    expect(upstreams.states().only).toBe('up');
  });

  it("a wait for a replica ends with the item's own end (cancelled, expired)", async () => {
    const only = await simulator();
    const { upstreams } = pool([entry('only', only, every('m'))]);
    await only.close();
    // A dozen calls fail and open the circuit (those left waiting are abandoned after half a second).
    const abandon = Date.now() + 500;
    const abandoned = () => {
      if (Date.now() >= abandon) throw new Error('abandoned');
    };
    await Promise.allSettled(Array.from({ length: 12 }, (_, i) => ask(upstreams, 'm', `fail ${i}`, abandoned)));
    expect(upstreams.states().only).toBe('down');
    const ends = Date.now() + 1500;
    const expired = new Error('expired');
    const started = Date.now();
    const outcome = await ask(upstreams, 'm', 'never', () => {
      if (Date.now() >= ends) throw expired;
    }).catch((error: unknown) => error);
    expect(outcome).toBe(expired);
    expect(Date.now() - started).toBeLessThan(4000);
  });
});

describe('tiers', () => {
  const HOUR = 3_600_000;
  const flex = (expiresAtMs: number | null = null) => ({ tier: 'flex' as const, expiresAtMs });
  const auto = (expiresAtMs: number | null) => ({ tier: 'auto' as const, expiresAtMs });

  it('sends flex items with service_tier flex, waiting out capacity refusals without using attempts', async () => {
    const cheap = await simulator({ flexUnavailableRate: 0.5, seed: 3 });
    const { upstreams, registry } = pool([entry('cheap', cheap, every('m'), { tiers: ['realtime', 'flex'] })]);
    const tiers: (string | null)[] = [];
    const answers = await many(20, 8, async (i) => {
      const answer = await ask(upstreams, 'm', `flex ${i}`, undefined, flex());
      tiers.push(answer.tier);
      return answer;
    });
    expect(answers.every((answer) => answer.attempts === 1)).toBe(true);
    expect(tiers).toEqual(Array.from({ length: 20 }, () => 'flex'));
    // Refused about half the time, and each refusal waited out: more flex calls than items.
    const stats = cheap.stats();
    expect(stats.byServiceTier.default ?? 0).toBe(0);
    expect(stats.byServiceTier.flex).toBeGreaterThan(25);
    const refusals = (await registry.getSingleMetric('sluice_upstream_flex_refused_total')?.get())?.values ?? [];
    expect(refusals.find((value) => value.labels.reason === 'capacity')?.value).toBe(stats.byServiceTier.flex! - 20);
    // A refusal is not a rate limit: the rate budget of the upstream was never slowed for it.
    expect((await registry.getSingleMetric('sluice_upstream_429_total')?.get())?.values ?? []).toEqual([]);
  });

  it('auto goes flex when the deadline leaves room, realtime when it does not or no upstream offers flex', async () => {
    const both = await simulator();
    const plain = await simulator();
    const { upstreams } = pool([
      entry('both', both, every('m'), { tiers: ['realtime', 'flex'] }),
      entry('plain', plain, every('r')),
    ]);
    expect((await ask(upstreams, 'm', 'a', undefined, auto(Date.now() + 24 * HOUR))).tier).toBe('flex');
    expect((await ask(upstreams, 'm', 'b', undefined, auto(null))).tier).toBe('flex');
    expect((await ask(upstreams, 'm', 'c', undefined, auto(Date.now() + 30 * 60_000))).tier).toBe('realtime');
    expect((await ask(upstreams, 'r', 'd', undefined, auto(Date.now() + 24 * HOUR))).tier).toBe('realtime');
    expect(both.stats().byServiceTier).toEqual({ flex: 2, default: 1 });
    const refused = await ask(upstreams, 'r', 'e', undefined, flex()).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ItemFailedError);
    expect((refused as ItemFailedError).code).toBe('tier_unavailable');
    expect((refused as ItemFailedError).message).toContain('"r"');
    expect(plain.stats().requests).toBe(1);
  });

  it('auto leaves flex for realtime once refusals bring the deadline within the margin', async () => {
    const full = await simulator({ flexUnavailableRate: 1 });
    const { upstreams } = pool([entry('full', full, every('m'), { tiers: ['realtime', 'flex'] })]);
    // The margin is an hour: an item with an hour and a second left waits out refusals for about a second.
    const started = Date.now();
    const answer = await ask(upstreams, 'm', 'x', undefined, auto(Date.now() + HOUR + 1000));
    expect(answer.tier).toBe('realtime');
    expect(answer.attempts).toBe(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(full.stats().byServiceTier.flex).toBeGreaterThan(1);
  });

  it('remembers an upstream that does not serve the model on flex: auto goes realtime, flex fails clearly', async () => {
    const azure = await simulator({ flexModels: ['other'] });
    const { upstreams } = pool([entry('azure', azure, every('m'), { tiers: ['realtime', 'flex'] })]);
    const first = await ask(upstreams, 'm', 'a', undefined, auto(null));
    expect(first.tier).toBe('realtime');
    expect(first.attempts).toBe(1);
    const second = await ask(upstreams, 'm', 'b', undefined, auto(null));
    expect(second.tier).toBe('realtime');
    // One refused flex call in all: the refusal is remembered.
    expect(azure.stats().byServiceTier).toEqual({ flex: 1, default: 2 });
    const refused = await ask(upstreams, 'm', 'c', undefined, flex()).catch((error: unknown) => error);
    expect((refused as ItemFailedError).code).toBe('tier_unavailable');
    expect((refused as ItemFailedError).message).toContain('refused on flex by azure');
  });
});
