import {
  defaultModelFor,
  type JobTier,
  servedModels,
  TIERS,
  type Tier,
  upstreamsServing,
  type UpstreamConfig,
  type UpstreamEntry,
  type ValidationIssue,
} from '@sluice/core';

/** How fast the upstreams of one model can go together; 0 = no limit. */
export interface ModelPace {
  requestsPerMinute: number;
  tokensPerMinute: number;
  concurrency: number;
}

/** The most served names a refusal lists; a file may serve hundreds. */
const LISTED_MODELS = 20;

/**
 * The models the configured upstreams serve, as ingest sees them: which requests to refuse at
 * submit (a model no upstream serves would only fail item by item in the processor), and how fast
 * a model's upstreams go together (dry-run estimates).
 *
 * With no upstream configured (an ingest-only role, `serve --role ingest` without OPENAI_BASE_URL
 * or SLUICE_UPSTREAMS_FILE) every model is accepted: the processors' deployment decides, and an
 * ingest that knows none of it must not guess.
 */
export class ModelCatalog {
  constructor(
    private readonly upstreams: readonly UpstreamEntry[],
    /** The configured defaults (SLUICE_MODEL, SLUICE_MODEL_*), for requests that name no model. */
    private readonly defaults: UpstreamConfig['models'],
  ) {}

  /** The model an operation's request runs on: the one it names, else the configured default. */
  modelOf(operation: string, requested: string | null | undefined): string {
    return requested ?? defaultModelFor(operation, this.defaults);
  }

  /**
   * The issue that refuses an operation's model (the one the request names, else the configured
   * default for the operation), or null when it is served.
   */
  operationRefusal(
    operation: string,
    requested: string | null | undefined,
    where: { line: number | null; param: string | null; origin?: string },
  ): ValidationIssue | null {
    const origin = where.origin ?? (requested ? null : defaultModelOrigin(operation));
    return this.refusal(this.modelOf(operation, requested), origin ? { ...where, origin } : where);
  }

  /** True when some upstream serves `model`, or when none is configured. */
  serves(model: string): boolean {
    return this.upstreams.length === 0 || upstreamsServing(this.upstreams, model).length > 0;
  }

  /**
   * The issue that refuses `model`, or null when it is served. `origin` says where the model came
   * from when the client did not write it (a configured default, a batch being retried).
   */
  refusal(
    model: string,
    where: { line: number | null; param: string | null; origin?: string },
  ): ValidationIssue | null {
    if (this.serves(model)) return null;
    const served = servedModels(this.upstreams);
    const shown = served.slice(0, LISTED_MODELS).join(', ');
    const more = served.length > LISTED_MODELS ? ` and ${served.length - LISTED_MODELS} more` : '';
    const origin = where.origin ? ` (${where.origin})` : '';
    return {
      line: where.line,
      param: where.param,
      // OpenAI's code for a model it does not have.
      code: 'model_not_found',
      message: `model ${JSON.stringify(model)}${origin} is served by no upstream; served: ${shown}${more}`,
    };
  }

  /**
   * The issue that refuses `tier` for `model`, or null when an upstream serving it offers the tier
   * (`auto`: always, as every upstream offers realtime or flex). `batch` is refused whatever the
   * model: items are not sent by a provider's batch API yet. With no upstream configured only
   * `batch` is refused (the processors' deployment decides the rest).
   */
  tierRefusal(
    /** Null: not known yet (an OpenAI batch's lines name it): refused only when no upstream at all offers the tier. */
    model: string | null,
    tier: JobTier,
    where: { line: number | null; param?: string | null; origin?: string },
  ): ValidationIssue | null {
    const issue = (message: string): ValidationIssue => ({
      line: where.line,
      param: where.param ?? 'tier',
      code: 'tier_unavailable',
      message,
    });
    if (tier === 'batch') {
      return issue(
        'tier "batch" is not available yet: items are not sent by a provider\'s batch API in this version; use auto, realtime or flex',
      );
    }
    if (tier === 'auto' || this.upstreams.length === 0) return null;
    const offered = this.tiersOffered(model);
    if (offered.length === 0 || offered.includes(tier)) return null;
    const origin = where.origin ? ` (${where.origin})` : '';
    const whose = model === null ? 'upstream' : `upstream of model ${JSON.stringify(model)}${origin}`;
    return issue(
      `tier ${JSON.stringify(tier)} is offered by no ${whose}; ${model === null ? 'the upstreams' : 'its upstreams'} offer: ${offered.join(', ')}`,
    );
  }

  /** The tiers the upstreams serving `model` (null: any model) offer together, in the order of TIERS. */
  tiersOffered(model: string | null): Tier[] {
    const serving = model === null ? this.upstreams : upstreamsServing(this.upstreams, model);
    const offered = new Set(serving.flatMap((entry) => entry.tiers));
    return TIERS.filter((tier) => offered.has(tier));
  }

  /**
   * The pace of the upstreams serving `model`, summed over its replicas (a limit of 0 on any of
   * them makes that budget unlimited); null when no upstream is configured or none serves it (the
   * caller falls back to the single configured figures).
   */
  pace(model: string | null): ModelPace | null {
    if (model === null) return null;
    const serving = upstreamsServing(this.upstreams, model);
    if (serving.length === 0) return null;
    const total = (limit: (entry: UpstreamEntry) => number) => serving.reduce((sum, entry) => sum + limit(entry), 0);
    // One replica without a limit makes the model's pace unlimited by that budget.
    const limited = (limit: (entry: UpstreamEntry) => number) =>
      serving.some((entry) => limit(entry) === 0) ? 0 : total(limit);
    return {
      requestsPerMinute: limited((entry) => entry.requestsPerMinute),
      tokensPerMinute: limited((entry) => entry.tokensPerMinute),
      // Never 0 in an entry (0 in the file means the processor's concurrency).
      concurrency: total((entry) => entry.concurrency),
    };
  }
}

/** Where a configured default model comes from, for a refusal's message. */
function defaultModelOrigin(operation: string): string {
  const named = operation === 'label' ? 'classify' : operation;
  const own = named === 'extract' || named === 'summarize' || named === 'classify';
  const variables = own ? `SLUICE_MODEL_${named.toUpperCase()}, else SLUICE_MODEL` : 'SLUICE_MODEL';
  return `the configured default for ${operation}: ${variables}`;
}
