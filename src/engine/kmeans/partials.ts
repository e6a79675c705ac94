import { mergeStats, type VarStats } from '../dataOps/outputStats.ts';
import { accumulateMoments, emptyMoments, type Moments, mergeMoments } from '../stats/moments.ts';
import { type Nearest, nearestCenters } from './nearest.ts';
import { PURPOSE, rowUniform, streamKey } from './random.ts';

/**
 * The per-chunk work of each k-means pass and the partials it returns (plain data and typed arrays),
 * with their merges. A pass is one of:
 *
 * - `seed` (k-means|| pass 0): each start's first center, uniform over the complete rows: every row
 *   draws a key from its (seed, start, chunk, row) stream and the smallest key wins (ties: the earlier
 *   row). With `numStarts: 0`, the first k complete rows instead (RevoScaleR's rule).
 * - `oversample` (k-means|| rounds): with C the candidates so far and phi = sum of d^2(x, C) over all
 *   rows, row x joins the candidates when u * phi < l * d^2(x, C), u uniform in (0, 1] from its stream;
 *   that is Bahmani et al.'s sampling with probability min(1, l d^2 / phi). phi is only known once the
 *   pass is merged, so a chunk keeps the rows that pass the test with its own phi (a smaller threshold:
 *   never fewer rows than the final test keeps; expected at most l of them), merges re-filter with the
 *   sum of their phis, and the finalizer applies the total. The final set does not depend on how
 *   chunks were grouped.
 * - `weigh` (k-means|| step 7): how many rows are nearest to each candidate.
 * - `lloyd`: per cluster the count, the sum of (x - shift) and the sum of d^2 to the center the row was
 *   assigned to, plus the k rows farthest from their centers (to re-seed empty clusters). The shift is
 *   fixed per cluster while assignments do not change, so an unchanged assignment gives bit-identical
 *   sums and centers: that is how convergence ("no center moved") is detected exactly.
 *
 * Every pass also counts rows, and the first pass accumulates each dimension's moments (for totSS).
 */

export type Phase = 'seed' | 'oversample' | 'weigh' | 'lloyd' | 'write';

/** A start's first center: the smallest key seen and its row (null: no complete row yet). */
export interface FirstCenter {
  key: number;
  point: number[] | null;
}

/** Oversampling candidates of one start, in chunk and row order. */
export interface Samples {
  phi: number;
  u: number[];
  d2: number[];
  /** Row-major points. */
  points: number[];
}

export interface LloydSums {
  count: Float64Array;
  /** k x p, sum of (x - shift_c). */
  sums: Float64Array;
  /** Sum of squared distances to the assigned center. */
  ss: Float64Array;
  /** The rows farthest from their centers (d^2 > 0), farthest first; ties keep the earlier row. */
  far: { d2: number[]; points: number[] };
}

/** What a merge needs to know beyond the arrays (merge gets no state). */
export interface PartialShape {
  p: number;
  k: number;
  /** l, the oversampling factor. */
  oversampling: number;
}

export interface KmeansPartial {
  shape: PartialShape;
  /** Rows seen in the pass (after rowSelection). */
  rows: number;
  /** Complete rows (no missing or NaN model value). */
  valid: number;
  /** First pass only: per dimension. */
  moments: Moments[] | null;
  firstCenters: FirstCenter[] | null;
  /** `numStarts: 0`: the first k complete rows, row-major. */
  firstRows: number[] | null;
  samples: Samples[] | null;
  /** Per start: rows nearest to each candidate. */
  weights: Float64Array[] | null;
  /** Per start; null for starts that are done. */
  lloyd: Array<LloydSums | null> | null;
  /** Write pass: rows per chunk in chunk order, output stats, assigned rows. */
  written: { chunkRows: number[]; stats: VarStats[] } | null;
}

/** One start as a pass needs it. */
export interface StartInput {
  /** Row-major centers (Lloyd) or candidates (k-means||). */
  centers: Float64Array;
  count: number;
  /** Lloyd: fixed shift per cluster, row-major. */
  shift: Float64Array | null;
  /** Lloyd: 1 = the cluster takes rows. */
  active: Uint8Array | null;
  done: boolean;
}

/** The chunk's complete rows, column-major, and their positions in the chunk. */
export interface ChunkMatrix {
  x: Float64Array;
  n: number;
  p: number;
  /** Chunk row of each complete row (null: row r is chunk row r). */
  rowIndex: Int32Array | null;
  chunkIndex: number;
}

