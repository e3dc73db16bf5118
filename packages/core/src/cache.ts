import { LRUCache } from 'lru-cache';

/**
 * The one bounded cache of Sluice: least recently used out, bounded in entries and, when told how
 * to size an entry, in bytes; optionally with a time to live. Every in-memory cache of the stages
 * (compiled per-job parameters, answers, open batches, status records, result index pages) is one
 * of these, so memory never grows with the number of items or batches a process has seen
 * (design invariant 6).
 *
 * It is isaacs' `lru-cache` (the LRU of npm itself and of most of the Node ecosystem: maintained,
 * typed, O(1) per operation, with size and TTL bounds built in) behind a narrow interface, so a
 * stage says what it keeps and how much, not how eviction works.
 */
export interface BoundedCacheOptions<V> {
  /** Most entries kept. */
  maxEntries: number;
  /** Most total size kept, as measured by `sizeOf` (e.g. bytes of JSON text). */
  maxSize?: number;
  /** The size of one entry (required with `maxSize`); an entry larger than `maxSize` is not kept. */
  sizeOf?: (value: V, key: string) => number;
  /** Milliseconds an entry is kept after it was set; 0 or absent: until evicted. */
  ttlMs?: number;
  /** Called when an entry leaves (evicted, expired, replaced or deleted), e.g. to release what it holds. */
  onEvict?: (value: V, key: string) => void;
}

export class BoundedCache<V extends NonNullable<unknown>> {
  private readonly lru: LRUCache<string, V>;

  constructor(options: BoundedCacheOptions<V>) {
    const onEvict = options.onEvict;
    this.lru = new LRUCache<string, V>({
      max: Math.max(1, Math.floor(options.maxEntries)),
      ...(options.maxSize !== undefined
        ? {
            maxSize: Math.max(1, Math.floor(options.maxSize)),
            sizeCalculation: (value: V, key: string) => Math.max(1, Math.ceil(options.sizeOf?.(value, key) ?? 1)),
          }
        : {}),
      ...(options.ttlMs ? { ttl: options.ttlMs, ttlAutopurge: false } : {}),
      ...(onEvict ? { dispose: (value: V, key: string) => onEvict(value, key) } : {}),
    });
  }

  /** The entry (marked most recently used), or undefined. An expired entry is gone. */
  get(key: string): V | undefined {
    return this.lru.get(key);
  }

  /** Whether the key is kept, without marking it used. */
  has(key: string): boolean {
    return this.lru.has(key);
  }

  set(key: string, value: V, options: { ttlMs?: number } = {}): void {
    this.lru.set(key, value, options.ttlMs !== undefined ? { ttl: options.ttlMs } : undefined);
  }

  /** The entry, computed once by `make` when missing. */
  getOrSet(key: string, make: () => V): V {
    const hit = this.lru.get(key);
    if (hit !== undefined) return hit;
    const value = make();
    this.lru.set(key, value);
    return value;
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  clear(): void {
    this.lru.clear();
  }

  get size(): number {
    return this.lru.size;
  }

  /** Total size of the entries, as measured by `sizeOf` (0 without it). */
  get totalSize(): number {
    return this.lru.calculatedSize ?? 0;
  }

  /** Entries, most recently used first (does not mark them used). */
  *entries(): IterableIterator<[string, V]> {
    yield* this.lru.entries();
  }

  /** Values, most recently used first (does not mark them used). */
  *values(): IterableIterator<V> {
    yield* this.lru.values();
  }
}
