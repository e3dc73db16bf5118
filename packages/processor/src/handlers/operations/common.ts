import { OperationItem } from '@sluice/core';
import { z } from 'zod';
import type { ChatAnswer } from '../structured.js';
import type { HandlerOutcome } from '../types.js';

/** An operations item message body: the job's parameters plus the item. */
export function operationBody<P extends z.ZodType>(params: P) {
  return z.object({ params, item: OperationItem });
}

/** An operation's outcome: the parsed result as the response body, the item echoed for the output row. */
export function operationOutcome(
  result: unknown,
  answer: Pick<ChatAnswer<unknown>, 'requestId' | 'usage' | 'attempts' | 'cached' | 'completion'>,
  item: Record<string, unknown>,
): HandlerOutcome {
  return {
    response: { status_code: 200, request_id: answer.requestId, body: result },
    usage: answer.usage,
    attempts: answer.attempts,
    cached: answer.cached,
    item,
    model: typeof answer.completion.model === 'string' ? answer.completion.model : null,
  };
}

export const wordCount = (text: string) => text.split(/\s+/).filter(Boolean).length;
