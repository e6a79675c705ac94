import { EngineError } from '../errors.ts';
import { absorbRows, triangleAsBlock } from './householder.ts';

/**
 * The mergeable partial of a least-squares fit (TSQR on centred columns): for the rows seen so far,
 * the weighted column means of [X | Y] and the R factor of the CENTRED, sqrt(w)-scaled rows,
 *
 *   R^T R = sum_i w_i (z_i - mean)(z_i - mean)^T,   z_i = [x_i, y_i],  mean = sum w z / sum w.
 *
 * Why centred, and why carry the means instead of centring by a shift known in advance: centring
 * removes the intercept direction from the problem before any rounding happens (Longley's year
 * column, Wampler's powers of x, a timestamp predictor), and carrying the means makes the pass
 * single: each chunk centres by its own exact mean, and two partials merge with the matrix form of
 * Chan et al.'s update for M2 (the same rule stats/moments.ts uses for variances),
 *
 *   S = S_a + S_b + (W_a W_b / W) d d^T,   d = mean_a - mean_b,
 *
 * which in R-factor form is the QR of [R_a; R_b; sqrt(W_a W_b / W) d^T]: stack and re-triangularise.
 * The only rounding the correction row brings is that of d itself, the same order as rounding each
 * value x_i to double, so the partial is as accurate as the data.
 *
 * The partial does not know whether the model has an intercept; the solver rebuilds the uncentred R
 * exactly from (R, mean, W) when it needs it (see solve.ts). Plain data and Float64Arrays only, so
 * codec.ts carries it between processes bit for bit.
 */
export interface QrPartial {
  /** Columns of X (the intercept is never one of them: it is implied by the centring). */
  numPredictors: number;
  /** Columns of Y after X (1 for a plain response, more for `cbind(y1, y2) ~ ...`). */
  numResponses: number;
  /** Rows that entered the fit (zero-weight rows included: they are valid observations). */
  numRows: number;
  /** Rows with a positive weight: R's `n` for residual degrees of freedom with probability weights. */
  numPositiveWeight: number;
  /** Sum of the row weights (= numRows when unweighted): `n` with frequency weights. */
  sumWeights: number;
  /** Weighted column means of [X | Y] (0 while sumWeights is 0). */
  means: Float64Array;
  /** k x k row-major upper-triangular R of the centred, weighted [X | Y], k = numPredictors + numResponses. */
  r: Float64Array;
}

/** One chunk's model matrix, as plain columns (the model-matrix builder's output). */
export interface QrChunkInput {
  /** Predictor columns, each of length >= numRows; no intercept column. */
  predictors: readonly Float64Array[];
  /** Response columns (at least one). */
  responses: readonly Float64Array[];
  /** Row weights (null: every row weighs 1). Must be finite and >= 0 on the rows used. */
  weights: Float64Array | null;
  /** 1 = use the row (null: use every row). Rows with a missing value must be masked out here. */
  use: Uint8Array | null;
  numRows: number;
}

export function emptyQrPartial(numPredictors: number, numResponses: number): QrPartial {
  const k = numPredictors + numResponses;
  return {
    numPredictors,
    numResponses,
    numRows: 0,
    numPositiveWeight: 0,
    sumWeights: 0,
    means: new Float64Array(k),
    r: new Float64Array(k * k),
  };
}

/** Rows per block handed to the kernel: a 256 x 12 block is 24 KB, inside L1/L2 with R beside it. */
const BLOCK_ROWS = 256;

/**
 * Weighted mean of one column over the used rows, with the two-pass correction (the second pass sums
 * the deviations, which would be 0 in exact arithmetic, and corrects the mean by their average).
 */
function columnMean(
  values: Float64Array,
  weights: Float64Array | null,
  use: Uint8Array | null,
  numRows: number,
  sumWeights: number,
): number {
  // Zero-weight rows are skipped outright: they move nothing, and 0 * Infinity would be NaN.
  let sum = 0;
  for (let i = 0; i < numRows; i++) {
    if (use !== null && use[i] === 0) continue;
    if (weights === null) sum += values[i] as number;
    else if (weights[i] !== 0) sum += (weights[i] as number) * (values[i] as number);
  }
  const first = sum / sumWeights;
  let deviation = 0;
  for (let i = 0; i < numRows; i++) {
    if (use !== null && use[i] === 0) continue;
    if (weights === null) deviation += (values[i] as number) - first;
    else if (weights[i] !== 0) deviation += (weights[i] as number) * ((values[i] as number) - first);
  }
  return first + deviation / sumWeights;
}

