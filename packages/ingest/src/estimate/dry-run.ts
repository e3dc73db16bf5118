import {
  type ApiKind,
  type DryRun,
  type Prices,
  priceOf,
  type Tier,
  tierFactor,
  type UpstreamConfig,
  type UpstreamEntry,
} from '@sluice/core';
import type { LineValidator, StoredItem } from '../intake/jsonl-intake.js';
import type { ModelCatalog } from '../intake/model-catalog.js';
import type { TokenCounter, TokenCounters } from './tokenizer.js';

/** What ingest knows of the upstream, for estimates and for bounding per-item timeouts. */
export interface UpstreamFacts {
  /** The processor's timeout per upstream call: the most a batch may ask for. */
  timeoutMs: number;
  /** Configured limits; 0 = none. The figures for a model no listed upstream paces (see `upstreams`). */
  requestsPerMinute: number;
  tokensPerMinute: number;
  /** Upstream calls in flight (the upstream concurrency, else the processor's). */
  concurrency: number;
  /** Model prices and tier factors (the shipped table with SLUICE_PRICES_FILE over it). */
  prices: Prices;
  models: UpstreamConfig['models'];
  /**
   * The configured upstreams: which models are refused at submit, and the pace of each model's
   * upstreams for estimates.
   * @defaultValue none: every model accepted, estimates from the figures above
   */
  upstreams?: readonly UpstreamEntry[];
}

/**
 * Seconds one call is assumed to take when neither limit binds: the time then depends on the
 * upstream's latency, which ingest does not see. Documented in docs/estimates.md.
 */
export const ASSUMED_CALL_SECONDS = 1;

/**
 * Output tokens assumed for a request that sets no limit (no `max_tokens` or the like, an
 * operation without a bound): what the processor reserves for it from the token budget.
 */
export const UNBOUNDED_OUTPUT_TOKENS = 512;

/** Tokens OpenAI adds per chat message (role, separators) and once per reply. */
const PER_MESSAGE_TOKENS = 3;
const REPLY_PRIMING_TOKENS = 3;

/** The words of Sluice's own instructions around an operation's item (prompt scaffolding). */
const OPERATION_SCAFFOLD_TOKENS = 60;

/**
 * Totals a dry run's items as the validator accepts them: it sees exactly the items a submit
 * would store. One counter for the whole input (a batch has one model).
 */
export class DryRunMeter {
  items = 0;
  inputTokens = 0;
  maxOutputTokens = 0;
  private counter: TokenCounter | null = null;
  private model: string | null;

  constructor(
    private readonly api: ApiKind,
    private readonly counters: TokenCounters,
    /** The model when it is known up front (jobs, domain); OpenAI lines name theirs. */
    model: string | null,
  ) {
    this.model = model;
  }

  /** The same validator, counting what it accepts. */
  wrap(validate: LineValidator): LineValidator {
    return (value, line, index) => {
      const verdict = validate(value, line, index);
      if ('item' in verdict) this.add(verdict.item);
      return verdict;
    };
  }

  add(item: StoredItem): void {
    this.items++;
    if (this.api === 'openai') {
      this.model ??= typeof item.body.model === 'string' ? item.body.model : null;
      this.addOpenAI(item.discriminator, item.body);
    } else {
      // A domain line is stored as its operation's `{params, item}`, as an operations item is.
      this.addOperation(item.discriminator, item.body);
    }
  }

  /** The estimate, paced by the upstreams serving the batch's model when the catalog knows them. */
  result(facts: UpstreamFacts, catalog: ModelCatalog): DryRun {
    const price = this.model ? priceOf(facts.prices.models, this.model) : null;
    // Every input token at the uncached price: which will be read from the provider's cache is not known up front.
    const realtimeCost = price
      ? (this.inputTokens * price.input_per_million_usd + this.maxOutputTokens * price.output_per_million_usd) / 1e6
      : null;
    const cost = realtimeCost === null ? null : realtimeCost * tierFactor(estimatedTier(), facts.prices);
    return {
      object: 'dry_run',
      items: this.items,
      input_tokens: this.inputTokens,
      input_tokens_method: this.tokens().method,
      max_output_tokens: this.maxOutputTokens,
      estimated_cost_usd: roundMicros(cost),
      estimated_realtime_cost_usd: roundMicros(realtimeCost),
      estimated_seconds: estimatedSeconds(this.items, this.inputTokens + this.maxOutputTokens, {
        ...facts,
        ...catalog.pace(this.model),
      }),
      model: this.model,
    };
  }

