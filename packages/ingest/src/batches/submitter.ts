import { randomBytes } from 'node:crypto';
import {
  type ApiKind,
  BatchId,
  type BatchRecord,
  BatchSpec,
  HEADERS,
  type Logger,
  newBatchRecord,
  nowSeconds,
  type OutgoingMessage,
  type Producer,
  putJson,
  readJson,
  type Serde,
  splitLines,
  type Store,
  storeKeys,
  type TopicNames,
  ValidationError,
  type ValidationIssue,
  WORK,
} from '@sluice/core';
import type { IntakeResult, StoredItem } from '../intake/jsonl-intake.js';
import type { IngestMetrics } from '../metrics.js';
import type { StatusView } from '../view/status-view.js';
import { IntakeStatusWriter } from './intake-status.js';
import type { PartitionPlacer } from './placement.js';

/**
 * A batch ingest is working on (validating an OpenAI input file, or producing items), kept in the
 * store with a lease: the owner refreshes `heartbeat_ms`, and when it stops doing so (the process
 * died) any ingest takes the work over. So no ingest keeps anything another could not finish.
 */
export interface WorkMarker {
  state: 'validating' | 'producing';
  spec: BatchSpec;
  total: number;
  owner: string;
  heartbeat_ms: number;
}

/** Ingest's own work markers (no other role reads them). */
const workKey = (batchId: string) => `${WORK}${BatchId.parse(batchId)}.json`;

// kafkajs groups a send's messages by partition by copying the group's array for each message
// (groupMessagesPerPartition: quadratic in the send's size), 7% of ingest's CPU in B3 with 2000 a
// send. 500 a send cuts that to a quarter; as many messages in flight as before.
const CHUNK = 500;
const SENDS_IN_FLIGHT = 16;
/** How often an owner renews its leases, and how old a lease is before another ingest takes it. */
export const LEASE_RENEW_MS = 10_000;
export const LEASE_EXPIRY_MS = 45_000;

/**
 * Turns a validated, stored input into Kafka messages: the batch's hand-over status record, the
 * seal (its size and description) on the results topic, then one request message per item (key =
 * batch id), all on the partition the placer chose for the batch (docs/fairness.md). A leased
 * work marker in the store says a batch is being produced, so if this ingest dies any other one
 * finishes the job (duplicates are dropped by the sink).
 */
export class BatchSubmitter {
  /** This process, as a lease owner. */
  readonly owner = `ingest-${randomBytes(6).toString('hex')}`;
  /** Work this process holds leases on. */
  private readonly leased = new Map<string, WorkMarker>();
  private renewTimer: NodeJS.Timeout | null = null;
  /** Ingest's only writer of status records and seals (the status writer rule). */
  readonly status: IntakeStatusWriter;

  constructor(
    private readonly deps: {
      producer: Producer;
      serde: Serde;
      topics: TopicNames;
      store: Store;
      view: StatusView;
      logger: Logger;
      counters: IngestMetrics;
      /** Choose each batch's partition of the requests and interactive topics (null: the key decides). */
      placers: { requests: PartitionPlacer; interactive: PartitionPlacer } | null;
    },
  ) {
    this.status = new IntakeStatusWriter(deps);
  }

  /** Where an intake writes the batch's validated items. */
  inputKey(batchId: string): string {
    return storeKeys.input(batchId);
  }

  /**
   * Runs a batch's intake (which writes its validated items to `inputKey`) and returns how many
   * items it kept; on any problem, or if the intake throws, the batch is discarded and the whole
   * input refused with every problem (`nameIssues` renames them, e.g. lines as `items.N`).
   */
  async intakeOrRefuse(
    batchId: string,
    api: ApiKind,
    runIntake: () => Promise<IntakeResult>,
    nameIssues: (issues: ValidationIssue[]) => ValidationIssue[] = (issues) => issues,
    /** `stored: false`: the intake kept its items in memory, and there is nothing to discard. */
    options: { stored: boolean } = { stored: true },
  ): Promise<number> {
    let result: IntakeResult;
    try {
      result = await runIntake();
    } catch (error) {
      if (options.stored) await this.discard(batchId);
      throw error;
    }
    if (result.issues.length > 0) {
      if (options.stored) await this.discard(batchId);
      this.deps.counters.batches.inc({ api, outcome: 'refused' });
      throw new ValidationError(nameIssues(result.issues), result.truncated);
    }
    return result.items;
  }

