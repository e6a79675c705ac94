import { EngineError } from '../errors.ts';
import { fUpperPValue, tTwoSidedPValue } from '../stats/distributions.ts';
import { absorbRows } from './householder.ts';
import type { QrPartial } from './qrPartial.ts';

/**
 * The final solve of a least-squares fit from a merged QrPartial: rank detection in column order,
 * coefficients, standard errors and the summary statistics of R's summary.lm.
 *
 * Everything below works on a small (p + 2) x (p + 2) triangular matrix; no pass over the data.
 */

export interface SolveOptions {
  /**
   * Fit an intercept: the first coefficient, an implied column of ones. It is never aliased (unless
   * there are no observations).
   *
   * @defaultValue true
   */
  intercept?: boolean;
  /**
   * Which response column (0-based, among the partial's responses) to fit.
   *
   * @defaultValue 0
   */
  response?: number;
  /**
   * Relative tolerance of the aliasing test: in column order, a column whose norm after projection
   * on the earlier KEPT columns (the intercept included) is <= tolerance times its own (uncentred,
   * weighted) norm is aliased and dropped. The same test and default as R's lm.fit (LINPACK dqrdc2's
   * limited pivoting with tol = 1e-7).
   *
   * @defaultValue 1e-7
   */
  tolerance?: number;
  /**
   * Weights are frequencies (fweights): the sample size is the sum of the weights, as if rows were
   * replicated. Otherwise (unweighted or probability weights) it is the number of rows with a
   * positive weight, as R's lm counts.
   *
   * @defaultValue false
   */
  frequencyWeights?: boolean;
  /**
   * Also return the covariance matrix of the coefficients (`covCoef`).
   *
   * @defaultValue false
   */
  covCoef?: boolean;
}

export const DEFAULT_ALIAS_TOLERANCE = 1e-7;

/** One coefficient. Aliased coefficients have NaN estimate, stdError, statistic and pValue. */
export interface CoefficientFit {
  estimate: number;
  stdError: number;
  /** t statistic. */
  statistic: number;
  /** Two-sided Pr(>|t|), not floored (RevoScaleR prints values below 2.22e-16 as 2.22e-16). */
  pValue: number;
  aliased: boolean;
}

export interface LeastSquaresFit {
  /** The intercept first (when fitted), then the predictors in the partial's column order. */
  coefficients: CoefficientFit[];
  /** Number of kept (non-aliased) coefficients, the intercept included. */
  rank: number;
  /** Residual standard error; NaN when dfResidual is 0. */
  sigma: number;
  /** Centred R-squared with an intercept, uncentred without (R's definitions). */
  rSquared: number;
  adjRSquared: number;
  /** Overall F test against the intercept-only model (the zero model without intercept). NaN when not defined. */
  fStatistic: { value: number; numDf: number; denDf: number; pValue: number };
  dfResidual: number;
  /** The sample size the degrees of freedom count: rows with positive weight, or the sum of fweights. */
  nObs: number;
  /** Weighted residual sum of squares. */
  residualSumOfSquares: number;
  /** The R-squared denominator: weighted sum of squares of y about its mean (about 0 without intercept). */
  totalSumOfSquares: number;
  /**
   * 1-norm condition number of the kept model matrix (intercept column included, uncentred) after
   * scaling its columns to unit length: ||A||_1 ||A^-1||_1, computed exactly from its R factor.
   */
  conditionNumber: number;
  /** Covariance of the coefficients, row-major, coefficients.length squared; NaN rows/columns for aliased ones. */
  covCoef?: Float64Array;
}

/** 2-norm of a strided vector without overflow or underflow. */
function norm2(values: Float64Array, from: number, count: number, stride: number): number {
  let scale = 0;
  for (let i = 0; i < count; i++) scale = Math.max(scale, Math.abs(values[from + i * stride] as number));
  if (scale === 0 || !Number.isFinite(scale)) return scale;
  let sum = 0;
  for (let i = 0; i < count; i++) {
    const x = (values[from + i * stride] as number) / scale;
    sum += x * x;
  }
  return scale * Math.sqrt(sum);
}

/** The power of two nearest to `x` (> 0): scaling by it is exact, so it changes no rounding anywhere. */
function powerOfTwoNear(x: number): number {
  return 2 ** Math.round(Math.log2(x));
}

