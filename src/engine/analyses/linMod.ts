import { type Static, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import { UserError } from '../../userError.ts';
import type { Analysis, Chunk, FinalizeContext, FinalizeOutcome } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import {
  fillModelMatrix,
  type ModelMatrixChunk,
  type ModelMatrixPlan,
  modelMatrixColumnsUsed,
  parseFormula,
  planModelMatrix,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import {
  mergeQr,
  mergeRefinement,
  type QrChunkInput,
  type QrPartial,
  qrPartial,
  type RefinementPartial,
  type RefinementPlan,
  residualProducts,
} from '../linalg/index.ts';
import { CoefficientRowSchema, trainingVariables } from '../models/body.ts';
import { checkParams, planWeights } from '../params.ts';
import { fitResponses, type LinModFitBlock, type LinModSettings } from './linModFit.ts';
import { groupedQrPartial, planGroups } from './linModGroups.ts';

/**
 * rxLinMod: least squares by distributed TSQR of [X | y] (linalg/), X built by the shared model-matrix
 * planner (formula/modelMatrix.ts) with RevoScaleR's coding: last level dropped (first with
 * `dropFirst`), reference columns listed as Dropped, collinear columns aliased in column order.
 *
 * Passes:
 * - round 0 (always): per chunk the centred QR partial (`qrPartial`), merged in chunk order;
 *   finalize solves. When the cheap accuracy test of linModFit.ts (`needsRefinement`) says the single
 *   pass may have fewer than ~10 correct digits, the state asks for
 * - round 1: one step of iterative refinement with residuals from the data (`residualProducts`, Dot2
 *   sums), which restores the digits a huge residual costs (NIST Wampler4/5).
 *
 * `cube: true`: the first term must be categorical; it is coded fully with no intercept (one
 * coefficient per cell) and solved by the same TSQR. A single-factor cube term (up to 50 cells) is
 * what linModGroups.ts groups chunk rows by, so each cell's rows are reduced without the cell columns:
 * RevoScaleR's partitioned (Frisch-Waugh-Lovell) solve in QR form. R-squared and F are
 * "as if an intercept were included" (centred total sum of squares, intercept-only null model), as
 * RevoScaleR documents, and `countDF` gives the cell counts.
 *
 * `variableSelection` (stepwise) is refused with 501 NOT_IMPLEMENTED; `dropMain`, `covData` and
 * `cubePredictions` are not accepted (400 with the schema's message).
 */

export const LinModParamsSchema = Type.Object(
  {
    formula: Type.String({
      minLength: 1,
      description:
        '`y ~ x + g + x:g + log(z) + F(age)`; several responses as `cbind(y1, y2) ~ ...`. Factors are coded with their last level dropped (first with dropFirst).',
    }),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(
      Type.String({ minLength: 1, description: 'Frequency-weight variable (rows count as replicated).' }),
    ),
    cube: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'First term categorical: no intercept, one coefficient per cell, countDF in the result.',
      }),
    ),
    dropFirst: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Drop the first level of each factor instead of the last.',
      }),
    ),
    covCoef: Type.Optional(
      Type.Boolean({ default: false, description: 'Return the covariance matrix of the coefficients.' }),
    ),
    coefLabelStyle: Type.Optional(
      Type.Union([Type.Literal('Revo'), Type.Literal('R')], {
        default: 'Revo',
        description: '"Revo": `g=a`, `x for g=a`; "R": `ga`, `ga:x`.',
      }),
    ),
    variableSelection: Type.Optional(
      Type.Unknown({ description: 'Stepwise selection: not supported (501).' }),
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
export type LinModParams = Static<typeof LinModParamsSchema>;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

/** The fit of one response: what the issue lists, per response. */
export const LinModFitSchema = Type.Object({
  response: Type.String({ description: 'The response this block fits' }),
  coefficients: Type.Array(CoefficientRowSchema),
  sigma: Type.Union([Type.Number(), Type.Null()], { description: 'Residual standard error' }),
  rSquared: NullableNumber,
  adjRSquared: NullableNumber,
  fStatistic: Type.Object({
    value: NullableNumber,
    numDf: Type.Number(),
    denDf: Type.Number(),
    pValue: NullableNumber,
  }),
  dfResidual: Type.Number(),
  rank: Type.Integer({ description: 'Estimated (non-aliased) coefficients' }),
  conditionNumber: Type.Union([Type.Number(), Type.Null()], {
    description: '1-norm condition number of the column-equilibrated model matrix (kept columns)',
  }),
  covCoef: Type.Optional(
    Type.Array(Type.Array(NullableNumber), {
      description: 'With covCoef: true, coefficients x coefficients in their order; null for aliased ones',
    }),
  ),
});

export const LinModResultSchema = Type.Object({
  ...LinModFitSchema.properties,
  nValidObs: Type.Integer({ description: 'Rows used in the fit' }),
  nMissingObs: Type.Integer({ description: 'Rows dropped for a missing value' }),
  sumOfWeights: Type.Union([Type.Number(), Type.Null()], { description: 'Null when unweighted' }),
  responses: Type.Optional(
    Type.Array(LinModFitSchema, {
      description:
        'cbind(y1, y2, ...) only: one block per response, in order (the top-level fields repeat the first)',
    }),
  ),
  countDF: Type.Optional(
    Type.Array(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number()])), {
      description: 'cube: true only: one row per cell of the first term with its levels and Counts',
    }),
  ),
  modelId: Type.String(),
  warnings: Type.Array(Type.String()),
});
export type LinModResult = Static<typeof LinModResultSchema>;

