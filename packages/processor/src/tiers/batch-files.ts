import { randomBytes } from 'node:crypto';
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';

/** One request for a provider's Batch API: the body goes to `endpoint` as it is. */
export interface ProviderBatchItem {
  /** Unique within one submit; the provider's output lines name it. */
  customId: string;
  body: Record<string, unknown>;
}

export interface BatchFileLimits {
  /** OpenAI: 50,000 requests per batch file. */
  maxRequestsPerFile: number;
  /** OpenAI: 200 MB per batch file. */
  maxBytesPerFile: number;
}

/** One provider input file, written to the scratch directory, not yet uploaded. */
export interface BatchFilePart {
  /** Sluice's id for the provider batch this file becomes: `pb_` + hex; also its file name. */
  journalId: string;
  path: string;
  filename: string;
  customIds: string[];
  bytes: number;
}

/** A line of the provider's JSONL input: `{custom_id, method: "POST", url, body}`. */
export function inputLine(item: ProviderBatchItem, endpoint: string): string {
  return `${JSON.stringify({ custom_id: item.customId, method: 'POST', url: endpoint, body: item.body })}\n`;
}

/**
 * Writes `items` as the provider's JSONL input, one file per part, each within `limits`, and
 * yields each part once it is complete. The next part is written only when the caller asks for it,
 * so one file at a time is on disk and nothing is held in memory but the part's custom_ids; each
 * part's file is removed when the caller comes back for the next one, or when it stops early.
 */
export async function* writeBatchFiles(
  items: Iterable<ProviderBatchItem> | AsyncIterable<ProviderBatchItem>,
  endpoint: string,
  limits: BatchFileLimits,
  scratchDirectory: string,
): AsyncGenerator<BatchFilePart> {
  const seen = new Set<string>();
  let part: (BatchFilePart & { handle: Awaited<ReturnType<typeof open>> }) | null = null;
  const close = async (): Promise<BatchFilePart | null> => {
    if (!part) return null;
    const { handle, ...done } = part;
    part = null;
    await handle.close();
    return done;
  };
  const paths: string[] = [];
  try {
    for await (const item of items) {
      if (seen.has(item.customId)) throw new Error(`custom_id ${JSON.stringify(item.customId)} is used twice`);
      seen.add(item.customId);
      const line = Buffer.from(inputLine(item, endpoint));
      if (line.length > limits.maxBytesPerFile) {
        throw new Error(
          `the request ${JSON.stringify(item.customId)} takes ${line.length} bytes, more than a provider file may hold (${limits.maxBytesPerFile})`,
        );
      }
      if (
        part &&
        (part.customIds.length >= limits.maxRequestsPerFile || part.bytes + line.length > limits.maxBytesPerFile)
      ) {
        const full = await close();
        if (full) yield full;
        await rm(paths.shift() as string, { force: true });
      }
      if (!part) {
        const journalId = `pb_${randomBytes(12).toString('hex')}`;
        const filename = `${journalId}.jsonl`;
        const path = join(scratchDirectory, filename);
        paths.push(path);
        part = { journalId, path, filename, customIds: [], bytes: 0, handle: await open(path, 'wx') };
      }
      await part.handle.write(line);
      part.customIds.push(item.customId);
      part.bytes += line.length;
    }
    const last = await close();
    if (last) yield last;
  } finally {
    await close().catch(() => undefined);
    await Promise.all(paths.map((path) => rm(path, { force: true })));
  }
}
