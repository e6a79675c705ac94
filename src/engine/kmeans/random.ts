/**
 * Random numbers that do not depend on who computes them. k-means|| samples rows in chunk tasks that
 * may run on any worker, in any order, any number of times (a stalled task is re-run), so a row's
 * random number must be a pure function of (seed, start, purpose, chunk index, row) — never of a
 * generator's position. Each chunk gets a stream key from the first four; each row hashes its index
 * with that key. The finalizer's own sampling (k-means++ on the candidates) uses a sequential
 * generator seeded from (seed, start), which runs in one place.
 *
 * The mixer is MurmurHash3's 32-bit finalizer (full avalanche: each input bit flips each output bit
 * with probability ~1/2); composing it with XORs of distinct constants keeps different keys apart.
 */

/** MurmurHash3's fmix32: a bijection on 32-bit integers with full avalanche. */
export function mix32(value: number): number {
  let h = value | 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** What a random number is for, so two uses of one row never share a number. */
export const PURPOSE = {
  /** Pass 0: the uniform first center of each start (smallest key wins). */
  firstCenter: 1,
  /** k-means|| oversampling round r uses `oversample + r`. */
  oversample: 16,
  /** The finalizer's k-means++ on the candidates. */
  localSeeding: 4096,
} as const;

/** The key of one chunk's stream: every row of the chunk draws from it with `rowUniform`. */
export function streamKey(seed: number, start: number, purpose: number, chunkIndex: number): number {
  let h = mix32(seed ^ 0x3c6ef372);
  h = mix32(h ^ Math.imul(start + 1, 0x9e3779b1));
  h = mix32(h ^ Math.imul(purpose + 1, 0x7f4a7c15));
  return mix32(h ^ Math.imul(chunkIndex + 1, 0x6a09e667));
}

const TWO_TO_MINUS_32 = 2 ** -32;

/**
 * A uniform number in (0, 1] for row `row` of a stream: never 0, so "accept when u < p" never accepts
 * a row whose probability is 0 (a point already among the candidates).
 */
export function rowUniform(key: number, row: number): number {
  return (mix32(key ^ mix32(row ^ 0x5bd1e995)) + 1) * TWO_TO_MINUS_32;
}

/** A sequential generator (mulberry32) for work done in one place: uniform numbers in [0, 1). */
export function sequentialRandom(seed: number, start: number, purpose: number): () => number {
  let state = streamKey(seed, start, purpose, 0);
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) * TWO_TO_MINUS_32;
  };
}
