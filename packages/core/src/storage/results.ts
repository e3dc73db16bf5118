import { mkdir, open, type FileHandle } from 'node:fs/promises';
import type { ItemResultMessage } from '../contracts/messages.js';
import { isNotFound } from './fs.js';
import type { DataLayout } from './layout.js';

/**
 * A batch's results as they arrive: an append-only log of JSON lines plus a fixed-width index
 * with one 24-byte entry per item index. The index is the dedup set (an entry is written once per
 * index, so a redelivered result is recognised after a restart too) and the way to read the
 * results in input order without holding them in memory.
 *
 * Entry layout (little endian): f64 log offset + 1 (0 = absent) | u32 line length |
 * u32 flags (bit 0: ok) | u32 input tokens | u32 output tokens.
 */
export const INDEX_ENTRY_BYTES = 24;
const FLAG_OK = 1;

export interface ResultCounts {
  /** Distinct item indexes recorded. */
  received: number;
  completed: number;
  failed: number;
  inputTokens: number;
  outputTokens: number;
}

interface PendingEntry {
  index: number;
  entry: Buffer;
}

/** Writes one batch's results. Not safe for two writers at once: one sink owns a batch at a time. */
export class ResultWriter {
  private present: Uint8Array;
  private pendingLog: Buffer[] = [];
  private pendingLogBytes = 0;
  private pendingIndex: PendingEntry[] = [];

  private constructor(
    private readonly log: FileHandle,
    private readonly index: FileHandle,
    private logSize: number,
    present: Uint8Array,
    readonly counts: ResultCounts,
  ) {
    this.present = present;
  }

  /** Opens (creating if needed) the store and rebuilds the dedup set and counts from the index. */
  static async open(layout: DataLayout, batchId: string): Promise<ResultWriter> {
    await mkdir(layout.batchDir(batchId), { recursive: true });
    const log = await openReadWrite(layout.resultsLog(batchId));
    const index = await openReadWrite(layout.resultsIndex(batchId));
    const counts: ResultCounts = { received: 0, completed: 0, failed: 0, inputTokens: 0, outputTokens: 0 };
    let present: Uint8Array = new Uint8Array(1024);
    const { size } = await index.stat();
    const chunk = Buffer.alloc(INDEX_ENTRY_BYTES * 4096);
    for (let position = 0; position < size; position += chunk.length) {
      const { bytesRead } = await index.read(chunk, 0, chunk.length, position);
      for (let at = 0; at + INDEX_ENTRY_BYTES <= bytesRead; at += INDEX_ENTRY_BYTES) {
        if (chunk.readDoubleLE(at) === 0) continue;
        const itemIndex = (position + at) / INDEX_ENTRY_BYTES;
        present = setBit(present, itemIndex);
        counts.received++;
        if (chunk.readUInt32LE(at + 12) & FLAG_OK) counts.completed++;
        else counts.failed++;
        counts.inputTokens += chunk.readUInt32LE(at + 16);
        counts.outputTokens += chunk.readUInt32LE(at + 20);
      }
    }
    const logSize = (await log.stat()).size;
    return new ResultWriter(log, index, logSize, present, counts);
  }

  has(itemIndex: number): boolean {
    return getBit(this.present, itemIndex);
  }

  /**
   * Buffers a result; returns false (and records nothing) when its item index was recorded
   * before. Call `flush` to make buffered results durable.
   */
  append(result: ItemResultMessage): boolean {
    if (this.has(result.index)) return false;
    const line = Buffer.from(`${JSON.stringify(result)}\n`);
    const offset = this.logSize + this.pendingLogBytes;
    this.pendingLog.push(line);
    this.pendingLogBytes += line.length;

    const entry = Buffer.alloc(INDEX_ENTRY_BYTES);
    entry.writeDoubleLE(offset + 1, 0);
    entry.writeUInt32LE(line.length - 1, 8);
    entry.writeUInt32LE(result.ok ? FLAG_OK : 0, 12);
    entry.writeUInt32LE(clampU32(result.usage?.input_tokens ?? 0), 16);
    entry.writeUInt32LE(clampU32(result.usage?.output_tokens ?? 0), 20);
    this.pendingIndex.push({ index: result.index, entry });

    this.present = setBit(this.present, result.index);
    this.counts.received++;
    if (result.ok) this.counts.completed++;
    else this.counts.failed++;
    this.counts.inputTokens += result.usage?.input_tokens ?? 0;
    this.counts.outputTokens += result.usage?.output_tokens ?? 0;
    return true;
  }

  get dirty(): boolean {
    return this.pendingIndex.length > 0;
  }

