import { structuredOutputModeFor, upstreamModelFor, type UpstreamEntry } from '@sluice/core';

/** One upstream's verdict, printed as one line by `sluice check`. */
export interface UpstreamCheck {
  name: string;
  baseUrl: string;
  ok: boolean;
  /** What was found, `; `-separated: the failure first when there is one. */
  reason: string;
}

/** A tiny schema for the dialect probe: the answer is a few tokens whatever the model. */
const PROBE_SCHEMA = {
  type: 'object',
  properties: { ok: { type: 'boolean' } },
  required: ['ok'],
  additionalProperties: false,
};

/**
 * Probes one upstream as the processor will call it (its base URL, key and headers): reachable,
 * key accepted and the models it is said to serve listed (`GET /models`), and whether it takes
 * `json_schema` (one tiny call) when its structured output is negotiated or pinned to it.
 */
export async function checkUpstream(
  entry: UpstreamEntry,
  options: {
    /** The configured default models (SLUICE_MODEL, SLUICE_MODEL_*): the dialect probe calls one it serves. */
    defaultModels: readonly string[];
    /** @defaultValue 10 s per call */
    timeoutMs?: number;
  },
): Promise<UpstreamCheck> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const facts: string[] = [];
  const verdict = (ok: boolean, failure?: string): UpstreamCheck => ({
    name: entry.name,
    baseUrl: entry.baseUrl,
    ok,
    reason: [...(failure ? [failure] : []), ...facts].join('; '),
  });
  const headers = { authorization: `Bearer ${entry.apiKey}`, ...entry.headers };

  const listing = await call(`${entry.baseUrl}/models`, { headers }, timeoutMs);
  if ('unreachable' in listing) return verdict(false, `unreachable: ${listing.unreachable}`);
  if (listing.status === 401 || listing.status === 403) {
    return verdict(false, `key refused: GET /models answered ${listing.status}${said(listing.body)}`);
  }
  let listed: string[] | null = null;
  if (listing.status === 404) {
    // Some OpenAI-compatible layers serve no model list; the chat call below still tests the key.
    facts.push('GET /models not served (404): models not checked');
  } else if (listing.status < 200 || listing.status > 299) {
    return verdict(false, `GET /models answered ${listing.status}${said(listing.body)}`);
  } else {
    listed = modelIds(listing.body);
    facts.push(
      listed === null ? 'key accepted; GET /models gave no model list' : `key accepted; ${listed.length} models listed`,
    );
  }

  const missing: string[] = [];
  if (listed !== null) {
    for (const route of entry.models) {
      const name = route.upstreamModel ?? route.match;
      if (!route.prefix) {
        if (!listed.includes(name)) missing.push(name);
      } else if (route.match !== '') {
        const matching = listed.filter((id) => id.startsWith(route.match)).length;
        if (matching === 0) missing.push(`${route.match}* (no listed model matches)`);
        else facts.push(`${route.match}*: ${matching} listed`);
      }
    }
  }

  const probeModel = dialectProbeModel(entry, listed, options.defaultModels);
  const mode = probeModel
    ? structuredOutputModeFor(entry.structuredOutput, probeModel)
    : entry.structuredOutput.default;
  let dialectFailure: string | undefined;
  if (!probeModel) {
    facts.push(`structured output ${mode} (not probed: no model name to call)`);
  } else if (mode !== 'auto' && mode !== 'json_schema') {
    facts.push(`structured output ${mode} (configured)`);
  } else {
    const answer = await call(
      `${entry.baseUrl}/chat/completions`,
      {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({
          model: probeModel,
          messages: [{ role: 'user', content: 'Answer {"ok": true}.' }],
          response_format: { type: 'json_schema', json_schema: { name: 'check', schema: PROBE_SCHEMA, strict: true } },
        }),
      },
      timeoutMs,
    );
    if ('unreachable' in answer) {
      dialectFailure = `POST /chat/completions (${probeModel}): ${answer.unreachable}`;
    } else if (answer.status >= 200 && answer.status <= 299) {
      facts.push(`json_schema accepted (${probeModel})`);
    } else if (answer.status === 401 || answer.status === 403) {
      dialectFailure = `key refused: POST /chat/completions answered ${answer.status}${said(answer.body)}`;
    } else if (answer.status === 429) {
      facts.push(`structured output ${mode} (not probed: 429)`);
    } else if (/response_format|json_schema/i.test(JSON.stringify(answer.body))) {
      const refusal = `json_schema refused (${answer.status})`;
      if (mode === 'json_schema')
        dialectFailure = `${refusal} but SLUICE_STRUCTURED_OUTPUT pins it${said(answer.body)}`;
      else facts.push(`${refusal}: auto falls back to json_object or the prompt`);
    } else {
      dialectFailure = `POST /chat/completions (${probeModel}) answered ${answer.status}${said(answer.body)}`;
    }
  }

  if (missing.length > 0) return verdict(false, `not listed: ${missing.join(', ')}`);
  if (dialectFailure) return verdict(false, dialectFailure);
  return verdict(true);
}