/** Most model-matrix columns (dropped ones included): partials hold k x k doubles. */
export const MAX_LINMOD_COLUMNS = 2_000;

export interface LinModState {
  /** 0: QR pass; 1: refinement pass. */
  round: 0 | 1;
  plan: ModelMatrixPlan;
  settings: LinModSettings;
  /** Round 1 only: the merged round-0 partial (plain arrays) and the plans, one per response (null: none needed). */
  refine: {
    partial: JsonQrPartial;
    plans: Array<RefinementPlan | null>;
    rows: number;
    cellCounts: number[] | null;
  } | null;
}

/** A QrPartial as plain JSON (job state). JSON keeps every finite double exactly. */
export interface JsonQrPartial {
  numPredictors: number;
  numResponses: number;
  numRows: number;
  numPositiveWeight: number;
  sumWeights: number;
  means: number[];
  r: number[];
}

export type LinModPartial =
  | { kind: 'qr'; rows: number; qr: QrPartial; cellCounts: Float64Array | null }
  | { kind: 'refine'; rows: number; products: Array<RefinementPartial | null> };

function init(params: LinModParams, meta: DatasetMeta): LinModState {
  checkParams(LinModParamsSchema, params, 'linMod');
  if (params.variableSelection !== undefined) {
    throw new UserError(
      501,
      'NOT_IMPLEMENTED',
      'variableSelection (stepwise regression) is not supported; fit the candidate models as separate linMod jobs and compare them',
    );
  }
  const weights = planWeights(params, meta);
  const parsed = parseFormula(params.formula, meta.variables, { allowCbind: true });
  if (parsed.response === null || parsed.response.length === 0) {
    throw formulaError("linMod needs a response: write 'y ~ x + ...'", 1, params.formula);
  }
  const cube = params.cube ?? false;
  if (parsed.terms.length === 0 && !parsed.intercept) {
    throw formulaError('the model has no terms and no intercept', 1, params.formula);
  }
  const plan = planModelMatrix(parsed, meta.variables, {
    dropFirst: params.dropFirst ?? false,
    coefLabelStyle: params.coefLabelStyle ?? 'Revo',
    cube,
    weights,
    maxColumns: MAX_LINMOD_COLUMNS,
  });
  // A variable with no value at all empties the model; say which instead of "no observations".
  const empty = modelMatrixColumnsUsed(plan).filter((name) => {
    const info = meta.variables.find((v) => v.name === name);
    return info !== undefined && meta.numRows > 0 && info.missing >= meta.numRows;
  });
  if (empty.length > 0) {
    throw new EngineError(
      'ALL_MISSING',
      `${empty.map((v) => `'${v}'`).join(', ')} ${empty.length === 1 ? 'has' : 'have'} no valid value (every row is missing), so no row can enter the model: remove ${empty.length === 1 ? 'it' : 'them'} from the formula`,
      422,
      { variables: empty },
    );
  }
  return {
    round: 0,
    plan,
    settings: {
      frequencyWeights: weights?.kind === 'fweights',
      covCoef: params.covCoef ?? false,
      cube,
      groupColumns: planGroups(plan),
      variables: trainingVariables(plan, meta.variables),
    },
    refine: null,
  };
}

function columnsUsed(state: LinModState): string[] {
  return modelMatrixColumnsUsed(state.plan);
}

/** The chunk's model matrix as the QR kernels take it (the intercept column left out: centring implies it). */
export function qrInput(plan: ModelMatrixPlan, m: ModelMatrixChunk): QrChunkInput {
  const { n, p, q, x, y } = m;
  const first = plan.intercept ? 1 : 0;
  const predictors: Float64Array[] = [];
  for (let j = first; j < p; j++) predictors.push(x.subarray(j * n, (j + 1) * n));
  const responses: Float64Array[] = [];
  for (let k = 0; k < q; k++) responses.push(y.subarray(k * n, (k + 1) * n));
  return { predictors, responses, weights: m.weights, use: null, numRows: n };
}

/** Grow-only buffer for X: a fresh multi-MB array per chunk costs page faults. */
let matrixScratch = new Float64Array(0);

