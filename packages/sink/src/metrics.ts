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
    batchesFinalized: new Counter({
      name: 'sluice_sink_batches_finalized_total',
      help: 'Batches finalized, by final status.',
      labelNames: ['status'] as const,
      registers,
    }),
    openBatches: new Gauge({ name: 'sluice_sink_open_batches', help: 'Batches with open result files.', registers }),
    batchProgress: new Gauge({
      name: 'sluice_batch_progress_ratio',
      help: 'Share of a running batch that is finished (removed once the batch is final).',
      labelNames: ['batch_id'] as const,
      registers,
    }),
  };
}

export type SinkMetrics = ReturnType<typeof createSinkMetrics>;
