/**
 * Test directives embedded in the prompt (the last user message): `sim:status=NNN` answers that HTTP status
 * every time, `sim:latency=MS` fixes the latency, `sim:malformed` makes the content invalid JSON.
 */
export interface Directives {
  status?: number;
  latencyMs?: number;
  malformed: boolean;
}

const DIRECTIVE = /(?<![\w:])sim:(?:status=\d+|latency=\d+|malformed)(?![\w=])/gu;

export function parseDirectives(text: string): Directives {
  const directives: Directives = { malformed: false };
  for (const match of text.matchAll(DIRECTIVE)) {
    const [name, value] = match[0].slice('sim:'.length).split('=');
    if (name === 'status' && value !== undefined) {
      const status = Number(value);
      if (status >= 400 && status <= 599) directives.status = status;
    } else if (name === 'latency' && value !== undefined) {
      directives.latencyMs = Number(value);
    } else if (name === 'malformed') {
      directives.malformed = true;
    }
  }
  return directives;
}

/** The text without its directives, so that they do not leak into generated answers. */
export function stripDirectives(text: string): string {
  return text.replace(DIRECTIVE, ' ');
}
