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
    upstreamInFlight: new Gauge({
      name: 'sluice_upstream_in_flight',
      help: 'Upstream calls waiting for an answer.',
      registers,
    }),
    upstreamCalls: new Counter({
      name: 'sluice_upstream_calls_total',
      help: 'Upstream calls by route and outcome (ok, or the error code).',
      labelNames: ['route', 'outcome'] as const,
      registers,
    }),
    upstreamLatency: new Histogram({
      name: 'sluice_upstream_latency_seconds',
      help: 'Upstream call latency.',
      labelNames: ['route'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
      registers,
    }),
    rateLimited: new Counter({ name: 'sluice_upstream_429_total', help: 'Upstream 429 answers.', registers }),
    structuredAnswers: new Counter({
      name: 'sluice_structured_answers_total',
      help: 'Structured answers by route and outcome: valid at once, repaired (valid after the repair round), invalid.',
      labelNames: ['route', 'outcome'] as const,
      registers,
    }),
    structuredDialect: new Gauge({
      name: 'sluice_structured_output_dialect',
      help: 'The structured-output dialect settled per model (1 on the one in use).',
      labelNames: ['model', 'dialect'] as const,
      registers,
    }),
    concurrencyLimit: new Gauge({
      name: 'sluice_upstream_concurrency_limit',
      help: 'Most upstream calls in flight now allowed (adapted to the upstream).',
      registers,
    }),
    learntLimit: new Gauge({
      name: 'sluice_upstream_learnt_limit',
      help: "Per-minute limits learnt from the upstream's x-ratelimit-limit-* headers (0: none).",
      labelNames: ['budget'] as const,
      registers,
    }),
    retries: new Counter({
      name: 'sluice_upstream_retries_total',
      help: 'Retries of upstream calls, by the error that caused them.',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

export type ProcessorMetrics = ReturnType<typeof createProcessorMetrics>;
