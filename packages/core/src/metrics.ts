import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * Metrics more than one role reports (a process may run all roles on one registry): created once
 * per registry, shared by whoever asks.
 */
export function sharedMetrics(registry: Registry) {
  const existingLag = registry.getSingleMetric('sluice_consumer_lag') as
    Gauge<'group' | 'topic' | 'partition'> | undefined;
  const existingDead = registry.getSingleMetric('sluice_dead_lettered_total') as Counter<'stage'> | undefined;
  return {
    consumerLag:
      existingLag ??
      new Gauge({
        name: 'sluice_consumer_lag',
        help: 'Messages behind the end of the partition, at the last fetch.',
        labelNames: ['group', 'topic', 'partition'] as const,
        registers: [registry],
      }),
    deadLettered:
      existingDead ??
      new Counter({
        name: 'sluice_dead_lettered_total',
        help: 'Messages sent to the dead-letter topic, by the stage that rejected them.',
        labelNames: ['stage'] as const,
        registers: [registry],
      }),
  };
}
