import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarType } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import {
  fillModelMatrix,
  type ModelMatrixPlan,
  modelMatrixColumnsUsed,
  parseFormula,
  planModelMatrix,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { checkParams, finiteOrNull, planWeights, Warnings, type WeightPlan } from '../params.ts';

/**
 * rxCovCor / rxCov / rxCor / rxSSCP over `~ x1 + log(x2) + x3:x4` (RevoScaleR's example): the columns
 * are those of the formula's data matrix (formula/modelMatrix.ts, no intercept): numeric, integer or
 * logical variables, `N(f)`, in-line expressions, products for numeric:numeric terms, and for a factor
 * or `F(x)` one 0/1 column per level (`g=a`, `F_x=3`; every level, as there is no intercept; [inferred]
 * RevoScaleR computes on the same data matrix: its DroppedVars are "data columns"). Rows with a missing
 * value (or NaN) in any variable or the weight are dropped (listwise).
 *
 * Per chunk: the exact two-pass co-moments on the in-memory rows (means, then the centred
 * cross-product matrix C = sum w (x - m)(x - m)^T, with the corrected two-pass refinement); across chunks:
 * the multivariate Chan et al. update on (W, mean, C). Raw sums of products are never accumulated.
 *
 * - `Cov` = C / (W - 1); `Cor` = C_jk / sqrt(C_jj C_kk), with an exact 1 on the diagonal;
 * - `SSCP` is augmented as RevoScaleR's: a leading row/column labelled `Constant` holding W (n, or the
 *   sum of weights) and the column sums sum(w x); the rest is X'WX = C + W m m^T. `variables` then starts
 *   with `Constant`.
 * Weights: W = sum of weights for both kinds, so Cov = C / (W - 1) as in summary (RevoScaleR's print).
 * `varTol`: a variable whose variance is <= varTol is reported (keepAll: true, its correlations are null)
 * or dropped (keepAll: false). With keepAll: false, a variable that is a linear combination of earlier
 * kept ones (residual variance fraction <= 1e-9 after sweeping them, in formula order) is dropped too.
 * `means` and `stdDevs` are given for every type (RevoScaleR leaves StdDevs empty for SSCP).
 */

export const CovCorParamsSchema = Type.Object(
  {
    formula: Type.String({
      minLength: 1,
      description:
        '`~ x1 + log(x2) + x3:x4` (numeric, integer or logical variables; factors and F(x) as one 0/1 column per level).',
    }),
    type: Type.Optional(
      Type.String({
        pattern: '^([Cc][Oo][Vv]|[Cc][Oo][Rr]|[Ss][Ss][Cc][Pp])$',
        default: 'Cov',
        description: 'Cov, Cor or SSCP (any case).',
      }),
    ),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
    keepAll: Type.Optional(
      Type.Boolean({ default: true, description: 'false: drop near-constant and collinear variables.' }),
    ),
    varTol: Type.Optional(
      Type.Number({
        minimum: 0,
        default: 1e-12,
        description: 'Variances at or below this are treated as zero.',
      }),
    ),
    blocksPerRead: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Accepted for RevoScaleR compatibility.' }),
    ),
    reportProgress: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3, description: 'Accepted; progress is on the job.' }),
    ),
  },
  { additionalProperties: false },
);
export type CovCorParams = Static<typeof CovCorParamsSchema>;

export const COVCOR_TYPES = ['Cov', 'Cor', 'SSCP'] as const;
export type CovCorType = (typeof COVCOR_TYPES)[number];

