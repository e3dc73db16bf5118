import { createHash, randomBytes } from 'node:crypto';

const random = (bytes: number) => randomBytes(bytes).toString('hex');

/**
 * `batch_` + 24 hex characters, like OpenAI's batch ids. The first 12 are the creation time in
 * milliseconds, so ids sort in creation order (listings are newest first, also within a second).
 */
export const newBatchId = (): string => `batch_${Date.now().toString(16).padStart(12, '0')}${random(6)}`;

/** `file-` + 24 hex characters, like OpenAI's file ids. */
export const newFileId = (): string => `file-${random(12)}`;

/**
 * The id of one output line. Derived from the batch id and item index, so an item processed twice
 * (at-least-once delivery) yields the same line id both times.
 */
export const requestLineId = (batchId: string, index: number): string =>
  `batch_req_${createHash('sha1').update(`${batchId}:${index}`).digest('hex').slice(0, 24)}`;

/** The ids of a finished batch's output and error files: fixed per batch, so finalizing twice writes the same files. */
export const outputFileId = (batchId: string): string => `file-${batchId.replace(/^batch_/, '')}-output`;
export const errorFileId = (batchId: string): string => `file-${batchId.replace(/^batch_/, '')}-errors`;

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);
