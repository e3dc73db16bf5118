import {
  closeSync,
  existsSync,
  fstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, OutgoingMessage } from './types.js';

/** How one partition keeps its records (Kafka's topic configs of the same names). */
export interface PartitionLogOptions {
  /** A segment is closed and a new one started past this size (`segment.bytes`). */
  segmentBytes: number;
  /** Closed segments whose newest record is older than this are deleted (`retention.ms`); delete policy only. */
  retentionMs: number;
  /**
   * The active segment is closed once its first record is this old (`segment.ms`), so retention
   * reaches a quiet partition too. Absent: segments are closed by size only.
   */
  segmentMs?: number;
  /** `cleanup.policy=compact`: closed segments keep only the newest record of each key. */
  compact: boolean;
  /** `cleanup.policy=delete` (alone, or with compact): closed segments past `retentionMs` are deleted. */
  delete: boolean;
  /** Compacted topics: how long a tombstone (null value) is kept (`delete.retention.ms`). */
  deleteRetentionMs: number;
}

/** How long a compacted topic keeps a tombstone (Kafka's default `delete.retention.ms`; not a Sluice setting). */
export const TOMBSTONE_RETENTION_MS = 24 * 60 * 60 * 1000;

/**
 * Bytes between two entries of a segment's index (Kafka's `index.interval.bytes`): the index holds
 * one offset and position per 4 KiB of records, not one per record, so what a partition keeps in
 * memory grows with its bytes over 4 KiB rather than with its records; a read starts at the entry
 * before its offset and skips at most this many bytes.
 */
const INDEX_INTERVAL_BYTES = 4096;
/** Bytes read at once when scanning records (a larger record is read whole). */
const BLOCK_BYTES = 256 * 1024;
/** Length, offset and timestamp: the part of a record every scan reads. */
const HEADER_BYTES = 20;

/** One segment file: records from `base` on, with a sparse index of offsets to positions. */
interface Segment {
  base: number;
  path: string;
  fd: number;
  /** Offsets of the first and last record; -1 while empty. */
  firstOffset: number;
  lastOffset: number;
  /** Every INDEX_INTERVAL_BYTES: the offset of a record and where it starts (ascending). */
  indexOffsets: number[];
  indexPositions: number[];
  size: number;
  oldestTimestamp: number;
  newestTimestamp: number;
}

/**
 * One partition of the embedded log, kept the way Kafka keeps it: a directory of segment files
 * named by their first offset; appends go to the newest; a segment is closed once it is
 * `segmentBytes` long; closed segments are deleted once all their records are older than
 * `retentionMs` (delete policy) or rewritten with only the newest record of each key (compact
 * policy: the status topic), so the log does not grow forever. Appends are plain `write`s: they
 * survive a killed process, not a power loss.
 *
 * Record: u32 length of the rest | f64 offset | f64 timestamp | u32 key length (0xffffffff = null) |
 * key | u32 headers length | headers JSON | u32 value length (0xffffffff = null) | value.
 */
