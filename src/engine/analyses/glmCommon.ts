import { type TSchema, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext, FinalizeOutcome } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import {
  type ModelMatrixPlan,
  type ModelResponse,
  modelMatrixColumnsUsed,
  parseFormula,
  planModelMatrix,
  planSource,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { type FamilySpec, finishAic, makeFamily } from '../glm/families.ts';
import {
  advanceMain,
  advanceNull,
  type GlmControl,
  type MainFit,
  type MainSummary,
  type NullFit,
  nextPassPlan,
} from '../glm/fit.ts';
import {
  mapPass,
  mergePassPartials,
  type PassPartial,
  type PassPlan,
  type ResponseLayout,
} from '../glm/pass.ts';
import {
  type CoefficientRow,
  CoefficientRowSchema,
  LINEAR_MODEL_BODY_VERSION,
  type LinearModelBody,
  type LinkName,
  MAX_STORED_COVARIANCE,
  trainingVariables,
} from '../models/body.ts';
import { checkParams, finiteOrNull, planWeights } from '../params.ts';
import { tTwoSidedPValue } from '../stats/distributions.ts';
import { normalTwoSidedPValue } from '../stats/quantiles.ts';
import { planGroups } from './linModGroups.ts';

/**
 * rxLogit and rxGlm: one analysis shape for both (logit is glm with the binomial family and logit
 * link). IRLS with one pass over the data per iteration (glm/pass.ts), R's glm.fit between passes
 * (glm/fit.ts), R's summary.glm for the statistics. See glm/ for the numerics.
 *
 * Round structure: pass 0 evaluates the start (mustart or initialValues) and builds the first WLS
 * system; pass k evaluates beta_k (deviance, Pearson, AIC) and builds the next. The null deviance is
 * computed in pass 1 (R's: at the weighted mean of y, or at linkinv(offset) without an intercept);
 * with an offset AND an intercept, R fits an intercept-only model with the offset, and so does this:
 * its IRLS runs alongside in the same passes (a few extra cheap passes when it converges later).
 */

/** Most model-matrix columns: the state carries the last WLS solve's covariance (p^2 / 2 numbers). */
export const MAX_GLM_COLUMNS = 1000;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

/** Parameters rxLogit and rxGlm share (RevoScaleR's names and defaults). */
export const glmSharedParams = {
  formula: Type.String({
    minLength: 1,
    description:
      '`y ~ x + g + x:g + F(age)`. Binomial responses: 0/1 numbers (or proportions with weights), logical, a 2-level factor (first level = 0), or `cbind(successes, failures)`.',
  }),
  pweights: Type.Optional(
    Type.String({ minLength: 1, description: "Probability-weight variable (R's glm `weights`)." }),
  ),
  fweights: Type.Optional(
    Type.String({ minLength: 1, description: 'Frequency-weight variable (rows count as replicated).' }),
  ),
  offset: Type.Optional(
    Type.String({
      minLength: 1,
      description: 'Variable (or in-line expression) added to the linear predictor with coefficient 1.',
    }),
  ),
  initialValues: Type.Optional(
    Type.Union([Type.Null(), Type.Number(), Type.Array(Type.Number())], {
      description:
        "Starting coefficients: null (default: the family's mustart, as R's glm), one number for all, or one per coefficient (every column, dropped reference levels included, or the estimable ones only).",
    }),
  ),
  maxIterations: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 25,
      description: 'Most IRLS iterations (data passes).',
    }),
  ),
  coeffTolerance: Type.Optional(
    Type.Number({
      minimum: 0,
      default: 1e-6,
      description: 'Converged when max|change in coefficients| / max|coefficient| <= this (0: test off).',
    }),
  ),
  objectiveFunctionTolerance: Type.Optional(
    Type.Number({
      minimum: 0,
      default: 1e-8,
      description: 'Converged when |change in deviance| / (|deviance| + 0.1) < this (0: test off).',
    }),
  ),
  gradientTolerance: Type.Optional(
    Type.Number({ minimum: 0, description: 'Deprecated in RevoScaleR; accepted and ignored.' }),
  ),
  dropFirst: Type.Optional(
    Type.Boolean({ default: false, description: 'Drop the first level of each factor instead of the last.' }),
  ),
  coefLabelStyle: Type.Optional(
    Type.Union([Type.Literal('Revo'), Type.Literal('R')], {
      default: 'Revo',
      description: '"Revo": `g=a`, `x for g=a`; "R": `ga`, `ga:x`.',
    }),
  ),
  cube: Type.Optional(
    Type.Boolean({
      default: false,
      description: 'First term categorical: no intercept, one coefficient per cell.',
    }),
  ),
  covCoef: Type.Optional(
    Type.Boolean({ default: false, description: 'Return the covariance matrix of the coefficients.' }),
  ),
  blocksPerRead: Type.Optional(
    Type.Integer({ minimum: 1, description: 'Accepted for RevoScaleR compatibility.' }),
  ),
  reportProgress: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 3, description: 'Accepted; progress is on the job.' }),
  ),
};

