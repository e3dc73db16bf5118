import {
  type ApiKind,
  DOMAIN_OPERATIONS,
  DOMAIN_REQUESTS,
  domainAsOperation,
  type DomainOperation,
  type DomainRequest,
} from '@sluice/core';
import { z } from 'zod';
import { classify } from './classify.js';
import { enrich } from './enrich.js';
import { extract } from './extract.js';
import { openAIPassthroughHandlers } from './passthrough.js';
import { PRESENTERS } from './presenters.js';
import { run } from './run.js';
import { summarize } from './summarize.js';
import type { Handler, Route } from './types.js';

/** Every handler Sluice ships: one per operation, for every API that runs it, and one per OpenAI endpoint. */
export const HANDLERS: readonly Handler[] = [classify, extract, summarize, enrich, run, ...openAIPassthroughHandlers];

/**
 * Routes a request message by (api, discriminator) to its handler, bound to that API: how the
 * API's message body is read, which of its items share compiled parameters, and its presenter.
 */
export class HandlerRouter {
  private readonly routes = new Map<string, Route>();

  constructor(handlers: readonly Handler[] = HANDLERS) {
    for (const handler of handlers) {
      for (const api of handler.apis) {
        // The domain API names only its own operations (a domain line's `model`).
        if (api === 'domain' && !isDomainOperation(handler.operation)) continue;
        this.routes.set(`${api}:${handler.operation}`, bind(handler, api));
      }
    }
  }

  route(api: ApiKind, discriminator: string): Route | undefined {
    return this.routes.get(`${api}:${discriminator}`);
  }
}

const isDomainOperation = (operation: string): operation is DomainOperation =>
  (DOMAIN_OPERATIONS as readonly string[]).includes(operation);

function bind(handler: Handler, api: ApiKind): Route {
  const present = PRESENTERS[api];
  return {
    request: api === 'domain' ? domainItemBody(handler.operation as DomainOperation, handler.request) : handler.request,
    async handle(body, context) {
      const answer = await handler.handle(body, context, jobOf(api, context.batchId, body));
      return present(answer, handler.operation, body);
    },
  };
}

/**
 * The name under which an item's compiled parameters are kept (compiled.ts): every item of an
 * operations job shares its job's parameters, so the batch id names them; the lines of a domain
 * batch each carry their own (labels, entities, bounds), so their text is part of the name.
 */
export function jobOf(api: ApiKind, batchId: string, body: unknown): string {
  return api === 'domain' ? `${batchId}\n${JSON.stringify((body as { params: unknown }).params)}` : batchId;
}

/**
 * A domain item message's body: `{params, item}`, as ingest writes it, or a domain line's own body
 * (`{model, text, ...}`), as an outside producer may (docs/topics.md), read through core's
 * `domainAsOperation`, the mapping ingest applies at intake.
 */
function domainItemBody(operation: DomainOperation, request: z.ZodType): z.ZodType {
  const lineBody: z.ZodType<DomainRequest> = DOMAIN_REQUESTS[operation];
  return z.unknown().transform((body, context) => {
    let failed = false;
    const parse = <T>(schema: z.ZodType<T>, value: unknown): T => {
      const parsed = schema.safeParse(value);
      if (parsed.success) return parsed.data;
      failed = true;
      for (const issue of parsed.error.issues)
        context.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    };
    if (typeof body !== 'object' || body === null || 'params' in body) return parse(request, body);
    const line = parse(lineBody, body);
    if (failed) return z.NEVER;
    const { params, item } = domainAsOperation(line);
    return parse(request, { params, item });
  });
}
