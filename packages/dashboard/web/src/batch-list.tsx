import { useState } from 'preact/hooks';
import { apiOf, type Batch, getJson, isRunning, type ListPage } from './api.js';
import { formatCost, formatDuration, formatNumber, formatTime } from './format.js';
import { usePolling } from './polling.js';
import { BatchProgress } from './progress.js';

const PAGE_SIZE = 100;
const POLL_MS = 2000;
const STATUSES = [
  'validating',
  'in_progress',
  'finalizing',
  'completed',
  'failed',
  'cancelling',
  'cancelled',
  'expired',
];

/** The tenant's batches and jobs, newest first, a page at a time; refreshed while any of them runs. */
export function BatchList() {
  const [api, setApi] = useState('');
  const [status, setStatus] = useState('');
  // Cursors of the pages before this one (`after` ids), so "Previous" needs no server support.
  const [cursors, setCursors] = useState<string[]>([]);
  const [page, setPage] = useState<ListPage<Batch> | null>(null);
  const [error, setError] = useState<string | null>(null);
  const after = cursors[cursors.length - 1];

  usePolling(
    async () => {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (after) query.set('after', after);
      if (api) query.set('api', api);
      // The server filters (an index by status): every page is full, and paging goes through them all.
      if (status) query.set('status', status);
      try {
        const next = await getJson<ListPage<Batch>>(`/v1/batches?${query}`);
        setPage(next);
        setError(null);
        return next.data.some(isRunning);
      } catch (failure) {
        setError((failure as Error).message);
        return true;
      }
    },
    POLL_MS,
    [api, status, after],
  );

  const shown = page?.data ?? [];
  const running = page?.data.some(isRunning) ?? false;
  return (
    <section aria-labelledby="batches-title">
      <div class="title-row">
        <h1 id="batches-title">Batches</h1>
        <span class="live" aria-live="polite">
          {running ? 'Live: refreshing every 2 s' : page ? 'Nothing running' : ''}
        </span>
      </div>
      <form class="filters" onSubmit={(event) => event.preventDefault()}>
        <label>
          API{' '}
          <select
            name="api"
            value={api}
            onChange={(event) => {
              setApi((event.currentTarget as HTMLSelectElement).value);
              setCursors([]);
            }}
          >
            <option value="">All</option>
            <option value="operations">Operations jobs</option>
            <option value="domain">Domain batches</option>
            <option value="openai">OpenAI batches</option>
          </select>
        </label>
        <label>
          Status{' '}
          <select
            name="status"
            value={status}
            onChange={(event) => {
              setStatus((event.currentTarget as HTMLSelectElement).value);
              setCursors([]);
            }}
          >
            <option value="">All</option>
            {STATUSES.map((value) => (
              <option value={value}>{value}</option>
            ))}
          </select>
        </label>
      </form>
      {error && (
        <p class="error" role="alert">
          {error}
        </p>
      )}
      {page && shown.length === 0 && <p>No batches{status ? ` with status ${status}` : ''}.</p>}
      {shown.length > 0 && (
        <div class="table-wrap">
          <table class="batches">
            <thead>
              <tr>
                <th scope="col">Batch</th>
                <th scope="col">Status</th>
                <th scope="col">Progress</th>
                <th scope="col">Done / failed / cancelled / expired</th>
                <th scope="col">Tokens</th>
                <th scope="col">Cost</th>
                <th scope="col">Per minute</th>
                <th scope="col">ETA</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((batch) => (
                <BatchRow key={batch.id} batch={batch} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length === 0} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous
        </button>
        <button
          type="button"
          disabled={!page?.has_more || !page.last_id}
          onClick={() => page?.last_id && setCursors([...cursors, page.last_id])}
        >
          Next
        </button>
      </nav>
    </section>
  );
}

function BatchRow({ batch }: { batch: Batch }) {
  const counts = batch.request_counts;
  const name = batch.operation ?? apiOf(batch);
  return (
    <tr data-batch-id={batch.id} data-status={batch.status}>
      <td>
        <a href={`#/batches/${batch.id}`}>{batch.id}</a>
        <div class="sub">{name}</div>
      </td>
      <td>
        <span class={`status status-${batch.status}`}>{batch.status}</span>
      </td>
      <td>
        <BatchProgress batch={batch} label={`Progress of ${batch.id}`} />
      </td>
      <td class="counts">
        {counts.completed} / {counts.failed} / {counts.cancelled ?? 0} / {counts.expired ?? 0}{' '}
        <span class="sub">of {counts.total}</span>
      </td>
      <td>{formatNumber(batch.usage?.total_tokens)}</td>
      <td data-cost>{formatCost(batch.cost_usd, batch.realtime_cost_usd)}</td>
      <td>{formatNumber(batch.throughput_per_minute)}</td>
      <td>{isRunning(batch) ? formatDuration(batch.eta_seconds) : '—'}</td>
      <td>{formatTime(batch.created_at)}</td>
    </tr>
  );
}
