/**
 * The nearest center of every row: the hot loop of each k-means pass (Lloyd, k-means|| sampling, the
 * candidates' weights, scoring).
 *
 * Rows come column-major (formula/modelMatrix.ts's layout: dimension j of the n rows is
 * `x.subarray(j * n, (j + 1) * n)`); centers row-major (center c is `centers.subarray(c * p, (c + 1) * p)`).
 * Rows are taken in blocks of BLOCK so each center's distances to the block are built one dimension
 * at a time over a short contiguous array (simple loops the JIT keeps in registers), while the block's
 * slice of every column stays in cache.
 *
 * A row's squared distance is (x_0 - c_0)^2 + (x_1 - c_1)^2 + ... summed in dimension order, the same
 * operations wherever the row sits in its chunk, so the answer never depends on how data are chunked.
 * Ties go to the lower center index.
 */

const BLOCK = 256;

/** Per-block scratch, grown on demand (map runs synchronously, so one buffer per process suffices). */
const distanceScratch = new Float64Array(BLOCK);

export interface Nearest {
  /** Index of the nearest center (among the active ones) per row; -1 when no center is active. */
  cluster: Int32Array;
  /** Squared distance to it (+Infinity when no center is active). */
  distance: Float64Array;
}

/**
 * Fills `out` (length >= n) with each row's nearest center. `active` (optional, one byte per center)
 * leaves out centers whose byte is 0.
 */
export function nearestCenters(
  x: Float64Array,
  n: number,
  p: number,
  centers: Float64Array,
  k: number,
  out: Nearest,
  active: Uint8Array | null = null,
): void {
  const { cluster, distance } = out;
  const d = distanceScratch;
  for (let from = 0; from < n; from += BLOCK) {
    const rows = Math.min(BLOCK, n - from);
    const end = from + rows;
    for (let i = from; i < end; i++) {
      distance[i] = Number.POSITIVE_INFINITY;
      cluster[i] = -1;
    }
    for (let c = 0; c < k; c++) {
      if (active !== null && active[c] === 0) continue;
      const base = c * p;
      let column = from;
      let cj = centers[base] as number;
      for (let i = 0; i < rows; i++) {
        const t = (x[column + i] as number) - cj;
        d[i] = t * t;
      }
      for (let j = 1; j < p; j++) {
        column = j * n + from;
        cj = centers[base + j] as number;
        for (let i = 0; i < rows; i++) {
          const t = (x[column + i] as number) - cj;
          d[i] = (d[i] as number) + t * t;
        }
      }
      for (let i = 0; i < rows; i++) {
        const di = d[i] as number;
        if (di < (distance[from + i] as number)) {
          distance[from + i] = di;
          cluster[from + i] = c;
        }
      }
    }
  }
}

/** Squared Euclidean distance between two points stored row-major (a at `ai * p`, b at `bi * p`). */
export function squaredDistance(
  a: ArrayLike<number>,
  ai: number,
  b: ArrayLike<number>,
  bi: number,
  p: number,
): number {
  let s = 0;
  for (let j = 0; j < p; j++) {
    const t = (a[ai * p + j] as number) - (b[bi * p + j] as number);
    s += t * t;
  }
  return s;
}
