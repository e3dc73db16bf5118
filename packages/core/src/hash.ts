/**
 * One fast, non-cryptographic string hash for the per-item paths that need one in memory: the
 * processor's Bloom filter of known answers (two 32-bit hashes) and ingest's table of custom_ids
 * (a 53-bit fingerprint). cyrb53 (a public-domain hash by bryc): two 32-bit lanes over the UTF-16
 * code units, each finished with a cross-mixing step so every input bit moves every output bit.
 * Not for anything an attacker must not steer or that is kept across versions: crypto for those.
 */

/** Two well-mixed 32-bit unsigned hashes of `text`, independent enough for double hashing. */
export function stringHashPair(text: string): [number, number] {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 2654435761);
    h2 = Math.imul(h2 ^ code, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return [h1 >>> 0, h2 >>> 0];
}

/** 53 bits of {@link stringHashPair}: a safe integer, exact in a Float64Array. */
export function stringHash53(text: string): number {
  const [low, high] = stringHashPair(text);
  return 0x1_0000_0000 * (high & 0x1f_ffff) + low;
}