export class PartitionLog {
  private readonly directory: string;
  private segments: Segment[] = [];
  private next = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    topicDirectory: string,
    private readonly options: PartitionLogOptions,
  ) {
    this.directory = join(topicDirectory, String(partition));
    mkdirSync(this.directory, { recursive: true });
    for (const name of readdirSync(this.directory)
      .filter((n) => /^\d{20}\.log$/.test(n))
      .sort()) {
      this.segments.push(openSegment(join(this.directory, name), Number(name.slice(0, 20))));
    }
    for (const name of readdirSync(this.directory).filter((n) => n.endsWith('.cleaned'))) {
      rmSync(join(this.directory, name), { force: true }); // a compaction interrupted by a crash
    }
    const last = this.segments[this.segments.length - 1];
    this.next = last ? (last.lastOffset >= 0 ? last.lastOffset + 1 : last.base) : 0;
    if (!last) this.roll();
  }

  /** First offset still in the log. */
  get start(): number {
    for (const segment of this.segments) if (segment.firstOffset >= 0) return segment.firstOffset;
    return this.next;
  }

  /** Offset the next record gets. */
  get end(): number {
    return this.next;
  }

  /** Index entries held in memory, over all segments (one per INDEX_INTERVAL_BYTES of records). */
  get indexEntries(): number {
    return this.segments.reduce((sum, s) => sum + s.indexOffsets.length, 0);
  }

  append(messages: OutgoingMessage[], now = Date.now()): void {
    let active = this.segments[this.segments.length - 1] as Segment;
    const segmentMs = this.options.segmentMs;
    if (
      active.size >= this.options.segmentBytes ||
      (segmentMs !== undefined && active.size > 0 && now - active.oldestTimestamp >= segmentMs)
    )
      active = this.roll();
    if (active.size === 0) active.oldestTimestamp = now;
    const buffers: Buffer[] = [];
    let bytes = 0;
    for (const message of messages) {
      const record = encode(message, this.next, now);
      indexRecord(active, this.next++, active.size + bytes);
      buffers.push(record);
      bytes += record.length;
    }
    writeAll(active.fd, Buffer.concat(buffers, bytes), active.size);
    active.size += bytes;
    active.newestTimestamp = now;
  }

  /** Records from `offset` on (or from the start of the log, when `offset` is gone), at most `maxRecords` and about `maxBytes`. */
  read(offset: number, maxRecords: number, maxBytes: number): IncomingMessage[] {
    for (const segment of this.segments) {
      if (segment.lastOffset < offset) continue;
      const entry = Math.max(0, upperBound(segment.indexOffsets, offset) - 1);
      const out: IncomingMessage[] = [];
      let bytes = 0;
      scanRecords(segment.fd, segment.indexPositions[entry] as number, segment.size, (block, at, length) => {
        if (block.readDoubleLE(at + 4) < offset) return true;
        // At least one record, then as many as fit.
        if (out.length > 0 && bytes + 4 + length > maxBytes) return false;
        out.push(decode(block.subarray(at + 4, at + 4 + length), this.topic, this.partition));
        bytes += 4 + length;
        return out.length < maxRecords;
      });
      return out;
    }
    return [];
  }

  /**
   * Applies the retention policy to closed segments (the newest is never touched, as in Kafka).
   * Returns the number of bytes freed.
   */
  clean(now = Date.now()): number {
    const closed = this.segments.slice(0, -1);
    if (closed.length === 0) return 0;
    const before = closed.reduce((sum, s) => sum + s.size, 0);
    if (this.options.delete) {
      const expired = closed.filter((s) => now - s.newestTimestamp > this.options.retentionMs);
      for (const segment of expired) this.drop(segment);
      this.segments = this.segments.filter((s) => !expired.includes(s));
    }
    if (this.options.compact) this.compact(this.segments.slice(0, -1), now);
    return before - this.segments.slice(0, -1).reduce((sum, s) => sum + s.size, 0);
  }

  close(): void {
    for (const segment of this.segments) closeSync(segment.fd);
    this.segments = [];
  }

  /** Bytes on disk (all segments). */
  get bytes(): number {
    return this.segments.reduce((sum, s) => sum + s.size, 0);
  }

  private roll(): Segment {
    const segment = openSegment(join(this.directory, `${String(this.next).padStart(20, '0')}.log`), this.next);
    this.segments.push(segment);
    return segment;
  }

  private drop(segment: Segment): void {
    closeSync(segment.fd);
    rmSync(segment.path, { force: true });
  }

  /**
   * Keeps, in closed segments, only the newest record of each key (anywhere in the log), and
   * tombstones younger than `deleteRetentionMs`. Offsets are kept: readers see gaps, as in Kafka.
   * Each segment is rewritten to a `.cleaned` file that replaces it by rename.
   */
  private compact(closed: Segment[], now: number): void {
    const newest = new Map<string, number>();
    for (const segment of this.segments) {
      scanRecords(segment.fd, 0, segment.size, (block, at, length) => {
        const record = decode(block.subarray(at + 4, at + 4 + length), this.topic, this.partition);
        if (record.key !== null) newest.set(record.key, Number(record.offset));
        return true;
      });
    }
    for (const segment of closed) {
      const kept: Buffer[] = [];
      const cleaned = emptySegment(segment.base, `${segment.path}.cleaned`, -1);
      let dropped = 0;
      scanRecords(segment.fd, 0, segment.size, (block, at, length) => {
        const record = decode(block.subarray(at + 4, at + 4 + length), this.topic, this.partition);
        const offset = Number(record.offset);
        const timestamp = Number(record.timestamp);
        const superseded = record.key !== null && newest.get(record.key) !== offset;
        const oldTombstone = record.value === null && now - timestamp > this.options.deleteRetentionMs;
        if (superseded || oldTombstone) {
          dropped++;
          return true;
        }
        indexRecord(cleaned, offset, cleaned.size);
        kept.push(Buffer.from(block.subarray(at, at + 4 + length)));
        cleaned.size += 4 + length;
        if (cleaned.oldestTimestamp === 0 || timestamp < cleaned.oldestTimestamp) cleaned.oldestTimestamp = timestamp;
        cleaned.newestTimestamp = Math.max(cleaned.newestTimestamp, timestamp);
        return true;
      });
      if (dropped === 0) continue;
      const fd = openSync(cleaned.path, 'w+');
      writeAll(fd, Buffer.concat(kept, cleaned.size), 0);
      closeSync(fd);
      closeSync(segment.fd);
      renameSync(cleaned.path, segment.path);
      Object.assign(segment, { ...cleaned, path: segment.path, fd: openSync(segment.path, 'r+') });
    }
  }
}

function emptySegment(base: number, path: string, fd: number): Segment {
  return {
    base,
    path,
    fd,
    firstOffset: -1,
    lastOffset: -1,
    indexOffsets: [],
    indexPositions: [],
    size: 0,
    oldestTimestamp: 0,
    newestTimestamp: 0,
  };
}

