import { useState } from 'preact/hooks';
import { type Batch, postForm, postJson } from './api.js';
import { formatDuration, formatNumber } from './format.js';

type Operation = 'classify' | 'extract' | 'summarize' | 'enrich' | 'run';

/** `POST /v1/jobs?dry_run=true`'s answer (issue 16): what the job would cost, creating nothing. */
interface DryRun {
  object: 'dry_run';
  items: number;
  input_tokens: number;
  max_output_tokens: number;
  estimated_cost_usd: number | null;
  estimated_seconds: number | null;
}

const list = (text: string) =>
  text
    .split(/[,\n]/)
    .map((part) => part.trim())
    .filter(Boolean);

/** The operation's parameters from the form's fields, as `POST /v1/jobs/upload` takes them in `params`. */
function paramsOf(form: FormData): Record<string, unknown> {
  const text = (name: string) => String(form.get(name) ?? '').trim();
  const operation = text('operation') as Operation;
  const params: Record<string, unknown> = { operation };
  if (text('model')) params.model = text('model');
  if (text('name')) params.name = text('name');
  if (operation === 'classify') params.categories = list(text('categories'));
  if (operation === 'extract') {
    params.extraction_instructions = text('instructions');
    const fields = list(text('fields'));
    if (fields.length > 0) params.fields = fields.map((name) => ({ name, type: 'string' }));
  }
  if (operation === 'summarize') {
    params.summary_instructions = text('instructions');
    if (text('max_words')) params.max_words = Number(text('max_words'));
  }
  if (operation === 'enrich') {
    // Enrich fields carry a type, a description and maybe valid values: JSON says that best.
    try {
      params.fields = JSON.parse(text('enrich_fields') || '[]');
    } catch {
      throw new Error(
        'Enrich fields must be a JSON array, e.g. [{"name": "segment", "type": "string", "description": "…"}].',
      );
    }
  }
  if (operation === 'run') {
    if (text('system_prompt')) params.system_prompt = text('system_prompt');
    if (text('template')) params.user_prompt_template = text('template');
  }
  return params;
}

/** Upload a CSV or JSONL file, pick an operation and its parameters, see the estimate, submit. */
export function StartBatch() {
  const [operation, setOperation] = useState<Operation>('classify');
  const [error, setError] = useState<string | null>(null);
  const [estimate, setEstimate] = useState<DryRun | null>(null);
  const [busy, setBusy] = useState(false);

  const send = async (form: HTMLFormElement, dryRun: boolean) => {
    setError(null);
    const data = new FormData(form);
    const file = data.get('file');
    if (!(file instanceof File) || file.size === 0) return setError('Choose a CSV or JSONL file.');
    setBusy(true);
    try {
      const upload = new FormData();
      upload.append('params', JSON.stringify(paramsOf(data)));
      upload.append('file', file, file.name);
      const answer = await postForm<DryRun | Batch>(`/v1/jobs/upload${dryRun ? '?dry_run=true' : ''}`, upload);
      if (!dryRun) {
        location.hash = `#/batches/${(answer as Batch).id}`;
      } else if ('object' in answer && answer.object === 'dry_run') {
        setEstimate(answer);
      } else {
        // A server without dry runs took the flag for nothing and created the job: take it back.
        await postJson(`/v1/jobs/${(answer as Batch).id}/cancel`);
        setError('This server gives no estimates (dry runs); submit to run the job.');
      }
    } catch (failure) {
      setError((failure as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section class="start" aria-labelledby="start-title">
      <h1 id="start-title">Start a batch</h1>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          void send(event.currentTarget as HTMLFormElement, false);
        }}
      >
        <label for="file">File (CSV with a header row, or JSONL)</label>
        <input id="file" name="file" type="file" accept=".csv,.jsonl,.ndjson,text/csv" required />
        <label for="operation">Operation</label>
        <select
          id="operation"
          name="operation"
          value={operation}
          onChange={(event) => setOperation((event.currentTarget as HTMLSelectElement).value as Operation)}
        >
          <option value="classify">Classify</option>
          <option value="extract">Extract</option>
          <option value="summarize">Summarize</option>
          <option value="enrich">Enrich</option>
          <option value="run">Run a prompt template</option>
        </select>
        {operation === 'classify' && (
          <>
            <label for="categories">Categories (comma-separated)</label>
            <input id="categories" name="categories" required placeholder="billing, bug, feature_request" />
          </>
        )}
        {(operation === 'extract' || operation === 'summarize') && (
          <>
            <label for="instructions">Instructions</label>
            <textarea id="instructions" name="instructions" rows={3} required />
          </>
        )}
        {operation === 'extract' && (
          <>
            <label for="fields">Fields (comma-separated names; empty: the model picks)</label>
            <input id="fields" name="fields" placeholder="company, issue" />
          </>
        )}
        {operation === 'summarize' && (
          <>
            <label for="max_words">At most this many words</label>
            <input id="max_words" name="max_words" type="number" min={1} max={5000} />
          </>
        )}
        {operation === 'enrich' && (
          <>
            <label for="enrich_fields">Fields (JSON)</label>
            <textarea
              id="enrich_fields"
              name="enrich_fields"
              rows={4}
              required
              placeholder='[{"name": "segment", "type": "categorical", "valid_values": ["smb", "enterprise"], "description": "customer size"}]'
            />
          </>
        )}
        {operation === 'run' && (
          <>
            <label for="system_prompt">System prompt</label>
            <textarea id="system_prompt" name="system_prompt" rows={2} />
            <label for="template">
              Prompt template ({'{content}'} and {'{any_column}'} are replaced per item)
            </label>
            <textarea id="template" name="template" rows={3} placeholder="{content}" />
          </>
        )}
        <label for="model">Model (empty: the server's default)</label>
        <input id="model" name="model" />
        <label for="name">Name (optional)</label>
        <input id="name" name="name" />
        <div class="actions">
          <button
            type="button"
            disabled={busy}
            onClick={(event) => void send((event.currentTarget as HTMLButtonElement).form!, true)}
          >
            Estimate
          </button>
          <button type="submit" disabled={busy}>
            Submit
          </button>
        </div>
        {error && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        {estimate && (
          <dl class="counts-grid" aria-label="Estimate">
            <div>
              <dt>Items</dt>
              <dd>{formatNumber(estimate.items)}</dd>
            </div>
            <div>
              <dt>Input tokens</dt>
              <dd>{formatNumber(estimate.input_tokens)}</dd>
            </div>
            <div>
              <dt>Output tokens at most</dt>
              <dd>{formatNumber(estimate.max_output_tokens)}</dd>
            </div>
            <div>
              <dt>Cost</dt>
              <dd>{estimate.estimated_cost_usd === null ? 'unknown' : `$${estimate.estimated_cost_usd.toFixed(4)}`}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{formatDuration(estimate.estimated_seconds)}</dd>
            </div>
          </dl>
        )}
      </form>
    </section>
  );
}
