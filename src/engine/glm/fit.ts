import { EngineError } from '../errors.ts';
import type { QrPartial } from '../linalg/index.ts';
import { backSolve, factorize } from '../linalg/solve.ts';
import type { EtaSource, PassPartial, PassPlan } from './pass.ts';

/**
 * The IRLS driver between passes, R's glm.fit loop cut at its data passes. Pass k evaluates the
 * coefficients beta_k the previous pass solved for (deviance, validity, Pearson statistic) and builds
 * the WLS system at beta_k; `advance` then, exactly as one loop iteration of glm.fit:
 *
 * - the first pass (iteration 0) evaluates the start (R's mustart, or `initialValues`): invalid
 *   values there stop the fit ("cannot find valid starting values");
 * - a non-finite deviance or an eta / mu outside the family's range halves the step towards the
 *   previous coefficients and evaluates again (same iteration; R's inner loops, with its warnings);
 * - convergence: |dev - devold| / (|dev| + 0.1) < objectiveFunctionTolerance (R's test, the
 *   relative deviance change RevoScaleR documents), or max|beta_k - beta_k-1| / max|beta_k| <=
 *   coeffTolerance (RevoScaleR's coefficient test); a 0 tolerance disables its test. The fit then
 *   ends with beta_k, its deviance, and the covariance of the WLS that produced beta_k (R's
 *   summary.glm uses that fit's QR);
 * - otherwise beta_k+1 is solved from this pass's WLS system, up to maxIterations WLS solves.
 *
 * All state is plain JSON (job state between rounds): numbers, arrays of numbers, null for "none".
 */

export interface GlmControl {
  maxIterations: number;
  coeffTolerance: number;
  objectiveFunctionTolerance: number;
  /** Rank tolerance of each WLS solve: R's glm.fit uses min(1e-7, epsilon / 1000). */
  aliasTolerance: number;
}

/** The WLS solution of one pass: coefficients of the kept X columns and their unscaled covariance. */
export interface WlsSolution {
  /** One per X column; null for a column aliased in this solve. */
  estimates: Array<number | null>;
  /** (X'WX)^-1 over the estimated columns (in X order), packed upper triangle, row by row. */
  covUnscaled: number[];
  rank: number;
}

export type MainFit =
  | {
      phase: 'running';
      /** WLS solves so far: the pass being evaluated holds beta_iteration. */
      iteration: number;
      /** Coefficients the next pass evaluates (aliased = 0); null = R's mustart (iteration 0). */
      beta: number[] | null;
      /** The previous iteration's coefficients (step halving goes back towards them); null at the start. */
      coefold: number[] | null;
      devold: number | null;
      /** eta of the WLS that produced `beta` (Pearson weights); null before the first solve. */
      basis: EtaSource | null;
      /** The solve that produced `beta`. */
      solution: WlsSolution | null;
      halvings: number;
      /** A step was halved in this iteration (R's `boundary`). */
      boundary: boolean;
    }
  | { phase: 'done'; summary: MainSummary };

/** The main fit at its end, before dispersion and statistics. */
export interface MainSummary {
  /** The final coefficients (aliased = 0): the solution's, or a halved step from them. */
  beta: number[];
  /** The solve that produced them: which columns are aliased, and the covariance. */
  solution: WlsSolution;
  deviance: number;
  pearson: number;
  /** The family's AIC part (without 2 * rank); null when the family has none or it is not finite. */
  aicFamily: number | null;
  iterations: number;
  converged: boolean;
  boundary: boolean;
  /** Rows with fitted values numerically at the edge (binomial 0/1, poisson 0). */
  boundaryRows: number;
}

export type NullFit =
  | {
      phase: 'running';
      iteration: number;
      /** Intercept of the null model; null = mustart (first pass). */
      b0: number | null;
      coefold: number | null;
      devold: number | null;
      halvings: number;
    }
  | { phase: 'done'; deviance: number; converged: boolean };

/**
 * Coefficients and (X'WX)^-1 of one weighted least-squares system (TSQR partial of [X | z]). The
 * solve works in power-of-two column scales (exact); they are undone here.
 */