  /**
   * Writes buffered results and syncs them to disk: the log first, then the index, so an index
   * entry never points at bytes that a crash could lose.
   */
  async flush(): Promise<void> {
    if (this.pendingIndex.length === 0) return;
    const logBytes = Buffer.concat(this.pendingLog, this.pendingLogBytes);
    await this.log.write(logBytes, 0, logBytes.length, this.logSize);
    this.logSize += logBytes.length;
    this.pendingLog = [];
    this.pendingLogBytes = 0;
    await this.log.datasync();

    // Coalesce runs of consecutive indexes into one write each.
    const entries = this.pendingIndex.sort((a, b) => a.index - b.index);
    this.pendingIndex = [];
    let runStart = 0;
    for (let i = 1; i <= entries.length; i++) {
      const previous = entries[i - 1];
      const current = entries[i];
      if (current && previous && current.index === previous.index + 1) continue;
      const run = entries.slice(runStart, i);
      const first = run[0];
      if (first) {
        const bytes = run.length === 1 ? first.entry : Buffer.concat(run.map((e) => e.entry));
        await this.index.write(bytes, 0, bytes.length, first.index * INDEX_ENTRY_BYTES);
      }
      runStart = i;
    }
    await this.index.datasync();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.log.close(), this.index.close()]);
  }
}

export interface StoredResult {
  index: number;
  ok: boolean;
  /** The result message exactly as the sink recorded it. */
  record: ItemResultMessage;
}

/**
 * Reads the recorded results of a batch in item-index order, skipping indexes not recorded yet.
 * Safe while the sink is writing: the sink writes a line before the index entry pointing at it.
 * Memory stays bounded: the index and the log are read in chunks.
 */
export async function* readResults(
  layout: DataLayout,
  batchId: string,
  options: { fromIndex?: number; toIndex?: number } = {},
): AsyncGenerator<StoredResult> {
  let index: FileHandle;
  let log: FileHandle;
  try {
    index = await open(layout.resultsIndex(batchId), 'r');
  } catch (error) {
    if (isNotFound(error)) return;
    throw error;
  }
  try {
    log = await open(layout.resultsLog(batchId), 'r');
  } catch (error) {
    await index.close();
    if (isNotFound(error)) return;
    throw error;
  }
  try {
    const { size } = await index.stat();
    const first = Math.max(0, options.fromIndex ?? 0);
    const end = Math.min(size / INDEX_ENTRY_BYTES, options.toIndex ?? Number.MAX_SAFE_INTEGER);
    const entriesPerChunk = 2048;
    const chunk = Buffer.alloc(entriesPerChunk * INDEX_ENTRY_BYTES);
    for (let base = first; base < end; base += entriesPerChunk) {
      const count = Math.min(entriesPerChunk, end - base);
      const { bytesRead } = await index.read(chunk, 0, count * INDEX_ENTRY_BYTES, base * INDEX_ENTRY_BYTES);
      const found: { index: number; offset: number; length: number; ok: boolean }[] = [];
      for (let at = 0; at + INDEX_ENTRY_BYTES <= bytesRead; at += INDEX_ENTRY_BYTES) {
        const offsetPlusOne = chunk.readDoubleLE(at);
        if (offsetPlusOne === 0) continue;
        found.push({
          index: base + at / INDEX_ENTRY_BYTES,
          offset: offsetPlusOne - 1,
          length: chunk.readUInt32LE(at + 8),
          ok: (chunk.readUInt32LE(at + 12) & FLAG_OK) !== 0,
        });
      }
      for (const { entry, line } of await readLines(log, found)) {
        yield { index: entry.index, ok: entry.ok, record: JSON.parse(line) as ItemResultMessage };
      }
    }
  } finally {
    await Promise.allSettled([index.close(), log.close()]);
  }
}

const SPAN_READ_LIMIT = 8 * 1024 * 1024;

/** Reads many log lines; one read for the whole span when results arrived roughly in order. */
async function readLines<E extends { offset: number; length: number }>(
  log: FileHandle,
  entries: E[],
): Promise<{ entry: E; line: string }[]> {
  if (entries.length === 0) return [];
  let low = Number.POSITIVE_INFINITY;
  let high = 0;
  for (const e of entries) {
    low = Math.min(low, e.offset);
    high = Math.max(high, e.offset + e.length);
  }
  if (high - low <= SPAN_READ_LIMIT) {
    const span = Buffer.alloc(high - low);
    await log.read(span, 0, span.length, low);
    return entries.map((entry) => ({
      entry,
      line: span.toString('utf8', entry.offset - low, entry.offset - low + entry.length),
    }));
  }
  const out: { entry: E; line: string }[] = [];
  for (const entry of entries) {
    const bytes = Buffer.alloc(entry.length);
    await log.read(bytes, 0, entry.length, entry.offset);
    out.push({ entry, line: bytes.toString('utf8') });
  }
  return out;
}

async function openReadWrite(path: string): Promise<FileHandle> {
  try {
    return await open(path, 'r+');
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return open(path, 'w+');
  }
}

function setBit(bits: Uint8Array, index: number): Uint8Array {
  const byte = index >>> 3;
  let target = bits;
  if (byte >= bits.length) {
    target = new Uint8Array(Math.max(byte + 1, bits.length * 2));
    target.set(bits);
  }
  target[byte] = (target[byte] ?? 0) | (1 << (index & 7));
  return target;
}

function getBit(bits: Uint8Array, index: number): boolean {
  const byte = index >>> 3;
  return byte < bits.length && ((bits[byte] ?? 0) & (1 << (index & 7))) !== 0;
}

function clampU32(value: number): number {
  return Math.max(0, Math.min(0xffffffff, Math.floor(value)));
}
