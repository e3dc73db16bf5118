import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { fastify, type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { planChatCompletion, STRUCTURED_DIALECTS, type StructuredDialect } from './chat.js';
import { parseDirectives } from './directives.js';
import {
  ApiError,
  directedError,
  flexUnavailable,
  flexUnsupported,
  invalidRequest,
  rateLimited,
  retryHeaders,
  serverError,
} from './errors.js';
import { FaultInjector } from './faults.js';
import { latencySampler, mulberry32, type LatencySpec } from './latency.js';
import { BudgetLimits } from './limits.js';
import { PromptCache } from './prompt-cache.js';
import { StatsRecorder, type SimulatorStats } from './stats.js';
import { Waits } from './waits.js';

export const SIMULATED_HEADER = 'x-sluice-simulated';

export interface SimulatorOptions {
  /** Default '127.0.0.1'. */
  host?: string;
  /** Default 9999; 0 picks a free port. */
  port?: number;
  /** Default instant. */
  latency?: LatencySpec;
  /** Requests per minute, a budget refilled continuously; 0 or undefined: no limit. */
  rpm?: number;
  /** Tokens per minute (prompt estimate + max_tokens, or + the completion when no max is given); 0: no limit. */
  tpm?: number;
  /** Capacity of the rpm and tpm budgets, as seconds of refill: the largest burst admitted. Default 1. */
  burstSeconds?: number;
  /**
   * The structured-output dialect this upstream speaks on /v1/chat/completions (default `json_schema`:
   * everything OpenAI takes). `json_object`: llama-cpp-python (`{type: "json_object", schema}`; json_schema
   * refused); `json`: TGI (`{type: "json", value: schema}` only); `none`: no response_format at all.
   */
  structured?: StructuredDialect;
  /** Probability in [0, 1] of a 500/502/503 answer. */
  errorRate?: number;
  /** Probability of a 429 with retry-after, independent of the rpm/tpm limits. */
  rate429?: number;
  /** Probability that a request hangs for `hangMs` without an answer, then its socket is destroyed. */
  timeoutRate?: number;
  /** Default 600_000. */
  hangMs?: number;
  /** Probability that a chat completion's content is truncated, invalid JSON. */
  malformedRate?: number;
  /**
   * Probability in [0, 1] that a `service_tier: "flex"` call is refused as OpenAI refuses flex calls
   * it has no capacity for: 429, code `flex_unavailable` (see `flexUnavailable` in errors.ts). Other
   * tiers are never refused for it. Default 0.
   */
  flexUnavailableRate?: number;
  /**
   * The models served on flex (exact names); any other model's flex call is refused as Azure
   * refuses a deployment without flex: 400, param `service_tier`. Default: every model.
   */
  flexModels?: readonly string[];
  /** Seed of the fault and latency draws (default 1). Answers depend only on the request content. */
  seed?: number;
  logger?: { info(obj: object, msg?: string): void; warn(obj: object, msg?: string): void };
}

export interface Simulator {
  /** Base URL ending in /v1, e.g. http://127.0.0.1:9999/v1. */
  url: string;
  port: number;
  stats(): SimulatorStats;
  resetStats(): void;
  close(): Promise<void>;
}

const BODY_LIMIT = 32 * 1024 * 1024;
/** A few ids for GET /v1/models, the readiness probe; the chat route takes any model name. */
const MODELS = ['gpt-4o-mini', 'gpt-4o', 'gpt-4.1-mini'];

export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1';
  const port = options.port ?? 9999;
  const hangMs = options.hangMs ?? 600_000;
  const burstSeconds = options.burstSeconds ?? 1;
  for (const [name, value] of Object.entries({ rpm: options.rpm, tpm: options.tpm, hangMs, burstSeconds })) {
    if (value !== undefined && (!Number.isFinite(value) || value < 0)) {
      throw new Error(`Invalid simulator option ${name}: ${value} (expected a non-negative number).`);
    }
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Invalid simulator port ${port}.`);

  const rng = mulberry32(options.seed ?? 1);
  const sampleLatency = latencySampler(options.latency ?? { medianMs: 0, p99Ms: 0 }, rng);
  const faults = new FaultInjector(options, rng);
  const limits = new BudgetLimits({ rpm: options.rpm, tpm: options.tpm, burstMs: (burstSeconds || 1) * 1000 });
  const structured = options.structured ?? 'json_schema';
  if (!STRUCTURED_DIALECTS.includes(structured)) {
    throw new Error(
      `Invalid simulator option structured: ${String(structured)} (expected ${STRUCTURED_DIALECTS.join(', ')}).`,
    );
  }
  const stats = new StatsRecorder();
  const flexModels = options.flexModels ? new Set(options.flexModels) : null;
  const waits = new Waits();
  const promptCache = new PromptCache();
  const logger = options.logger;

  const app = fastify({
    logger: false,
    bodyLimit: BODY_LIMIT,
    keepAliveTimeout: 65_000,
    forceCloseConnections: true,
    requestIdHeader: false,
    genReqId: () => `req_${randomBytes(12).toString('hex')}`,
  });

  // One lenient JSON parser for every content type, so that errors come in OpenAI's shape.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'string' }, (_request, text, done) => {
    if (typeof text !== 'string' || text.trim() === '') return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      done(
        invalidRequest(`We could not parse the JSON body of your request: ${reason}`, null, 'invalid_json'),
        undefined,
      );
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    if (request.method !== 'POST' || !request.url.startsWith('/v1/')) return;
    stats.begin();
    const response = reply.raw;
    response.once('close', () => stats.end(response.writableFinished ? response.statusCode : undefined));
  });

  app.addHook('onSend', async (request, reply, payload) => {
    reply.header(SIMULATED_HEADER, 'true');
    reply.header('x-request-id', request.id);
    return payload;
  });

  app.setErrorHandler((error: FastifyError | ApiError, _request, reply) => {
    const apiError = error instanceof ApiError ? error : fromFastifyError(error);
    if (apiError.status >= 500 && !(error instanceof ApiError)) {
      logger?.warn({ err: error.message }, 'simulator: unexpected error');
    }
    return reply.code(apiError.status).headers(apiError.headers).send(apiError.body());
  });

  app.setNotFoundHandler((request, reply) => {
    const message = `Unknown request URL: ${request.method} ${request.url}. (The simulator serves /v1/chat/completions.)`;
    return reply.code(404).send(new ApiError(404, message, 'invalid_request_error', 'unknown_url').body());
  });

  /** Order: validate, directives, limits, flex capacity, random faults, latency, answer. */
  app.post('/v1/chat/completions', async (request, reply) => {
    const plan = planChatCompletion(request.body, structured, promptCache);
    const directives = parseDirectives(plan.directiveText);
    if (directives.status !== undefined) {
      if (directives.latencyMs && !(await waits.sleep(directives.latencyMs, reply.raw))) return abandon(request, reply);
      throw directedError(directives.status);
    }

    const admission = limits.tryAdmit(plan.tokenCost);
    if (!admission.ok) {
      const headers = { ...admission.headers, ...retryHeaders(admission.waitMs) };
      throw new ApiError(429, admission.message, admission.kind, 'rate_limit_exceeded', null, headers);
    }

    stats.serviceTier(plan.serviceTier);
    if (plan.serviceTier === 'flex' && flexModels && !flexModels.has(plan.model)) {
      // A request refused as invalid consumes nothing of the budgets.
      admission.refund();
      throw flexUnsupported(plan.model);
    }
    if (plan.serviceTier === 'flex' && faults.drawFlexUnavailable()) {
      // Not billed at OpenAI: the call consumes nothing of the budgets either.
      admission.refund();
      stats.fault();
      throw flexUnavailable();
    }

    const fault = faults.draw();
    if (fault !== 'none') stats.fault();
    if (fault === 'rate_limit') {
      admission.refund();
      throw rateLimited('Rate limit reached for requests. Please try again in 1s. (simulated fault)');
    }
    if (typeof fault === 'number') throw serverError(fault);
    if (fault === 'timeout') {
      await waits.sleep(hangMs, reply.raw);
      return abandon(request, reply);
    }

    const latencyMs = directives.latencyMs ?? sampleLatency();
    if (latencyMs > 0 && !(await waits.sleep(latencyMs, reply.raw))) return abandon(request, reply);

    let malformed = directives.malformed;
    if (!malformed && faults.drawMalformed()) {
      malformed = true;
      stats.fault();
    }
    void reply.headers(admission.headers);
    return plan.render(malformed);
  });

  app.get('/v1/models', async () => ({
    object: 'list',
    data: MODELS.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'sluice-simulator' })),
  }));
  app.get('/sim/stats', async () => stats.snapshot());
  app.post('/sim/reset', async () => {
    stats.reset();
    return { ok: true };
  });

  try {
    await app.listen({ host, port, backlog: 4096 });
  } catch (error) {
    await app.close();
    throw error;
  }
  const address = app.server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${address.port}/v1`;
  logger?.info({ url, rpm: options.rpm ?? 0, tpm: options.tpm ?? 0, latency: options.latency }, 'simulator listening');

  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    stats: () => stats.snapshot(),
    resetStats: () => stats.reset(),
    close: () => {
      closing ??= (async () => {
        waits.cancelAll();
        await app.close();
        logger?.info({ url }, 'simulator closed');
      })();
      return closing;
    },
  };
}

/** No answer: the client left, the request hung on purpose, or the simulator is closing. */
function abandon(request: FastifyRequest, reply: FastifyReply): undefined {
  reply.hijack();
  request.raw.socket.destroy();
  return undefined;
}

/** Fastify's own errors (a body too large, a bad content length) in OpenAI's shape. */
function fromFastifyError(error: FastifyError): ApiError {
  const status = error.statusCode ?? 500;
  if (status < 500) return new ApiError(status, error.message, 'invalid_request_error', error.code ?? null);
  return new ApiError(500, `Simulator internal error: ${error.message}`, 'server_error');
}
