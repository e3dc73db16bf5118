import { stringHashPair } from '@sluice/core';

export interface KnownAnswersOptions {
  /** Milliseconds of expiry times one filter covers: the dedup TTL. */
  windowMs: number;
  /**
   * Answers expiring within one window that the filter is sized for; beyond, it answers "maybe"
   * more often (a wasted local read, never a wrong answer). @defaultValue 1,000,000 (1.2 MB a window)
   */
  expectedPerWindow?: number;
}

/** The false positive rate a filter is sized for at its expected number of answers. */
const FALSE_POSITIVE_RATE = 0.01;

/**
 * Which answers the local database may hold, in memory, so a lookup that misses (the common case
 * for new work) costs no database read: a Bloom filter (no false negatives; about 1% false
 * positives at its sized load, each costing one local read that finds nothing).
 *
 * A Bloom filter cannot forget, so there is one per window of expiry times: an answer is added to
 * the filter of the window its `expires_at_ms` falls in, and a filter is dropped whole once its
 * window is past (every answer in it has expired). With the TTL as the window, live answers fall
 * in the current window and the next one: memory is two filters, however many answers come and go.
 */
export class KnownAnswers {
  private readonly filters = new Map<number, BloomFilter>();
  private readonly bits: number;
  private readonly hashes: number;

  constructor(private readonly options: KnownAnswersOptions) {
    const expected = Math.max(1, options.expectedPerWindow ?? 1_000_000);
    // The textbook sizing: m = -n ln p / (ln 2)^2 bits, k = (m / n) ln 2 hash functions.
    this.bits = Math.ceil((-expected * Math.log(FALSE_POSITIVE_RATE)) / Math.LN2 ** 2);
    this.hashes = Math.max(1, Math.round((this.bits / expected) * Math.LN2));
  }

  add(key: string, expiresAtMs: number, now = Date.now()): void {
    const current = this.windowOf(now);
    this.forgetBefore(current);
    // An answer written with a longer TTL than ours would open filters far ahead: it is kept in the
    // furthest one we keep, and may be forgotten before its end (a lost hit, never a wrong answer).
    const window = Math.min(Math.max(this.windowOf(expiresAtMs), current), current + 1);
    let filter = this.filters.get(window);
    if (!filter) this.filters.set(window, (filter = new BloomFilter(this.bits, this.hashes)));
    filter.add(key);
  }

  /** False: the local database surely does not hold a live answer for `key`. */
  mightHave(key: string, now = Date.now()): boolean {
    this.forgetBefore(this.windowOf(now));
    for (const filter of this.filters.values()) if (filter.mightHave(key)) return true;
    return false;
  }

  /** Bytes the filters take. */
  get bytes(): number {
    return this.filters.size * Math.ceil(this.bits / 8);
  }

  private windowOf(ms: number): number {
    return Math.floor(ms / this.options.windowMs);
  }

  private forgetBefore(window: number): void {
    for (const kept of this.filters.keys()) if (kept < window) this.filters.delete(kept);
  }
}

/** A plain Bloom filter over strings, with k indexes from two 32-bit hashes (Kirsch–Mitzenmacher). */
class BloomFilter {
  private readonly words: Uint32Array;

  constructor(
    private readonly bits: number,
    private readonly hashes: number,
  ) {
    this.words = new Uint32Array(Math.ceil(bits / 32));
  }

  add(key: string): void {
    const [h1, h2] = indexHashes(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.bits;
      this.words[bit >>> 5] = (this.words[bit >>> 5] as number) | (1 << (bit & 31));
    }
  }

  mightHave(key: string): boolean {
    const [h1, h2] = indexHashes(key);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (h1 + i * h2) % this.bits;
      if (((this.words[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }
}

/** The first index and the step between indexes: never 0, or all k indexes would be one. */
function indexHashes(key: string): [number, number] {
  const pair = stringHashPair(key);
  if (pair[1] === 0) pair[1] = 1;
  return pair;
}
