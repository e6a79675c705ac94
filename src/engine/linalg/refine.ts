import type { QrChunkInput, QrPartial } from './qrPartial.ts';
import { assembleFit, factorize, type LeastSquaresFit, type SolveOptions } from './solve.ts';

/**
 * Optional second pass: one step of iterative refinement with residuals from the data.
 *
 * Why: a backward-stable QR solve (ours, R's lm, LAPACK) has a forward error of order
 * kappa^2 * eps * ||r|| / ||X b|| when the residual r is large, because the rounding in the
 * factorization acts like a perturbation dX of X and moves b by (X^T X)^-1 dX^T r. NIST's Wampler5 (huge
 * noise, R^2 = 0.002, certified b = 1 with standard errors up to 2e7) is exactly that case: a single
 * pass gives about 6.7 digits. The refinement computes g = X^T W r at the first solution b^ in a data
 * pass, with the products and sums carried in double-double (Ogita, Rump & Oishi's Dot2: TwoProduct
 * by Dekker's splitting, TwoSum), and solves R^T R d = g with the same R: the error of g no longer has
 * the eps |X|^T |r| term, so d, and b^ + d, are good to about kappa * eps relative.
 *
 * Residuals are formed from centred values, r_i = (y_i - m_y) - sum_j (x_ij - m_j) b_j - offset with
 * offset = b_0 + sum_j m_j b_j - m_y computed once in double-double: forming y - b_0 - X b directly
 * would cancel large terms (Longley: b_0 = -3.5e6 against year * 1829) and lose digits in every r_i.
 */

/** What the refinement pass needs, as plain JSON (it travels in the job state). */
export interface RefinementPlan {
  intercept: boolean;
  response: number;
  /** The first solve's estimates, in coefficient order (intercept first when fitted); aliased ones 0. */
  estimates: number[];
  /** Predictor means, then the response mean (from the merged QrPartial). */
  predictorMeans: number[];
  responseMean: number;
  /** b_0 + sum_j m_j b_j - m_y, computed in double-double (b_0 = 0 without an intercept). */
  offset: number;
}

/** Dot2 sums of w r z over the model columns z = [1?, x_1, ..., x_p]: value = high + low. */
export interface RefinementPartial {
  high: Float64Array;
  low: Float64Array;
}

/** Dekker's splitting constant 2^27 + 1: a * SPLIT splits a double into two 26-bit halves. */
const SPLIT = 134_217_729;

export function refinementPlan(
  partial: QrPartial,
  fit: LeastSquaresFit,
  options: SolveOptions = {},
): RefinementPlan {
  const intercept = options.intercept ?? true;
  const response = options.response ?? 0;
  const estimates = fit.coefficients.map((c) => (c.aliased ? 0 : c.estimate));
  const p = partial.numPredictors;
  const predictorMeans = Array.from(partial.means.subarray(0, p));
  const responseMean = partial.means[p + response] as number;
  // offset in double-double: each product m_j b_j exactly (TwoProduct), the sum with TwoSum.
  let high = intercept ? (estimates[0] as number) : 0;
  let low = 0;
  const add = (x: number): void => {
    const t = high + x;
    const bb = t - high;
    low += high - (t - bb) + (x - bb);
    high = t;
  };
  const first = intercept ? 1 : 0;
  for (let j = 0; j < p; j++) {
    const a = predictorMeans[j] as number;
    const b = estimates[j + first] as number;
    const product = a * b;
    const ca = SPLIT * a;
    const ah = ca - (ca - a);
    const al = a - ah;
    const cb = SPLIT * b;
    const bh = cb - (cb - b);
    const bl = b - bh;
    low += al * bl - (product - ah * bh - al * bh - ah * bl);
    add(product);
  }
  add(-responseMean);
  return { intercept, response, estimates, predictorMeans, responseMean, offset: high + low };
}

export function emptyRefinement(numCoefficients: number): RefinementPartial {
  return { high: new Float64Array(numCoefficients), low: new Float64Array(numCoefficients) };
}

/**
 * Adds sum_i values_i * (high_i + low_i) over the rows where high is not 0 into `slot` (all ones
 * when `values` is null): TwoProduct for values * high, the small values * low into the low part.
 */
function dot2Into(
  out: RefinementPartial,
  slot: number,
  values: Float64Array | null,
  weightedHigh: Float64Array,
  weightedLow: Float64Array,
): void {
  let high = out.high[slot] as number;
  let low = out.low[slot] as number;
  const n = weightedHigh.length;
  for (let i = 0; i < n; i++) {
    const b = weightedHigh[i] as number;
    if (b === 0) continue;
    let product = b;
    if (values === null) low += weightedLow[i] as number;
    else {
      const a = values[i] as number;
      product = a * b;
      const ca = SPLIT * a;
      const ah = ca - (ca - a);
      const al = a - ah;
      const cb = SPLIT * b;
      const bh = cb - (cb - b);
      const bl = b - bh;
      low += al * bl - (product - ah * bh - al * bh - ah * bl) + a * (weightedLow[i] as number);
    }
    const t = high + product;
    const bb = t - high;
    low += high - (t - bb) + (product - bb);
    high = t;
  }
  out.high[slot] = high;
  out.low[slot] = low;
}

/**
 * r_i -= (x_i - m) * b for every row, in double-double: x - m exactly by TwoSum, the product of its
 * high part by TwoProduct, its low part times b and all rounding errors into `low`.
 */