/** Label of SSCP's augmented first row/column. */
export const SSCP_CONSTANT = 'Constant';

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);
export const CovCorResultSchema = Type.Object({
  type: Type.Enum(COVCOR_TYPES),
  /** Row/column labels of `matrix` (SSCP: `Constant` first). */
  variables: Type.Array(Type.String()),
  matrix: Type.Array(Type.Array(NullableNumber)),
  /** Per variable (without `Constant`). */
  means: Type.Array(NullableNumber),
  stdDevs: Type.Array(NullableNumber),
  nValidObs: Type.Number(),
  nMissingObs: Type.Number(),
  /** Null when unweighted. */
  sumOfWeights: NullableNumber,
  droppedVariables: Type.Array(Type.String()),
  warnings: Type.Array(Type.String()),
});
export type CovCorResult = Static<typeof CovCorResultSchema>;

/** Residual variance fraction at or below which keepAll: false treats a variable as collinear. */
const COLLINEAR_TOLERANCE = 1e-9;
const COVCOR_VARIABLE_TYPES: readonly VarType[] = ['numeric', 'integer', 'logical'];
/** Most columns of the data matrix: partials hold p x p doubles. */
export const MAX_COVCOR_COLUMNS = 2_000;

export interface CovCorState {
  type: CovCorType;
  /** Labels of the data matrix's columns. */
  variables: string[];
  matrix: ModelMatrixPlan;
  weights: WeightPlan | null;
  keepAll: boolean;
  varTol: number;
}

export interface CovCorPartial {
  rows: number;
  /** Complete rows (listwise). */
  validObs: number;
  /** Sum of weights of the complete rows. */
  weight: number;
  /** sum(w x) per variable, accumulated directly. */
  sum: Float64Array;
  mean: Float64Array;
  /** p x p centred cross-products, row-major, symmetric. */
  comoments: Float64Array;
}

function normaliseType(type: string | undefined): CovCorType {
  const lower = (type ?? 'Cov').toLowerCase();
  return lower === 'cor' ? 'Cor' : lower === 'sscp' ? 'SSCP' : 'Cov';
}

function init(params: CovCorParams, meta: DatasetMeta): CovCorState {
  checkParams(CovCorParamsSchema, params, 'covCor');
  const weights = planWeights(params, meta);
  const parsed = parseFormula(params.formula, meta.variables);
  const response = parsed.response?.[0];
  if (response !== undefined) {
    throw formulaError(
      `this analysis takes no response: write '~ ${response.label} + ...'`,
      response.column,
      params.formula,
    );
  }
  if (parsed.terms.length === 0) throw formulaError('the formula has no terms', 1, params.formula);
  // Dates and timestamps are numbers only by convention (days, ms): RevoScaleR's covCor takes numbers.
  for (const term of parsed.terms) {
    for (const factor of term.factors) {
      if (factor.kind !== 'variable') continue;
      const type = meta.variables.find((v) => v.name === factor.name)?.type;
      if (type === 'factor' || (type !== undefined && COVCOR_VARIABLE_TYPES.includes(type))) continue;
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `variable '${factor.name}' at column ${factor.column} is ${type}; covCor takes numeric, integer, logical or factor variables`,
        422,
        { variable: factor.name, type, column: factor.column },
      );
    }
  }
  const matrix = planModelMatrix(parsed, meta.variables, {
    intercept: false,
    factorCoding: 'full',
    weights,
    maxColumns: MAX_COVCOR_COLUMNS,
  });
  return {
    type: normaliseType(params.type),
    variables: matrix.kept.map((j) => matrix.columns[j]?.label ?? ''),
    matrix,
    weights,
    keepAll: params.keepAll ?? true,
    varTol: params.varTol ?? 1e-12,
  };
}

function columnsUsed(state: CovCorState): string[] {
  return modelMatrixColumnsUsed(state.matrix);
}

function emptyPartial(p: number, rows: number): CovCorPartial {
  return {
    rows,
    validObs: 0,
    weight: 0,
    sum: new Float64Array(p),
    mean: new Float64Array(p),
    comoments: new Float64Array(p * p),
  };
}

/**
 * Dot product of the first n entries, with four accumulators: one chain of dependent additions would
 * leave the adder idle 3 cycles in 4. The order is fixed, so the result is deterministic.
 */
