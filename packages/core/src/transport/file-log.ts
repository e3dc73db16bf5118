import { closeSync, fstatSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, OutgoingMessage } from './types.js';

/**
 * One partition of the embedded log: an append-only file of length-prefixed records, and an
 * in-memory index of where each offset starts. Appends are plain `write`s: they survive a killed
 * process (the kernel has them), which is what the embedded mode promises; they are not fsynced, so
 * a power loss may take the last ones.
 *
 * Record: u32 length of the rest | f64 timestamp | u32 key length (0xffffffff = null) | key |
 * u32 headers length | headers JSON | u32 value length (0xffffffff = null) | value.
 */
export class PartitionLog {
  private readonly fd: number;
  private readonly positions: number[] = [];
  private size = 0;

  constructor(
    readonly topic: string,
    readonly partition: number,
    directory: string,
  ) {
    mkdirSync(directory, { recursive: true });
    const path = join(directory, `${partition}.log`);
    closeSync(openSync(path, 'a'));
    // Not O_APPEND: after recovery a torn tail is overwritten at `size`, not appended to.
    this.fd = openSync(path, 'r+');
    this.recover();
  }

  /** Offset the next record gets. */
  get end(): number {
    return this.positions.length;
  }

  append(messages: OutgoingMessage[], now = Date.now()): void {
    const buffers: Buffer[] = [];
    let bytes = 0;
    for (const message of messages) {
      const record = encode(message, now);
      this.positions.push(this.size + bytes);
      buffers.push(record);
      bytes += record.length;
    }
    const data = Buffer.concat(buffers, bytes);
    let written = 0;
    while (written < data.length)
      written += writeSync(this.fd, data, written, data.length - written, this.size + written);
    this.size += data.length;
  }

  /** Records from `offset` on, at most `maxRecords` and about `maxBytes`. */
  read(offset: number, maxRecords: number, maxBytes: number): IncomingMessage[] {
    if (offset >= this.positions.length) return [];
    const last = Math.min(this.positions.length, offset + maxRecords);
    const start = this.positions[offset] as number;
    let stop = last < this.positions.length ? (this.positions[last] as number) : this.size;
    if (stop - start > maxBytes) {
      // At least one record, then as many as fit.
      let end = offset + 1;
      while (end < last && (this.positions[end] as number) - start <= maxBytes) end++;
      stop = end < this.positions.length ? (this.positions[end] as number) : this.size;
    }
    const buffer = Buffer.alloc(stop - start);
    readSync(this.fd, buffer, 0, buffer.length, start);
    const out: IncomingMessage[] = [];
    let at = 0;
    for (let o = offset; at < buffer.length; o++) {
      const length = buffer.readUInt32LE(at);
      out.push(decode(buffer.subarray(at + 4, at + 4 + length), this.topic, this.partition, o));
      at += 4 + length;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
  }

  /** Rebuilds the offset index; a torn last record (a kill during a write) is cut off. */
  private recover(): void {
    const size = fstatSync(this.fd).size;
    const header = Buffer.alloc(4);
    let at = 0;
    while (at + 4 <= size) {
      readSync(this.fd, header, 0, 4, at);
      const length = header.readUInt32LE(0);
      if (at + 4 + length > size) break;
      this.positions.push(at);
      at += 4 + length;
    }
    this.size = at;
  }
}

const NULL_LENGTH = 0xffffffff;

function encode(message: OutgoingMessage, timestamp: number): Buffer {
  const key = message.key === null ? null : Buffer.from(message.key);
  const headers = Buffer.from(JSON.stringify(message.headers ?? {}));
  const value = message.value;
  const length = 8 + 4 + (key?.length ?? 0) + 4 + headers.length + 4 + (value?.length ?? 0);
  const record = Buffer.alloc(4 + length);
  let at = record.writeUInt32LE(length, 0);
  at = record.writeDoubleLE(timestamp, at);
  at = record.writeUInt32LE(key ? key.length : NULL_LENGTH, at);
  if (key) at += key.copy(record, at);
  at = record.writeUInt32LE(headers.length, at);
  at += headers.copy(record, at);
  at = record.writeUInt32LE(value ? value.length : NULL_LENGTH, at);
  if (value) value.copy(record, at);
  return record;
}

function decode(record: Buffer, topic: string, partition: number, offset: number): IncomingMessage {
  let at = 0;
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
