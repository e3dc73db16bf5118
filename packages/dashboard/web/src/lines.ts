import { storedKey } from './api.js';

/**
 * The first `max` lines of a JSONL download, read as a stream and cancelled once enough arrived, so a
 * large output is not fetched whole to show ten rows.
 */
export async function firstLines(path: string, max: number): Promise<string[]> {
  const key = storedKey();
  const response = await fetch(path, { headers: key ? { authorization: `Bearer ${key}` } : {} });
  if (!response.ok || !response.body) return [];
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const lines: string[] = [];
  let rest = '';
  while (lines.length < max) {
    const { done, value } = await reader.read();
    if (done) {
      if (rest.trim()) lines.push(rest);
      break;
    }
    const parts = (rest + value).split('\n');
    rest = parts.pop() ?? '';
    lines.push(...parts.filter((line) => line.trim() !== ''));
  }
  await reader.cancel().catch(() => undefined);
  return lines.slice(0, max);
}

export interface ErrorGroup {
  code: string;
  count: number;
  examples: string[];
}

/** The error code of an error-file line (Sluice's, and OpenAI's nested response shape). */
function codeOf(line: string): string {
  try {
    const parsed = JSON.parse(line) as {
      error?: { code?: string | null } | null;
      response?: { body?: { error?: { code?: string | null } } } | null;
    };
    return parsed.error?.code ?? parsed.response?.body?.error?.code ?? 'unknown';
  } catch {
    return 'unreadable_line';
  }
}

/** Error lines grouped by code, most frequent first, with up to `examplesEach` example lines each. */
export function groupErrors(lines: string[], examplesEach = 3): ErrorGroup[] {
  const groups = new Map<string, ErrorGroup>();
  for (const line of lines) {
    const code = codeOf(line);
    let group = groups.get(code);
    if (!group) groups.set(code, (group = { code, count: 0, examples: [] }));
    group.count++;
    if (group.examples.length < examplesEach) group.examples.push(line);
  }
  return [...groups.values()].sort((a, b) => b.count - a.count);
}
