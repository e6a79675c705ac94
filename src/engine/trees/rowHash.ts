/**
 * Per-row random draws that need no state and move no data: every draw is a hash of (seed, row id,
 * stream), so any worker computes the same fold, bootstrap count or subsample flag for a row whatever
 * chunk task it runs in, and a retried task draws the same again. Row ids are the row's index in the
 * job's input (the chunk's `startRow` plus the row's position in the chunk).
 */

/** A 32-bit avalanche mix (the MurmurHash3 finaliser). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A hash of (seed, row, stream) in [0, 2^32). `row` may exceed 2^32 (its high bits are mixed in too). */
export function rowHash(seed: number, row: number, stream: number): number {
  return streamHash(rowKey(seed, row), stream);
}

/**
 * The part of rowHash that does not depend on the stream: a caller drawing many streams for the same
 * rows (a forest's trees) computes it once per row, then streamHash per draw.
 */
export function rowKey(seed: number, row: number): number {
  const low = row >>> 0;
  const high = Math.floor(row / 4294967296) >>> 0;
  let h = mix32((seed >>> 0) ^ 0x9e3779b9);
  h = mix32(h ^ low);
  return mix32((h + Math.imul(high, 0x27d4eb2f)) >>> 0);
}

/** rowHash(seed, row, stream) from rowKey(seed, row). */
export function streamHash(key: number, stream: number): number {
  return mix32(key ^ Math.imul((stream >>> 0) + 1, 0x165667b1));
}

/** A uniform draw in [0, 1) for (seed, row, stream). */
export function rowUniform(seed: number, row: number, stream: number): number {
  return rowHash(seed, row, stream) / 4294967296;
}

/** Cumulative Poisson(lambda) probabilities P(X <= k), up to where they reach 1 in double precision. */
export function poissonTable(lambda: number): Float64Array {
  const cdf: number[] = [];
  let p = Math.exp(-lambda);
  let sum = p;
  cdf.push(sum);
  for (let k = 1; k < 64 && sum < 1 - 1e-15; k++) {
    p *= lambda / k;
    sum += p;
    cdf.push(sum);
  }
  return Float64Array.from(cdf);
}

/** The Poisson count whose cumulative probability first exceeds `u` (inverse CDF). */
export function poissonDraw(cdf: Float64Array, u: number): number {
  let k = 0;
  const last = cdf.length - 1;
  while (k < last && u >= (cdf[k] as number)) k++;
  return k;
}