/** The shared parameters as a value (each analysis's schema adds its own, e.g. glm's family). */
export interface GlmSharedParams {
  formula: string;
  pweights?: string;
  fweights?: string;
  offset?: string;
  initialValues?: number | number[] | null;
  maxIterations?: number;
  coeffTolerance?: number;
  objectiveFunctionTolerance?: number;
  gradientTolerance?: number;
  dropFirst?: boolean;
  coefLabelStyle?: 'Revo' | 'R';
  cube?: boolean;
  covCoef?: boolean;
  blocksPerRead?: number;
  reportProgress?: number;
}

export const GlmResultSchema = Type.Object({
  family: Type.String({ description: "R's family name (binomial for logit)" }),
  link: Type.String({ description: "R's link name (`mu^0.5` style for a tweedie power link)" }),
  coefficients: Type.Array(CoefficientRowSchema, {
    description: 'statistic is z for binomial and poisson (dispersion 1), t otherwise',
  }),
  deviance: NullableNumber,
  nullDeviance: NullableNumber,
  aic: Type.Union([Type.Number(), Type.Null()], {
    description: "R's AIC (family$aic + 2 rank); null for quasi families and tweedie",
  }),
  dispersion: Type.Union([Type.Number(), Type.Null()], {
    description: '1 for binomial and poisson; Pearson chi-square / dfResidual otherwise',
  }),
  dfNull: Type.Number(),
  dfResidual: Type.Number(),
  iterations: Type.Integer({ description: 'IRLS iterations (R: Number of Fisher Scoring iterations)' }),
  converged: Type.Boolean(),
  nValidObs: Type.Integer({ description: 'Rows used in the fit' }),
  nMissingObs: Type.Integer({ description: 'Rows dropped for a missing value' }),
  rank: Type.Integer({ description: 'Estimated (non-aliased) coefficients' }),
  covCoef: Type.Optional(
    Type.Array(Type.Array(NullableNumber), {
      description: 'With covCoef: true, coefficients x coefficients in their order; null for aliased ones',
    }),
  ),
  warnings: Type.Array(Type.String(), {
    description: "R's warnings, e.g. 'glm.fit: fitted probabilities numerically 0 or 1 occurred'",
  }),
  modelId: Type.String(),
});

export interface GlmResult {
  family: string;
  link: string;
  coefficients: CoefficientRow[];
  deviance: number | null;
  nullDeviance: number | null;
  aic: number | null;
  dispersion: number | null;
  dfNull: number;
  dfResidual: number;
  iterations: number;
  converged: boolean;
  nValidObs: number;
  nMissingObs: number;
  rank: number;
  covCoef?: Array<Array<number | null>>;
  warnings: string[];
  modelId: string;
}

