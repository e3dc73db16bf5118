import { BoundedCache } from '../cache.js';
import type { ItemResultMessage } from '../contracts/messages.js';
import { storeKeys } from './layout.js';
import { putJson, readJson, type Store } from './types.js';

/**
 * A batch's results as they arrive, on a store with no append (S3): immutable **segments** of JSON
 * lines in arrival order, and an **index** of fixed-width entries by item index, cut into pages of
 * 1,024 entries, each page one small object rewritten whole when it changes.
 *
 * - A segment is written (one PUT) when the sink flushes: by size or by time, and always before
 *   the offsets of the results it holds are committed.
 * - The index pages a flush touched are written after its segment, so an entry never points at
 *   bytes that are not there. A crash in between leaves an unreferenced segment (deleted with the
 *   batch) and uncommitted offsets (redelivered, recorded again).
 * - The index drops duplicate results (delivery is at least once): an item index is recorded once,
 *   also after a restart.
 * - Reading rows `[a, b)` takes the one or two index pages that cover them and one ranged read per
 *   segment they point into (results arrive roughly in order, so usually one): a page of 1,000 rows
 *   from a 1,000,000-row batch is a couple of ranged reads, from any process.
 *
 * - What the results cost (issue 24) is kept beside each segment, summed per index page
 *   (`results/bill/<seq>.json`), written with the segment and before its index pages: a page is
 *   one object, written whole, so the results a page points at in a segment are exactly those the
 *   segment's bill counts for that page. Reopening adds the bills of the (segment, page) pairs the
 *   index refers to, and a crash between the writes counts nothing twice.
 *
 * Entry (24 bytes, little endian): u32 segment + 1 (0 = absent) | u32 offset in the segment |
 * u32 line length | u32 flags (bit 0: ok, bit 1: cached, bit 2: cancelled, bit 3: expired, bit 4:
 * billed, bits 16–23: retries, bits 24–31: 429 answers) | u32 input tokens | u32 output tokens.
 * Entries written before bits 2 and 3 existed count as failed; before the tallies, as no retries;
 * before bit 4, as costing nothing.
 */
export const INDEX_ENTRY_BYTES = 24;
export const INDEX_PAGE_ENTRIES = 1024;
const PAGE_BYTES = INDEX_ENTRY_BYTES * INDEX_PAGE_ENTRIES;
const FLAG_OK = 1;
/** Answered from an identical request's answer (deduplication): its input tokens were cached. */
const FLAG_CACHED = 2;
/** A failed item that was never sent: its batch was cancelled (`batch_cancelled`) or expired (`batch_expired`). */
const FLAG_CANCELLED = 4;
const FLAG_EXPIRED = 8;
/** The result has a charge in its segment's bill (so reopening reads only the bills it needs). */
const FLAG_BILLED = 16;
/**
 * The flags word's upper half counts an item's retries (bits 16–23) and its 429 answers (bits
 * 24–31), each capped at 255: an index written before them reads as none.
 */
const RETRIES_SHIFT = 16;
const RATE_LIMITED_SHIFT = 24;
const COUNT_MAX = 0xff;

/** The index flags of a result. */
function flagsOf(result: ItemResultMessage): number {
  const cached = result.cached ? FLAG_CACHED : 0;
  const retries = Math.min(COUNT_MAX, Math.max(0, result.attempts - 1)) << RETRIES_SHIFT;
  const rateLimited = Math.min(COUNT_MAX, result.rate_limited) * 2 ** RATE_LIMITED_SHIFT;
  const tallies = retries + rateLimited;
  if (result.ok) return FLAG_OK + cached + tallies;
  if (result.error?.code === 'batch_cancelled') return FLAG_CANCELLED + tallies;
  if (result.error?.code === 'batch_expired') return FLAG_EXPIRED + tallies;
  return cached + tallies;
}

