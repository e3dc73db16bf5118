import { eventually } from './context.js';

export interface BatchView {
  id: string;
  status: string;
  request_counts: { total: number; completed: number; failed: number };
  output_file_id: string | null;
  error_file_id: string | null;
  usage: { input_tokens: number; output_tokens: number; total_tokens: number };
  [key: string]: unknown;
}

export async function postJsonl(url: string, lines: unknown[] | string, headers: Record<string, string> = {}) {
  const body = typeof lines === 'string' ? lines : lines.map((l) => JSON.stringify(l)).join('\n') + '\n';
  const response = await fetch(`${url}/v1/batches`, {
    method: 'POST',
    headers: { 'content-type': 'application/jsonl', ...headers },
    body,
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function getJson<T = Record<string, unknown>>(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: (await response.json()) as T };
}

export async function waitForStatus(
  url: string,
  batchId: string,
  statuses: string[] = ['completed', 'failed', 'cancelled', 'expired'],
  timeoutMs = 120_000,
): Promise<BatchView> {
  let last: BatchView | undefined;
  try {
    return await eventually(
      async () => {
        const { body } = await getJson<BatchView>(`${url}/v1/batches/${batchId}`);
        last = body;
        return statuses.includes(body.status) ? body : undefined;
      },
      { timeoutMs, intervalMs: 200, what: `batch ${batchId} to reach ${statuses.join('/')}` },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message}; it last answered ${JSON.stringify(last)}`);
  }
}

export async function readJsonl<T = Record<string, unknown>>(url: string): Promise<T[]> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url}: HTTP ${response.status}: ${await response.text()}`);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as T);
}
