export function formatTime(seconds: number | null | undefined): string {
  if (!seconds) return '—';
  return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** `$0.42 (saved $0.40 vs realtime)`: the cost, and what a cheaper tier saved; `—` when unknown. */
export function formatCost(cost: number | null | undefined, realtime: number | null | undefined): string {
  if (cost === null || cost === undefined) return '—';
  const saved = realtime === null || realtime === undefined ? 0 : realtime - cost;
  return saved >= 0.00005 ? `${usd(cost)} (saved ${usd(saved)} vs realtime)` : usd(cost);
}

/** Cents from a cent up; below, two significant digits (a small job's cost is fractions of a cent). */
function usd(value: number): string {
  return `$${value >= 0.01 || value === 0 ? value.toFixed(2) : value.toPrecision(2)}`;
}

export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined) return '—';
  return value.toLocaleString(undefined, { maximumFractionDigits: 1 });
}