export function emptyPartial(shape: PartialShape, rows: number, valid: number): KmeansPartial {
  return {
    shape,
    rows,
    valid,
    moments: null,
    firstCenters: null,
    firstRows: null,
    samples: null,
    weights: null,
    lloyd: null,
    written: null,
  };
}

function rowPoint(m: ChunkMatrix, r: number): number[] {
  const point = new Array<number>(m.p);
  for (let j = 0; j < m.p; j++) point[j] = m.x[j * m.n + r] as number;
  return point;
}

function chunkRow(m: ChunkMatrix, r: number): number {
  return m.rowIndex === null ? r : (m.rowIndex[r] as number);
}

/** Per-dimension moments of the complete rows (Welford-free: two passes per chunk, see stats/moments.ts). */
export function dimensionMoments(m: ChunkMatrix): Moments[] {
  const out: Moments[] = [];
  for (let j = 0; j < m.p; j++) {
    const moments = emptyMoments(1);
    accumulateMoments(moments, {
      values: m.x.subarray(j * m.n, (j + 1) * m.n),
      valid: null,
      weights: null,
      cells: null,
      numRows: m.n,
    });
    out.push(moments);
  }
  return out;
}

export function firstCenters(m: ChunkMatrix, seed: number, starts: number): FirstCenter[] {
  const out: FirstCenter[] = [];
  for (let s = 0; s < starts; s++) {
    const key = streamKey(seed, s, PURPOSE.firstCenter, m.chunkIndex);
    let best = Number.POSITIVE_INFINITY;
    let at = -1;
    for (let r = 0; r < m.n; r++) {
      const u = rowUniform(key, chunkRow(m, r));
      if (u < best) {
        best = u;
        at = r;
      }
    }
    out.push({ key: best, point: at < 0 ? null : rowPoint(m, at) });
  }
  return out;
}

export function firstRows(m: ChunkMatrix, k: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < Math.min(k, m.n); r++) out.push(...rowPoint(m, r));
  return out;
}

/** Grow-only nearest-center buffers (map is synchronous). */
let nearestScratch: Nearest = { cluster: new Int32Array(0), distance: new Float64Array(0) };

function nearestBuffers(n: number): Nearest {
  if (nearestScratch.cluster.length < n) {
    nearestScratch = { cluster: new Int32Array(n), distance: new Float64Array(n) };
  }
  return nearestScratch;
}

export function oversample(
  m: ChunkMatrix,
  seed: number,
  round: number,
  oversampling: number,
  starts: readonly StartInput[],
): Samples[] {
  return starts.map((start, s) => {
    const near = nearestBuffers(m.n);
    nearestCenters(m.x, m.n, m.p, start.centers, start.count, near);
    let phi = 0;
    for (let r = 0; r < m.n; r++) phi += near.distance[r] as number;
    const out: Samples = { phi, u: [], d2: [], points: [] };
    if (phi === 0) return out;
    const key = streamKey(seed, s, PURPOSE.oversample + round, m.chunkIndex);
    for (let r = 0; r < m.n; r++) {
      const d2 = near.distance[r] as number;
      if (d2 === 0) continue;
      const u = rowUniform(key, chunkRow(m, r));
      if (u * phi < oversampling * d2) {
        out.u.push(u);
        out.d2.push(d2);
        out.points.push(...rowPoint(m, r));
      }
    }
    return out;
  });
}

/** Keeps the samples that still pass the test with `phi`. */
export function filterSamples(samples: Samples, phi: number, oversampling: number, p: number): Samples {
  const out: Samples = { phi, u: [], d2: [], points: [] };
  for (let i = 0; i < samples.u.length; i++) {
    const u = samples.u[i] as number;
    const d2 = samples.d2[i] as number;
    if (u * phi < oversampling * d2) {
      out.u.push(u);
      out.d2.push(d2);
      for (let j = 0; j < p; j++) out.points.push(samples.points[i * p + j] as number);
    }
  }
  return out;
}

export function weigh(m: ChunkMatrix, starts: readonly StartInput[]): Float64Array[] {
  return starts.map((start) => {
    const near = nearestBuffers(m.n);
    nearestCenters(m.x, m.n, m.p, start.centers, start.count, near);
    const weights = new Float64Array(start.count);
    for (let r = 0; r < m.n; r++) {
      const c = near.cluster[r] as number;
      weights[c] = (weights[c] as number) + 1;
    }
    return weights;
  });
}

