import { createHash, createHmac } from 'node:crypto';
import {
  type BatchRecord,
  BoundedCache,
  type Consumer,
  isTerminal,
  type Logger,
  parseRetryAfter,
  retrying,
  type RetryPolicy,
  type Serde,
  StatusWriterRule,
  type TopicNames,
  type Transport,
} from '@sluice/core';

export interface WebhookOptions {
  url: string;
  /** Signing key; `whsec_<base64>` (OpenAI's format) or any string. */
  secret: string;
  transport: Transport;
  serde: Serde;
  topics: TopicNames;
  logger: Logger;
  /** Cap on the pause between deliveries of one event, in ms. @defaultValue 300000 */
  maxBackoffMs?: number;
  /** @defaultValue 10000 */
  requestTimeoutMs?: number;
  /**
   * Batches that finished this long before the notifier started are not announced: the group
   * reads the status topic from the beginning the first time, and should not replay history.
   * @defaultValue 86400000 (24 hours)
   */
  replayWindowMs?: number;
}

/** An OpenAI-shaped webhook event. */
export interface BatchEvent {
  id: string;
  object: 'event';
  created_at: number;
  type: 'batch.completed' | 'batch.failed' | 'batch.expired' | 'batch.cancelled';
  data: { id: string };
}

/** The event for a final batch record; its id is fixed per (batch, type), so receivers can drop repeats. */
export function batchEvent(record: BatchRecord): BatchEvent | null {
  if (!isTerminal(record.status) || record.sync) return null;
  const type = `batch.${record.status}` as BatchEvent['type'];
  const at = record.completed_at ?? record.failed_at ?? record.expired_at ?? record.cancelled_at ?? record.created_at;
  return {
    id: `evt_${createHash('sha256').update(`${record.id}:${type}`).digest('hex').slice(0, 24)}`,
    object: 'event',
    created_at: at,
    type,
    data: { id: record.id },
  };
}

/**
 * Standard Webhooks signature headers, as OpenAI sends them: `webhook-signature` is
 * `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`.
 */
export function signWebhook(secret: string, id: string, timestamp: number, body: string): Record<string, string> {
  const key = secret.startsWith('whsec_') ? Buffer.from(secret.slice(6), 'base64') : Buffer.from(secret, 'utf8');
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` };
}

/**
 * Delivering an event: every failure is retried until the receiver acknowledges it (or the notifier
 * stops), after the receiver's retry-after if it sent one, else 1 s doubling to `maxBackoffMs`.
 */
const WEBHOOK_RETRY: RetryPolicy = { maxAttempts: Infinity, initialMs: 1000, maxMs: 300_000, retriable: () => true };

/** The receiver answered, but not with a 2xx. */
class WebhookNotAcknowledged extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs: number | null,
  ) {
    super(`the webhook receiver answered HTTP ${status}`);
  }
}

/**
 * Posts `batch.completed | failed | expired | cancelled` events to `SLUICE_WEBHOOK_URL`. It reads
 * the status topic with its own consumer group and commits only after the receiver acknowledged
 * (2xx), retrying with backoff until then: every final batch is announced at least once.
 */
export function createWebhookNotifier(options: WebhookOptions) {
  const maxBackoffMs = options.maxBackoffMs ?? WEBHOOK_RETRY.maxMs;
  const timeoutMs = options.requestTimeoutMs ?? 10_000;
  /** Events announced lately: a final record published twice (a sink crashed in between) is announced once. */
  const delivered = new BoundedCache<true>({ maxEntries: 100_000 });
  /** The status writer rule: an intake record after a sink record of its batch is stale, never announced. */
  const writers = new StatusWriterRule();
  const cutoffSeconds = (Date.now() - (options.replayWindowMs ?? 86_400_000)) / 1000;
  let consumer: Consumer | null = null;
  /** Ends a delivery's backoff sleep and HTTP call at once on stop (the consumer's stop waits for them). */
  let stopping = new AbortController();

  async function deliver(event: BatchEvent): Promise<boolean> {
    if (stopping.signal.aborted) return false;
    const body = JSON.stringify(event);
    const policy: RetryPolicy = {
      ...WEBHOOK_RETRY,
      maxMs: maxBackoffMs,
      signal: stopping.signal,
      onRetry: (error, attempt) => {
        if (error instanceof WebhookNotAcknowledged) {
          options.logger.warn({ event: event.id, status: error.status, attempt }, 'webhook not acknowledged; retrying');
        } else {
          options.logger.warn({ event: event.id, err: error, attempt }, 'webhook delivery failed; retrying');
        }
      },
    };
    try {
      await retrying(policy, async () => {
        const headers = signWebhook(options.secret, event.id, Math.floor(Date.now() / 1000), body);
        const response = await fetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'sluice-webhooks', ...headers },
          body,
          signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), stopping.signal]),
        });
        if (!response.ok) throw new WebhookNotAcknowledged(response.status, parseRetryAfter(response.headers));
      });
      return true;
    } catch {
      return false; // stopping: the only way out of WEBHOOK_RETRY but an acknowledgement
    }
  }

  return {
    async start() {
      stopping = new AbortController();
      consumer = options.transport.consumer({
        groupId: `${options.topics.status}.webhooks`,
        topics: [options.topics.status],
        // From the beginning: a batch that finished while the group was joining is still announced.
        fromBeginning: true,
        maxWaitTimeMs: 200,
      });
      await consumer.run(async (batch, context) => {
        for (const message of batch.messages) {
          let record: BatchRecord | null = null;
          try {
            // A null value is a deleted batch's tombstone: nothing to announce.
            if (message.value !== null) record = await options.serde.status.decode(message);
            else if (message.key) writers.forget(message.key);
            if (record && !writers.admit(record)) record = null;
          } catch (error) {
            options.logger.warn({ err: error }, 'skipping an undecodable status record');
          }
          const event = record ? batchEvent(record) : null;
          if (event && event.created_at >= cutoffSeconds && !delivered.has(event.id)) {
            if (!(await deliver(event))) return; // stopping: not committed, sent again after restart
            delivered.set(event.id, true);
          }
          context.resolveOffset(message.offset);
          await consumer?.commit([
            { topic: batch.topic, partition: batch.partition, offset: String(Number(message.offset) + 1) },
          ]);
        }
      });
    },
    async stop() {
      stopping.abort();
      await consumer?.stop();
      consumer = null;
    },
  };
}