/** Notes a record written at `position`: an index entry when the last is INDEX_INTERVAL_BYTES behind. */
function indexRecord(segment: Segment, offset: number, position: number): void {
  if (segment.firstOffset < 0) segment.firstOffset = offset;
  segment.lastOffset = offset;
  const lastIndexed = segment.indexPositions[segment.indexPositions.length - 1];
  if (lastIndexed === undefined || position - lastIndexed >= INDEX_INTERVAL_BYTES) {
    segment.indexOffsets.push(offset);
    segment.indexPositions.push(position);
  }
}

/**
 * Visits the whole records from `position` to `end`, read in blocks: `visit` gets the block, where
 * the record starts in it and the length after its length field; it returns false to stop. Stops
 * at a torn record (a kill during a write). Returns where the scan stopped.
 */
function scanRecords(
  fd: number,
  position: number,
  end: number,
  visit: (block: Buffer, at: number, length: number) => boolean,
): number {
  let block: Buffer = Buffer.alloc(0);
  let blockStart = position;
  let at = position;
  while (at + HEADER_BYTES <= end) {
    let inBlock = at - blockStart;
    if (inBlock + 4 > block.length) {
      block = readBlock(fd, at, Math.min(end - at, BLOCK_BYTES));
      blockStart = at;
      inBlock = 0;
    }
    const length = block.readUInt32LE(inBlock);
    if (length < HEADER_BYTES - 4 || at + 4 + length > end) break;
    if (inBlock + 4 + length > block.length) {
      block = readBlock(fd, at, Math.min(end - at, Math.max(BLOCK_BYTES, 4 + length)));
      blockStart = at;
      inBlock = 0;
    }
    if (!visit(block, inBlock, length)) break;
    at += 4 + length;
  }
  return at;
}

function readBlock(fd: number, position: number, length: number): Buffer {
  const block = Buffer.allocUnsafe(length);
  let read = 0;
  while (read < length) {
    const got = readSync(fd, block, read, length - read, position + read);
    if (got === 0) return block.subarray(0, read);
    read += got;
  }
  return block;
}

/** Rebuilds a segment's index; a torn last record (a kill during a write) is cut off. */
function openSegment(path: string, base: number): Segment {
  if (!existsSync(path)) closeSync(openSync(path, 'a'));
  // Not O_APPEND: after recovery a torn tail is overwritten at `size`, not appended to.
  const fd = openSync(path, 'r+');
  const segment = emptySegment(base, path, fd);
  segment.size = scanRecords(fd, 0, fstatSync(fd).size, (block, at) => {
    const timestamp = block.readDoubleLE(at + 12);
    if (segment.firstOffset < 0) segment.oldestTimestamp = timestamp;
    segment.newestTimestamp = timestamp;
    indexRecord(segment, block.readDoubleLE(at + 4), segment.size);
    segment.size += 4 + block.readUInt32LE(at);
    return true;
  });
  return segment;
}

function writeAll(fd: number, data: Buffer, position: number): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written, position + written);
}

/** The first index whose value is greater than `target`. */
function upperBound(values: number[], target: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((values[mid] as number) <= target) low = mid + 1;
    else high = mid;
  }
  return low;
}

const NULL_LENGTH = 0xffffffff;

function encode(message: OutgoingMessage, offset: number, timestamp: number): Buffer {
  const key = message.key === null ? null : Buffer.from(message.key);
  const headers = Buffer.from(JSON.stringify(message.headers ?? {}));
  const value = message.value;
  const length = 8 + 8 + 4 + (key?.length ?? 0) + 4 + headers.length + 4 + (value?.length ?? 0);
  const record = Buffer.alloc(4 + length);
  let at = record.writeUInt32LE(length, 0);
  at = record.writeDoubleLE(offset, at);
  at = record.writeDoubleLE(timestamp, at);
  at = record.writeUInt32LE(key ? key.length : NULL_LENGTH, at);
  if (key) at += key.copy(record, at);
  at = record.writeUInt32LE(headers.length, at);
  at += headers.copy(record, at);
  at = record.writeUInt32LE(value ? value.length : NULL_LENGTH, at);
  if (value) value.copy(record, at);
  return record;
}

function decode(record: Buffer, topic: string, partition: number): IncomingMessage {
  let at = 0;
  const offset = record.readDoubleLE(at);
  at += 8;
  const timestamp = record.readDoubleLE(at);
  at += 8;
  const keyLength = record.readUInt32LE(at);
  at += 4;
  const key = keyLength === NULL_LENGTH ? null : record.toString('utf8', at, at + keyLength);
  if (keyLength !== NULL_LENGTH) at += keyLength;
  const headersLength = record.readUInt32LE(at);
  at += 4;
  const headers = JSON.parse(record.toString('utf8', at, at + headersLength)) as Record<string, string>;
  at += headersLength;
  const valueLength = record.readUInt32LE(at);
  at += 4;
  const value = valueLength === NULL_LENGTH ? null : Buffer.from(record.subarray(at, at + valueLength));
  return { topic, partition, offset: String(offset), key, value, headers, timestamp: String(timestamp) };
}
