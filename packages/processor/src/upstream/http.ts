import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { UpstreamError, upstreamErrorFromResponse } from '@sluice/core';

/** An upstream's answer headers, read the way the rate-limit and retry-after readers expect. */
export interface HeaderSource {
  get(name: string): string | null;
}

export interface UpstreamAnswer {
  /** The parsed JSON body of a 2xx answer. */
  data: unknown;
  requestId: string | null;
}

export interface UpstreamHttpOptions {
  /** E.g. `https://api.openai.com/v1`; request paths are appended to it. */
  baseUrl: string;
  apiKey: string;
  /** Sent with every call besides the key (Azure's `api-key`, a gateway's tenant header). @defaultValue none */
  headers?: Readonly<Record<string, string>>;
  /** Keep-alive connections, about the calls in flight. */
  maxSockets: number;
  /** Told every answer's headers, success or error (learnt rate limits). */
  onHeaders?: (headers: HeaderSource) => void;
}

/**
 * The processor's HTTP client for an OpenAI-compatible upstream: a JSON POST over Node's http
 * module with keep-alive agents, the answer buffered and parsed once, errors mapped by core's one
 * status → error function. Every item costs one upstream call, so this is the hot path: the
 * `openai` client (its request building, header normalisation, debug formatting, and a WHATWG
 * Response with web streams over undici) cost more CPU per call than the rest of the processor
 * together (issue 22: about 30% of the processor's CPU, against the floor of a bare keep-alive
 * `node:http` client). Batch calls need none of it: retries, timeouts and limits are Sluice's own.
 */
export class UpstreamHttp {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;
  private readonly send: typeof httpRequest;
  /** Every call's headers but its length, built once. */
  private readonly headers: Record<string, string>;

  constructor(private readonly options: UpstreamHttpOptions) {
    this.base = new URL(options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`);
    const https = this.base.protocol === 'https:';
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets, scheduling: 'lifo' as const };
    this.agent = https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.send = https ? httpsRequest : httpRequest;
    this.headers = {
      authorization: `Bearer ${options.apiKey}`,
      'content-type': 'application/json',
      accept: 'application/json',
      ...options.headers,
    };
  }

  /**
   * POSTs `body` as JSON to `path` (relative to the base URL, e.g. `chat/completions`). Resolves
   * with a 2xx answer's JSON; rejects with an UpstreamError (its status, body and retry-after, or
   * `upstream_timeout` / `upstream_unreachable` / `upstream_malformed_response`, all retriable), or
   * with the signal's reason when it aborts.
   */
  post(path: string, body: unknown, call: { signal: AbortSignal; timeoutMs: number }): Promise<UpstreamAnswer> {
    const payload = Buffer.from(JSON.stringify(body));
    const url = new URL(path.replace(/^\//, ''), this.base);
    return new Promise<UpstreamAnswer>((resolve, reject) => {
      let settled = false;
      const finish = (error: unknown, answer?: UpstreamAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        call.signal.removeEventListener('abort', onAbort);
        if (error) reject(error);
        else resolve(answer as UpstreamAnswer);
      };
      const outgoing = this.send(
        url,
        {
          method: 'POST',
          agent: this.agent,
          headers: { ...this.headers, 'content-length': payload.length },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', (error) => finish(unreachable(error)));
          response.on('end', () => {
            const headers = headerSource(response.headers);
            this.options.onHeaders?.(headers);
            const status = response.statusCode ?? 502;
            const text = Buffer.concat(chunks).toString('utf8');
            const requestId = headers.get('x-request-id');
            if (status < 200 || status >= 300) {
              finish(upstreamErrorFromResponse(status, parseLenient(text), headers, requestId));
              return;
            }
            try {
              finish(null, { data: JSON.parse(text) as unknown, requestId });
            } catch (error) {
              // The upstream's HTTP body was not JSON: a broken answer, worth another try.
              finish(
                new UpstreamError(
                  'upstream_malformed_response',
                  `the upstream's answer was not JSON: ${(error as Error).message}`,
                  null,
                  null,
                  { retriable: true, cause: error },
                ),
              );
            }
          });
        },
      );
      const onAbort = () => {
        outgoing.destroy();
        finish(call.signal.reason);
      };
      const timer = setTimeout(() => {
        outgoing.destroy();
        finish(
          new UpstreamError('upstream_timeout', 'the upstream did not answer in time', null, null, { retriable: true }),
        );
      }, call.timeoutMs);
      if (call.signal.aborted) return onAbort();
      call.signal.addEventListener('abort', onAbort, { once: true });
      outgoing.on('error', (error) => finish(unreachable(error)));
      outgoing.end(payload);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

function unreachable(error: Error): UpstreamError {
  return new UpstreamError('upstream_unreachable', `could not reach the upstream: ${error.message}`, null, null, {
    retriable: true,
    cause: error,
  });
}

/** An error answer's body: its JSON when it is JSON, else its text (an HTML error page, a proxy's words). */
function parseLenient(text: string): unknown {
  if (text === '') return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function headerSource(headers: IncomingHttpHeaders): HeaderSource {
  return {
    get: (name) => {
      const value = headers[name.toLowerCase()];
      if (value === undefined) return null;
      return Array.isArray(value) ? value.join(', ') : String(value);
    },
  };
}