/**
 * The m x m upper-triangular R of the UNCENTRED model matrix [1? | X | y] for one response, from the
 * centred partial:
 * - the chosen response's column collapses the other responses' rows into one entry, its norm (an
 *   orthogonal change of basis, exact up to rounding of that norm);
 * - with an intercept, R of [1 | X | y] is [[sqrt(W), sqrt(W) mean^T], [0, R_centred]] exactly, since the
 *   centred columns are orthogonal (weighted) to the column of ones;
 * - without one, the row sqrt(W) mean^T is folded into R_centred (S_uncentred = S_centred + W m m^T).
 */
function uncentredR(
  partial: QrPartial,
  response: number,
  intercept: boolean,
): { a: Float64Array; m: number } {
  const p = partial.numPredictors;
  const k = p + partial.numResponses;
  const offset = intercept ? 1 : 0;
  const m = offset + p + 1;
  const a = new Float64Array(m * m);
  const yCol = p + response;
  for (let i = 0; i < p; i++) {
    for (let j = i; j < p; j++) a[(i + offset) * m + j + offset] = partial.r[i * k + j] as number;
    a[(i + offset) * m + m - 1] = partial.r[i * k + yCol] as number;
  }
  a[(m - 1) * m + m - 1] = norm2(partial.r, p * k + yCol, response + 1, k);
  const rootW = Math.sqrt(partial.sumWeights);
  const meanRow = new Float64Array(m);
  for (let j = 0; j < p; j++) meanRow[j + offset] = rootW * (partial.means[j] as number);
  meanRow[m - 1] = rootW * (partial.means[yCol] as number);
  if (intercept) {
    meanRow[0] = rootW;
    a.set(meanRow, 0);
  } else {
    absorbRows(a, m, meanRow, 1, 1);
  }
  return { a, m };
}

/**
 * Sequential rank detection by Householder QR of `a` (m x m, upper triangular, row-major) WITHOUT
 * pivoting, skipping aliased columns: column j's entries in rows rank..j (rank = columns kept so far)
 * are what is left of it after projection on the kept columns; if their norm is <= tolerance times the
 * column's norm, the column is aliased and left alone, otherwise a reflector moves them into row
 * `rank`. Reflectors are applied to all later columns, the response included. When nothing is aliased
 * every reflector is the identity and is skipped, so `a` is left bit for bit as it was.
 */
function revealRank(
  a: Float64Array,
  m: number,
  numModelColumns: number,
  columnNorms: Float64Array,
  tolerance: number,
): { kept: number[]; aliased: boolean[] } {
  const kept: number[] = [];
  const aliased: boolean[] = [];
  let rank = 0;
  for (let j = 0; j < numModelColumns; j++) {
    const total = columnNorms[j] as number;
    const residual = norm2(a, rank * m + j, j - rank + 1, m);
    if (total === 0 || residual <= tolerance * total) {
      aliased.push(true);
      continue;
    }
    aliased.push(false);
    let sigma = 0;
    for (let i = rank + 1; i <= j; i++) sigma += (a[i * m + j] as number) ** 2;
    if (sigma > 0) {
      const alpha = a[rank * m + j] as number;
      const beta = alpha >= 0 ? -residual : residual;
      const v0 = alpha - beta;
      const scale = 2 / (v0 * v0 + sigma);
      a[rank * m + j] = beta;
      for (let l = j + 1; l < m; l++) {
        let s = v0 * (a[rank * m + l] as number);
        for (let i = rank + 1; i <= j; i++) s += (a[i * m + j] as number) * (a[i * m + l] as number);
        s *= scale;
        a[rank * m + l] = (a[rank * m + l] as number) - s * v0;
        for (let i = rank + 1; i <= j; i++)
          a[i * m + l] = (a[i * m + l] as number) - s * (a[i * m + j] as number);
      }
      for (let i = rank + 1; i <= j; i++) a[i * m + j] = 0;
    }
    kept.push(j);
    rank++;
  }
  return { kept, aliased };
}

/** Inverse of the r x r upper-triangular `t` (row-major), by back-substitution column by column. */
function invertUpper(t: Float64Array, r: number): Float64Array {
  const inv = new Float64Array(r * r);
  for (let c = 0; c < r; c++) {
    inv[c * r + c] = 1 / (t[c * r + c] as number);
    for (let i = c - 1; i >= 0; i--) {
      let s = 0;
      for (let l = i + 1; l <= c; l++) s += (t[i * r + l] as number) * (inv[l * r + c] as number);
      inv[i * r + c] = -s / (t[i * r + i] as number);
    }
  }
  return inv;
}

/**
 * Everything the solve derives from the merged partial before it touches the response: the rank
 * decision, the kept R factor and its inverse, Q^T y. Deterministic in (partial, options), so the
 * refinement round (refine.ts) rebuilds exactly the factorization the first solve used.
 */