function dot(a: Float64Array, b: Float64Array, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let r = 0;
  for (; r + 4 <= n; r += 4) {
    s0 += (a[r] as number) * (b[r] as number);
    s1 += (a[r + 1] as number) * (b[r + 1] as number);
    s2 += (a[r + 2] as number) * (b[r + 2] as number);
    s3 += (a[r + 3] as number) * (b[r + 3] as number);
  }
  for (; r < n; r++) s0 += (a[r] as number) * (b[r] as number);
  return s0 + s1 + (s2 + s3);
}

/** Rows per block of the cross-product loop: p centred columns of this many rows stay in L1/L2. */
const BLOCK_ROWS = 512;

/** Grow-only buffer for the chunk's data matrix: a fresh multi-MB array per chunk costs page faults. */
let matrixScratch = new Float64Array(0);

function map(chunk: Chunk, state: CovCorState): CovCorPartial {
  const p = state.variables.length;
  const needed = chunk.table.numRows * p;
  if (matrixScratch.length < needed) {
    matrixScratch = new Float64Array(Math.max(needed, matrixScratch.length * 2));
  }
  // The complete rows only (listwise), packed: column j is x.subarray(j * n, (j + 1) * n).
  const matrix = fillModelMatrix(state.matrix, chunk.table, matrixScratch);
  const n = matrix.n;
  const out = emptyPartial(p, chunk.table.numRows);
  out.validObs = n;
  if (n === 0) return out;
  const x = Array.from({ length: p }, (_, j) => matrix.x.subarray(j * n, (j + 1) * n));
  const w = matrix.weights;

  // Pass 1: sums and first means.
  let weight = 0;
  if (w === null) weight = n;
  else for (let i = 0; i < n; i++) weight += w[i] as number;
  out.weight = weight;
  if (weight === 0) return out;
  const firstMean = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    const xj = x[j] as Float64Array;
    let s = 0;
    if (w === null) for (let i = 0; i < n; i++) s += xj[i] as number;
    else for (let i = 0; i < n; i++) s += (w[i] as number) * (xj[i] as number);
    out.sum[j] = s;
    firstMean[j] = s / weight;
  }

  // Pass 2, block by block: centre a block of rows into scratch (d, and w d when weighted), then every
  // cross-product from cache. The deviation sums feed the corrected two-pass refinement.
  const centred = Array.from({ length: p }, () => new Float64Array(BLOCK_ROWS));
  const weighted = w === null ? centred : Array.from({ length: p }, () => new Float64Array(BLOCK_ROWS));
  const deviation = new Float64Array(p);
  const products = new Float64Array(p * p);
  for (let from = 0; from < n; from += BLOCK_ROWS) {
    const rows = Math.min(BLOCK_ROWS, n - from);
    for (let j = 0; j < p; j++) {
      const xj = x[j] as Float64Array;
      const dj = centred[j] as Float64Array;
      const m = firstMean[j] as number;
      for (let r = 0; r < rows; r++) dj[r] = (xj[from + r] as number) - m;
      const wdj = weighted[j] as Float64Array;
      if (w !== null) for (let r = 0; r < rows; r++) wdj[r] = (w[from + r] as number) * (dj[r] as number);
      let s = 0;
      for (let r = 0; r < rows; r++) s += wdj[r] as number;
      deviation[j] = (deviation[j] as number) + s;
    }
    for (let j = 0; j < p; j++) {
      const wdj = weighted[j] as Float64Array;
      for (let k = j; k < p; k++) {
        products[j * p + k] = (products[j * p + k] as number) + dot(wdj, centred[k] as Float64Array, rows);
      }
    }
  }
  for (let j = 0; j < p; j++) {
    for (let k = j; k < p; k++) {
      const c =
        (products[j * p + k] as number) - ((deviation[j] as number) * (deviation[k] as number)) / weight;
      out.comoments[j * p + k] = c;
      out.comoments[k * p + j] = c;
    }
    out.mean[j] = (firstMean[j] as number) + (deviation[j] as number) / weight;
  }
  return out;
}