  private tokens(): TokenCounter {
    this.counter ??= this.counters(this.model);
    return this.counter;
  }

  private count(text: unknown): number {
    if (typeof text === 'string') return this.tokens().count(text);
    if (Array.isArray(text)) return text.reduce((sum: number, part) => sum + this.count(part), 0);
    if (text && typeof text === 'object') {
      const part = text as Record<string, unknown>;
      // Content parts (`{type: "text", text}`), messages (`{role, content}`): their words count.
      if (typeof part.text === 'string') return this.tokens().count(part.text);
      if ('content' in part) return PER_MESSAGE_TOKENS + this.count(part.content);
      return this.tokens().count(JSON.stringify(part));
    }
    return 0;
  }

  private addOpenAI(endpoint: string, body: Record<string, unknown>): void {
    if (Array.isArray(body.messages)) {
      this.inputTokens += this.count(body.messages) + REPLY_PRIMING_TOKENS;
      for (const key of ['tools', 'functions', 'response_format'])
        if (body[key] !== undefined) this.inputTokens += this.tokens().count(JSON.stringify(body[key]));
    }
    for (const key of ['input', 'prompt', 'instructions']) this.inputTokens += this.count(body[key]);
    const limit = [body.max_completion_tokens, body.max_tokens, body.max_output_tokens].find(
      (v): v is number => typeof v === 'number',
    );
    // Embeddings and moderations generate nothing.
    const generates = endpoint !== '/v1/embeddings' && endpoint !== '/v1/moderations';
    this.maxOutputTokens += generates ? (limit ?? UNBOUNDED_OUTPUT_TOKENS) : 0;
  }

  private addOperation(operation: string, body: Record<string, unknown>): void {
    const { params = {}, item = {} } = body as { params?: Record<string, unknown>; item?: Record<string, unknown> };
    const { model: _model, ...shared } = params;
    this.inputTokens +=
      OPERATION_SCAFFOLD_TOKENS + this.tokens().count(JSON.stringify(shared)) + this.count(item.content ?? '');
    if (operation === 'run') {
      for (const [name, value] of Object.entries(item)) if (name !== 'content') this.inputTokens += this.count(value);
    }
    this.maxOutputTokens += outputBound(operation, params);
  }
}

/**
 * The tier a dry run prices the items at. The seam for issue 24's `auto`: choosing the cheapest
 * tier that meets the window is not built yet, so the estimate is realtime's, the most a run
 * costs. When it is, this takes the job's tier and what `auto` would pick (and its upstream's
 * `tier_factors`), and `estimated_cost_usd` follows while `estimated_realtime_cost_usd` stays.
 */
function estimatedTier(): Tier {
  return 'realtime';
}

function roundMicros(usd: number | null): number | null {
  return usd === null ? null : Math.round(usd * 1e6) / 1e6;
}

/** The output bound the processor sends (or reserves) for an operation's item. */
function outputBound(operation: string, params: Record<string, unknown>): number {
  if (operation === 'classify' || operation === 'label') {
    const categories = params.categories as unknown[] | undefined;
    return 64 + (Array.isArray(categories) ? categories.length : 0) * 16;
  }
  if (operation === 'summarize') {
    // The tighter of `max_words` and (a domain line's) `max_tokens`, with room for the JSON around the summary.
    const bounds = [
      typeof params.max_words === 'number' ? params.max_words * 2 + 32 : null,
      typeof params.max_tokens === 'number' ? params.max_tokens + 16 : null,
    ].filter((bound): bound is number => bound !== null);
    if (bounds.length > 0) return Math.min(...bounds);
  }
  return UNBOUNDED_OUTPUT_TOKENS;
}

/**
 * The slowest of three paces, if the batch had its model's upstreams to itself: the
 * requests-per-minute limit, the tokens-per-minute limit (input plus the output bound, as the
 * limiter reserves), and the calls in flight at ASSUMED_CALL_SECONDS each.
 */
export function estimatedSeconds(
  items: number,
  tokens: number,
  facts: Pick<UpstreamFacts, 'requestsPerMinute' | 'tokensPerMinute' | 'concurrency'>,
): number {
  const byRequests = facts.requestsPerMinute > 0 ? (items * 60) / facts.requestsPerMinute : 0;
  const byTokens = facts.tokensPerMinute > 0 ? (tokens * 60) / facts.tokensPerMinute : 0;
  const byConcurrency = (items * ASSUMED_CALL_SECONDS) / Math.max(1, facts.concurrency);
  return Math.round(Math.max(byRequests, byTokens, byConcurrency) * 10) / 10;
}
