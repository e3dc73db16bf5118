import { parentPort } from 'node:worker_threads';
import { type ChunkRequest, checkChunk } from './chunk-check.js';

/** An intake worker (intake-pool.ts): checks the chunks it is sent, one at a time, and answers each with its id. */
parentPort?.on('message', (message: { id: number; request: ChunkRequest }) => {
  try {
    const checked = checkChunk(message.request);
    const transfer = [checked.stored, checked.kinds, checked.fingerprints, checked.storedEnds].map(
      (array) => array.buffer as ArrayBuffer,
    );
    parentPort?.postMessage({ id: message.id, checked }, transfer);
  } catch (error) {
    parentPort?.postMessage({
      id: message.id,
      error: error instanceof Error ? (error.stack ?? error.message) : String(error),
    });
  }
});