export function solveWls(wls: QrPartial, intercept: boolean, tolerance: number): WlsSolution {
  const f = factorize(wls, { intercept, tolerance });
  const scaled = backSolve(f);
  const rank = f.kept.length;
  const yScale = f.scales[f.scales.length - 1] as number;
  const estimates: Array<number | null> = new Array(f.numCoefficients).fill(null);
  for (let c = 0; c < rank; c++) {
    const column = f.kept[c] as number;
    estimates[column] = ((scaled[c] as number) * yScale) / (f.scales[column] as number);
  }
  const covUnscaled: number[] = [];
  for (let a = 0; a < rank; a++) {
    for (let b = a; b < rank; b++) {
      // (R^T R)^-1 = R^-1 R^-T: rows a and b of R^-1 are zero before columns a and b.
      let s = 0;
      for (let l = b; l < rank; l++)
        s += (f.rInverse[a * rank + l] as number) * (f.rInverse[b * rank + l] as number);
      const ca = f.kept[a] as number;
      const cb = f.kept[b] as number;
      covUnscaled.push(s / ((f.scales[ca] as number) * (f.scales[cb] as number)));
    }
  }
  return { estimates, covUnscaled, rank };
}

/** Coefficients as the next pass uses them: aliased ones 0 (R's Cdqrls leaves them 0). */
function betaOf(solution: WlsSolution): number[] {
  return solution.estimates.map((e) => e ?? 0);
}

function maxAbs(values: readonly number[]): number {
  let m = 0;
  for (const v of values) m = Math.max(m, Math.abs(v));
  return m;
}

/** RevoScaleR's relative coefficient change, max|new - old| / max|new|. */
function relativeChange(beta: readonly number[], old: readonly number[]): number {
  let change = 0;
  for (let j = 0; j < beta.length; j++)
    change = Math.max(change, Math.abs((beta[j] as number) - (old[j] as number)));
  return change / maxAbs(beta);
}

function relativeDevianceChange(deviance: number, devold: number): number {
  return Math.abs(deviance - devold) / (Math.abs(deviance) + 0.1);
}

function noValidStart(): EngineError {
  return new EngineError(
    'NO_VALID_START',
    'cannot find valid starting values: please specify some (initialValues), or check the response against the family and link',
    422,
  );
}

/** A valid pass whose WLS has rows without a usable working weight: R's glm.fit stops ("0s in V(mu)"). */
function checkWorkingWeights(partial: PassPartial): void {
  if (partial.unusableWeightRows === 0) return;
  throw new EngineError(
    'GLM_INVALID_WEIGHTS',
    `${partial.unusableWeightRows} row(s) have a working weight that is 0 or not finite (the variance function is 0 at their fitted value): no weighted least-squares step is possible; check the family and link for this response`,
    422,
    { rows: partial.unusableWeightRows },
  );
}

function noValidCoefficients(): EngineError {
  return new EngineError(
    'NO_VALID_COEFFICIENTS',
    'no valid set of coefficients has been found: please supply starting values (initialValues)',
    422,
  );
}