export interface GlmState {
  /** The job type, also the stored model's type. */
  analysis: string;
  formula: string;
  matrix: ModelMatrixPlan;
  layout: ResponseLayout;
  family: FamilySpec;
  control: GlmControl;
  covCoef: boolean;
  cube: boolean;
  /** Label of the offset (a variable or expression), null without one. */
  offset: string | null;
  /** VarInfo of the variables the model reads (for the stored model). */
  variables: VarInfo[];
  /** Passes done. */
  pass: number;
  /** What the next pass computes. */
  plan: PassPlan;
  main: MainFit;
  nullFit: NullFit | null;
  counts: {
    rows: number;
    usableRows: number;
    positiveRows: number;
    sumWeights: number;
    sumWeightedY: number;
  } | null;
  nullDeviance: number | null;
  warnings: string[];
}

interface GlmSettings {
  analysis: string;
  family: FamilySpec;
}

/** Resolves `offset` (a variable name or in-line expression) to a numeric response-like column. */
function planOffset(text: string, meta: DatasetMeta): ModelResponse {
  let parsed: ReturnType<typeof parseFormula>;
  try {
    parsed = parseFormula(`~ ${text}`, meta.variables);
  } catch (error) {
    if (error instanceof EngineError && error.code === 'INVALID_FORMULA')
      throw new EngineError(
        'INVALID_PARAMS',
        `offset '${text}' is not a variable or expression: ${error.message}`,
        400,
        {
          offset: text,
        },
      );
    throw error;
  }
  const term = parsed.terms[0];
  const factor = term?.factors[0];
  if (parsed.terms.length !== 1 || term === undefined || term.factors.length !== 1 || factor === undefined) {
    throw new EngineError('INVALID_PARAMS', `offset must be one variable or expression, not '${text}'`, 400, {
      offset: text,
    });
  }
  const source = planSource(factor, meta.variables);
  if (source.role !== 'numeric') {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `offset '${text}' is a factor; an offset must be numeric`,
      422,
      {
        offset: text,
      },
    );
  }
  return { label: source.label, source, levels: null };
}

/** `initialValues` as one number per column of X (RevoScaleR: per coefficient, dropped ones included). */
function startingCoefficients(
  values: number | number[] | null | undefined,
  matrix: ModelMatrixPlan,
): number[] | null {
  if (values === null || values === undefined) return null;
  const p = matrix.kept.length;
  if (typeof values === 'number') return new Array<number>(p).fill(values);
  if (values.length === matrix.columns.length) return matrix.kept.map((j) => values[j] as number);
  if (values.length === p) return [...values];
  throw new EngineError(
    'INVALID_PARAMS',
    `initialValues has ${values.length} values; give one per coefficient (${matrix.columns.length}, dropped reference levels included${matrix.columns.length === p ? '' : `, or the ${p} estimable ones`})`,
    400,
    { given: values.length, coefficients: matrix.columns.length, estimable: p },
  );
}