/** Multivariate Chan et al.: C = Ca + Cb + delta delta^T Wa Wb / W, delta = mean_b - mean_a. */
function merge(a: CovCorPartial, b: CovCorPartial): CovCorPartial {
  const p = a.mean.length;
  const out = emptyPartial(p, a.rows + b.rows);
  out.validObs = a.validObs + b.validObs;
  for (let j = 0; j < p; j++) out.sum[j] = (a.sum[j] as number) + (b.sum[j] as number);
  if (b.weight === 0 || a.weight === 0) {
    const from = b.weight === 0 ? a : b;
    out.weight = from.weight;
    out.mean.set(from.mean);
    out.comoments.set(from.comoments);
    return out;
  }
  const weight = a.weight + b.weight;
  const factor = (a.weight * b.weight) / weight;
  const delta = new Float64Array(p);
  for (let j = 0; j < p; j++) {
    delta[j] = (b.mean[j] as number) - (a.mean[j] as number);
    out.mean[j] = (a.mean[j] as number) + (delta[j] as number) * (b.weight / weight);
  }
  for (let j = 0; j < p; j++) {
    for (let k = 0; k < p; k++) {
      const at = j * p + k;
      out.comoments[at] =
        (a.comoments[at] as number) +
        (b.comoments[at] as number) +
        (delta[j] as number) * (delta[k] as number) * factor;
    }
  }
  out.weight = weight;
  return out;
}

/**
 * Indexes (into the variables) kept with keepAll: false: positive variance above varTol and not a
 * linear combination of earlier kept ones. An incremental Cholesky of the correlation matrix in formula
 * order: the squared new diagonal is the variable's variance fraction left after regressing it on
 * the kept ones.
 */
function keptIndexes(c: Float64Array, p: number, variance: Float64Array, varTol: number): number[] {
  const kept: number[] = [];
  const rows: Float64Array[] = []; // rows of the Cholesky factor L, in kept order
  for (let j = 0; j < p; j++) {
    if (!((variance[j] as number) > varTol)) continue;
    const corr = (k: number) =>
      (c[j * p + k] as number) / Math.sqrt((c[j * p + j] as number) * (c[k * p + k] as number));
    const y = new Float64Array(kept.length);
    let explained = 0;
    for (let r = 0; r < kept.length; r++) {
      const row = rows[r] as Float64Array;
      let s = corr(kept[r] as number);
      for (let t = 0; t < r; t++) s -= (row[t] as number) * (y[t] as number);
      y[r] = s / (row[r] as number);
      explained += (y[r] as number) * (y[r] as number);
    }
    const residual = 1 - explained;
    if (!(residual > COLLINEAR_TOLERANCE)) continue;
    const row = new Float64Array(kept.length + 1);
    row.set(y);
    row[kept.length] = Math.sqrt(residual);
    rows.push(row);
    kept.push(j);
  }
  return kept;
}

