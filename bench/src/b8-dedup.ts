import { type BenchInfra, round, sluiceEnv } from './common.js';
import { type SluiceProcess, startRole, startSimulatorProcess, until } from './processes.js';

export interface B8Run {
  /** Upstream calls the simulator received for the job. */
  upstreamCalls: number;
  /** The job's `usage.cached_items`. */
  cachedItems: number;
  wallSeconds: number;
  /** Answers each running processor took from the shared store (written by another instance, or its own earlier answers). */
  fromStoreByProcessor: number[];
}

export interface B8Result {
  items: number;
  distinct: number;
  first: B8Run;
  again: B8Run;
}

interface JobView {
  id: string;
  status: string;
  usage: { cached_items: number };
}

/**
 * B8 — never pay twice (docs/deduplication.md): an operations `label` job whose items repeat
 * (`distinct` different texts among `items`, the duplicates spread through the job), run twice within
 * the dedup window by two processors sharing one store. Counted at the simulator: the first run
 * should make one call per distinct text, the second none. Between the runs the processor that did
 * the first job is stopped, so the second is answered by the other one, whose memory is empty:
 * through the store, as a processor on another machine would be.
 */
export async function runB8(infra: BenchInfra, items: number, distinct: number): Promise<B8Result> {
  const simulator = await startSimulatorProcess(['--latency', '20,100']);
  const env = await sluiceEnv(infra, 'b8', { OPENAI_BASE_URL: `${simulator.url}/v1` });
  const [sink, started, ingest] = await Promise.all([
    startRole('sink', env),
    Promise.all([startRole('processor', env), startRole('processor', env)]),
    startRole('ingest', env),
  ]);
  // Item i < distinct is new; the others repeat an earlier one, picked by a stride through them.
  const jobItems = Array.from({ length: items }, (_, i) => ({
    content: `Ticket ${i < distinct ? i : (i * 7919) % distinct}: I was charged twice for my subscription.`,
  }));
  let processors: SluiceProcess[] = started;
  const run = async (): Promise<B8Run> => {
    await fetch(`${simulator.url}/sim/reset`, { method: 'POST' });
    const fromStoreBefore = await Promise.all(
      processors.map((p) => p.metric('sluice_processor_dedup_lookups_total', { source: 'log' })),
    );
    const started = performance.now();
    const response = await fetch(`${ingest.url}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ operation: 'label', categories: ['billing', 'bug', 'other'], items: jobItems }),
    });
    const created = (await response.json()) as JobView;
    if (response.status !== 200) throw new Error(`job refused: HTTP ${response.status} ${JSON.stringify(created)}`);
    const job = await until(
      async () => {
        const view = (await (await fetch(`${ingest.url}/v1/jobs/${created.id}`)).json()) as JobView;
        if (view.status === 'failed' || view.status === 'expired') throw new Error(`${created.id} ${view.status}`);
        return view.status === 'completed' ? view : undefined;
      },
      1_800_000,
      `job ${created.id}`,
      100,
    );
    const wallSeconds = round((performance.now() - started) / 1000, 1);
    const stats = (await (await fetch(`${simulator.url}/sim/stats`)).json()) as { requests: number };
    const fromStoreAfter = await Promise.all(
      processors.map((p) => p.metric('sluice_processor_dedup_lookups_total', { source: 'log' })),
    );
    return {
      upstreamCalls: stats.requests,
      cachedItems: job.usage.cached_items,
      wallSeconds,
      fromStoreByProcessor: fromStoreAfter.map((after, i) => after - (fromStoreBefore[i] ?? 0)),
    };
  };
  try {
    const first = await run();
    // The processor that called the upstream goes; the other takes the partitions over.
    const calls = await Promise.all(
      processors.map((p) => p.metric('sluice_processor_dedup_lookups_total', { source: 'upstream' })),
    );
    const busy = calls.indexOf(Math.max(...calls));
    await processors[busy]?.stop();
    processors = processors.filter((_, i) => i !== busy);
    const again = await run();
    return { items, distinct, first, again };
  } finally {
    await Promise.all([ingest.stop(), ...started.map((p) => p.stop()), sink.stop(), simulator.stop()]);
  }
}