function init(settings: GlmSettings, params: GlmSharedParams, meta: DatasetMeta): GlmState {
  const family = makeFamily(settings.family);
  const weights = planWeights(params, meta);
  const parsed = parseFormula(params.formula, meta.variables, { allowCbind: true });
  const response = parsed.response;
  if (response === null || response.length === 0)
    throw formulaError(`${settings.analysis} needs a response: write 'y ~ x + ...'`, 1, params.formula);
  let kind: ResponseLayout['kind'] = 'single';
  if (response.length > 1) {
    if (!family.binomialResponse || response.length !== 2) {
      throw formulaError(
        family.binomialResponse
          ? 'a binomial cbind() response takes two columns: cbind(successes, failures)'
          : `cbind() responses are for the binomial families (successes, failures), not ${settings.family.name}`,
        response[0]?.column ?? 1,
        params.formula,
      );
    }
    kind = 'cbind';
  }
  const matrix = planModelMatrix(parsed, meta.variables, {
    dropFirst: params.dropFirst ?? false,
    coefLabelStyle: params.coefLabelStyle ?? 'Revo',
    cube: params.cube ?? false,
    weights,
    maxColumns: MAX_GLM_COLUMNS,
  });
  for (const r of matrix.responses) {
    if (r.levels !== null && (!family.binomialResponse || kind === 'cbind')) {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `response '${r.label}' is a factor; the ${settings.family.name} family needs a numeric response`,
        422,
        { response: r.label },
      );
    }
  }
  if (matrix.kept.length === 0) {
    throw formulaError(
      'the model has no coefficients to estimate (no intercept and no terms)',
      1,
      params.formula,
    );
  }
  let offsetColumn: number | null = null;
  let offset: string | null = null;
  if (params.offset !== undefined) {
    const column = planOffset(params.offset, meta);
    offsetColumn = matrix.responses.length;
    offset = column.label;
    matrix.responses.push(column);
  }
  const beta = startingCoefficients(params.initialValues, matrix);
  const objectiveFunctionTolerance = params.objectiveFunctionTolerance ?? 1e-8;
  const control: GlmControl = {
    maxIterations: params.maxIterations ?? 25,
    coeffTolerance: params.coeffTolerance ?? 1e-6,
    objectiveFunctionTolerance,
    aliasTolerance:
      objectiveFunctionTolerance > 0 ? Math.min(1e-7, objectiveFunctionTolerance / 1000) : 1e-11,
  };
  const main: MainFit = {
    phase: 'running',
    iteration: 0,
    beta,
    coefold: null,
    devold: null,
    basis: null,
    solution: null,
    halvings: 0,
    boundary: false,
  };
  // R refits an intercept-only model for the null deviance when there is an offset and an intercept.
  const nullFit: NullFit | null =
    offsetColumn !== null && matrix.intercept
      ? { phase: 'running', iteration: 0, b0: null, coefold: null, devold: null, halvings: 0 }
      : null;
  const usedNames = new Set(modelMatrixColumnsUsed(matrix));
  return {
    analysis: settings.analysis,
    formula: params.formula,
    matrix,
    layout: {
      kind,
      offsetColumn,
      weights: weights?.kind ?? null,
      intercept: matrix.intercept,
      groups: planGroups(matrix),
    },
    family: settings.family,
    control,
    covCoef: params.covCoef ?? false,
    cube: params.cube ?? false,
    offset,
    variables: meta.variables.filter((v) => usedNames.has(v.name)),
    pass: 0,
    plan: nextPassPlan(main, nullFit, null, true),
    main,
    nullFit,
    counts: null,
    nullDeviance: null,
    warnings: [],
  };
}

function map(chunk: Chunk, state: GlmState): PassPartial {
  return mapPass(chunk.table, state.matrix, state.layout, makeFamily(state.family), state.plan);
}

/** The stored model's link name (the shared body's vocabulary). */
function bodyLink(state: GlmState): { link: LinkName; linkPower: number | null } {
  const link = makeFamily(state.family).link;
  return { link: link.name, linkPower: link.power };
}

/** R's family$link text: the link's name, `mu^lambda` for a tweedie power link. */
function linkLabel(state: GlmState): string {
  const link = makeFamily(state.family).link;
  return link.name === 'power' ? `mu^${link.power}` : link.name;
}

/** Packed upper triangle -> full rank x rank row-major matrix. */
function unpack(packed: readonly number[], rank: number): number[] {
  const full = new Array<number>(rank * rank);
  let k = 0;
  for (let a = 0; a < rank; a++) {
    for (let b = a; b < rank; b++) {
      const v = packed[k++] as number;
      full[a * rank + b] = v;
      full[b * rank + a] = v;
    }
  }
  return full;
}

