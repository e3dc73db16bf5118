import { createReadStream } from 'node:fs';
import { mkdir, readdir, rm } from 'node:fs/promises';
import {
  type BatchRecord,
  type BatchSpec,
  type DataLayout,
  HEADERS,
  type Logger,
  newBatchRecord,
  type OutgoingMessage,
  type Producer,
  readJsonFile,
  type Serde,
  splitLines,
  type TopicNames,
  writeFileAtomic,
} from '@sluice/core';
import type { StoredItem } from '../intake/jsonl-intake.js';
import type { IngestMetrics } from '../metrics.js';
import type { StatusView } from '../view/status-view.js';

interface IngestMarker {
  state: 'producing' | 'produced';
  spec: BatchSpec;
  total: number;
}

const CHUNK = 2000;
const SENDS_IN_FLIGHT = 4;

/**
 * Turns a validated, stored input into Kafka messages: the batch's first status record, the seal
 * (its size and description), then one request message per item (key = batch id). A marker file says how far it got,
 * so a restarted ingest finishes what it had started (duplicates are dropped by the sink).
 */
export class BatchSubmitter {
  constructor(
    private readonly deps: {
      producer: Producer;
      serde: Serde;
      topics: TopicNames;
      layout: DataLayout;
      view: StatusView;
      logger: Logger;
      counters: IngestMetrics;
    },
  ) {}

  /** Where an intake writes the batch's validated items. */
  async prepare(batchId: string): Promise<string> {
    await mkdir(this.deps.layout.batchDir(batchId), { recursive: true });
    return this.deps.layout.input(batchId);
  }

  /** Forgets a batch whose input was refused. */
  async discard(batchId: string): Promise<void> {
    await rm(this.deps.layout.batchDir(batchId), { recursive: true, force: true });
  }

  /** Publishes a status record written by ingest (before the sink owns the batch, or for a batch that never reaches it). */
  async publishStatus(record: BatchRecord): Promise<void> {
    await this.deps.producer.send(this.deps.topics.status, [
      { key: record.id, value: await this.deps.serde.status.encode(record) },
    ]);
    this.deps.view.apply(record);
  }

  /**
   * Records the batch as `in_progress` and produces its items and seal. The status record goes
   * first: once items are in the requests topic the sink owns the batch's status, and ingest
   * must never write after it.
   */
  async submit(batchId: string, spec: BatchSpec, total: number): Promise<BatchRecord> {
    const record = newBatchRecord(batchId, spec, total, 'in_progress');
    this.deps.counters.batches.inc({ api: spec.api, outcome: 'accepted' });
    await writeFileAtomic(this.deps.layout.ingestMarker(batchId), JSON.stringify({ state: 'producing', spec, total }));
    await this.publishStatus(record);
    await this.produce(batchId, spec, total);
    return record;
  }

  /** Finishes batches a previous run of ingest left half-produced. */
  async resume(): Promise<number> {
    let names: string[];
    try {
      names = await readdir(`${this.deps.layout.root}/batches`);
    } catch {
      return 0;
    }
    let resumed = 0;
    for (const batchId of names) {
      const marker = await readJsonFile<IngestMarker>(this.deps.layout.ingestMarker(batchId)).catch(() => null);
      if (marker?.state !== 'producing') continue;
      this.deps.logger.warn({ batchId }, 'resuming a batch whose production was interrupted');
      await this.produce(batchId, marker.spec, marker.total);
      resumed++;
    }
    return resumed;
  }

  private async produce(batchId: string, spec: BatchSpec, total: number): Promise<void> {
    const { producer, serde, topics, layout } = this.deps;
    const inFlight = new Set<Promise<void>>();
    const send = async (messages: OutgoingMessage[]) => {
      const sending = producer
        .send(topics.requests, messages)
        .then(() => this.deps.counters.itemsProduced.inc(messages.length));
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending)).catch(() => undefined);
      if (inFlight.size >= SENDS_IN_FLIGHT) await Promise.race(inFlight);
    };
    // The seal goes first: the sink learns the batch's size and description before any result,
    // so it can publish progress (and honour a cancel) from the first item on.
    await producer.send(topics.requests, [
      {
        key: batchId,
        value: await serde.requests.encode({ type: 'seal', batch_id: batchId, total, spec }),
        headers: { [HEADERS.type]: 'seal' },
      },
    ]);
    let chunk: OutgoingMessage[] = [];
    let index = 0;
    const messagePrefix = requestMessagePrefix(batchId, spec);
    for await (const line of splitLines(createReadStream(layout.input(batchId), { highWaterMark: 1024 * 1024 }), {
      maxLineBytes: Number.MAX_SAFE_INTEGER,
    })) {
      const storedJson = line.bytes.toString('utf8');
      let value: Buffer;
      if (index === 0) {
        // The first item goes through the full encode (parse, validate), so a mistake in how the
        // message is put together fails loudly instead of producing a million bad messages.
        const stored = JSON.parse(storedJson) as StoredItem;
        value = await serde.requests.encode({
          type: 'item',
          batch_id: batchId,
          index,
          custom_id: stored.custom_id,
          api: spec.api,
          discriminator: stored.discriminator,
          body: stored.body,
          expires_at: spec.expires_at,
        });
      } else {
        value = serde.requests.frameTrusted(`${messagePrefix}${index},${storedJson.slice(1)}`);
      }
      index++;
      chunk.push({ key: batchId, value, headers: { [HEADERS.type]: 'item' } });
      if (chunk.length >= CHUNK) {
        await send(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) await send(chunk);
    await Promise.all(inFlight);
    if (index !== total) throw new Error(`batch ${batchId}: stored ${index} items, expected ${total}`);
    await writeFileAtomic(layout.ingestMarker(batchId), JSON.stringify({ state: 'produced', spec, total }));
  }
}

/**
 * The start of a batch's request messages, up to the index: a stored line is the validated
 * `{custom_id, discriminator, body}` object, and the message is that object with the batch's fields
 * in front (`prefix + index + "," + line without its "{"`), spliced as text rather than parsed again.
 */
export function requestMessagePrefix(batchId: string, spec: Pick<BatchSpec, 'api' | 'expires_at'>): string {
  return `{"type":"item","batch_id":${JSON.stringify(batchId)},"api":${JSON.stringify(spec.api)},"expires_at":${JSON.stringify(spec.expires_at)},"index":`;
}
