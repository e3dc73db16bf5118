import {
  costOf,
  type ItemResultMessage,
  type Prices,
  type ResultCharge,
  type TierFactors,
  type TokenUsage,
} from '@sluice/core';

/** What the sink prices results with: the price table, and each upstream's own tier factors. */
export interface BillOptions {
  prices: Prices;
  /** The configured upstreams by `name` (a result names its upstream): their `tierFactors` override the price table's. */
  upstreams?: readonly { name: string; tierFactors?: TierFactors }[];
}

/**
 * Prices a result: its tokens at its model's price, at the tier it was called at (`cost_usd`) and
 * at realtime (`realtime_cost_usd`). Once per result, in memory; nothing is read or written.
 */
export class Bill {
  private readonly upstreams: ReadonlyMap<string, { tierFactors?: TierFactors }>;

  constructor(private readonly options: BillOptions) {
    this.upstreams = new Map((options.upstreams ?? []).map((upstream) => [upstream.name, upstream]));
  }

  /**
   * The charge of one result; null when nothing was billed: no call was made (a deduplicated
   * answer, an item cancelled or refused before its call: `tier` null) or no usage reported.
   */
  chargeOf(result: ItemResultMessage): ResultCharge | null {
    const { usage, tier, model } = result;
    if (!usage || !tier || usage.input_tokens + usage.output_tokens === 0) return null;
    if (!model) return { costUsd: null, realtimeCostUsd: null };
    const billed = billedUsage(usage);
    const upstream = result.upstream ? this.upstreams.get(result.upstream) : undefined;
    return {
      costUsd: costOf(billed, model, tier, this.options.prices, upstream),
      realtimeCostUsd: costOf(billed, model, 'realtime', this.options.prices, upstream),
    };
  }
}

function billedUsage(usage: TokenUsage) {
  return {
    input_tokens: usage.input_tokens,
    output_tokens: usage.output_tokens,
    input_tokens_details: { cached_tokens: usage.cached_input_tokens ?? 0 },
  };
}

/**
 * A batch's cost in USD as published: to the nano-dollar (sums of floating-point charges carry
 * noise beyond it); null while a billed result's model has no price (a partial sum would
 * understate it).
 */
export function publishedCost(usd: number, unpricedItems: number): number | null {
  return unpricedItems > 0 ? null : Math.round(usd * 1e9) / 1e9;
}