function subtractTerm(high: Float64Array, low: Float64Array, x: Float64Array, m: number, b: number): void {
  const cb = SPLIT * b;
  const bh = cb - (cb - b);
  const bl = b - bh;
  const n = high.length;
  for (let i = 0; i < n; i++) {
    const xi = x[i] as number;
    const dh = xi - m;
    const db = dh - xi;
    const dl = xi - (dh - db) + (-m - db);
    const product = dh * b;
    const ca = SPLIT * dh;
    const ah = ca - (ca - dh);
    const al = dh - ah;
    const productError = al * bl - (product - ah * bh - al * bh - ah * bl) + dl * b;
    const r = high[i] as number;
    const t = r - product;
    const tb = t - r;
    low[i] = (low[i] as number) + (r - (t - tb) + (-product - tb)) - productError;
    high[i] = t;
  }
}

/** One chunk's g = Z^T W r at the plan's estimates (the same input the chunk gave `qrPartial`). */
export function residualProducts(input: QrChunkInput, plan: RefinementPlan): RefinementPartial {
  const { predictors, responses, weights, use, numRows } = input;
  const first = plan.intercept ? 1 : 0;
  const out = emptyRefinement(predictors.length + first);
  const y = responses[plan.response];
  if (y === undefined) throw new Error('residualProducts: no such response');
  // r = (y - m_y) - offset - sum_j (x_j - m_j) b_j, each row as high + low: the residuals of
  // Wampler5 are 1e7 while the correction they carry is 1e-9 of that.
  const high = new Float64Array(numRows);
  const low = new Float64Array(numRows);
  const shift = plan.responseMean + plan.offset;
  const shiftBack = shift - plan.responseMean;
  const shiftError = plan.responseMean - (shift - shiftBack) + (plan.offset - shiftBack); // TwoSum
  for (let i = 0; i < numRows; i++) {
    const yi = y[i] as number;
    const t = yi - shift;
    const tb = t - yi;
    high[i] = t;
    low[i] = yi - (t - tb) + (-shift - tb) - shiftError;
  }
  predictors.forEach((x, j) => {
    const b = plan.estimates[j + first] as number;
    if (b !== 0) subtractTerm(high, low, x, plan.predictorMeans[j] as number, b);
  });
  // w r, 0 on the rows that do not enter the fit.
  for (let i = 0; i < numRows; i++) {
    if (use !== null && use[i] === 0) {
      high[i] = 0;
      low[i] = 0;
    } else if (weights !== null) {
      const w = weights[i] as number;
      const r = high[i] as number;
      const product = w * r;
      const cw = SPLIT * w;
      const wh = cw - (cw - w);
      const wl = w - wh;
      const cr = SPLIT * r;
      const rh = cr - (cr - r);
      const rl = r - rh;
      low[i] = wl * rl - (product - wh * rh - wl * rh - wh * rl) + w * (low[i] as number);
      high[i] = product;
    }
  }
  if (plan.intercept) dot2Into(out, 0, null, high, low);
  predictors.forEach((x, j) => {
    dot2Into(out, j + first, x, high, low);
  });
  return out;
}

export function mergeRefinement(a: RefinementPartial, b: RefinementPartial): RefinementPartial {
  const n = a.high.length;
  if (b.high.length !== n) throw new Error('mergeRefinement: partials of different models');
  const out = emptyRefinement(n);
  for (let j = 0; j < n; j++) {
    const x = a.high[j] as number;
    const y = b.high[j] as number;
    const t = x + y;
    const bb = t - x;
    out.high[j] = t;
    out.low[j] = (a.low[j] as number) + (b.low[j] as number) + (x - (t - bb) + (y - bb));
  }
  return out;
}

/**
 * The refined fit: the factorization of the first solve (rebuilt, deterministic), the plan's estimates
 * plus the correction d solving R^T R d = g over the kept columns. Only the estimates and their t and
 * p change; sigma, R-squared and the standard errors come from R as before.
 */
export function refineLeastSquares(
  partial: QrPartial,
  plan: RefinementPlan,
  refinement: RefinementPartial,
  options: SolveOptions = {},
): LeastSquaresFit {
  const f = factorize(partial, { ...options, intercept: plan.intercept, response: plan.response });
  const rank = f.kept.length;
  const yScale = f.scales[f.scales.length - 1] as number;
  // Scaled units: column c of the model matrix divided by scales[c], y by yScale (powers of two: exact).
  const rhs = new Float64Array(rank);
  const estimates = new Float64Array(rank);
  for (let c = 0; c < rank; c++) {
    const column = f.kept[c] as number;
    const scale = f.scales[column] as number;
    rhs[c] = ((refinement.high[column] as number) + (refinement.low[column] as number)) / (scale * yScale);
    estimates[c] = ((plan.estimates[column] as number) * scale) / yScale;
  }
  // R^T u = g (forward), then R d = u (back).
  const { rk } = f;
  for (let i = 0; i < rank; i++) {
    let s = rhs[i] as number;
    for (let l = 0; l < i; l++) s -= (rk[l * rank + i] as number) * (rhs[l] as number);
    rhs[i] = s / (rk[i * rank + i] as number);
  }
  for (let i = rank - 1; i >= 0; i--) {
    let s = rhs[i] as number;
    for (let l = i + 1; l < rank; l++) s -= (rk[i * rank + l] as number) * (rhs[l] as number);
    rhs[i] = s / (rk[i * rank + i] as number);
  }
  for (let c = 0; c < rank; c++) estimates[c] = (estimates[c] as number) + (rhs[c] as number);
  return assembleFit(f, estimates, options.covCoef ?? false);
}
