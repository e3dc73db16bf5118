import { useState } from 'preact/hooks';
import { ApiError, apiOf, type Batch, download, getJson, isRunning, postJson } from './api.js';
import { formatCost, formatDuration, formatNumber, formatTime } from './format.js';
import { type ErrorGroup, firstLines, groupErrors } from './lines.js';
import { usePolling } from './polling.js';
import { BatchProgress } from './progress.js';
import { ProgressChart, type Sample } from './progress-chart.js';

const POLL_MS = 1000;
const FIRST_ROWS = 10;
/** Error lines read for the summary: enough to name the kinds of failure without fetching a huge file. */
const ERROR_LINES_READ = 2000;

/** One batch or job: counts, a live chart, the first rows, the errors by code, downloads and actions. */
export function BatchPage({ id }: { id: string }) {
  const [batch, setBatch] = useState<Batch | null>(null);
  const [samples, setSamples] = useState<Sample[]>([]);
  const [rows, setRows] = useState<string[]>([]);
  const [errors, setErrors] = useState<ErrorGroup[] | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [generation, setGeneration] = useState(0);

  usePolling(
    async () => {
      let next: Batch;
      try {
        next = await getJson<Batch>(`/v1/batches/${encodeURIComponent(id)}`);
      } catch (failure) {
        setProblem(
          failure instanceof ApiError && failure.status === 404
            ? `No batch ${id} for this API key.`
            : (failure as Error).message,
        );
        // A missing batch does not appear by polling; a network error may clear.
        return !(failure instanceof ApiError && failure.status < 500);
      }
      setProblem(null);
      setBatch(next);
      const counts = next.request_counts;
      const done = counts.completed + counts.failed + (counts.cancelled ?? 0) + (counts.expired ?? 0);
      setSamples((previous) => [
        ...previous,
        { at: Date.now() / 1000, done, retries: next.retries ?? 0, rateLimited: next.rate_limited ?? 0 },
      ]);
      const running = isRunning(next);
      if (!running || rows.length < FIRST_ROWS) setRows(await firstLines(outputPath(next, 'jsonl'), FIRST_ROWS));
      if (!running && next.error_file_id) {
        setErrors(groupErrors(await firstLines(`/v1/files/${next.error_file_id}/content`, ERROR_LINES_READ)));
      }
      return running;
    },
    POLL_MS,
    [id, generation],
  );

  if (problem && !batch)
    return (
      <p class="error" role="alert">
        {problem}
      </p>
    );
  if (!batch) return <p class="loading">Loading…</p>;

  const counts = batch.request_counts;
  const isJob = apiOf(batch) === 'operations';
  const resource = isJob ? 'jobs' : 'batches';
  const unfinished = counts.failed + (counts.cancelled ?? 0) + (counts.expired ?? 0);
  const act = async (label: string, action: () => Promise<void>) => {
    setNotice(null);
    try {
      await action();
    } catch (failure) {
      // A server without retries (before issue 16) has no such route.
      if (failure instanceof ApiError && failure.code === 'unknown_route')
        return setNotice(`${label} is not available on this server.`);
      setNotice(`${label} failed: ${(failure as Error).message}`);
    }
  };
  const cancel = () =>
    act('Cancel', async () => {
      setBatch(await postJson<Batch>(`/v1/${resource}/${batch.id}/cancel`));
      setGeneration(generation + 1);
    });
  const retry = () =>
    act('Retry', async () => {
      const created = await postJson<Batch>(`/v1/${resource}/${batch.id}/retry`);
      location.hash = `#/batches/${created.id}`;
    });

  return (
    <article aria-labelledby="batch-title">
      <p>
        <a href="#/">← All batches</a>
      </p>
      <div class="title-row">
        <h1 id="batch-title">{batch.id}</h1>
        <span class={`status status-${batch.status}`} data-testid="batch-status">
          {batch.status}
        </span>
      </div>
      <p class="sub">
        {batch.operation ?? apiOf(batch)} {batch.model ? `· ${batch.model}` : ''} · created{' '}
        {formatTime(batch.created_at)}
        {batch.metadata?.retry_of && (
          <>
            {' '}
            · retry of <a href={`#/batches/${batch.metadata.retry_of}`}>{batch.metadata.retry_of}</a>
          </>
        )}
      </p>
      <BatchProgress batch={batch} label="Progress" />
      <dl class="counts-grid">
        <Count label="Total" value={counts.total} />
        <Count label="Completed" value={counts.completed} />
        <Count label="Failed" value={counts.failed} />
        <Count label="Cancelled" value={counts.cancelled ?? 0} />
        <Count label="Expired" value={counts.expired ?? 0} />
        <Count label="Tokens" value={formatNumber(batch.usage?.total_tokens)} />
        <Count label="Cost" value={formatCost(batch.cost_usd, batch.realtime_cost_usd)} />
        <Count label="Per minute" value={formatNumber(batch.throughput_per_minute)} />
        <Count label="ETA" value={isRunning(batch) ? formatDuration(batch.eta_seconds) : '—'} />
      </dl>
      <div class="actions">
        {isRunning(batch) && (
          <button type="button" onClick={() => void cancel()} disabled={batch.status === 'cancelling'}>
            Cancel
          </button>
        )}
        {!isRunning(batch) && unfinished > 0 && (
          <button type="button" onClick={() => void retry()}>
            Retry failed ({unfinished})
          </button>
        )}
        <button
          type="button"
          onClick={() => void act('Download', () => download(outputPath(batch, 'jsonl'), `${batch.id}.jsonl`))}
        >
          Download JSONL
        </button>
        {isJob && (
          <button
            type="button"
            onClick={() => void act('Download', () => download(outputPath(batch, 'csv'), `${batch.id}.csv`))}
          >
            Download CSV
          </button>
        )}
        {batch.error_file_id && (
          <button
            type="button"
            onClick={() =>
              void act('Download', () =>
                download(`/v1/files/${batch.error_file_id}/content`, `${batch.id}-errors.jsonl`),
              )
            }
          >
            Download errors
          </button>
        )}
      </div>
      {notice && (
        <p class="error" role="alert">
          {notice}
        </p>
      )}
      <h2>Progress</h2>
      <ProgressChart samples={samples} />
      {errors && errors.length > 0 && (
        <>
          <h2>Errors by code</h2>
          <ul class="error-groups">
            {errors.map((group) => (
              <li key={group.code}>
                <strong>{group.code}</strong>: {group.count}
                {group.examples.map((line) => (
                  <pre>{line}</pre>
                ))}
              </li>
            ))}
          </ul>
        </>
      )}
      <h2>First rows of output</h2>
      {rows.length === 0 ? (
        <p>No output yet.</p>
      ) : (
        <ol class="rows">
          {rows.map((line) => (
            <li>
              <pre>{line}</pre>
            </li>
          ))}
        </ol>
      )}
    </article>
  );
}

function Count({ label, value }: { label: string; value: number | string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-count={label.toLowerCase()}>{value}</dd>
    </div>
  );
}

/** Where the output downloads: jobs have JSONL and CSV renderings; batches answer JSONL. */
function outputPath(batch: Batch, format: 'jsonl' | 'csv'): string {
  return apiOf(batch) === 'operations'
    ? `/v1/jobs/${batch.id}/output?format=${format}`
    : `/v1/batches/${batch.id}/output`;
}
