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

/** What the processor writes for one item: the line's `response`, the usage and the attempts spent. */
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

/** What a handler's upstream calls answered, before it is presented in the words of the message's API. */
export interface HandlerAnswer {
  /** The operation's result; a passthrough's: the upstream's body as it is. */
  value: unknown;
  /** The chat completion that answered (its id, time and model); null for a passthrough. */
  completion: { id: string; created: number; model: string } | null;
  requestId: string | null;
  /** Summed over all attempts: each one was billed. */
  usage: TokenUsage;
  attempts: number;
  /** Every call was answered from an identical request's answer (deduplication). */
  cached: boolean;
}

/**
 * One operation (or, for the OpenAI API, one endpoint), for every API that runs it. Every handler
 * has this shape and lives in a file of its own; the router binds it to each of its `apis`, whose
 * presenter (presenters.ts) turns its answer into that API's output. `request` validates the item
 * body before `handle` runs.
 */
export interface Handler<Body = unknown> {
  /** The message discriminator it serves: an operation name, or an OpenAI endpoint. */
  readonly operation: string;
  readonly apis: readonly ApiKind[];
  readonly request: z.ZodType<Body>;
  /**
   * `job` names the items that share this item's parameters: what the parameters compile to is
   * kept under it (compiled.ts), once for all of them.
   */
  handle(body: Body, context: HandlerContext, job: string): Promise<HandlerAnswer>;
}

/** Erases a handler's body type for the registry (the router validates with `request` first). */
export function defineHandler<Body>(handler: Handler<Body>): Handler<unknown> {
  return handler as unknown as Handler<unknown>;
}

/** A handler bound to one API, with that API's presentation: what the processor routes an item message to. */
export interface Route {
  readonly request: z.ZodType<unknown>;
  handle(body: unknown, context: HandlerContext): Promise<HandlerOutcome>;
}