/**
 * The partial of one chunk: its weighted means, then the Householder QR of its centred rows,
 * BLOCK_ROWS rows at a time into a k x k R.
 */
export function qrPartial(input: QrChunkInput): QrPartial {
  const { predictors, responses, weights, use, numRows } = input;
  if (responses.length === 0) throw new Error('qrPartial: at least one response column is needed');
  const columns = [...predictors, ...responses];
  const k = columns.length;
  for (const c of columns)
    if (c.length < numRows) throw new Error('qrPartial: a column is shorter than numRows');
  const out = emptyQrPartial(predictors.length, responses.length);

  let rowsUsed = 0;
  let positive = 0;
  let sumWeights = 0;
  for (let i = 0; i < numRows; i++) {
    if (use !== null && use[i] === 0) continue;
    rowsUsed++;
    const w = weights === null ? 1 : (weights[i] as number);
    if (!(w >= 0) || w === Number.POSITIVE_INFINITY)
      throw new EngineError(
        'INVALID_WEIGHT',
        `Row weights must be finite and non-negative; found ${w}. Mask such rows out or fix the weight variable.`,
        422,
      );
    if (w > 0) positive++;
    sumWeights += w;
  }
  out.numRows = rowsUsed;
  out.numPositiveWeight = positive;
  out.sumWeights = sumWeights;
  if (sumWeights === 0) return out;

  for (let j = 0; j < k; j++) {
    const mean = columnMean(columns[j] as Float64Array, weights, use, numRows, sumWeights);
    if (!Number.isFinite(mean))
      throw new EngineError(
        'NON_FINITE_VALUE',
        'A model column has an infinite or NaN value on a row used in the fit; such rows must be treated as missing.',
        422,
      );
    out.means[j] = mean;
  }

  const block = new Float64Array(BLOCK_ROWS * k);
  const rowIndex = new Int32Array(BLOCK_ROWS);
  const rootWeight = new Float64Array(BLOCK_ROWS);
  let i = 0;
  while (i < numRows) {
    // Collect the next block's rows (used, positive weight: zero-weight rows change nothing).
    let rows = 0;
    for (; i < numRows && rows < BLOCK_ROWS; i++) {
      if (use !== null && use[i] === 0) continue;
      const w = weights === null ? 1 : (weights[i] as number);
      if (w === 0) continue;
      rowIndex[rows] = i;
      rootWeight[rows] = weights === null ? 1 : Math.sqrt(w);
      rows++;
    }
    if (rows === 0) break;
    for (let j = 0; j < k; j++) {
      const values = columns[j] as Float64Array;
      const mean = out.means[j] as number;
      const base = j * BLOCK_ROWS;
      if (weights === null)
        for (let b = 0; b < rows; b++) block[base + b] = (values[rowIndex[b] as number] as number) - mean;
      else
        for (let b = 0; b < rows; b++)
          block[base + b] = (rootWeight[b] as number) * ((values[rowIndex[b] as number] as number) - mean);
    }
    absorbRows(out.r, k, block, BLOCK_ROWS, rows);
  }
  return out;
}

/**
 * Merges two partials of the same model (a's rows first). Associative up to rounding; the runner
 * merges in chunk order, so a result does not depend on how many workers made the partials.
 */
export function mergeQr(a: QrPartial, b: QrPartial): QrPartial {
  if (a.numPredictors !== b.numPredictors || a.numResponses !== b.numResponses)
    throw new Error('mergeQr: partials of different models');
  const k = a.numPredictors + a.numResponses;
  const out: QrPartial = {
    numPredictors: a.numPredictors,
    numResponses: a.numResponses,
    numRows: a.numRows + b.numRows,
    numPositiveWeight: a.numPositiveWeight + b.numPositiveWeight,
    sumWeights: a.sumWeights + b.sumWeights,
    means: new Float64Array(k),
    r: new Float64Array(a.r),
  };
  if (b.sumWeights === 0) {
    out.means.set(a.means);
    return out;
  }
  if (a.sumWeights === 0) {
    out.means.set(b.means);
    out.r.set(b.r);
    return out;
  }
  const total = a.sumWeights + b.sumWeights;
  const shareB = b.sumWeights / total;
  const correction = new Float64Array(k);
  const factor = Math.sqrt(a.sumWeights * shareB); // sqrt(W_a W_b / W)
  for (let j = 0; j < k; j++) {
    const ma = a.means[j] as number;
    const d = (b.means[j] as number) - ma;
    out.means[j] = ma + shareB * d;
    correction[j] = factor * d;
  }
  absorbRows(out.r, k, triangleAsBlock(b.r, k), k, k, true);
  absorbRows(out.r, k, correction, 1, 1);
  return out;
}