export interface Factorization {
  intercept: boolean;
  nObs: number;
  /** Model columns (the intercept included) = coefficients.length. */
  numCoefficients: number;
  /** Kept model columns, in column order. */
  kept: number[];
  aliased: boolean[];
  /** rank x rank R of the kept, scaled columns, row-major, and its inverse. */
  rk: Float64Array;
  rInverse: Float64Array;
  /** Q^T y over the kept rows, in scaled units. */
  z: Float64Array;
  /** Power-of-two column scales of the model columns then y (last). */
  scales: Float64Array;
  /** Column norms after scaling (each in [0.7, 1.5)). */
  columnNorms: Float64Array;
  residualNorm: number;
  explainedNorm: number;
}

/** The rank decision and kept R factor for one response (see Factorization). */
export function factorize(partial: QrPartial, options: SolveOptions = {}): Factorization {
  const intercept = options.intercept ?? true;
  const response = options.response ?? 0;
  const tolerance = options.tolerance ?? DEFAULT_ALIAS_TOLERANCE;
  if (!Number.isInteger(response) || response < 0 || response >= partial.numResponses)
    throw new Error(`solveLeastSquares: no response ${response}`);
  const nObs = options.frequencyWeights ? partial.sumWeights : partial.numPositiveWeight;
  if (partial.sumWeights === 0 || nObs === 0)
    throw new EngineError(
      'NO_VALID_OBSERVATIONS',
      'No observation with a positive weight is left for the model: check rowSelection, missing values and weights.',
      422,
    );

  const { a, m } = uncentredR(partial, response, intercept);
  const numModelColumns = m - 1;
  const yCol = m - 1;

  // Column equilibration by powers of two: exact, so it changes no digit of the solve; it keeps the
  // numbers near 1 (no overflow in squares) and makes the condition number scale-free.
  const columnNorms = new Float64Array(m);
  const scales = new Float64Array(m);
  for (let j = 0; j < m; j++) {
    const norm = norm2(a, j, j + 1, m);
    const s = norm > 0 && Number.isFinite(norm) ? powerOfTwoNear(norm) : 1;
    scales[j] = s;
    columnNorms[j] = norm / s;
    for (let i = 0; i <= j; i++) a[i * m + j] = (a[i * m + j] as number) / s;
  }

  const { kept, aliased } = revealRank(a, m, numModelColumns, columnNorms, tolerance);
  const rank = kept.length;

  // Kept R (upper triangular: kept column c was reduced into rows 0..c) and Q^T y.
  const rk = new Float64Array(rank * rank);
  for (let i = 0; i < rank; i++)
    for (let c = i; c < rank; c++) rk[i * rank + c] = a[i * m + (kept[c] as number)] as number;
  const z = new Float64Array(rank);
  for (let i = 0; i < rank; i++) z[i] = a[i * m + yCol] as number;
  const yScale = scales[yCol] as number;
  const fittedFrom = intercept ? 1 : 0;
  return {
    intercept,
    nObs,
    numCoefficients: numModelColumns,
    kept,
    aliased,
    rk,
    rInverse: invertUpper(rk, rank),
    z,
    scales,
    columnNorms,
    residualNorm: norm2(a, rank * m + yCol, m - rank, m) * yScale,
    explainedNorm: rank > fittedFrom ? norm2(z, fittedFrom, rank - fittedFrom, 1) * yScale : 0,
  };
}

/** Solves R_kept b = z by back-substitution: the kept coefficients, in scaled units. */
export function backSolve(f: Factorization): Float64Array {
  const rank = f.kept.length;
  const { rk, z } = f;
  const out = new Float64Array(rank);
  for (let i = rank - 1; i >= 0; i--) {
    let s = z[i] as number;
    for (let l = i + 1; l < rank; l++) s -= (rk[i * rank + l] as number) * (out[l] as number);
    out[i] = s / (rk[i * rank + i] as number);
  }
  return out;
}