async function finish(state: GlmState, summary: MainSummary, context: FinalizeContext): Promise<GlmResult> {
  const family = makeFamily(state.family);
  const counts = state.counts as NonNullable<GlmState['counts']>;
  const { solution } = summary;
  const rank = solution.rank;
  const warnings = [...new Set(state.warnings)];
  if (!summary.converged) warnings.push('glm.fit: algorithm did not converge');
  if (summary.boundary) warnings.push('glm.fit: algorithm stopped at boundary value');
  if (summary.boundaryRows > 0) {
    if (state.family.name === 'binomial')
      warnings.push('glm.fit: fitted probabilities numerically 0 or 1 occurred');
    if (state.family.name === 'poisson') warnings.push('glm.fit: fitted rates numerically 0 occurred');
  }
  const intercept = state.matrix.intercept;
  const dfResidual = counts.positiveRows - rank;
  const dfNull = counts.positiveRows - (intercept ? 1 : 0);
  let dispersion = 1;
  if (!family.dispersionFixed) {
    dispersion = dfResidual > 0 ? summary.pearson / dfResidual : Number.NaN;
    if (Number.isNaN(dispersion)) warnings.push('dispersion not estimable: no residual degrees of freedom');
  }

  // Coefficients over every plan column (dropped reference levels and aliased columns with nulls).
  const estimatedIndex = new Map<number, number>(); // X column -> position among estimated
  solution.estimates.forEach((e, k) => {
    if (e !== null) estimatedIndex.set(k, estimatedIndex.size);
  });
  const cov = unpack(solution.covUnscaled, rank);
  const columnToX = new Map<number, number>(state.matrix.kept.map((j, k) => [j, k]));
  const coefficients: CoefficientRow[] = state.matrix.columns.map((column, j) => {
    const k = columnToX.get(j);
    const at = k === undefined ? undefined : estimatedIndex.get(k);
    if (k === undefined || at === undefined)
      return {
        term: column.label,
        estimate: null,
        stdError: null,
        statistic: null,
        pValue: null,
        aliased: true,
      };
    const estimate = summary.beta[k] as number;
    const stdError = Math.sqrt(dispersion * (cov[at * rank + at] as number));
    const statistic = estimate / stdError;
    const pValue = family.dispersionFixed
      ? normalTwoSidedPValue(statistic)
      : tTwoSidedPValue(statistic, dfResidual);
    return {
      term: column.label,
      estimate: finiteOrNull(estimate),
      stdError: finiteOrNull(stdError),
      statistic: finiteOrNull(statistic),
      pValue: finiteOrNull(pValue),
      aliased: false,
    };
  });

  let aic: number | null = null;
  if (family.aic !== null) {
    const value = (summary.aicFamily ?? Number.NaN) + 2 * rank;
    aic = finiteOrNull(value);
    if (aic === null)
      warnings.push('AIC is not finite (a fitted value at the edge of its range, or non-integer counts)');
  }

  const covCoef = state.covCoef
    ? state.matrix.columns.map((_, a) => {
        const ka = columnToX.get(a);
        const ia = ka === undefined ? undefined : estimatedIndex.get(ka);
        return state.matrix.columns.map((__, b) => {
          const kb = columnToX.get(b);
          const ib = kb === undefined ? undefined : estimatedIndex.get(kb);
          if (ia === undefined || ib === undefined) return null;
          return finiteOrNull(dispersion * (cov[ia * rank + ib] as number));
        });
      })
    : undefined;

  const { link, linkPower } = bodyLink(state);
  // The stored plan: the model's responses without the offset column (and, for cbind, the successes:
  // predictions are proportions of successes).
  const plan: ModelMatrixPlan = { ...state.matrix, responses: state.matrix.responses.slice(0, 1) };
  const keepCovariance = state.covCoef || rank <= MAX_STORED_COVARIANCE;
  const body: LinearModelBody & { offset: string | null; variancePower: number | null } = {
    version: LINEAR_MODEL_BODY_VERSION,
    family: state.family.name,
    link,
    linkPower,
    dispersionFixed: family.dispersionFixed,
    plan,
    variables: trainingVariables(plan, state.variables),
    responses: [
      {
        response: plan.responses[0]?.label ?? '',
        coefficients,
        dispersion: finiteOrNull(dispersion),
        dfResidual,
        covUnscaled: keepCovariance ? cov : null,
      },
    ],
    cube: state.cube,
    nValidObs: counts.usableRows,
    nMissingObs: counts.rows - counts.usableRows,
    offset: state.offset,
    variancePower: state.family.variancePower,
  };
  const model = await context.io.saveModel({ type: state.analysis, formula: state.formula, body });

  const result: GlmResult = {
    family: state.family.name,
    link: linkLabel(state),
    coefficients,
    deviance: finiteOrNull(summary.deviance),
    nullDeviance: state.nullDeviance === null ? null : finiteOrNull(state.nullDeviance),
    aic,
    dispersion: finiteOrNull(dispersion),
    dfNull,
    dfResidual,
    iterations: summary.iterations,
    converged: summary.converged,
    nValidObs: counts.usableRows,
    nMissingObs: counts.rows - counts.usableRows,
    rank,
    warnings,
    modelId: model.id,
  };
  if (covCoef !== undefined) result.covCoef = covCoef;
  return result;
}

