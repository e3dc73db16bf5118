import { sharedMetrics } from '@sluice/core';
import { Counter, Gauge, type Registry } from 'prom-client';

export function createSinkMetrics(registry: Registry) {
  const registers = [registry];
  return {
    ...sharedMetrics(registry),
    resultsIn: new Counter({
      name: 'sluice_sink_messages_in_total',
      help: 'Messages taken from the results topic, by type.',
      labelNames: ['type'] as const,
      registers,
    }),
    resultsWritten: new Counter({
      name: 'sluice_sink_results_written_total',
      help: 'Results written to batch outputs, by ok/failed.',
      labelNames: ['outcome'] as const,
      registers,
    }),
    duplicates: new Counter({
      name: 'sluice_sink_duplicates_total',
      help: 'Results dropped because their item index was already recorded (at-least-once redelivery).',
      registers,
    }),
    orphansDeadLettered: new Counter({
      name: 'sluice_sink_orphans_dead_lettered_total',
      help: 'Results dead-lettered because their batch had no seal SLUICE_ORPHAN_TTL_S after its first result.',
      registers,
    }),
    batchesFinalized: new Counter({
      name: 'sluice_sink_batches_finalized_total',
      help: 'Batches finalized, by final status.',
      labelNames: ['status'] as const,
      registers,
    }),
    openBatches: new Gauge({ name: 'sluice_sink_open_batches', help: 'Batches with open result files.', registers }),
    // No per-batch series: /metrics is read by every key holder (and by whoever scrapes it), and a
    // batch id label would show every tenant's batches. Per-batch progress is GET /v1/batches/{id}.
    itemsUnfinished: new Gauge({
      name: 'sluice_sink_items_unfinished',
      help: 'Items of the open batches not finished yet, summed over those batches.',
      registers,
    }),
  };
}

export type SinkMetrics = ReturnType<typeof createSinkMetrics>;