/** Advances the main fit by one pass (see the file comment). Warnings are appended to `warnings`. */
export function advanceMain(
  fit: MainFit & { phase: 'running' },
  partial: PassPartial,
  intercept: boolean,
  control: GlmControl,
  warnings: string[],
): MainFit {
  const deviance = partial.deviance;
  const invalid = partial.invalidRows > 0;
  const wls = partial.wls;
  if (wls === null) throw new Error('glm: a pass of the running fit came back without its WLS system');

  if (fit.iteration === 0) {
    if (invalid || !Number.isFinite(deviance)) throw noValidStart();
    checkWorkingWeights(partial);
    const solution = solveWls(wls, intercept, control.aliasTolerance);
    return {
      phase: 'running',
      iteration: 1,
      beta: betaOf(solution),
      coefold: fit.beta,
      devold: deviance,
      basis: fit.beta === null ? { kind: 'mustart' } : { kind: 'coefficients', beta: fit.beta },
      solution,
      halvings: 0,
      boundary: false,
    };
  }

  const beta = fit.beta as number[];
  if (!Number.isFinite(deviance) || invalid) {
    if (fit.coefold === null) throw noValidCoefficients();
    const divergence = !Number.isFinite(deviance);
    warnings.push(
      divergence ? 'step size truncated due to divergence' : 'step size truncated: out of bounds',
    );
    if (fit.halvings + 1 > control.maxIterations) {
      throw new EngineError(
        'GLM_STEP_HALVING_FAILED',
        `${divergence ? 'inner loop 1' : 'inner loop 2'}; cannot correct step size: the fit keeps leaving the valid range of the family; supply initialValues or use another link`,
        422,
      );
    }
    const coefold = fit.coefold;
    return {
      ...fit,
      beta: beta.map((b, j) => (b + (coefold[j] as number)) / 2),
      halvings: fit.halvings + 1,
      boundary: true,
    };
  }

  const devold = fit.devold as number;
  const devianceConverged =
    control.objectiveFunctionTolerance > 0 &&
    relativeDevianceChange(deviance, devold) < control.objectiveFunctionTolerance;
  const coefficientsConverged =
    control.coeffTolerance > 0 &&
    fit.coefold !== null &&
    maxAbs(beta) > 0 &&
    relativeChange(beta, fit.coefold) <= control.coeffTolerance;
  const converged = devianceConverged || coefficientsConverged;
  if (converged || fit.iteration >= control.maxIterations) {
    return {
      phase: 'done',
      summary: {
        beta,
        solution: fit.solution as WlsSolution,
        deviance,
        pearson: partial.pearson,
        aicFamily: null, // filled by the caller, which knows the family
        iterations: fit.iteration,
        converged,
        boundary: fit.boundary,
        boundaryRows: partial.boundaryRows,
      },
    };
  }
  checkWorkingWeights(partial);
  const solution = solveWls(wls, intercept, control.aliasTolerance);
  return {
    phase: 'running',
    iteration: fit.iteration + 1,
    beta: betaOf(solution),
    coefold: beta,
    devold: deviance,
    basis: { kind: 'coefficients', beta },
    solution,
    halvings: 0,
    boundary: false,
  };
}

/** Advances the intercept-only fit of the null deviance (with an offset) by one pass. */
export function advanceNull(
  fit: NullFit & { phase: 'running' },
  partial: NonNullable<PassPartial['nullFit']>,
  control: GlmControl,
  warnings: string[],
): NullFit {
  const { deviance, sumW, sumWZ } = partial;
  const invalid = partial.invalidRows > 0;
  const nextB0 = (): number => {
    if (!(sumW > 0))
      throw new EngineError(
        'NO_VALID_OBSERVATIONS',
        'no observation is informative for the null model (all working weights are 0)',
        422,
      );
    return sumWZ / sumW;
  };
  if (fit.iteration === 0) {
    if (invalid || !Number.isFinite(deviance)) throw noValidStart();
    return { phase: 'running', iteration: 1, b0: nextB0(), coefold: null, devold: deviance, halvings: 0 };
  }
  const b0 = fit.b0 as number;
  if (!Number.isFinite(deviance) || invalid) {
    if (fit.coefold === null) throw noValidCoefficients();
    if (fit.halvings + 1 > control.maxIterations)
      throw new EngineError(
        'GLM_STEP_HALVING_FAILED',
        'the null-deviance fit cannot correct its step size',
        422,
      );
    return { ...fit, b0: (b0 + fit.coefold) / 2, halvings: fit.halvings + 1 };
  }
  const tolerance = control.objectiveFunctionTolerance;
  if (tolerance > 0 && relativeDevianceChange(deviance, fit.devold as number) < tolerance)
    return { phase: 'done', deviance, converged: true };
  if (fit.iteration >= control.maxIterations) {
    warnings.push("fitting to calculate the null deviance did not converge -- increase 'maxit'?");
    return { phase: 'done', deviance, converged: false };
  }
  return {
    phase: 'running',
    iteration: fit.iteration + 1,
    b0: nextB0(),
    coefold: b0,
    devold: deviance,
    halvings: 0,
  };
}

/** What the next pass computes, from where the fits stand. */
export function nextPassPlan(
  main: MainFit,
  nullFit: NullFit | null,
  nullMu: PassPlan['nullMu'],
  checkResponses: boolean,
): PassPlan {
  const running = main.phase === 'running';
  return {
    main: running
      ? main.beta === null
        ? { kind: 'mustart' }
        : { kind: 'coefficients', beta: main.beta }
      : null,
    pearsonBasis: running && main.iteration > 0 ? main.basis : null,
    buildWls: running,
    nullMu,
    nullFit:
      nullFit === null || nullFit.phase === 'done'
        ? null
        : nullFit.b0 === null
          ? { kind: 'mustart' }
          : { kind: 'intercept', b0: nullFit.b0 },
    checkResponses,
  };
}