/** Lines of `name  base_url  ok|FAIL  reason`, the columns aligned. */
export function formatUpstreamChecks(checks: readonly UpstreamCheck[]): string[] {
  const width = (pick: (check: UpstreamCheck) => string) => Math.max(...checks.map((check) => pick(check).length));
  const name = width((check) => check.name);
  const url = width((check) => check.baseUrl);
  return checks.map(
    (check) =>
      `${check.name.padEnd(name)}  ${check.baseUrl.padEnd(url)}  ${(check.ok ? 'ok' : 'FAIL').padEnd(4)}  ${check.reason}`,
  );
}

/**
 * The model the dialect probe calls (by the upstream's name for it): a configured default it
 * serves, else the first model it names, else the first listed one a prefix matches.
 */
function dialectProbeModel(entry: UpstreamEntry, listed: string[] | null, defaults: readonly string[]): string | null {
  for (const model of defaults) {
    const upstreamModel = upstreamModelFor(entry, model);
    if (upstreamModel !== undefined) return upstreamModel;
  }
  const named = entry.models.find((route) => !route.prefix);
  if (named) return named.upstreamModel ?? named.match;
  for (const route of entry.models) {
    const match = listed?.find((id) => id.startsWith(route.match));
    if (match) return match;
  }
  return null;
}

type Answer = { status: number; body: unknown } | { unreachable: string };

async function call(url: string, init: RequestInit, timeoutMs: number): Promise<Answer> {
  try {
    const response = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text, for the message
    }
    return { status: response.status, body };
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError') {
      return { unreachable: `no answer within ${timeoutMs / 1000} s` };
    }
    // Node's fetch says "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND, a TLS error) is its cause.
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return { unreachable: cause?.code ?? cause?.message ?? (error as Error).message };
  }
}

/**
 * The `data[].id` of an OpenAI model list; null when the answer is not one. Gemini's OpenAI layer
 * lists `models/gemini-2.0-flash` for the model its chat route calls `gemini-2.0-flash`: the
 * `models/` is dropped so both compare as the name a request uses.
 */
function modelIds(body: unknown): string[] | null {
  const data = (body as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) return null;
  return data
    .map((model) => (model as { id?: unknown } | null)?.id)
    .filter((id): id is string => typeof id === 'string')
    .map((id) => id.replace(/^models\//, ''));
}

/** `: <the upstream's message>`, short, for a reason. */
function said(body: unknown): string {
  const message =
    typeof body === 'string'
      ? body
      : ((body as { error?: { message?: unknown } } | null)?.error?.message ?? JSON.stringify(body));
  const text = String(message).replace(/\s+/g, ' ').trim();
  return text ? `: ${text.length > 160 ? `${text.slice(0, 157)}...` : text}` : '';
}