/** Adds one result's outcome to `counts`: exactly one of completed, failed, cancelled, expired. */
function countOutcome(counts: ResultCounts, flags: number): void {
  if (flags & FLAG_OK) counts.completed++;
  else if (flags & FLAG_CANCELLED) counts.cancelled++;
  else if (flags & FLAG_EXPIRED) counts.expired++;
  else counts.failed++;
  counts.retries += (flags >>> RETRIES_SHIFT) & COUNT_MAX;
  counts.rateLimited += (flags >>> RATE_LIMITED_SHIFT) & COUNT_MAX;
}
/** Index pages a writer keeps in memory. */
const PAGE_CACHE = 8;

export interface ResultCounts {
  /** Distinct item indexes recorded. */
  received: number;
  completed: number;
  /** Tried (or refused) and failed; not the cancelled or expired ones. */
  failed: number;
  cancelled: number;
  expired: number;
  inputTokens: number;
  outputTokens: number;
  /** Items answered from an identical request's answer (the processor's request deduplication), and their input tokens. */
  cachedItems: number;
  cachedTokens: number;
  /** Attempts beyond each item's first, and attempts the upstream answered 429, over all items. */
  retries: number;
  rateLimited: number;
}

/**
 * What one result cost, priced by its writer (the sink): at the tier it was called at, and what
 * the same tokens cost at the realtime price. Null when no price is known for its model.
 */
export interface ResultCharge {
  costUsd: number | null;
  realtimeCostUsd: number | null;
}

/** The charges of a batch's results, summed. */
export interface BillTally {
  costUsd: number;
  realtimeCostUsd: number;
  /** Results with a charge whose model has no price: while any, the batch's cost is unknown. */
  unpricedItems: number;
}

const emptyTally = (): BillTally => ({ costUsd: 0, realtimeCostUsd: 0, unpricedItems: 0 });

function addCharge(tally: BillTally, charge: ResultCharge): void {
  if (charge.costUsd === null || charge.realtimeCostUsd === null) tally.unpricedItems++;
  else {
    tally.costUsd += charge.costUsd;
    tally.realtimeCostUsd += charge.realtimeCostUsd;
  }
}

function addTally(into: BillTally, tally: BillTally): void {
  into.costUsd += tally.costUsd;
  into.realtimeCostUsd += tally.realtimeCostUsd;
  into.unpricedItems += tally.unpricedItems;
}

/** A segment's bill: the charges of its results, per index page. */
interface SegmentBill {
  pages: Record<string, BillTally>;
}

interface PendingEntry {
  index: number;
  offset: number;
  length: number;
  flags: number;
  inputTokens: number;
  outputTokens: number;
  charge: ResultCharge | null;
}

/** Writes one batch's results. One writer per batch at a time: the sink that owns its partition. */
export class ResultWriter {
  private present: Uint8Array;
  private pendingLines: Buffer[] = [];
  private pendingBytes = 0;
  private pendingEntries: PendingEntry[] = [];
  private firstPendingMs = 0;
  /** Recently written index pages (results arrive near their index, so recent pages are hit). */
  private readonly pages = new BoundedCache<Buffer>({ maxEntries: PAGE_CACHE });

  private constructor(
    private readonly store: Store,
    readonly batchId: string,
    private lastSegment: number,
    present: Uint8Array,
    readonly counts: ResultCounts,
    /** What the recorded results cost (their charges, see `append`). */
    readonly bill: BillTally,
  ) {
    this.present = present;
  }

