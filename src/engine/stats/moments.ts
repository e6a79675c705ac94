import { summarizeDense } from './denseColumn.ts';

/**
 * Mergeable first and second moments for one or many cells (struct of arrays, one slot per cell).
 *
 * Within a chunk the data are in memory, so each cell gets an exact two-pass treatment: the mean first,
 * then the centred sum of squares, with the corrected two-pass refinement (Chan, Golub & LeVeque 1983;
 * the common dense case does the same in one pass around a data-derived shift, see denseColumn.ts):
 * the second pass also sums the deviations s = sum(w (x - m)), which would be 0 in exact arithmetic,
 * and uses it to correct the mean (m + s / W) and M2 (sum(w d^2) - s^2 / W). Chunks are merged with
 * the pairwise update of Chan et al. (1979) on (W, mean, M2); raw sums of squares are never formed,
 * so data like NIST's NumAcc (1e7 + tiny spread) keep their digits.
 *
 * Weights: W is the sum of weights (frequency or probability), so the same update serves both; rows
 * whose weight is 0 count as valid observations but move no statistic, min and max included.
 */
export interface Moments {
  /** Rows with a usable value. */
  validObs: Float64Array;
  /** Rows in the cell whose value (or weight) is missing. */
  missingObs: Float64Array;
  /** Sum of weights of the usable rows (= validObs when unweighted). */
  weight: Float64Array;
  /** Sum of weights of rows whose value is missing but whose weight is known. */
  missingWeight: Float64Array;
  /** Sum of w x, accumulated directly (exact for integer data, unlike mean * W). */
  sum: Float64Array;
  mean: Float64Array;
  /** Sum of w (x - mean)^2. */
  m2: Float64Array;
  /** +Infinity while the cell has no value. */
  min: Float64Array;
  /** -Infinity while the cell has no value. */
  max: Float64Array;
}

export function emptyMoments(cells: number): Moments {
  return {
    validObs: new Float64Array(cells),
    missingObs: new Float64Array(cells),
    weight: new Float64Array(cells),
    missingWeight: new Float64Array(cells),
    sum: new Float64Array(cells),
    mean: new Float64Array(cells),
    m2: new Float64Array(cells),
    min: new Float64Array(cells).fill(Number.POSITIVE_INFINITY),
    max: new Float64Array(cells).fill(Number.NEGATIVE_INFINITY),
  };
}

/** Where a row goes: inputs of `accumulateMoments`. */
export interface MomentInputs {
  values: Float64Array;
  /** 1 = the value is present (null: all present). NaN values are treated as missing as well. */
  valid: Uint8Array | null;
  /** Row weights (null: every row weighs 1). Rows with an unknown weight must be marked invalid. */
  weights: Float64Array | null;
  /** 1 = the row's weight is known (null: all known); only known weights count in `missingWeight`. */
  weightValid?: Uint8Array | null;
  /** Cell of each row, -1 = the row belongs to no cell (null: every row is in cell 0). */
  cells: Int32Array | null;
  numRows: number;
}

/**
 * Adds one chunk's rows to `out` (which must be empty: a chunk's moments are made fresh and then
 * merged). The general path handles masks, weights and cells.
 */
export function accumulateMoments(out: Moments, input: MomentInputs): void {
  const { values, valid, weights, cells, numRows } = input;
  const weightValid = input.weightValid ?? null;
  if (valid === null && weights === null && cells === null) {
    summarizeDense(values, numRows, out, null);
    return;
  }
  const { validObs, missingObs, weight, missingWeight, sum, min, max } = out;
  for (let i = 0; i < numRows; i++) {
    const c = cells === null ? 0 : (cells[i] as number);
    if (c < 0) continue;
    const x = values[i] as number;
    const w = weights === null ? 1 : (weights[i] as number);
    if ((valid !== null && valid[i] === 0) || Number.isNaN(x)) {
      missingObs[c] = (missingObs[c] as number) + 1;
      if (weightValid === null || weightValid[i] === 1) missingWeight[c] = (missingWeight[c] as number) + w;
      continue;
    }
    validObs[c] = (validObs[c] as number) + 1;
    if (w === 0) continue;
    weight[c] = (weight[c] as number) + w;
    sum[c] = (sum[c] as number) + w * x;
    if (x < (min[c] as number)) min[c] = x;
    if (x > (max[c] as number)) max[c] = x;
  }
  const cellCount = validObs.length;
  const firstMean = new Float64Array(cellCount);
  for (let c = 0; c < cellCount; c++) {
    const w = weight[c] as number;
    firstMean[c] = w > 0 ? (sum[c] as number) / w : 0;
  }
  const dev = new Float64Array(cellCount);
  const dev2 = new Float64Array(cellCount);
  for (let i = 0; i < numRows; i++) {
    const c = cells === null ? 0 : (cells[i] as number);
    if (c < 0 || (valid !== null && valid[i] === 0)) continue;
    const d = (values[i] as number) - (firstMean[c] as number);
    if (Number.isNaN(d)) continue;
    const w = weights === null ? 1 : (weights[i] as number);
    const wd = w * d;
    dev[c] = (dev[c] as number) + wd;
    dev2[c] = (dev2[c] as number) + wd * d;
  }
  for (let c = 0; c < cellCount; c++) {
    const w = weight[c] as number;
    if (w > 0) {
      const s = dev[c] as number;
      out.mean[c] = (firstMean[c] as number) + s / w;
      out.m2[c] = (dev2[c] as number) - (s * s) / w;
    }
  }
}

/**
 * Chan et al.'s pairwise merge, cell by cell; returns a new object. Associative up to rounding, and
 * exactly so in the counts, sums of weights, min and max.
 */
export function mergeMoments(a: Moments, b: Moments): Moments {
  const cells = a.validObs.length;
  if (b.validObs.length !== cells) throw new Error('mergeMoments: partials have different cell counts');
  const out = emptyMoments(cells);
  for (let c = 0; c < cells; c++) {
    const wa = a.weight[c] as number;
    const wb = b.weight[c] as number;
    out.validObs[c] = (a.validObs[c] as number) + (b.validObs[c] as number);
    out.missingObs[c] = (a.missingObs[c] as number) + (b.missingObs[c] as number);
    out.missingWeight[c] = (a.missingWeight[c] as number) + (b.missingWeight[c] as number);
    out.sum[c] = (a.sum[c] as number) + (b.sum[c] as number);
    out.min[c] = Math.min(a.min[c] as number, b.min[c] as number);
    out.max[c] = Math.max(a.max[c] as number, b.max[c] as number);
    if (wb === 0) {
      out.weight[c] = wa;
      out.mean[c] = a.mean[c] as number;
      out.m2[c] = a.m2[c] as number;
    } else if (wa === 0) {
      out.weight[c] = wb;
      out.mean[c] = b.mean[c] as number;
      out.m2[c] = b.m2[c] as number;
    } else {
      const w = wa + wb;
      const ma = a.mean[c] as number;
      const delta = (b.mean[c] as number) - ma;
      out.weight[c] = w;
      out.mean[c] = ma + delta * (wb / w);
      out.m2[c] = (a.m2[c] as number) + (b.m2[c] as number) + delta * delta * ((wa * wb) / w);
    }
  }
  return out;
}
