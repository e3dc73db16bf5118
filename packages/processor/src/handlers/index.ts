import type { ApiKind } from '@sluice/core';
import { domainClassify } from './domain/classify.js';
import { domainExtract } from './domain/extract.js';
import { domainSummarize } from './domain/summarize.js';
import { openAIPassthroughHandlers } from './openai/passthrough.js';
import { operationClassify } from './operations/classify.js';
import { operationEnrich } from './operations/enrich.js';
import { operationExtract } from './operations/extract.js';
import { operationRun } from './operations/run.js';
import { operationSummarize } from './operations/summarize.js';
import type { Handler } from './types.js';

/** Every handler Sluice ships. */
export const HANDLERS: readonly Handler[] = [
  domainExtract,
  domainSummarize,
  domainClassify,
  ...openAIPassthroughHandlers,
  operationClassify,
  operationExtract,
  operationSummarize,
  operationEnrich,
  operationRun,
];

/** Routes a request message by (api, discriminator) to its handler. */
export class HandlerRouter {
  private readonly byKey = new Map<string, Handler>();

  constructor(handlers: readonly Handler[] = HANDLERS) {
    for (const handler of handlers) this.byKey.set(`${handler.api}:${handler.discriminator}`, handler);
  }

  route(api: ApiKind, discriminator: string): Handler | undefined {
    return this.byKey.get(`${api}:${discriminator}`);
  }
}
