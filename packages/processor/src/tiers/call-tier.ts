import { type JobTier, SluiceError, type Tier, UpstreamError } from '@sluice/core';

/**
 * The tiers one call can go by. `batch` is not a call: a provider's batch API takes many items at
 * once (ProviderBatches), and is not wired to items yet.
 */
export type CallTier = Extract<Tier, 'realtime' | 'flex'>;

/** What the upstreams of a model offer now: flex counts only those not known to refuse the model on flex. */
export interface TierOffer {
  realtime: boolean;
  flex: boolean;
}

/**
 * Least time left before the deadline for `auto` to send by flex: flex answers slowly and may
 * refuse for lack of capacity, and an item that waited on flex must still have time for realtime.
 */
export const AUTO_FLEX_MIN_LEFT_MS = 60 * 60_000;

/**
 * The time left below which `auto` sends by realtime: at least an hour, and never less than one
 * flex call (its whole timeout) followed by one realtime call, so that an item whose flex call
 * timed out at the margin still finishes before its deadline.
 */
export function autoFlexMarginMs(flexTimeoutMs: number, realtimeTimeoutMs: number): number {
  return Math.max(AUTO_FLEX_MIN_LEFT_MS, flexTimeoutMs + realtimeTimeoutMs);
}

/**
 * The tier an item's next call goes by, or null when none of the model's upstreams offers what
 * was asked (`realtime` or `flex` explicitly, or `batch`, not wired yet). `auto` chooses flex (half
 * the price at OpenAI, Azure and Gemini) when an upstream offers it and `msLeft`, the time before
 * the item's deadline (null: none), is at least `autoMarginMs`; else realtime. Asked again after
 * each flex refusal, so an `auto` item waiting out flex refusals moves to realtime once the margin
 * is reached, and never expires waiting on a cheap route it could have left. A model served on
 * flex alone goes flex whatever the time left.
 */
export function chooseCallTier(
  requested: JobTier,
  offer: TierOffer,
  msLeft: number | null,
  autoMarginMs: number,
): CallTier | null {
  switch (requested) {
    case 'realtime':
      return offer.realtime ? 'realtime' : null;
    case 'flex':
      return offer.flex ? 'flex' : null;
    case 'batch':
      return null;
    case 'auto':
      if (!offer.flex) return offer.realtime ? 'realtime' : null;
      if (!offer.realtime) return 'flex';
      return msLeft === null || msLeft >= autoMarginMs ? 'flex' : 'realtime';
  }
}

/**
 * A flex call refused for lack of capacity, not for anything about the request or the caller's
 * rate: OpenAI's 429 "Resource Unavailable" (code `flex_unavailable`), Groq's 498
 * `capacity_exceeded`. Not billed; the provider's advice is to wait and retry (or to go without
 * flex), so it is waited out without using up the item's attempts, and it says nothing of the
 * upstream's rate limits (the rate budget is not slowed for it).
 */
export function isFlexCapacityRefusal(error: SluiceError): boolean {
  if (!(error instanceof UpstreamError)) return false;
  if (error.status === 498) return true;
  if (error.status !== 429) return false;
  const code = errorCodeOf(error.body);
  return code === 'flex_unavailable' || /resource unavailable/i.test(error.message);
}

/**
 * An upstream's refusal to serve the model on flex at all (Azure answers 400 for a model or a
 * deployment without flex): a 400 whose parameter or message names `service_tier` or flex. It is
 * remembered per upstream + model (FlexSupport), and the item goes by another route.
 */
export function isFlexUnsupported(error: SluiceError): boolean {
  if (!(error instanceof UpstreamError) || error.status !== 400) return false;
  const param = paramOf(error.body);
  return param === 'service_tier' || /service[_ ]tier|\bflex\b/i.test(error.message);
}

/** Upstream + model pairs kept at most; past this the memory starts afresh (models are the clients' names). */
const MAX_REMEMBERED = 1024;

/**
 * The upstream + model pairs known not to be served on flex, learnt from their refusals: bounded,
 * as the model names are clients'. A pair forgotten when the memory starts afresh costs one more
 * refused call, no attempt.
 */
export class FlexSupport {
  private readonly refused = new Set<string>();

  refuses(upstream: string, model: string): boolean {
    return this.refused.size > 0 && this.refused.has(`${upstream}\n${model}`);
  }

  /** Remembers that `upstream` does not serve `model` on flex; false when it was known already. */
  remember(upstream: string, model: string): boolean {
    const key = `${upstream}\n${model}`;
    if (this.refused.has(key)) return false;
    if (this.refused.size >= MAX_REMEMBERED) this.refused.clear();
    this.refused.add(key);
    return true;
  }
}

/** The error of an item whose model offers none of what it asked for. */
export function tierUnavailable(
  requested: JobTier,
  model: string,
  offer: TierOffer,
  learnt: string | null,
): SluiceError {
  const name = model.length > 100 ? `${model.slice(0, 100)}…` : model;
  const offered = (['realtime', 'flex'] as const).filter((tier) => offer[tier]);
  const message =
    requested === 'batch'
      ? 'tier "batch" is not available yet: items are not sent by a provider\'s batch API in this version'
      : `tier ${JSON.stringify(requested)} is offered by no upstream of model ${JSON.stringify(name)}${
          learnt ? ` (${learnt})` : ''
        }; offered: ${offered.join(', ') || 'none'}`;
  return new SluiceError('tier_unavailable', message, { retriable: false });
}

function errorCodeOf(body: unknown): unknown {
  const error = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  return error && typeof error === 'object' ? (error as { code?: unknown }).code : undefined;
}

function paramOf(body: unknown): unknown {
  const error = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
  return error && typeof error === 'object' ? (error as { param?: unknown }).param : undefined;
}