  /** Forgets a batch whose input was refused: nothing of it stays in the store. */
  async discard(batchId: string): Promise<void> {
    await this.deps.store.deletePrefix(storeKeys.batchPrefix(batchId));
    await this.release(batchId);
  }

  /** Publishes a status record of a batch in intake (before the sink owns it, or for one that never reaches it). */
  async publishStatus(record: BatchRecord): Promise<BatchRecord> {
    return this.status.publish(record);
  }

  /** Takes (or renews) the lease on a batch's work. */
  async lease(batchId: string, state: WorkMarker['state'], spec: BatchSpec, total: number): Promise<void> {
    const marker: WorkMarker = { state, spec, total, owner: this.owner, heartbeat_ms: Date.now() };
    await putJson(this.deps.store, workKey(batchId), marker);
    this.leased.set(batchId, marker);
  }

  /** The work on a batch is done (or given up): its marker goes. */
  async release(batchId: string): Promise<void> {
    if (!this.leased.delete(batchId) && !(await this.deps.store.head(workKey(batchId)))) return;
    await this.deps.store.delete([workKey(batchId)]);
  }

  /**
   * Records the batch as `in_progress` (the hand-over record), then seals it and produces its
   * items. The status record goes first: once the seal is written the sink owns the batch's
   * status, and ingest never writes it again.
   */
  async submit(batchId: string, spec: BatchSpec, total: number): Promise<BatchRecord> {
    this.deps.counters.batches.inc({ api: spec.api, outcome: 'accepted' });
    await this.lease(batchId, 'producing', spec, total);
    const record = await this.publishStatus(newBatchRecord(batchId, spec, total, 'in_progress', 'intake'));
    await this.produce(batchId, spec, total);
    await this.release(batchId);
    return record;
  }

  /** Renews this process's leases every LEASE_RENEW_MS. */
  startLeases(): void {
    this.renewTimer = setInterval(() => {
      void (async () => {
        for (const [batchId, marker] of this.leased) {
          const renewed = { ...marker, heartbeat_ms: Date.now() };
          await putJson(this.deps.store, workKey(batchId), renewed).catch((error: unknown) =>
            this.deps.logger.warn({ err: error, batchId }, 'renewing a work lease failed'),
          );
        }
      })();
    }, LEASE_RENEW_MS);
    this.renewTimer.unref();
  }

  stopLeases(): void {
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = null;
  }

  /**
   * Takes over work whose owner stopped renewing its lease (an ingest that died): production is
   * finished here; validation is handed to `onValidating`. Returns how many were taken.
   */
  async takeOverAbandoned(onValidating: (batchId: string, spec: BatchSpec) => void): Promise<number> {
    let taken = 0;
    const now = Date.now();
    for await (const object of this.deps.store.list(WORK)) {
      const batchId = object.key.slice(WORK.length, -'.json'.length);
      if (this.leased.has(batchId)) continue;
      const marker = await readJson<WorkMarker>(this.deps.store, object.key).catch(() => null);
      if (!marker || now - marker.heartbeat_ms < LEASE_EXPIRY_MS) continue;
      const spec = BatchSpec.parse(marker.spec);
      this.deps.logger.warn(
        { batchId, state: marker.state, owner: marker.owner },
        'taking over the work of an ingest that stopped',
      );
      await this.lease(batchId, marker.state, spec, marker.total);
      taken++;
      if (marker.state === 'validating') {
        onValidating(batchId, spec);
        continue;
      }
      try {
        await this.produce(batchId, spec, marker.total);
        await this.release(batchId);
      } catch (error) {
        this.deps.logger.error({ err: error, batchId }, 'finishing an abandoned batch failed; will retry');
        this.leased.delete(batchId); // the lease lapses and the work is taken again
      }
    }
    return taken;
  }

  /** When a batch's input copy is deleted even if the batch never gets anywhere (see the sweeper). */
  async markProvisionalExpiry(batchId: string, tenant: string, afterSeconds: number): Promise<void> {
    await putJson(this.deps.store, storeKeys.expiry(nowSeconds() + afterSeconds, 'batch', batchId), {
      kind: 'batch',
      id: batchId,
      tenant,
    });
  }