/** Inserts (d2, point) into a farthest-first list of at most `limit`, after any equal entry. */
function insertFar(
  far: LloydSums['far'],
  d2: number,
  point: ArrayLike<number>,
  p: number,
  limit: number,
): void {
  let at = far.d2.length;
  while (at > 0 && (far.d2[at - 1] as number) < d2) at--;
  if (at >= limit) return;
  far.d2.splice(at, 0, d2);
  far.points.splice(at * p, 0, ...Array.from(point));
  if (far.d2.length > limit) {
    far.d2.length = limit;
    far.points.length = limit * p;
  }
}

export function lloydSums(m: ChunkMatrix, starts: readonly StartInput[], k: number): Array<LloydSums | null> {
  const { n, p, x } = m;
  return starts.map((start) => {
    if (start.done) return null;
    const near = nearestBuffers(n);
    nearestCenters(x, n, p, start.centers, k, near, start.active);
    const count = new Float64Array(k);
    const sums = new Float64Array(k * p);
    const ss = new Float64Array(k);
    const shift = start.shift as Float64Array;
    const { cluster, distance } = near;
    for (let r = 0; r < n; r++) {
      const c = cluster[r] as number;
      count[c] = (count[c] as number) + 1;
      ss[c] = (ss[c] as number) + (distance[r] as number);
    }
    for (let j = 0; j < p; j++) {
      const column = j * n;
      for (let r = 0; r < n; r++) {
        const at = (cluster[r] as number) * p + j;
        sums[at] = (sums[at] as number) + ((x[column + r] as number) - (shift[at] as number));
      }
    }
    const far: LloydSums['far'] = { d2: [], points: [] };
    for (let r = 0; r < n; r++) {
      const d2 = distance[r] as number;
      if (d2 > 0 && (far.d2.length < k || d2 > (far.d2[k - 1] as number)))
        insertFar(far, d2, rowPoint(m, r), p, k);
    }
    return { count, sums, ss, far };
  });
}

function addInto(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) + (b[i] as number);
  return out;
}

function mergeFar(a: LloydSums['far'], b: LloydSums['far'], p: number, limit: number): LloydSums['far'] {
  const out: LloydSums['far'] = { d2: [], points: [] };
  let i = 0;
  let j = 0;
  while (out.d2.length < limit && (i < a.d2.length || j < b.d2.length)) {
    // Ties go to `a`: it holds the earlier chunks.
    const takeA = j >= b.d2.length || (i < a.d2.length && (a.d2[i] as number) >= (b.d2[j] as number));
    const from = takeA ? a : b;
    const at = takeA ? i++ : j++;
    out.d2.push(from.d2[at] as number);
    for (let c = 0; c < p; c++) out.points.push(from.points[at * p + c] as number);
  }
  return out;
}

/** Merges two partials of the same pass (`a` holds the earlier chunks). */
export function mergePartials(a: KmeansPartial, b: KmeansPartial): KmeansPartial {
  const shape = a.shape;
  const out = emptyPartial(shape, a.rows + b.rows, a.valid + b.valid);
  if (a.moments && b.moments) out.moments = a.moments.map((m, j) => mergeMoments(m, b.moments![j]!));
  if (a.firstCenters && b.firstCenters) {
    out.firstCenters = a.firstCenters.map((first, s) => {
      const other = b.firstCenters![s]!;
      return other.point !== null && (first.point === null || other.key < first.key) ? other : first;
    });
  }
  if (a.firstRows && b.firstRows) {
    out.firstRows = [...a.firstRows, ...b.firstRows].slice(0, shape.k * shape.p);
  }
  if (a.samples && b.samples) {
    out.samples = a.samples.map((sa, s) => {
      const sb = b.samples![s]!;
      const phi = sa.phi + sb.phi;
      const both: Samples = {
        phi,
        u: [...sa.u, ...sb.u],
        d2: [...sa.d2, ...sb.d2],
        points: [...sa.points, ...sb.points],
      };
      return filterSamples(both, phi, shape.oversampling, shape.p);
    });
  }
  if (a.weights && b.weights) out.weights = a.weights.map((w, s) => addInto(w, b.weights![s]!));
  if (a.lloyd && b.lloyd) {
    out.lloyd = a.lloyd.map((la, s) => {
      const lb = b.lloyd![s];
      if (!la || !lb) return null;
      return {
        count: addInto(la.count, lb.count),
        sums: addInto(la.sums, lb.sums),
        ss: addInto(la.ss, lb.ss),
        far: mergeFar(la.far, lb.far, shape.p, shape.k),
      };
    });
  }
  if (a.written && b.written) {
    out.written = {
      chunkRows: [...a.written.chunkRows, ...b.written.chunkRows],
      stats: mergeStats(a.written.stats, b.written.stats),
    };
  }
  return out;
}
