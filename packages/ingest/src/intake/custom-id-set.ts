import { stringHash53 } from '@sluice/core/hash';

/**
 * Remembers which custom_ids a batch used, in about 32 bytes per item whatever the id's length:
 * an open-addressing table of 53-bit fingerprints → the item (and line) that first used them. A fingerprint
 * match is only a candidate duplicate; the caller confirms it against the stored lines, so a hash
 * collision never rejects a valid batch.
 */
export class CustomIdSet {
  private keys: Float64Array;
  private items: Int32Array;
  private lines: Int32Array;
  private used = 0;

  constructor(capacity = 1024) {
    const size = 1 << Math.ceil(Math.log2(Math.max(16, capacity * 2)));
    this.keys = new Float64Array(size);
    this.items = new Int32Array(size);
    this.lines = new Int32Array(size);
  }

  /**
   * Adds `customId` for `item` (0-based) found on `line`; returns the earlier item and line with the
   * same fingerprint, or null.
   */
  add(customId: string, item: number, line: number): { item: number; line: number } | null {
    return this.addFingerprint(fingerprint(customId), item, line);
  }

  /** {@link add} with the id's {@link fingerprint}, computed elsewhere (by an intake worker). */
  addFingerprint(hash: number, item: number, line: number): { item: number; line: number } | null {
    const mask = this.keys.length - 1;
    let slot = hash % this.keys.length;
    for (;;) {
      const key = this.keys[slot] as number;
      if (key === 0) break;
      if (key === hash) return { item: (this.items[slot] as number) - 1, line: this.lines[slot] as number };
      slot = (slot + 1) & mask;
    }
    this.keys[slot] = hash;
    this.items[slot] = item + 1;
    this.lines[slot] = line;
    if (++this.used * 2 > this.keys.length) this.grow();
    return null;
  }

  get size(): number {
    return this.used;
  }

  private grow(): void {
    const keys = this.keys;
    const items = this.items;
    const lines = this.lines;
    this.keys = new Float64Array(keys.length * 2);
    this.items = new Int32Array(keys.length * 2);
    this.lines = new Int32Array(keys.length * 2);
    const mask = this.keys.length - 1;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] as number;
      if (key === 0) continue;
      let slot = key % this.keys.length;
      while (this.keys[slot] !== 0) slot = (slot + 1) & mask;
      this.keys[slot] = key;
      this.items[slot] = items[i] as number;
      this.lines[slot] = lines[i] as number;
    }
  }
}

/** The table's key: 53 bits of core's string hash; never 0 (0 marks an empty slot). */
export function fingerprint(text: string): number {
  return stringHash53(text) || 1;
}