  /** Opens a batch's result log, rebuilding the recorded item indexes and the counts from its index pages. */
  static async open(store: Store, batchId: string): Promise<ResultWriter> {
    const counts: ResultCounts = {
      received: 0,
      completed: 0,
      failed: 0,
      cancelled: 0,
      expired: 0,
      inputTokens: 0,
      outputTokens: 0,
      cachedItems: 0,
      cachedTokens: 0,
      retries: 0,
      rateLimited: 0,
    };
    let present: Uint8Array = new Uint8Array(1024);
    let lastSegment = 0;
    /** Segment → the index pages whose entries point at billed results in it. */
    const billed = new Map<number, Set<number>>();
    const pages: number[] = [];
    for await (const object of store.list(storeKeys.resultIndexPrefix(batchId))) {
      const page = Number(object.key.slice(object.key.lastIndexOf('/') + 1));
      if (Number.isInteger(page)) pages.push(page);
    }
    await forEachLimited(pages, 8, async (page) => {
      const bytes = await store.read(storeKeys.resultIndexPage(batchId, page));
      if (!bytes) return;
      for (let at = 0; at + INDEX_ENTRY_BYTES <= bytes.length; at += INDEX_ENTRY_BYTES) {
        const segment = bytes.readUInt32LE(at);
        if (segment === 0) continue;
        lastSegment = Math.max(lastSegment, segment - 1);
        present = setBit(present, page * INDEX_PAGE_ENTRIES + at / INDEX_ENTRY_BYTES);
        counts.received++;
        const flags = bytes.readUInt32LE(at + 12);
        countOutcome(counts, flags);
        counts.inputTokens += bytes.readUInt32LE(at + 16);
        counts.outputTokens += bytes.readUInt32LE(at + 20);
        if (flags & FLAG_CACHED) {
          counts.cachedItems++;
          counts.cachedTokens += bytes.readUInt32LE(at + 16);
        }
        if (flags & FLAG_BILLED) {
          const pagesOfSegment = billed.get(segment - 1) ?? new Set<number>();
          billed.set(segment - 1, pagesOfSegment.add(page));
        }
      }
    });
    const bill = emptyTally();
    await forEachLimited([...billed], 8, async ([segment, pagesOfSegment]) => {
      const segmentBill = await readJson<SegmentBill>(store, storeKeys.resultBill(batchId, segment));
      for (const page of pagesOfSegment) {
        const tally = segmentBill?.pages[String(page)];
        if (tally) addTally(bill, tally);
      }
    });
    return new ResultWriter(store, batchId, lastSegment, present, counts, bill);
  }

  has(itemIndex: number): boolean {
    return getBit(this.present, itemIndex);
  }

  /**
   * Buffers a result, with what it cost (null: nothing billed, no call was made); returns false
   * (and records nothing) when its item index was recorded before.
   */
  append(result: ItemResultMessage, charge: ResultCharge | null = null): boolean {
    if (this.has(result.index)) return false;
    const flags = flagsOf(result) + (charge ? FLAG_BILLED : 0);
    const line = Buffer.from(`${JSON.stringify(result)}\n`);
    if (this.pendingEntries.length === 0) this.firstPendingMs = Date.now();
    this.pendingEntries.push({
      index: result.index,
      offset: this.pendingBytes,
      length: line.length - 1,
      flags,
      inputTokens: clampU32(result.usage?.input_tokens ?? 0),
      outputTokens: clampU32(result.usage?.output_tokens ?? 0),
      charge,
    });
    this.pendingLines.push(line);
    this.pendingBytes += line.length;
    this.present = setBit(this.present, result.index);
    this.counts.received++;
    countOutcome(this.counts, flags);
    this.counts.inputTokens += result.usage?.input_tokens ?? 0;
    this.counts.outputTokens += result.usage?.output_tokens ?? 0;
    if (result.cached) {
      this.counts.cachedItems++;
      this.counts.cachedTokens += result.usage?.input_tokens ?? 0;
    }
    if (charge) addCharge(this.bill, charge);
    return true;
  }

  get dirty(): boolean {
    return this.pendingEntries.length > 0;
  }

  /** Bytes buffered since the last flush. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** When the oldest buffered result was appended (ms since the epoch); 0 when nothing is buffered. */
  get bufferedSinceMs(): number {
    return this.pendingEntries.length > 0 ? this.firstPendingMs : 0;
  }