function fill(plan: ModelMatrixPlan, chunk: Chunk): ModelMatrixChunk {
  const needed = chunk.table.numRows * plan.kept.length;
  if (matrixScratch.length < needed)
    matrixScratch = new Float64Array(Math.max(needed, matrixScratch.length * 2));
  return fillModelMatrix(plan, chunk.table, matrixScratch);
}

/** Rows (or fweights) per cell of the cube term, from its 0/1 columns. */
function countCells(state: LinModState, m: ModelMatrixChunk): Float64Array | null {
  if (!state.settings.cube) return null;
  const term = state.plan.terms[0];
  if (term === undefined) return null;
  const counts = new Float64Array(term.columnCount);
  const { n, x, weights } = m;
  const frequency = state.settings.frequencyWeights && weights !== null;
  for (let c = 0; c < term.columnCount; c++) {
    const at = state.plan.kept.indexOf(term.firstColumn + c);
    if (at < 0) continue;
    const column = x.subarray(at * n, (at + 1) * n);
    let s = 0;
    if (frequency) for (let r = 0; r < n; r++) s += (column[r] as number) * (weights[r] as number);
    else for (let r = 0; r < n; r++) s += column[r] as number;
    counts[c] = s;
  }
  return counts;
}

function map(chunk: Chunk, state: LinModState): LinModPartial {
  const m = fill(state.plan, chunk);
  const input = qrInput(state.plan, m);
  if (state.round === 0) {
    const groups = state.settings.groupColumns;
    const qr = groups === null ? qrPartial(input) : groupedQrPartial(input, groups);
    return { kind: 'qr', rows: chunk.table.numRows, qr, cellCounts: countCells(state, m) };
  }
  const plans = state.refine?.plans ?? [];
  return {
    kind: 'refine',
    rows: chunk.table.numRows,
    products: plans.map((plan) => (plan === null ? null : residualProducts(input, plan))),
  };
}

function merge(a: LinModPartial, b: LinModPartial): LinModPartial {
  if (a.kind === 'qr' && b.kind === 'qr') {
    let cellCounts: Float64Array | null = null;
    if (a.cellCounts !== null && b.cellCounts !== null) {
      cellCounts = new Float64Array(a.cellCounts.length);
      for (let c = 0; c < cellCounts.length; c++)
        cellCounts[c] = (a.cellCounts[c] as number) + (b.cellCounts[c] as number);
    }
    return { kind: 'qr', rows: a.rows + b.rows, qr: mergeQr(a.qr, b.qr), cellCounts };
  }
  if (a.kind === 'refine' && b.kind === 'refine') {
    return {
      kind: 'refine',
      rows: a.rows + b.rows,
      products: a.products.map((p, i) => {
        const other = b.products[i] ?? null;
        return p === null || other === null ? null : mergeRefinement(p, other);
      }),
    };
  }
  throw new Error('linMod: partials of different rounds');
}

function toJson(partial: QrPartial): JsonQrPartial {
  return { ...partial, means: Array.from(partial.means), r: Array.from(partial.r) };
}

function fromJson(partial: JsonQrPartial): QrPartial {
  return { ...partial, means: Float64Array.from(partial.means), r: Float64Array.from(partial.r) };
}

async function finalize(
  partial: LinModPartial,
  state: LinModState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<LinModState, LinModResult>> {
  let qr: QrPartial;
  let rows: number;
  let cellCounts: number[] | null;
  let refinement: Array<RefinementPartial | null> | null = null;
  if (partial.kind === 'qr') {
    qr = partial.qr;
    rows = partial.rows;
    cellCounts = partial.cellCounts === null ? null : Array.from(partial.cellCounts);
  } else {
    const refine = state.refine;
    if (refine === null) throw new Error('linMod: refinement round without its state');
    qr = fromJson(refine.partial);
    rows = refine.rows;
    cellCounts = refine.cellCounts;
    refinement = partial.products;
  }

  const outcome = fitResponses(qr, state.plan, state.settings, {
    rows,
    cellCounts,
    refinement: refinement === null ? null : { plans: state.refine?.plans ?? [], products: refinement },
  });
  if (outcome.kind === 'refine') {
    return {
      done: false,
      state: {
        ...state,
        round: 1,
        refine: { partial: toJson(qr), plans: outcome.plans, rows, cellCounts },
      },
      message: 'refinement pass: residuals from the data for the last digits',
    };
  }
  const model = await context.io.saveModel({
    type: 'linMod',
    formula: state.plan.formula,
    body: outcome.body,
  });
  return { done: true, result: { ...outcome.result, modelId: model.id } };
}

export const linMod = {
  name: 'linMod',
  paramsSchema: LinModParamsSchema,
  resultSchema: LinModResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<LinModParams, LinModState, LinModPartial, LinModResult>;

export type { LinModFitBlock };
