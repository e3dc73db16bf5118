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

/** One segment file: records from `base` on, with the offset and position of each. */
interface Segment {
  base: number;
  path: string;
  fd: number;
  offsets: number[];
  positions: number[];
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
    this.next = last
      ? last.offsets.length > 0
        ? (last.offsets[last.offsets.length - 1] as number) + 1
        : last.base
      : 0;
    if (!last) this.roll();
  }

  /** First offset still in the log. */
  get start(): number {
    for (const segment of this.segments) if (segment.offsets.length > 0) return segment.offsets[0] as number;
    return this.next;
  }

  /** Offset the next record gets. */
  get end(): number {
    return this.next;
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
      active.offsets.push(this.next++);
      active.positions.push(active.size + bytes);
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
      const last = segment.offsets[segment.offsets.length - 1];
      if (last === undefined || last < offset) continue;
      const first = lowerBound(segment.offsets, offset);
      const stopIndex = Math.min(segment.offsets.length, first + maxRecords);
      const start = segment.positions[first] as number;
      let stop = stopIndex < segment.offsets.length ? (segment.positions[stopIndex] as number) : segment.size;
      if (stop - start > maxBytes) {
        // At least one record, then as many as fit.
        let end = first + 1;
        while (end < stopIndex && (segment.positions[end] as number) - start <= maxBytes) end++;
        stop = end < segment.offsets.length ? (segment.positions[end] as number) : segment.size;
      }
      const buffer = Buffer.alloc(stop - start);
      readSync(segment.fd, buffer, 0, buffer.length, start);
      const out: IncomingMessage[] = [];
      for (let at = 0; at < buffer.length;) {
        const length = buffer.readUInt32LE(at);
        out.push(decode(buffer.subarray(at + 4, at + 4 + length), this.topic, this.partition));
        at += 4 + length;
      }
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
      for (const record of this.recordsOf(segment)) {
        if (record.key !== null) newest.set(record.key, Number(record.offset));
      }
    }
    for (const segment of closed) {
      const kept: Buffer[] = [];
      const offsets: number[] = [];
      const positions: number[] = [];
      let size = 0;
      let newestTimestamp = 0;
      let oldestTimestamp = Number.MAX_SAFE_INTEGER;
      let dropped = 0;
      for (const record of this.recordsOf(segment)) {
        const offset = Number(record.offset);
        const superseded = record.key !== null && newest.get(record.key) !== offset;
        const oldTombstone = record.value === null && now - Number(record.timestamp) > this.options.deleteRetentionMs;
        if (superseded || oldTombstone) {
          dropped++;
          continue;
        }
        const bytes = encode(record, offset, Number(record.timestamp));
        offsets.push(offset);
        positions.push(size);
        kept.push(bytes);
        size += bytes.length;
        newestTimestamp = Math.max(newestTimestamp, Number(record.timestamp));
        oldestTimestamp = Math.min(oldestTimestamp, Number(record.timestamp));
      }
      if (dropped === 0) continue;
      const cleaned = `${segment.path}.cleaned`;
      const fd = openSync(cleaned, 'w+');
      writeAll(fd, Buffer.concat(kept, size), 0);
      closeSync(fd);
      closeSync(segment.fd);
      renameSync(cleaned, segment.path);
      Object.assign(segment, {
        fd: openSync(segment.path, 'r+'),
        offsets,
        positions,
        size,
        oldestTimestamp: offsets.length > 0 ? oldestTimestamp : 0,
        newestTimestamp,
      });
    }
  }

  private *recordsOf(segment: Segment): Generator<IncomingMessage> {
    for (let i = 0; i < segment.offsets.length; i += 1000) {
      for (const record of this.read(segment.offsets[i] as number, 1000, Number.MAX_SAFE_INTEGER)) {
        if (Number(record.offset) > (segment.offsets[segment.offsets.length - 1] as number)) return;
        yield record;
      }
    }
  }
}

/** Rebuilds a segment's index; a torn last record (a kill during a write) is cut off. */
function openSegment(path: string, base: number): Segment {
  if (!existsSync(path)) closeSync(openSync(path, 'a'));
  // Not O_APPEND: after recovery a torn tail is overwritten at `size`, not appended to.
  const fd = openSync(path, 'r+');
  const total = fstatSync(fd).size;
  const header = Buffer.alloc(20);
  const segment: Segment = {
    base,
    path,
    fd,
    offsets: [],
    positions: [],
    size: 0,
    oldestTimestamp: 0,
    newestTimestamp: 0,
  };
  let at = 0;
  while (at + 20 <= total) {
    readSync(fd, header, 0, 20, at);
    const length = header.readUInt32LE(0);
    if (at + 4 + length > total || length < 16) break;
    segment.offsets.push(header.readDoubleLE(4));
    segment.positions.push(at);
    segment.newestTimestamp = header.readDoubleLE(12);
    if (at === 0) segment.oldestTimestamp = segment.newestTimestamp;
    at += 4 + length;
  }
  segment.size = at;
  return segment;
}

function writeAll(fd: number, data: Buffer, position: number): void {
  let written = 0;
  while (written < data.length) written += writeSync(fd, data, written, data.length - written, position + written);
}

function lowerBound(values: number[], target: number): number {
  let low = 0;
  let high = values.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((values[mid] as number) < target) low = mid + 1;
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