/** The fit from a factorization and kept coefficients in scaled units (`backSolve`'s, or refined ones). */
export function assembleFit(
  f: Factorization,
  estimatesScaled: Float64Array,
  covCoef = false,
): LeastSquaresFit {
  const { kept, scales, rInverse, intercept, nObs, residualNorm, explainedNorm } = f;
  const rank = kept.length;
  const yScale = scales[scales.length - 1] as number;
  const rss = residualNorm * residualNorm;
  const mss = explainedNorm * explainedNorm;
  const tss = mss + rss;
  const dfResidual = nObs - rank;
  const sigma = dfResidual > 0 ? residualNorm / Math.sqrt(dfResidual) : Number.NaN;

  const coefficients: CoefficientFit[] = f.aliased.map((isAliased) => ({
    estimate: Number.NaN,
    stdError: Number.NaN,
    statistic: Number.NaN,
    pValue: Number.NaN,
    aliased: isAliased,
  }));
  for (let c = 0; c < rank; c++) {
    const column = kept[c] as number;
    const columnScale = scales[column] as number;
    const estimate = ((estimatesScaled[c] as number) * yScale) / columnScale;
    // Var(b) = sigma^2 (R^T R)^-1 = sigma^2 R^-1 R^-T: row c of R^-1, in the original column units.
    const stdError = (sigma * norm2(rInverse, c * rank + c, rank - c, 1)) / columnScale;
    const statistic = estimate / stdError;
    coefficients[column] = {
      estimate,
      stdError,
      statistic,
      pValue: tTwoSidedPValue(statistic, dfResidual),
      aliased: false,
    };
  }

  const dfIntercept = intercept ? 1 : 0;
  const rSquared = mss / tss;
  const numDf = rank - dfIntercept;
  const fValue = numDf > 0 && dfResidual > 0 ? mss / numDf / (rss / dfResidual) : Number.NaN;

  const fit: LeastSquaresFit = {
    coefficients,
    rank,
    sigma,
    rSquared,
    adjRSquared: dfResidual > 0 ? 1 - (1 - rSquared) * ((nObs - dfIntercept) / dfResidual) : Number.NaN,
    fStatistic: {
      value: fValue,
      numDf,
      denDf: dfResidual,
      pValue: Number.isNaN(fValue) ? Number.NaN : fUpperPValue(fValue, numDf, dfResidual),
    },
    dfResidual,
    nObs,
    residualSumOfSquares: rss,
    totalSumOfSquares: tss,
    conditionNumber: conditionNumber(f.rk, rInverse, rank, kept, f.columnNorms),
  };
  if (covCoef) fit.covCoef = covariance(rInverse, rank, kept, scales, sigma, f.numCoefficients);
  return fit;
}

/**
 * Solves the least-squares problem a merged QrPartial describes. Throws EngineError
 * NO_VALID_OBSERVATIONS when no row with a positive weight entered the fit.
 */
export function solveLeastSquares(partial: QrPartial, options: SolveOptions = {}): LeastSquaresFit {
  const f = factorize(partial, options);
  return assembleFit(f, backSolve(f), options.covCoef ?? false);
}

/**
 * ||E||_1 ||E^-1||_1 for E = R_kept with unit-norm columns, E^-1 = diag(norms) R_kept^-1. R_kept has
 * the column norms of the kept model columns (Q is orthogonal), so this is the condition number of the
 * column-equilibrated kept model matrix.
 */
function conditionNumber(
  rk: Float64Array,
  rInverse: Float64Array,
  rank: number,
  kept: readonly number[],
  columnNorms: Float64Array,
): number {
  if (rank === 0) return Number.NaN;
  let normE = 0;
  let normInverse = 0;
  for (let c = 0; c < rank; c++) {
    const norm = columnNorms[kept[c] as number] as number;
    let sumE = 0;
    let sumInverse = 0;
    for (let i = 0; i <= c; i++) {
      sumE += Math.abs(rk[i * rank + c] as number);
      sumInverse += (columnNorms[kept[i] as number] as number) * Math.abs(rInverse[i * rank + c] as number);
    }
    normE = Math.max(normE, sumE / norm);
    normInverse = Math.max(normInverse, sumInverse);
  }
  return normE * normInverse;
}

/** sigma^2 (R^T R)^-1 over the kept columns, unscaled, spread into the full coefficient order. */
function covariance(
  rInverse: Float64Array,
  rank: number,
  kept: readonly number[],
  scales: Float64Array,
  sigma: number,
  numCoefficients: number,
): Float64Array {
  const out = new Float64Array(numCoefficients * numCoefficients).fill(Number.NaN);
  const sigma2 = sigma * sigma;
  for (let a = 0; a < rank; a++) {
    for (let b = a; b < rank; b++) {
      // Rows a and b of R^-1 are zero before columns a and b.
      let s = 0;
      for (let l = b; l < rank; l++)
        s += (rInverse[a * rank + l] as number) * (rInverse[b * rank + l] as number);
      const ka = kept[a] as number;
      const kb = kept[b] as number;
      const value = (sigma2 * s) / ((scales[ka] as number) * (scales[kb] as number));
      out[ka * numCoefficients + kb] = value;
      out[kb * numCoefficients + ka] = value;
    }
  }
  return out;
}
