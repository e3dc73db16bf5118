import { HEADERS } from '../topics.js';
import type { IncomingMessage, OutgoingMessage } from './types.js';

/**
 * The dead-letter form of a message a consumer could not use: the original key, value and
 * headers, plus headers saying where it came from, which stage rejected it and why.
 */
export function deadLetter(message: IncomingMessage, reason: string, stage: string): OutgoingMessage {
  return {
    key: message.key,
    value: message.value,
    headers: {
      ...message.headers,
      [HEADERS.dlqReason]: reason.slice(0, 2000),
      [HEADERS.dlqTopic]: message.topic,
      [HEADERS.dlqPartition]: String(message.partition),
      [HEADERS.dlqOffset]: message.offset,
      [HEADERS.dlqStage]: stage,
    },
  };
}
