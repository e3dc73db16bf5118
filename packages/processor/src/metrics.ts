import { sharedMetrics } from '@sluice/core';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The processor's Prometheus metrics; names are documented in docs/metrics.md. */
export function createProcessorMetrics(registry: Registry) {
  const registers = [registry];
  return {
    ...sharedMetrics(registry),
    itemsIn: new Counter({
      name: 'sluice_processor_items_in_total',
      help: 'Request messages taken from the requests topic.',
      labelNames: ['type'] as const,
      registers,
    }),
    itemsOut: new Counter({
      name: 'sluice_processor_items_out_total',
      help: 'Result messages produced, by outcome (ok, or the error code).',
      labelNames: ['outcome'] as const,
      registers,
    }),
    dedupLookups: new Counter({
      name: 'sluice_processor_dedup_lookups_total',
      help: 'Deduplicated upstream requests, by where the answer came from: upstream (a call), in_flight, memory or log (the answers topic, kept in a local database).',
      labelNames: ['source'] as const,
      registers,
    }),
    inFlight: new Gauge({ name: 'sluice_processor_in_flight', help: 'Items being processed now.', registers }),
    partitionInFlightPeak: new Gauge({
      name: 'sluice_processor_partition_in_flight_peak',
      help: 'Most items of one partition in flight at once since start.',
      labelNames: ['topic', 'partition'] as const,
      registers,
    }),
    // Every upstream metric is labelled with the configured `name` of the upstream, and only with
    // it among upstream values: never a URL (it may hold a key) nor a name a client sent.
    upstreamInFlight: new Gauge({
      name: 'sluice_upstream_in_flight',
      help: 'Upstream calls waiting for an answer, per upstream.',
      labelNames: ['upstream'] as const,
      registers,
    }),
    upstreamCalls: new Counter({
      name: 'sluice_upstream_calls_total',
      help: 'Upstream calls by upstream, route and outcome (ok, or the error code).',
      labelNames: ['upstream', 'route', 'outcome'] as const,
      registers,
    }),
    upstreamLatency: new Histogram({
      name: 'sluice_upstream_latency_seconds',
      help: 'Upstream call latency, per upstream.',
      labelNames: ['upstream', 'route'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    rateLimited: new Counter({
      name: 'sluice_upstream_429_total',
      help: 'Upstream 429 answers, per upstream.',
      labelNames: ['upstream'] as const,
      registers,
    }),
    upstreamState: new Gauge({
      name: 'sluice_upstream_state',
      help: 'Whether an upstream is in rotation: 1 on its state now (up, probing: one call at a time, down: out of rotation).',
      labelNames: ['upstream', 'state'] as const,
      registers,
    }),
    rerouted: new Counter({
      name: 'sluice_upstream_rerouted_total',
      help: "Calls moved off an upstream that failed them (unreachable, timed out, 5xx) or went down, to another serving the model, without using up the item's attempts.",
      labelNames: ['upstream'] as const,
      registers,
    }),
    flexRefused: new Counter({
      name: 'sluice_upstream_flex_refused_total',
      help: "Flex calls refused, per upstream and reason: capacity (no flex capacity now: waited out without using up the item's attempts) or unsupported (the model is not served on flex there: remembered, routed by another tier or upstream).",
      labelNames: ['upstream', 'reason'] as const,
      registers,
    }),
    structuredAnswers: new Counter({
      name: 'sluice_structured_answers_total',
      help: 'Structured answers by route and outcome: valid at once, repaired (valid after the repair round), invalid.',
      labelNames: ['route', 'outcome'] as const,
      registers,
    }),
    structuredDialect: new Gauge({
      name: 'sluice_structured_output_dialect',
      help: 'The structured-output dialect settled per upstream and model (1 on the one in use).',
      labelNames: ['upstream', 'model', 'dialect'] as const,
      registers,
    }),
    concurrencyLimit: new Gauge({
      name: 'sluice_upstream_concurrency_limit',
      help: 'Most calls in flight now allowed, per upstream (adapted to it).',
      labelNames: ['upstream'] as const,
      registers,
    }),
    learntLimit: new Gauge({
      name: 'sluice_upstream_learnt_limit',
      help: "Per-minute limits learnt from each upstream's x-ratelimit-limit-* headers (0: none).",
      labelNames: ['upstream', 'budget'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'sluice_upstream_retries_total',
      help: 'Retries of upstream calls (attempts used up), by the upstream that failed and the error.',
      labelNames: ['upstream', 'reason'] as const,
      registers,
    }),
  };
}

export type ProcessorMetrics = ReturnType<typeof createProcessorMetrics>;
