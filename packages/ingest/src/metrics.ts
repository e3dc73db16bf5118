import { Counter, type Registry } from 'prom-client';

/** Ingest's Prometheus metrics; names are documented in docs/metrics.md. */
export function createIngestMetrics(registry: Registry) {
  const registers = [registry];
  return {
    batches: new Counter({
      name: 'sluice_ingest_batches_total',
      help: 'Batches submitted, by API and outcome (accepted, or refused for bad input).',
      labelNames: ['api', 'outcome'] as const,
      registers,
    }),
    itemsProduced: new Counter({
      name: 'sluice_ingest_items_produced_total',
      help: 'Request messages produced to the requests topic.',
      registers,
    }),
    httpRequests: new Counter({
      name: 'sluice_http_requests_total',
      help: 'HTTP requests answered, by method, route and status code.',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
  };
}

export type IngestMetrics = ReturnType<typeof createIngestMetrics>;
