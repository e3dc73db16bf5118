import type { ApiKind, TokenUsage, UpstreamConfig } from '@sluice/core';
import type { z } from 'zod';
import type { UpstreamPort } from '../upstream/port.js';

export interface HandlerContext {
  /**
   * The one way to the upstreams: a request in, a checked answer, its usage, the attempts spent
   * and the upstream that answered out (upstream/port.ts). Routing by model, limits, dialects,
   * retries and failover are behind it.
   */
  upstream: UpstreamPort;
  models: UpstreamConfig['models'];
  batchId: string;
  index: number;
  customId: string;
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
  /** The configured name of the upstream that answered; null when none did (an identical request's answer). */
  upstream: string | null;
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
  /** The configured name of the upstream that answered; null when none did (an identical request's answer). */
  upstream: string | null;
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