  private async produce(batchId: string, spec: BatchSpec, total: number): Promise<void> {
    const { producer, topics, store } = this.deps;
    // A synchronous call's messages are interactive work: their own topic, read by a consumer of
    // its own, so they never wait in the log behind a batch backlog (docs/fairness.md).
    const lane = spec.sync ? 'interactive' : 'requests';
    const topic = topics[lane];
    const codec = this.deps.serde[lane];
    const inFlight = new Set<Promise<void>>();
    const send = async (messages: OutgoingMessage[]) => {
      const sending = producer.send(topic, messages).then(() => this.deps.counters.itemsProduced.inc(messages.length));
      inFlight.add(sending);
      void sending.finally(() => inFlight.delete(sending)).catch(() => undefined);
      if (inFlight.size >= SENDS_IN_FLIGHT) await Promise.race(inFlight);
    };
    // One partition for the whole batch, in order.
    const partition = (await this.deps.placers?.[lane].place(total, spec.tenant)) ?? undefined;
    const itemHeaders: Record<string, string> = { [HEADERS.type]: 'item', [HEADERS.tenant]: spec.tenant };
    if (spec.sync) itemHeaders[HEADERS.priority] = 'interactive';
    // The seal goes first, to the results topic: the sink learns the batch's size and description
    // before any result, so it can publish progress (and honour a cancel) from the first item on.
    // Written again by an ingest that takes the work over (the sink ignores a repeated seal).
    await this.status.seal(batchId, spec, total);
    let chunk: OutgoingMessage[] = [];
    let index = 0;
    const messagePrefix = requestMessagePrefix(batchId, spec);
    const input = await store.stream(storeKeys.input(batchId));
    if (!input) throw new Error(`batch ${batchId}: its input is not in the store`);
    for await (const line of splitLines(input as AsyncIterable<Buffer>, { maxLineBytes: Number.MAX_SAFE_INTEGER })) {
      const storedJson = line.bytes.toString('utf8');
      let value: Buffer;
      if (index === 0) {
        // The first item goes through the full encode (parse, validate), so a mistake in how the
        // message is put together fails loudly instead of producing a million bad messages.
        const stored = JSON.parse(storedJson) as StoredItem;
        value = await codec.encode({
          type: 'item',
          batch_id: batchId,
          index,
          custom_id: stored.custom_id,
          api: spec.api,
          discriminator: stored.discriminator,
          body: stored.body,
          expires_at: spec.expires_at,
          tenant: spec.tenant,
          dedup: spec.dedup,
          tier: spec.tier,
          timeout_ms: timeoutMsOf(spec),
        });
      } else {
        value = codec.frameTrusted(`${messagePrefix}${index},${storedJson.slice(1)}`);
      }
      index++;
      chunk.push({ key: batchId, value, headers: itemHeaders, partition });
      if (chunk.length >= CHUNK) {
        await send(chunk);
        chunk = [];
      }
    }
    if (chunk.length > 0) await send(chunk);
    await Promise.all(inFlight);
    if (index !== total) throw new Error(`batch ${batchId}: stored ${index} items, expected ${total}`);
  }
}

/**
 * The start of a batch's request messages, up to the index: a stored line is the validated
 * `{custom_id, discriminator, body}` object, and the message is that object with the batch's fields
 * in front (`prefix + index + "," + line without its "{"`), spliced as text rather than parsed again.
 */
export function requestMessagePrefix(
  batchId: string,
  spec: Pick<BatchSpec, 'api' | 'expires_at' | 'tenant' | 'dedup' | 'tier' | 'request_timeout_seconds'>,
): string {
  return `{"type":"item","batch_id":${JSON.stringify(batchId)},"api":${JSON.stringify(spec.api)},"expires_at":${JSON.stringify(spec.expires_at)},"tenant":${JSON.stringify(spec.tenant)},"dedup":${JSON.stringify(spec.dedup)},"tier":${JSON.stringify(spec.tier)},"timeout_ms":${JSON.stringify(timeoutMsOf(spec))},"index":`;
}

/** The items' upstream timeout: the batch's `request_timeout_seconds` in ms, or null (the processor's own). */
function timeoutMsOf(spec: Pick<BatchSpec, 'request_timeout_seconds'>): number | null {
  return spec.request_timeout_seconds === null ? null : Math.max(1, Math.round(spec.request_timeout_seconds * 1000));
}
