import { ClientRequest } from 'node:http';
import { startSluice } from '@sluice/cli';
import { ClassifyParams, compileConfig, createSerde, HEADERS, type OutgoingMessage, parseEnv } from '@sluice/core';
import {
  type CapturedCall,
  LABEL_CATEGORIES,
  labelText,
  type ProcessorAnswer,
  type ProcessorAsk,
} from './cpu-floor.js';

/**
 * The processor of `pnpm bench --check` (cpu-floor.ts), in a process of its own so that only its
 * CPU is counted: not the simulator's, not the bench's. It is the processor as `sluice serve --role
 * processor` builds it from the environment (every default, deduplication on), on the embedded
 * transport (no broker): `label` items are put on its requests topic by this process, and the CPU of
 * putting them there is measured and taken out.
 *
 * Driven over IPC (`ProcessorAsk` in, `ProcessorAnswer` out) so that the bench can take its rounds
 * between the floor's, under the same load.
 */
const BATCH_ID = 'batch_cpu_floor';
const TENANT = 'bench';

const config = compileConfig(parseEnv(process.env));
const running = await startSluice(config, { roles: ['processor'] });
const serde = await createSerde({ topics: config.topics, registryUrl: null });
const producer = await running.transport.producer();
const params = ClassifyParams.parse({ categories: LABEL_CATEGORIES });
let nextIndex = 0;

/** `count` label items, as the ingest writes a job's items (one partition: the key is the batch id). */
async function encodeItems(count: number): Promise<OutgoingMessage[]> {
  const messages: OutgoingMessage[] = [];
  for (let i = 0; i < count; i++) {
    const index = nextIndex++;
    const value = await serde.requests.encode({
      type: 'item',
      batch_id: BATCH_ID,
      index,
      custom_id: String(index),
      api: 'operations',
      discriminator: 'classify', // `label` is classify's job name
      body: { params, item: { content: labelText(index) } },
      tenant: TENANT,
    });
    messages.push({ key: BATCH_ID, value, headers: { [HEADERS.type]: 'item', [HEADERS.tenant]: TENANT } });
  }
  return messages;
}

async function resultsWritten(): Promise<number> {
  const partitions = await running.transport.offsets(config.topics.results);
  return partitions.reduce((sum, p) => sum + Number(p.high), 0);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** The processor is idle when it used less than IDLE_SHARE of a core over SETTLE_WINDOW_MS. */
const SETTLE_WINDOW_MS = 50;
const IDLE_SHARE = 0.02;

const cpuMicros = () => {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
};

/** CPU µs of this process while the processor works `messages` off, without the producing. */
async function work(messages: OutgoingMessage[]): Promise<number> {
  const target = (await resultsWritten()) + messages.length;
  // The embedded log appends and wakes its consumers synchronously inside send(): the CPU until
  // send() returns is the producer's, and the processor's first step (a microtask) runs after.
  const sending = producer.send(config.topics.requests, messages);
  const produced = cpuMicros();
  await sending;
  while ((await resultsWritten()) < target) await sleep(10);
  // Work an item leaves behind once its result is out (answers written to the store, commits)
  // is its cost too, and must not fall into the floor's round that comes next: wait until idle.
  for (let settled = 0; settled < 100; settled++) {
    const before = cpuMicros();
    await sleep(SETTLE_WINDOW_MS);
    if (cpuMicros() - before < SETTLE_WINDOW_MS * 1000 * IDLE_SHARE) break;
  }
  return cpuMicros() - produced;
}

/**
 * Records the first chat completion the processor sends, while it warms up (then the hook is
 * removed): the floor repeats exactly this call, so both sides put the same bytes on the wire.
 */
function captureFirstCall(): { remove(): void; call(): CapturedCall } {
  const end = ClientRequest.prototype.end;
  let captured: CapturedCall | null = null;
  ClientRequest.prototype.end = function (this: ClientRequest, ...args: unknown[]) {
    const [chunk] = args;
    if (!captured && this.method === 'POST' && this.path.endsWith('/chat/completions') && chunk !== undefined) {
      const headers = Object.fromEntries(
        Object.entries(this.getHeaders())
          .filter(([name]) => name !== 'host' && name !== 'connection')
          .map(([name, value]) => [name, String(value)]),
      );
      captured = { path: this.path, headers, body: Buffer.from(chunk as string | Uint8Array).toString('utf8') };
    }
    return (end as (...a: unknown[]) => ClientRequest).apply(this, args);
  } as typeof end;
  return {
    remove() {
      ClientRequest.prototype.end = end;
    },
    call() {
      if (!captured) throw new Error('the processor sent no chat completion (with its body in end())');
      return captured;
    },
  };
}

async function itemsOk(): Promise<number> {
  const metric = await running.metrics.getSingleMetric('sluice_processor_items_out_total')?.get();
  return metric?.values.find((v) => v.labels.outcome === 'ok')?.value ?? 0;
}

/** Answers the bench's asks one at a time, in order. */
async function answer(ask: ProcessorAsk): Promise<ProcessorAnswer> {
  switch (ask.type) {
    case 'warm-up': {
      const capture = captureFirstCall();
      try {
        await work(await encodeItems(ask.items));
      } finally {
        capture.remove();
      }
      return { type: 'warmed-up', call: capture.call() };
    }
    case 'round': {
      const micros = await work(await encodeItems(ask.items));
      return { type: 'round', cpuMsPerItem: micros / 1000 / ask.items };
    }
    case 'stop': {
      // A processor that failed its items fast would look cheap: every item must have been answered.
      const ok = await itemsOk();
      await running.stop();
      return { type: 'stopped', error: ok === nextIndex ? null : `the processor answered ${ok} of ${nextIndex} items` };
    }
  }
}

let queue = Promise.resolve();
process.on('message', (ask: ProcessorAsk) => {
  queue = queue
    .then(async () => {
      process.send?.(await answer(ask));
      if (ask.type === 'stop') process.disconnect?.();
    })
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    });
});
process.send?.({ type: 'ready' } satisfies ProcessorAnswer);
