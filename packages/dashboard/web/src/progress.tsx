import type { Batch } from './api.js';

/** Items done (completed, failed, cancelled, expired) out of the total, as a native `<progress>`. */
export function BatchProgress({ batch, label }: { batch: Batch; label: string }) {
  const counts = batch.request_counts;
  const done = counts.completed + counts.failed + (counts.cancelled ?? 0) + (counts.expired ?? 0);
  const total = counts.total;
  return (
    <progress
      max={Math.max(total, 1)}
      value={total === 0 ? (batch.status === 'completed' ? 1 : 0) : done}
      aria-label={label}
      title={`${done} of ${total}`}
    />
  );
}
