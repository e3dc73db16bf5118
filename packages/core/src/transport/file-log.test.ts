import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PartitionLog, type PartitionLogOptions } from './file-log.js';

const OPTIONS: PartitionLogOptions = {
  segmentBytes: 64 * 1024,
  retentionMs: 60_000,
  compact: false,
  delete: true,
  deleteRetentionMs: 60_000,
};

const message = (key: string, value: string | null) => ({
  key,
  value: value === null ? null : Buffer.from(value),
  headers: { h: key },
});

/** Every record from `offset` on: a read stops at the end of a segment, as a Kafka fetch may. */
const readAll = (log: PartitionLog, offset = 0) => {
  const records = [];
  for (let batch = log.read(offset, 1000, 1_000_000); batch.length > 0;) {
    records.push(...batch);
    batch = log.read(Number(batch[batch.length - 1]?.offset) + 1, 1000, 1_000_000);
  }
  return records;
};

describe('PartitionLog', () => {
  const dirs: string[] = [];
  const open = (options: Partial<PartitionLogOptions> = {}, dir = mkdtempSync(join(tmpdir(), 'sluice-log-'))) => {
    dirs.push(dir);
    return { log: new PartitionLog('t', 0, dir, { ...OPTIONS, ...options }), dir };
  };
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('reads any offset back over many segments, while its index holds one entry per 4 KiB, not one per record', () => {
    const { log } = open();
    const values = Array.from({ length: 5000 }, (_, i) => `value-${i}-${'x'.repeat(i % 300)}`);
    for (let i = 0; i < values.length; i += 100) {
      log.append(values.slice(i, i + 100).map((value, j) => message(`k${i + j}`, value)));
    }
    expect(log.start).toBe(0);
    expect(log.end).toBe(5000);
    for (const offset of [0, 1, 99, 2500, 4095, 4999]) {
      const [first] = log.read(offset, 1, 1);
      expect(first?.offset).toBe(String(offset));
      expect(first?.value?.toString()).toBe(values[offset]);
      expect(first?.headers).toEqual({ h: `k${offset}` });
    }
    // Every record once, in order, across segment boundaries.
    const seen: number[] = [];
    for (let offset = 0; offset < log.end;) {
      const records = log.read(offset, 333, 16 * 1024);
      expect(records.length).toBeGreaterThan(0);
      for (const record of records) seen.push(Number(record.offset));
      offset = Number(records[records.length - 1]?.offset) + 1;
    }
    expect(seen).toEqual(values.map((_, i) => i));
    // About 1 MB of records: a few hundred index entries, not 5,000.
    expect(log.indexEntries).toBeLessThan(log.bytes / 4096 + 20);
    expect(log.indexEntries).toBeLessThan(500);
    expect(log.read(5000, 10, 1000)).toEqual([]);
  });

  it('keeps at least one record a read asks for, however large, and respects maxBytes after it', () => {
    const { log } = open({ segmentBytes: 4 * 1024 * 1024 });
    const big = 'b'.repeat(600 * 1024);
    log.append([message('a', 'small'), message('b', big), message('c', 'small'), message('d', 'small')]);
    expect(log.read(1, 10, 10).map((r) => r.key)).toEqual(['b']);
    expect(log.read(1, 10, 10)[0]?.value?.length).toBe(big.length);
    expect(log.read(0, 10, 10_000_000).map((r) => r.key)).toEqual(['a', 'b', 'c', 'd']);
    expect(log.read(2, 1, 10_000_000).map((r) => r.key)).toEqual(['c']);
  });

  it('recovers after a kill: a torn last record is cut off and the next append takes its offset', () => {
    const { log, dir } = open();
    log.append([message('a', '1'), message('b', '2')]);
    log.close();
    const [segment] = readdirSync(join(dir, '0'));
    appendFileSync(join(dir, '0', segment as string), Buffer.from([200, 0, 0, 0, 1, 2, 3]));
    const reopened = new PartitionLog('t', 0, dir, OPTIONS);
    expect(reopened.end).toBe(2);
    reopened.append([message('c', '3')]);
    expect(readAll(reopened).map((r) => [r.offset, r.key])).toEqual([
      ['0', 'a'],
      ['1', 'b'],
      ['2', 'c'],
    ]);
    reopened.close();
  });

  it('deletes closed segments past retention, and compaction keeps the newest record of each key with its offset', () => {
    const { log: deleting } = open({ segmentBytes: 10 });
    deleting.append([message('a', '1')], 1_000);
    deleting.append([message('b', '2')], 2_000);
    deleting.append([message('c', '3')], 100_000);
    expect(deleting.clean(100_000)).toBeGreaterThan(0);
    expect(deleting.start).toBe(2);
    expect(readAll(deleting).map((r) => r.key)).toEqual(['c']);

    const { log: compacting } = open({ segmentBytes: 10, compact: true, delete: false });
    compacting.append([message('k', 'old')], 1_000);
    compacting.append([message('j', 'only')], 1_000);
    compacting.append([message('k', 'new')], 1_000);
    compacting.append([message('x', 'active')], 1_000);
    compacting.clean(2_000);
    const kept = readAll(compacting).map((r) => [r.offset, r.key, r.value?.toString()]);
    expect(kept).toEqual([
      ['1', 'j', 'only'],
      ['2', 'k', 'new'],
      ['3', 'x', 'active'],
    ]);
    expect(compacting.read(0, 1, 1).map((r) => r.offset)).toEqual(['1']);
  });
});
