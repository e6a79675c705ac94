import type { VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import type { ModelMatrixPlan } from '../formula/index.ts';
import {
  type LeastSquaresFit,
  type QrPartial,
  type RefinementPartial,
  type RefinementPlan,
  refineLeastSquares,
  refinementPlan,
  type SolveOptions,
} from '../linalg/index.ts';
import { assembleFit, backSolve, type Factorization, factorize } from '../linalg/solve.ts';
import {
  type CoefficientRow,
  LINEAR_MODEL_BODY_VERSION,
  type LinearModelBody,
  MAX_STORED_COVARIANCE,
  type ModelResponseFit,
} from '../models/body.ts';
import { finiteOrNull, Warnings } from '../params.ts';
import { fUpperPValue } from '../stats/distributions.ts';

/**
 * From the merged QR partial of rxLinMod to its result and stored model: one solve per response,
 * the refinement decision, RevoScaleR's Dropped rows, cube statistics, covariances.
 */

export interface LinModSettings {
  frequencyWeights: boolean;
  covCoef: boolean;
  cube: boolean;
  /** QR predictor positions of a factor's indicators to group chunk rows by (linModGroups.ts); null: plain QR. */
  groupColumns: number[] | null;
  /** Training VarInfo of the variables the model reads (for the stored body). */
  variables: VarInfo[];
}

/** One response's block of the result (LinModFitSchema). */
export interface LinModFitBlock {
  response: string;
  coefficients: CoefficientRow[];
  sigma: number | null;
  rSquared: number | null;
  adjRSquared: number | null;
  fStatistic: { value: number | null; numDf: number; denDf: number; pValue: number | null };
  dfResidual: number;
  rank: number;
  conditionNumber: number | null;
  covCoef?: Array<Array<number | null>>;
}

export interface LinModResultWithoutId extends LinModFitBlock {
  nValidObs: number;
  nMissingObs: number;
  sumOfWeights: number | null;
  responses?: LinModFitBlock[];
  countDF?: Array<Record<string, string | number>>;
  warnings: string[];
}

export type FitOutcome =
  | { kind: 'refine'; plans: Array<RefinementPlan | null> }
  | { kind: 'done'; result: LinModResultWithoutId; body: LinearModelBody };

/** Unit roundoff of doubles. */
const EPS = 2 ** -53;

/**
 * Refine when the first-order error bound of a backward-stable least-squares solve (Golub & Van Loan,
 * Matrix Computations, thm 5.3.1), made componentwise, exceeds this relative error:
 *
 *   ||db|| / ||b|| <~ eps (2 kappa + kappa^2 tan(theta)),   tan(theta) = ||r|| / ||X b||,
 *   |db_j| / |b_j| <~ that * ||b|| / |b_j|
 *
 * in the units of the column-equilibrated model matrix (b_j scaled by its column's norm), with kappa
 * the solver's condition number of that matrix (uncentred, so a large mean against a small spread
 * counts against it: the intercept's cancellation) and theta measured on the centred fit (the larger
 * tangent of the two). The componentwise factor matters: a coefficient small next to the others (in
 * scaled units) carries the absolute error of the large ones (NIST Wampler1's x against x^5).
 * 1e-10 leaves a digit of margin over the LRE >= 9 the NIST cases require. The bound is pessimistic,
 * so some refined fits would have been fine; a well-conditioned fit with comparable effects skips the
 * second pass. The test costs nothing: kappa and the norms are by-products of the solve.
 */
export const REFINEMENT_THRESHOLD = 1e-10;

export function needsRefinement(
  f: Factorization,
  fit: LeastSquaresFit,
  estimatesScaled: Float64Array,
): boolean {
  const slopes = fit.rank - (f.intercept ? 1 : 0);
  if (slopes <= 0 || f.residualNorm === 0) return false;
  const kappa = fit.conditionNumber;
  if (!Number.isFinite(kappa)) return !Number.isNaN(kappa);
  const tangent = f.explainedNorm > 0 ? f.residualNorm / f.explainedNorm : Number.POSITIVE_INFINITY;
  // Scaled estimates: backSolve's are per unit of the power-of-two scaled columns; times the scaled
  // column norms (in [0.7, 1.5)) they are the equilibrated coefficients.
  let norm = 0;
  let smallest = Number.POSITIVE_INFINITY;
  f.kept.forEach((column, c) => {
    const value = Math.abs((estimatesScaled[c] as number) * (f.columnNorms[column] as number));
    norm += value * value;
    smallest = Math.min(smallest, value);
  });
  const spread = smallest > 0 ? Math.sqrt(norm) / smallest : Number.POSITIVE_INFINITY;
  return EPS * (2 * kappa + kappa * kappa * tangent) * spread > REFINEMENT_THRESHOLD;
}

function solveOptions(plan: ModelMatrixPlan, settings: LinModSettings, response: number): SolveOptions {
  return {
    intercept: plan.intercept,
    response,
    frequencyWeights: settings.frequencyWeights,
    covCoef: settings.covCoef,
  };
}

/** (X'WX)^-1 over the kept (estimated) coefficients, row-major: sum_l Rinv[a,l] Rinv[b,l], unscaled. */
function unscaledCovariance(f: Factorization): number[] {
  const rank = f.kept.length;
  const out = new Array<number>(rank * rank);
  for (let a = 0; a < rank; a++) {
    for (let b = a; b < rank; b++) {
      let s = 0;
      for (let l = b; l < rank; l++)
        s += (f.rInverse[a * rank + l] as number) * (f.rInverse[b * rank + l] as number);
      const value =
        s / ((f.scales[f.kept[a] as number] as number) * (f.scales[f.kept[b] as number] as number));
      out[a * rank + b] = value;
      out[b * rank + a] = value;
    }
  }
  return out;
}

/** Index of each plan column among the solver's coefficients (-1: dropped reference level). */
function solverIndexes(plan: ModelMatrixPlan): Int32Array {
  const index = new Int32Array(plan.columns.length).fill(-1);
  plan.kept.forEach((column, i) => {
    index[column] = i;
  });
  return index;
}

/**
 * R-squared and F "as if an intercept were included" for a cube fit (no intercept column, but the
 * full cell coding spans it): centred total sum of squares, null model intercept-only. The centred TSS
 * is the squared norm of the response's column in the partial's (centred) R.
 */
function cubeStatistics(qr: QrPartial, response: number, fit: LeastSquaresFit): Partial<LeastSquaresFit> {
  const p = qr.numPredictors;
  const k = p + qr.numResponses;
  const column = p + response;
  let tss = 0;
  for (let i = 0; i <= column; i++) tss += (qr.r[i * k + column] as number) ** 2;
  const rss = fit.residualSumOfSquares;
  const df = fit.dfResidual;
  const rSquared = 1 - rss / tss;
  const numDf = fit.rank - 1;
  const value = numDf > 0 && df > 0 ? (tss - rss) / numDf / (rss / df) : Number.NaN;
  return {
    rSquared,
    adjRSquared: df > 0 ? 1 - ((1 - rSquared) * (fit.nObs - 1)) / df : Number.NaN,
    fStatistic: {
      value,
      numDf,
      denDf: df,
      pValue: Number.isNaN(value) ? Number.NaN : fUpperPValue(value, numDf, df),
    },
  };
}

function block(
  plan: ModelMatrixPlan,
  settings: LinModSettings,
  response: number,
  fit: LeastSquaresFit,
  warnings: Warnings,
): LinModFitBlock {
  const index = solverIndexes(plan);
  const label = plan.responses[response]?.label ?? `y${response + 1}`;
  const coefficients: CoefficientRow[] = plan.columns.map((column, j) => {
    const i = index[j] as number;
    const c = i < 0 ? undefined : fit.coefficients[i];
    if (c === undefined || c.aliased)
      return {
        term: column.label,
        estimate: null,
        stdError: null,
        statistic: null,
        pValue: null,
        aliased: true,
      };
    return {
      term: column.label,
      estimate: finiteOrNull(c.estimate),
      stdError: finiteOrNull(c.stdError),
      statistic: finiteOrNull(c.statistic),
      pValue: finiteOrNull(c.pValue),
      aliased: false,
    };
  });
  const collinear = plan.columns.filter((column, j) => {
    const i = index[j] as number;
    return i >= 0 && fit.coefficients[i]?.aliased === true && !column.dropped;
  });
  if (collinear.length > 0) {
    warnings.add(
      `${label}: ${collinear.length} coefficient${collinear.length === 1 ? '' : 's'} not defined because of singularities (collinear with earlier columns): ${collinear.map((c) => c.label).join(', ')}`,
    );
  }
  if (!(fit.dfResidual > 0)) {
    warnings.add(
      `${label}: no residual degrees of freedom (${fit.nObs} observations for ${fit.rank} coefficients): sigma, standard errors and tests are null`,
    );
  }
  const out: LinModFitBlock = {
    response: label,
    coefficients,
    sigma: finiteOrNull(fit.sigma),
    rSquared: finiteOrNull(fit.rSquared),
    adjRSquared: finiteOrNull(fit.adjRSquared),
    fStatistic: {
      value: finiteOrNull(fit.fStatistic.value),
      numDf: fit.fStatistic.numDf,
      denDf: fit.fStatistic.denDf,
      pValue: finiteOrNull(fit.fStatistic.pValue),
    },
    dfResidual: fit.dfResidual,
    rank: fit.rank,
    conditionNumber: finiteOrNull(fit.conditionNumber),
  };
  if (settings.covCoef && fit.covCoef !== undefined) {
    const cov = fit.covCoef;
    const size = fit.coefficients.length;
    out.covCoef = plan.columns.map((_, a) =>
      plan.columns.map((__, b) => {
        const i = index[a] as number;
        const j = index[b] as number;
        return i < 0 || j < 0 ? null : finiteOrNull(cov[i * size + j] as number);
      }),
    );
  }
  return out;
}

/** Solves every response; asks for a refinement pass first when a single pass may be short of digits. */
export function fitResponses(
  qr: QrPartial,
  plan: ModelMatrixPlan,
  settings: LinModSettings,
  data: {
    rows: number;
    cellCounts: number[] | null;
    refinement: { plans: Array<RefinementPlan | null>; products: Array<RefinementPartial | null> } | null;
  },
): FitOutcome {
  if (qr.numRows === 0 || qr.sumWeights === 0) {
    throw new EngineError(
      'NO_VALID_OBSERVATIONS',
      qr.numRows === 0
        ? `none of the ${data.rows} rows has a value for every variable of the model (and the weight): nothing to fit`
        : `every row used has weight 0: nothing to fit`,
      422,
      { nValidObs: qr.numRows, nMissingObs: data.rows - qr.numRows },
    );
  }
  const q = qr.numResponses;
  const fits: LeastSquaresFit[] = [];
  const factorizations: Factorization[] = [];
  const plans: Array<RefinementPlan | null> = [];
  for (let r = 0; r < q; r++) {
    const options = solveOptions(plan, settings, r);
    const f = factorize(qr, options);
    factorizations.push(f);
    const refinePlan = data.refinement?.plans[r] ?? null;
    const products = data.refinement?.products[r] ?? null;
    if (refinePlan !== null && products !== null) {
      fits.push(refineLeastSquares(qr, refinePlan, products, options));
      continue;
    }
    const estimates = backSolve(f);
    const fit = assembleFit(f, estimates, settings.covCoef);
    fits.push(fit);
    plans.push(
      data.refinement === null && needsRefinement(f, fit, estimates)
        ? refinementPlan(qr, fit, options)
        : null,
    );
  }
  if (data.refinement === null && plans.some((p) => p !== null)) return { kind: 'refine', plans };

  const warnings = new Warnings();
  const blocks = fits.map((fit, r) => {
    const adjusted = settings.cube ? { ...fit, ...cubeStatistics(qr, r, fit) } : fit;
    return block(plan, settings, r, adjusted, warnings);
  });
  const first = blocks[0] as LinModFitBlock;
  const result: LinModResultWithoutId = {
    ...first,
    nValidObs: qr.numRows,
    nMissingObs: data.rows - qr.numRows,
    sumOfWeights: plan.weights === null ? null : qr.sumWeights,
    warnings: [],
  };
  if (q > 1) result.responses = blocks;
  if (settings.cube && data.cellCounts !== null) {
    const term = plan.terms[0];
    if (term !== undefined) {
      result.countDF = data.cellCounts.map((count, c) => ({
        ...(plan.columns[term.firstColumn + c]?.levels ?? {}),
        Counts: count,
      }));
    }
  }
  result.warnings = warnings.list();

  const responses: ModelResponseFit[] = fits.map((fit, r) => {
    const f = factorizations[r] as Factorization;
    const keepCovariance = settings.covCoef || f.kept.length <= MAX_STORED_COVARIANCE;
    return {
      response: (blocks[r] as LinModFitBlock).response,
      coefficients: (blocks[r] as LinModFitBlock).coefficients,
      dispersion: finiteOrNull(fit.sigma * fit.sigma),
      dfResidual: fit.dfResidual,
      covUnscaled: keepCovariance ? unscaledCovariance(f) : null,
    };
  });
  const body: LinearModelBody = {
    version: LINEAR_MODEL_BODY_VERSION,
    family: 'gaussian',
    link: 'identity',
    linkPower: null,
    dispersionFixed: false,
    plan,
    variables: settings.variables,
    responses,
    cube: settings.cube,
    nValidObs: qr.numRows,
    nMissingObs: data.rows - qr.numRows,
  };
  return { kind: 'done', result, body };
}
