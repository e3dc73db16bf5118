import type { ApiKind, TokenUsage, UpstreamConfig } from '@sluice/core';
import type { z } from 'zod';
import type { Answer } from '../answers/answer-cache.js';
import type { Lane } from '../fairness/fair-queue.js';
import type { AttemptGuard, CallTally, Upstream } from '../upstream/upstream.js';

/**
 * Sends an upstream request once per identical request of the tenant (docs/deduplication.md):
 * `body` is exactly what `call` sends to `endpoint`; the batch's setting decides whether it is shared.
 */
export type Dedupe = <T>(endpoint: string, body: Record<string, unknown>, call: () => Promise<T>) => Promise<Answer<T>>;

export interface HandlerContext {
  upstream: Upstream;
  models: UpstreamConfig['models'];
  /** Call before spending anything on the item; throws when its batch was cancelled or expired. */
  guard: AttemptGuard;
  batchId: string;
  index: number;
  customId: string;
  /**
   * Upstream timeout of each call for this item: the batch's `request_timeout_seconds` (else the
   * processor's), cut to the time left before the batch expires. Pass it to every client call.
   */
  timeoutMs: number;
  dedupe: Dedupe;
  /** Whose work this is, for the fairness policy of every upstream wait (docs/fairness.md). */
  lane: Lane;
  /** What the item's upstream calls met (429 answers), for its result: pass it to every call. */
  tally: CallTally;
}

/** What a handler produced for one item: the line's `response`, the usage and the attempts spent. */
export interface HandlerOutcome {
  response: { status_code: number; request_id: string | null; body: unknown };
  usage: TokenUsage;
  attempts: number;
  /** Answered from an identical request's answer, without an upstream call (deduplication). */
  cached?: boolean;
  /** Operations: the input item, echoed into the output row. */
  item?: Record<string, unknown> | null;
  /** The model that answered, when the response body does not say (operations rows). */
  model?: string | null;
}

/**
 * One operation. Every handler has this shape and lives in a file of its own; the router picks one
 * by the message's (api, discriminator). `request` validates the item body before `handle` runs.
 */
export interface Handler<Body = unknown> {
  readonly api: ApiKind;
  readonly discriminator: string;
  readonly request: z.ZodType<Body>;
  handle(body: Body, context: HandlerContext): Promise<HandlerOutcome>;
}

/** Erases a handler's body type for the registry (the router validates with `request` first). */
export function defineHandler<Body>(handler: Handler<Body>): Handler<unknown> {
  return handler as unknown as Handler<unknown>;
}