  /**
   * Makes buffered results durable: the segment first, then the index pages pointing into it.
   * On failure nothing is dropped: the buffer stays and the next flush writes it again.
   */
  async flush(): Promise<void> {
    if (this.pendingEntries.length === 0) return;
    // Take the buffer: results appended while this flush awaits the store go into a fresh one.
    const entries = this.pendingEntries;
    const lines = this.pendingLines;
    const bytes = this.pendingBytes;
    const since = this.firstPendingMs;
    this.pendingEntries = [];
    this.pendingLines = [];
    this.pendingBytes = 0;
    const segment = this.lastSegment + 1;
    try {
      const bill = billOf(entries);
      await Promise.all([
        this.store.put(storeKeys.resultSegment(this.batchId, segment), Buffer.concat(lines, bytes)),
        bill ? putJson(this.store, storeKeys.resultBill(this.batchId, segment), bill) : null,
      ]);
      const touched = new Map<number, Buffer>();
      for (const entry of entries) {
        const page = Math.floor(entry.index / INDEX_PAGE_ENTRIES);
        let pageBytes = touched.get(page);
        if (!pageBytes) touched.set(page, (pageBytes = Buffer.from(await this.page(page))));
        const at = (entry.index % INDEX_PAGE_ENTRIES) * INDEX_ENTRY_BYTES;
        pageBytes.writeUInt32LE(segment + 1, at);
        pageBytes.writeUInt32LE(entry.offset, at + 4);
        pageBytes.writeUInt32LE(entry.length, at + 8);
        pageBytes.writeUInt32LE(entry.flags, at + 12);
        pageBytes.writeUInt32LE(entry.inputTokens, at + 16);
        pageBytes.writeUInt32LE(entry.outputTokens, at + 20);
      }
      await forEachLimited([...touched], 4, ([page, pageBytes]) =>
        this.store.put(storeKeys.resultIndexPage(this.batchId, page), trimPage(pageBytes)),
      );
      this.lastSegment = segment;
      for (const [page, pageBytes] of touched) this.pages.set(String(page), pageBytes);
    } catch (error) {
      // Put the results back in front of what came meanwhile; the next flush writes them all.
      for (const entry of this.pendingEntries) entry.offset += bytes;
      this.pendingEntries = [...entries, ...this.pendingEntries];
      this.pendingLines = [...lines, ...this.pendingLines];
      this.pendingBytes += bytes;
      this.firstPendingMs = since;
      throw error;
    }
  }

  /** Drops what is buffered (the partition moved to another sink; it will get those results again). */
  discard(): void {
    this.pendingEntries = [];
    this.pendingLines = [];
    this.pendingBytes = 0;
  }

  private async page(page: number): Promise<Buffer> {
    const cached = this.pages.get(String(page));
    if (cached) return cached;
    const stored = await this.store.read(storeKeys.resultIndexPage(this.batchId, page));
    const bytes = Buffer.alloc(PAGE_BYTES);
    stored?.copy(bytes, 0, 0, Math.min(stored.length, PAGE_BYTES));
    return bytes;
  }
}

/** The bill of a segment's entries, per index page; null when none was billed (nothing to write). */
function billOf(entries: PendingEntry[]): SegmentBill | null {
  let bill: SegmentBill | null = null;
  for (const entry of entries) {
    if (!entry.charge) continue;
    bill ??= { pages: {} };
    const page = String(Math.floor(entry.index / INDEX_PAGE_ENTRIES));
    addCharge((bill.pages[page] ??= emptyTally()), entry.charge);
  }
  return bill;
}

/** A page without its trailing absent entries (the last page of a batch is usually short). */
function trimPage(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && bytes.readUInt32LE(end - INDEX_ENTRY_BYTES) === 0) end -= INDEX_ENTRY_BYTES;
  return bytes.subarray(0, end);
}

export interface StoredResult {
  index: number;
  ok: boolean;
  /** The result message exactly as the sink recorded it. */
  record: ItemResultMessage;
}

interface Located {
  index: number;
  segment: number;
  offset: number;
  length: number;
  ok: boolean;
}

/** Index pages read ahead while earlier ones are being consumed: hides the store's latency. */
const READ_AHEAD = 4;
const SPAN_READ_LIMIT = 8 * 1024 * 1024;

/**
 * Reads the recorded results of a batch in item-index order, skipping indexes not recorded yet.
 * Safe while the sink is writing, from any process: an index entry is written after the segment
 * it points into. Memory stays bounded: a few index pages and their lines at a time.
 */