async function finalize(
  partial: PassPartial,
  previous: GlmState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<GlmState, GlmResult>> {
  const state: GlmState = { ...previous, warnings: [...previous.warnings] };
  const family = makeFamily(state.family);
  if (state.pass === 0) {
    state.counts = {
      rows: partial.rows,
      usableRows: partial.usableRows,
      positiveRows: partial.positiveRows,
      sumWeights: partial.sumWeights,
      sumWeightedY: partial.sumWeightedY,
    };
    if (partial.usableRows === 0 || partial.positiveRows === 0 || !(partial.sumWeights > 0)) {
      throw new EngineError(
        'NO_VALID_OBSERVATIONS',
        'No observation with a positive weight is left for the model: check rowSelection, missing values and weights.',
        422,
        { rows: partial.rows, usableRows: partial.usableRows },
      );
    }
  }
  if (state.plan.nullMu !== null) state.nullDeviance = partial.nullDeviance;

  if (state.main.phase === 'running') {
    const next = advanceMain(state.main, partial, state.matrix.intercept, state.control, state.warnings);
    if (next.phase === 'done')
      next.summary.aicFamily = finiteOrNull(finishAic(family.aic, partial.aic, next.summary.deviance));
    state.main = next;
  }
  if (state.nullFit !== null && state.nullFit.phase === 'running' && partial.nullFit !== null) {
    state.nullFit = advanceNull(state.nullFit, partial.nullFit, state.control, state.warnings);
    if (state.nullFit.phase === 'done') state.nullDeviance = state.nullFit.deviance;
  }
  state.pass += 1;

  const nullDone = state.nullFit === null ? state.pass >= 2 : state.nullFit.phase === 'done';
  if (state.main.phase === 'done' && nullDone) {
    return { done: true, result: await finish(state, state.main.summary, context) };
  }
  // The null deviance at a constant mu is computed in pass 1 (its mean needs pass 0's sums).
  let nullMu: PassPlan['nullMu'] = null;
  if (state.pass === 1 && state.nullFit === null) {
    const counts = state.counts as NonNullable<GlmState['counts']>;
    nullMu = state.matrix.intercept ? counts.sumWeightedY / counts.sumWeights : 'offset';
  }
  state.plan = nextPassPlan(state.main, state.nullFit, nullMu, false);
  const iteration = state.main.phase === 'running' ? state.main.iteration : null;
  return {
    done: false,
    state,
    message:
      iteration === null
        ? `null-deviance fit, pass ${state.pass + 1}`
        : `IRLS iteration ${iteration}${state.main.phase === 'running' && state.main.halvings > 0 ? ' (step halved)' : ''}`,
  };
}

/** The analysis object for logit or glm (`settingsOf` fixes or reads the family). */
export function glmAnalysis<P extends GlmSharedParams>(
  name: string,
  paramsSchema: TSchema,
  settingsOf: (params: P) => FamilySpec,
): Analysis<P, GlmState, PassPartial, GlmResult> {
  return {
    name,
    paramsSchema,
    resultSchema: GlmResultSchema,
    init: (params, meta) => {
      checkParams(paramsSchema, params, name);
      return init({ analysis: name, family: settingsOf(params) }, params, meta);
    },
    columnsUsed: (state) => modelMatrixColumnsUsed(state.matrix),
    map,
    merge: mergePassPartials,
    finalize,
  };
}
