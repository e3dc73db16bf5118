import { type BenchInfra, round, sluiceEnv } from './common.js';
import { sleep, startRole, startSimulatorProcess, until } from './processes.js';

export interface B9Result {
  rpmLimit: number;
  bigJobItems: number;
  /** How many jobs tenant A's items were split into (more than the requests partitions: every one could hold a backlog). */
  bigJobs: number;
  smallJobItems: number;
  /** The small job, submitted while the big one saturates the limit: items per minute, submit to completed. */
  smallJobRpm: number;
  smallJobSeconds: number;
  /** The big job's items per minute over the same time. */
  bigJobRpmMeanwhile: number;
  /** Synchronous classify calls of a third tenant during that time: latency in ms. */
  syncCalls: number;
  syncP50Ms: number;
  syncP95Ms: number;
  syncMaxMs: number;
  /** Sync calls that did not answer 200. */
  syncFailures: number;
  /** Calls the upstream received per minute over that time (all tenants). */
  upstreamRpm: number;
}

interface JobView {
  id: string;
  status: string;
  completed_items: number;
  failed_items: number;
}

const KEYS = { a: 'bench-key-a', b: 'bench-key-b', c: 'bench-key-c' };

/**
 * B9 — interactive first, tenants share fairly (docs/fairness.md). Tenant A's big `label` job (or
 * `bigJobs` jobs sharing its items, more than the requests partitions) saturates a `rpm` limit; once it does, tenant B submits a small job and tenant C makes one
 * synchronous classify call a second until B's job is done. Measured: B's items per minute (target
 * ≥ a third of the limit), C's latencies (target p95 < 2 s), and A's pace meanwhile. The simulator
 * answers in 100–400 ms and has no limit of its own: the limit is Sluice's (`SLUICE_UPSTREAM_RPM`).
 */
export async function runB9(
  infra: BenchInfra,
  options: { bigItems: number; bigJobs: number; smallItems: number; rpm: number },
): Promise<B9Result> {
  const { bigItems, bigJobs, smallItems, rpm } = options;
  const simulator = await startSimulatorProcess(['--latency', '100,400']);
  const env = await sluiceEnv(infra, `b9-${bigJobs}`, {
    OPENAI_BASE_URL: `${simulator.url}/v1`,
    SLUICE_UPSTREAM_RPM: String(rpm),
    SLUICE_API_KEYS: `${KEYS.a}=tenant-a,${KEYS.b}=tenant-b,${KEYS.c}=tenant-c`,
  });
  const sluice = await startRole('all', env);
  const call = async (key: string, method: string, path: string, body?: unknown) => {
    const response = await fetch(`${sluice.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const submit = async (key: string, tenant: string, count: number): Promise<string> => {
    const { status, body } = await call(key, 'POST', '/v1/jobs', {
      operation: 'label',
      categories: ['billing', 'bug', 'other'],
      // Distinct items: identical ones would be answered once (deduplication), not measured.
      items: Array.from({ length: count }, (_, i) => ({ content: `${tenant} ticket ${i}: I was charged twice.` })),
    });
    if (status !== 200) throw new Error(`${tenant}'s job refused: HTTP ${status} ${JSON.stringify(body)}`);
    return (body as JobView).id;
  };
  const job = async (key: string, id: string) => (await call(key, 'GET', `/v1/jobs/${id}`)).body as JobView;
  const done = (view: JobView) => view.completed_items + view.failed_items;
  const bigs: string[] = [];
  const doneOfA = async () => {
    let sum = 0;
    for (const id of bigs) sum += done(await job(KEYS.a, id));
    return sum;
  };
  try {
    for (let i = 0; i < bigJobs; i++) {
      const share = Math.floor(bigItems / bigJobs) + (i < bigItems % bigJobs ? 1 : 0);
      bigs.push(await submit(KEYS.a, `tenant-a job ${i}`, share));
    }
    // Saturated: the big job has run for a while at the limit's pace.
    await until(
      async () => ((await doneOfA()) >= Math.min(bigItems / 4, rpm / 6) ? true : undefined),
      600_000,
      'the big job to get going',
      200,
    );
    const bigBefore = await doneOfA();
    const upstreamCalls = async () =>
      ((await (await fetch(`${simulator.url}/sim/stats`)).json()) as { requests: number }).requests;
    const callsBefore = await upstreamCalls();
    const started = performance.now();
    const small = await submit(KEYS.b, 'tenant-b', smallItems);
    const latencies: number[] = [];
    let failures = 0;
    let smallFinished = false;
    const syncLoop = (async () => {
      for (let i = 0; !smallFinished; i++) {
        const sent = performance.now();
        const answer = await call(KEYS.c, 'POST', '/v1/operations/classify', {
          items: [{ content: `tenant-c call ${i}: where is my parcel?` }],
          categories: ['billing', 'shipping', 'other'],
        });
        latencies.push(performance.now() - sent);
        if (answer.status !== 200) failures++;
        await sleep(Math.max(0, 1000 - (performance.now() - sent)));
      }
    })();
    const finished = await until(
      async () => {
        const view = await job(KEYS.b, small);
        if (view.status === 'failed' || view.status === 'expired') throw new Error(`${small} ${view.status}`);
        return view.status === 'completed' ? view : undefined;
      },
      1_800_000,
      `job ${small}`,
      200,
    );
    const seconds = (performance.now() - started) / 1000;
    smallFinished = true;
    await syncLoop;
    const bigAfter = await doneOfA();
    const callsAfter = await upstreamCalls();
    for (const id of bigs) await call(KEYS.a, 'POST', `/v1/jobs/${id}/cancel`);
    const sorted = [...latencies].sort((x, y) => x - y);
    const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN, 0);
    return {
      rpmLimit: rpm,
      bigJobItems: bigItems,
      bigJobs,
      smallJobItems: done(finished),
      smallJobRpm: round((smallItems / seconds) * 60, 0),
      smallJobSeconds: round(seconds, 1),
      bigJobRpmMeanwhile: round(((bigAfter - bigBefore) / seconds) * 60, 0),
      syncCalls: latencies.length,
      syncP50Ms: at(0.5),
      syncP95Ms: at(0.95),
      syncMaxMs: round(sorted.at(-1) ?? NaN, 0),
      syncFailures: failures,
      upstreamRpm: round(((callsAfter - callsBefore) / seconds) * 60, 0),
    };
  } finally {
    await Promise.all([sluice.stop(), simulator.stop()]);
  }
}