export async function* readResults(
  store: Store,
  batchId: string,
  options: { fromIndex?: number; toIndex?: number } = {},
): AsyncGenerator<StoredResult> {
  const first = Math.max(0, options.fromIndex ?? 0);
  const end = options.toIndex ?? Number.MAX_SAFE_INTEGER;
  if (end <= first) return;
  let pages: number[];
  const firstPage = Math.floor(first / INDEX_PAGE_ENTRIES);
  const lastPage = Math.floor((end - 1) / INDEX_PAGE_ENTRIES);
  if (lastPage - firstPage < 4) {
    // A bounded range (a page of rows): read its index pages directly, no listing.
    pages = Array.from({ length: lastPage - firstPage + 1 }, (_, i) => firstPage + i);
  } else {
    pages = [];
    for await (const object of store.list(storeKeys.resultIndexPrefix(batchId), {
      startAfter: firstPage > 0 ? storeKeys.resultIndexPage(batchId, firstPage - 1) : undefined,
    })) {
      const page = Number(object.key.slice(object.key.lastIndexOf('/') + 1));
      if (!Number.isInteger(page)) continue;
      if (page > lastPage) break;
      pages.push(page);
    }
  }
  const load = (page: number) => readPage(store, batchId, page, first, end);
  const ahead: Promise<StoredResult[]>[] = [];
  let next = 0;
  while (next < pages.length || ahead.length > 0) {
    while (ahead.length < READ_AHEAD && next < pages.length) {
      const loading = load(pages[next++] as number);
      loading.catch(() => undefined); // awaited below; avoids an unhandled rejection meanwhile
      ahead.push(loading);
    }
    const results = await (ahead.shift() as Promise<StoredResult[]>);
    yield* results;
  }
}

/** One index page's results within `[first, end)`, in index order. */
async function readPage(store: Store, batchId: string, page: number, first: number, end: number) {
  const bytes = await store.read(storeKeys.resultIndexPage(batchId, page));
  if (!bytes) return [];
  const located: Located[] = [];
  for (let at = 0; at + INDEX_ENTRY_BYTES <= bytes.length; at += INDEX_ENTRY_BYTES) {
    const index = page * INDEX_PAGE_ENTRIES + at / INDEX_ENTRY_BYTES;
    if (index < first || index >= end) continue;
    const segment = bytes.readUInt32LE(at);
    if (segment === 0) continue;
    located.push({
      index,
      segment: segment - 1,
      offset: bytes.readUInt32LE(at + 4),
      length: bytes.readUInt32LE(at + 8),
      ok: (bytes.readUInt32LE(at + 12) & FLAG_OK) !== 0,
    });
  }
  const lines = await readLines(store, batchId, located);
  return located.map((entry, i) => ({
    index: entry.index,
    ok: entry.ok,
    record: JSON.parse(lines[i] as string) as ItemResultMessage,
  }));
}

/** The lines of many entries: one ranged read per segment when its entries lie close together. */
async function readLines(store: Store, batchId: string, entries: Located[]): Promise<string[]> {
  const lines = new Array<string>(entries.length);
  const bySegment = new Map<number, number[]>();
  entries.forEach((entry, i) => {
    const list = bySegment.get(entry.segment);
    if (list) list.push(i);
    else bySegment.set(entry.segment, [i]);
  });
  await forEachLimited([...bySegment], 4, async ([segment, members]) => {
    const key = storeKeys.resultSegment(batchId, segment);
    let low = Number.POSITIVE_INFINITY;
    let high = 0;
    for (const i of members) {
      const entry = entries[i] as Located;
      low = Math.min(low, entry.offset);
      high = Math.max(high, entry.offset + entry.length);
    }
    if (high - low <= SPAN_READ_LIMIT) {
      const span = await store.read(key, { start: low, end: high });
      if (!span || span.length < high - low) throw new Error(`result segment ${key} is shorter than its index says`);
      for (const i of members) {
        const entry = entries[i] as Located;
        lines[i] = span.toString('utf8', entry.offset - low, entry.offset - low + entry.length);
      }
      return;
    }
    await forEachLimited(members, 8, async (i) => {
      const entry = entries[i] as Located;
      const bytes = await store.read(key, { start: entry.offset, end: entry.offset + entry.length });
      if (!bytes) throw new Error(`result segment ${key} is missing`);
      lines[i] = bytes.toString('utf8');
    });
  });
  return lines;
}

/** Runs `run` over `items` with at most `limit` at once. */
export async function forEachLimited<T>(items: T[], limit: number, run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await run(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
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
