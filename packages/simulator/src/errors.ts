/** An error answered in OpenAI's shape: `{error: {message, type, param, code}}`. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly code: string | null = null,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function invalidRequest(message: string, param: string | null = null, code: string | null = null): ApiError {
  return new ApiError(400, message, 'invalid_request_error', code, param);
}

/** Retry headers as OpenAI sends them: whole seconds (at least 1) and milliseconds. */
export function retryHeaders(waitMs: number): Record<string, string> {
  const ms = Math.max(1, Math.ceil(waitMs));
  return { 'retry-after': String(Math.max(1, Math.ceil(ms / 1000))), 'retry-after-ms': String(ms) };
}

/** A 429 that is not the rpm/tpm budgets' (a random fault or a directive): try again in a second. */
export function rateLimited(message: string): ApiError {
  return new ApiError(429, message, 'requests', 'rate_limit_exceeded', null, retryHeaders(1000));
}

/** A server-side failure as OpenAI reports it. */
export function serverError(status: number): ApiError {
  return new ApiError(status, `The server had an error processing your request. (simulated ${status})`, 'server_error');
}

/** The error for a `sim:status=NNN` directive. */
export function directedError(status: number): ApiError {
  const message = `Simulated ${status} error requested by the sim:status directive.`;
  if (status === 429) return rateLimited(message);
  if (status >= 500) return new ApiError(status, message, 'server_error');
  return new ApiError(status, message, 'invalid_request_error', 'simulated_error');
}

/**
 * OpenAI's refusal of a flex call for lack of capacity: its flex guide names it "429 Resource
 * Unavailable" (not billed; retry with backoff, or call without flex), and its API reference lists
 * the code `flex_unavailable` ("Flex processing is temporarily unavailable"). The type is not
 * published: `resource_unavailable` here. No `retry-after`: the guide leaves the wait to the
 * client's backoff, and a client must not read this as its own rate limit.
 */
export function flexUnavailable(): ApiError {
  return new ApiError(
    429,
    'Resource Unavailable: flex processing is temporarily unavailable for this request. Retry later, or send it without service_tier "flex". (simulated)',
    'resource_unavailable',
    'flex_unavailable',
  );
}

/**
 * A flex call for a model not served on flex: Azure OpenAI answers 400 for a deployment without
 * flex processing. The wording is the simulator's; the parameter is what a client can go by.
 */
export function flexUnsupported(model: string): ApiError {
  return new ApiError(
    400,
    `The model ${JSON.stringify(model)} does not support service_tier 'flex'. (simulated)`,
    'invalid_request_error',
    'unsupported_value',
    'service_tier',
  );
}
