/**
 * Test directives embedded in the prompt (the last user message): `sim:status=NNN` answers that HTTP status
 * every time, `sim:latency=MS` fixes the latency, `sim:malformed` makes the content invalid JSON,
 * `sim:invalid` makes a structured answer JSON that breaks its schema, `sim:invalid-once` only outside a
 * repair round (a conversation that holds an earlier answer).
 */
export interface Directives {
  status?: number;
  latencyMs?: number;
  malformed: boolean;
  invalid: 'always' | 'once' | null;
}

const DIRECTIVE = /(?<![\w:])sim:(?:status=\d+|latency=\d+|malformed|invalid-once|invalid)(?![\w=-])/gu;

export function parseDirectives(text: string): Directives {
  const directives: Directives = { malformed: false, invalid: null };
  for (const match of text.matchAll(DIRECTIVE)) {
    const [name, value] = match[0].slice('sim:'.length).split('=');
    if (name === 'status' && value !== undefined) {
      const status = Number(value);
      if (status >= 400 && status <= 599) directives.status = status;
    } else if (name === 'latency' && value !== undefined) {
      directives.latencyMs = Number(value);
    } else if (name === 'malformed') {
      directives.malformed = true;
    } else if (name === 'invalid') {
      directives.invalid = 'always';
    } else if (name === 'invalid-once') {
      directives.invalid ??= 'once';
    }
  }
  return directives;
}

/** The text without its directives, so that they do not leak into generated answers. */
export function stripDirectives(text: string): string {
  return text.replace(DIRECTIVE, ' ');
}