function finalize(partial: CovCorPartial, state: CovCorState): { done: true; result: CovCorResult } {
  const warnings = new Warnings();
  const p = state.variables.length;
  const { weight, comoments: c } = partial;
  const variance = new Float64Array(p);
  for (let j = 0; j < p; j++)
    variance[j] = weight > 1 ? Math.max(0, c[j * p + j] as number) / (weight - 1) : Number.NaN;

  let kept = Array.from({ length: p }, (_, j) => j);
  if (!state.keepAll) kept = keptIndexes(c, p, variance, state.varTol);
  const keptSet = new Set(kept);
  const droppedVariables = state.variables.filter((_, j) => !keptSet.has(j));
  if (droppedVariables.length > 0) {
    warnings.add(
      `dropped (near-zero variance or a linear combination of earlier variables): ${droppedVariables.join(', ')}`,
    );
  }
  if (partial.validObs === 0) warnings.add('no complete observations: every statistic is null');
  else if (weight <= 1 && state.type !== 'SSCP') {
    warnings.add(
      `${state.type === 'Cov' ? 'covariances and ' : ''}standard deviations are undefined with ${state.weights === null ? 'fewer than 2 observations' : 'a sum of weights of 1 or less'}`,
    );
  }
  const nameOf = (j: number) => state.variables[j] as string;
  const value = (x: number, reason: () => string): number | null => {
    const v = finiteOrNull(x);
    if (v === null && partial.validObs > 0) warnings.add(reason());
    return v;
  };
  const flat = (j: number, k: number) => c[j * p + k] as number;

  const flatVariance = new Set<number>();
  if (state.keepAll) {
    for (const j of kept) if (!((variance[j] as number) > state.varTol) && weight > 1) flatVariance.add(j);
    for (const j of flatVariance) {
      warnings.add(
        state.type === 'Cor'
          ? `variable '${nameOf(j)}' has (near-)zero variance (<= varTol); its correlations are null`
          : `variable '${nameOf(j)}' has (near-)zero variance (<= varTol)`,
      );
    }
  }

  let matrix: Array<Array<number | null>>;
  let variables = kept.map(nameOf);
  if (state.type === 'Cov') {
    matrix = kept.map((j) =>
      kept.map((k) =>
        value(weight > 1 ? flat(j, k) / (weight - 1) : Number.NaN, () => 'some covariances are not finite'),
      ),
    );
  } else if (state.type === 'Cor') {
    matrix = kept.map((j) =>
      kept.map((k) => {
        if (flatVariance.has(j) || flatVariance.has(k)) return null;
        if (j === k) return (flat(j, j) as number) > 0 ? 1 : null;
        const r = flat(j, k) / Math.sqrt(flat(j, j) * flat(k, k));
        // Rounding can push |r| a hair past 1 for (nearly) collinear variables.
        return value(Math.max(-1, Math.min(1, r)), () => 'some correlations are not finite (zero variance)');
      }),
    );
  } else {
    // X'WX = C + W m m^T, augmented with the leading (W, sums) row/column; computed on the upper
    // triangle and mirrored so the matrix is exactly symmetric.
    const size = kept.length + 1;
    const raw = Array.from({ length: size }, () => new Float64Array(size));
    const row0 = raw[0] as Float64Array;
    row0[0] = weight;
    kept.forEach((j, a) => {
      row0[a + 1] = partial.sum[j] as number;
      (raw[a + 1] as Float64Array)[0] = partial.sum[j] as number;
      for (let b = a; b < kept.length; b++) {
        const k = kept[b] as number;
        const x = flat(j, k) + weight * (partial.mean[j] as number) * (partial.mean[k] as number);
        (raw[a + 1] as Float64Array)[b + 1] = x;
        (raw[b + 1] as Float64Array)[a + 1] = x;
      }
    });
    matrix = raw.map((r) => Array.from(r, (x) => value(x, () => 'some cross-products are not finite')));
    variables = [SSCP_CONSTANT, ...variables];
  }

  return {
    done: true,
    result: {
      type: state.type,
      variables,
      matrix,
      means: kept.map((j) =>
        weight > 0 ? value(partial.mean[j] as number, () => `mean of '${nameOf(j)}' is not finite`) : null,
      ),
      stdDevs: kept.map((j) =>
        weight > 1
          ? value(Math.sqrt(variance[j] as number), () => `stdDev of '${nameOf(j)}' is not finite`)
          : null,
      ),
      nValidObs: partial.validObs,
      nMissingObs: partial.rows - partial.validObs,
      sumOfWeights: state.weights === null ? null : weight,
      droppedVariables,
      warnings: warnings.list(),
    },
  };
}

export const covCor = {
  name: 'covCor',
  paramsSchema: CovCorParamsSchema,
  resultSchema: CovCorResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<CovCorParams, CovCorState, CovCorPartial, CovCorResult>;
