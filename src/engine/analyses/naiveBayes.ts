import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext } from '../analysis.ts';
import { andMasks, ChunkColumns, countSet } from '../columns.ts';
import { EngineError } from '../errors.ts';
import {
  type FactorSource,
  type NumericSource,
  parseFormula,
  planSource,
  sourceInputs,
  TermColumns,
  type TermSource,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { lookupVariable } from '../formula/variables.ts';
import type { NaiveBayesModelBody, NaiveBayesPredictor } from '../models/naiveBayesScore.ts';
import { checkParams, finiteOrNull, planWeights, readWeights, Warnings, type WeightPlan } from '../params.ts';
import { accumulateMoments, emptyMoments, type Moments, mergeMoments } from '../stats/moments.ts';

/**
 * rxNaiveBayes: a factor response `y` and predictors `y ~ x1 + g + F(age) + log(z)` (or `y ~ .`), one
 * pass. What is estimated is what e1071's naiveBayes and RevoScaleR print:
 * - `apriori`: the class proportions (of the rows whose response is known), with their counts;
 * - a categorical predictor (factor, F()): P(x = level | class) = (n_cl + s) / (n_c + s * L), s the
 *   `smoothingFactor` (Laplace; 0 by default, as rxNaiveBayes), L the predictor's levels;
 * - a numeric predictor: per class the mean and the SAMPLE standard deviation (n - 1), nothing added
 *   to the variance (the reference behaviour; a class with one row has no sd: null, with a warning).
 * Missing values, `byTerm: true` (default; rxSummary's, which rxNaiveBayes forwards to): each
 * predictor's table uses the rows where that predictor and the response are known; `false`: only rows
 * complete in every formula variable. Rows with a missing response never count.
 * Weights (`pweights` / `fweights`): counts are sums of weights; means and sds as rxSummary's
 * (sd = sqrt(sum w (x - m)^2 / (sum w - 1))).
 *
 * Per chunk: class counts, per categorical predictor a class x level count table, per numeric
 * predictor per-class moments (two passes in memory; chunks merged by Chan et al., stats/moments.ts).
 * The stored model is scored by models/naiveBayesScore.ts.
 */

/** Cells of one class x level table at most (a partial holds it dense). */
export const MAX_TABLE_CELLS = 1_000_000;

export const NaiveBayesParamsSchema = Type.Object(
  {
    formula: Type.String({
      minLength: 1,
      description: '`y ~ x1 + g + F(age)` or `y ~ .`: a factor response, factor or numeric predictors.',
    }),
    smoothingFactor: Type.Optional(
      Type.Number({ minimum: 0, default: 0, description: 'Laplace smoothing of the categorical tables.' }),
    ),
    byTerm: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'true: drop missings predictor by predictor; false: drop rows with any missing.',
      }),
    ),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
    blocksPerRead: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Accepted for RevoScaleR compatibility.' }),
    ),
    reportProgress: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3, description: 'Accepted; progress is on the job.' }),
    ),
  },
  { additionalProperties: false },
);
export type NaiveBayesParams = Static<typeof NaiveBayesParamsSchema>;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

export const NaiveBayesTableSchema = Type.Union([
  Type.Object({
    variable: Type.String(),
    type: Type.Literal('categorical'),
    /** The predictor's levels (columns of `probabilities`). */
    levels: Type.Array(Type.String()),
    /** One row per response level (in `levels` order of the result), one column per predictor level. */
    probabilities: Type.Array(Type.Array(NullableNumber)),
    counts: Type.Array(Type.Array(Type.Number())),
  }),
  Type.Object({
    variable: Type.String(),
    type: Type.Literal('gaussian'),
    /** Per response level. */
    mean: Type.Array(NullableNumber),
    sd: Type.Array(NullableNumber),
    counts: Type.Array(Type.Number()),
  }),
]);

export const NaiveBayesResultSchema = Type.Object({
  response: Type.String(),
  /** The response's levels (classes), the order of every per-class array. */
  levels: Type.Array(Type.String()),
  apriori: Type.Array(NullableNumber),
  aprioriCounts: Type.Array(Type.Number()),
  tables: Type.Array(NaiveBayesTableSchema),
  smoothingFactor: Type.Number(),
  nValidObs: Type.Number({ description: 'Rows known in every formula variable (and the weight)' }),
  nMissingObs: Type.Number(),
  /** Null when unweighted. */
  sumOfWeights: NullableNumber,
  modelId: Type.String(),
  warnings: Type.Array(Type.String()),
});
export type NaiveBayesResult = Static<typeof NaiveBayesResultSchema>;

export interface NaiveBayesState {
  formula: string;
  response: FactorSource;
  predictors: TermSource[];
  weights: WeightPlan | null;
  smoothingFactor: number;
  byTerm: boolean;
  inputs: Array<Pick<VarInfo, 'name' | 'type' | 'levels'>>;
}

export interface NaiveBayesPartial {
  rows: number;
  valid: number;
  /** Sum of weights of the complete rows. */
  validWeight: number;
  classCounts: Float64Array;
  /** Per predictor: class x level counts (categorical) or null. */
  tables: Array<Float64Array | null>;
  /** Per predictor: per-class moments (numeric) or null. */
  moments: Array<Moments | null>;
}

function isFactorSource(source: TermSource): source is FactorSource {
  return source.role === 'factor';
}

function init(params: NaiveBayesParams, meta: DatasetMeta): NaiveBayesState {
  checkParams(NaiveBayesParamsSchema, params, 'naiveBayes');
  const weights = planWeights(params, meta);
  const parsed = parseFormula(params.formula, meta.variables, {
    allowDot: true,
    dotExclude: weights === null ? [] : [weights.variable],
  });
  const responseFactor = parsed.response?.[0];
  if (responseFactor === undefined) {
    throw formulaError('naiveBayes needs a response: write `y ~ x1 + x2`', 1, params.formula);
  }
  const response = planSource(responseFactor, meta.variables);
  if (!isFactorSource(response)) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `the response '${response.label}' must be a factor (or F(${response.label}))`,
      422,
      { response: response.label },
    );
  }
  if (parsed.terms.length === 0) throw formulaError('the formula has no predictors', 1, params.formula);
  const predictors = parsed.terms.map((term) => {
    if (term.factors.length !== 1) {
      throw formulaError(
        `naiveBayes takes main effects only, not the interaction '${term.label}'`,
        term.column,
        params.formula,
      );
    }
    return planSource(term.factors[0]!, meta.variables);
  });
  for (const source of predictors) {
    if (!isFactorSource(source)) continue;
    const cells = source.levels.length * response.levels.length;
    if (cells > MAX_TABLE_CELLS) {
      throw new EngineError(
        'TOO_MANY_LEVELS',
        `'${source.label}' by '${response.label}' makes ${cells} cells; at most ${MAX_TABLE_CELLS} are supported`,
        422,
        { variable: source.label, cells, limit: MAX_TABLE_CELLS },
      );
    }
  }
  const names = new Set<string>([...sourceInputs(response), ...predictors.flatMap(sourceInputs)]);
  const inputs = [...names].map((name) => {
    const info = lookupVariable(meta, name);
    return { name: info.name, type: info.type, ...(info.levels ? { levels: info.levels } : {}) };
  });
  return {
    formula: params.formula,
    response,
    predictors,
    weights,
    smoothingFactor: params.smoothingFactor ?? 0,
    byTerm: params.byTerm ?? true,
    inputs,
  };
}

function columnsUsed(state: NaiveBayesState): string[] {
  const names = new Set(state.inputs.map((v) => v.name));
  if (state.weights !== null) names.add(state.weights.variable);
  return [...names];
}

function map(chunk: Chunk, state: NaiveBayesState): NaiveBayesPartial {
  const table = chunk.table;
  const n = table.numRows;
  const reader = new TermColumns(new ChunkColumns(table));
  const classes = state.response.levels.length;
  const y = reader.factor(state.response);
  const weightColumn = state.weights === null ? null : readWeights(table, state.weights);
  const w = weightColumn?.values ?? null;
  const known = andMasks(n, [y.valid, weightColumn?.valid ?? null]);
  const predictorMasks = state.predictors.map((source) =>
    isFactorSource(source) ? reader.factor(source).valid : reader.usable(source),
  );
  const complete = andMasks(n, [known, ...predictorMasks]);
  let validWeight = 0;
  for (let i = 0; i < n; i++)
    if (complete === null || complete[i] === 1) validWeight += w === null ? 1 : w[i]!;

  const base = state.byTerm ? known : complete;
  const classCounts = new Float64Array(classes);
  for (let i = 0; i < n; i++) {
    if (base !== null && base[i] === 0) continue;
    const c = y.codes[i]!;
    classCounts[c] = classCounts[c]! + (w === null ? 1 : w[i]!);
  }
  const tables: Array<Float64Array | null> = [];
  const moments: Array<Moments | null> = [];
  state.predictors.forEach((source, v) => {
    const rows = state.byTerm ? andMasks(n, [known, predictorMasks[v] ?? null]) : complete;
    if (isFactorSource(source)) {
      const levels = source.levels.length;
      const x = reader.factor(source).codes;
      const counts = new Float64Array(classes * levels);
      for (let i = 0; i < n; i++) {
        if (rows !== null && rows[i] === 0) continue;
        const at = y.codes[i]! * levels + x[i]!;
        counts[at] = counts[at]! + (w === null ? 1 : w[i]!);
      }
      tables.push(counts);
      moments.push(null);
      return;
    }
    // Rows outside `rows` join no class (cell -1), so they count nowhere.
    const cells = new Int32Array(n);
    for (let i = 0; i < n; i++) cells[i] = rows !== null && rows[i] === 0 ? -1 : y.codes[i]!;
    const out = emptyMoments(classes);
    accumulateMoments(out, {
      values: reader.numeric(source as NumericSource).values,
      valid: null,
      weights: w,
      cells,
      numRows: n,
    });
    tables.push(null);
    moments.push(out);
  });
  return { rows: n, valid: countSet(complete, n), validWeight, classCounts, tables, moments };
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! + b[i]!;
  return out;
}

function merge(a: NaiveBayesPartial, b: NaiveBayesPartial): NaiveBayesPartial {
  return {
    rows: a.rows + b.rows,
    valid: a.valid + b.valid,
    validWeight: a.validWeight + b.validWeight,
    classCounts: add(a.classCounts, b.classCounts),
    tables: a.tables.map((t, v) => (t === null ? null : add(t, b.tables[v] as Float64Array))),
    moments: a.moments.map((m, v) => (m === null ? null : mergeMoments(m, b.moments[v] as Moments))),
  };
}

async function finalize(
  partial: NaiveBayesPartial,
  state: NaiveBayesState,
  context: FinalizeContext,
): Promise<{ done: true; result: NaiveBayesResult }> {
  const warnings = new Warnings();
  const classes = state.response.levels;
  const L = classes.length;
  const total = partial.classCounts.reduce((s, x) => s + x, 0);
  if (!(total > 0)) {
    throw new EngineError(
      'NO_VALID_OBSERVATIONS',
      `no row has a known response '${state.response.label}'${state.weights ? ' and a positive weight' : ''}`,
      422,
    );
  }
  const apriori = Array.from(partial.classCounts, (n) => n / total);
  const empty = classes.filter((_, c) => partial.classCounts[c] === 0);
  if (empty.length > 0) {
    warnings.add(
      `no rows of class ${empty.map((c) => `'${c}'`).join(', ')}: its prior is 0 and its tables are null`,
    );
  }
  const s = state.smoothingFactor;
  const tables: NaiveBayesResult['tables'] = [];
  const predictors: NaiveBayesPredictor[] = [];
  state.predictors.forEach((source, v) => {
    const counts = partial.tables[v];
    if (isFactorSource(source) && counts) {
      const M = source.levels.length;
      const rows: number[][] = [];
      const probabilities: Array<Array<number | null>> = [];
      for (let c = 0; c < L; c++) {
        const row = Array.from(counts.subarray(c * M, (c + 1) * M));
        const n = row.reduce((a, b) => a + b, 0);
        rows.push(row);
        probabilities.push(row.map((x) => finiteOrNull((x + s) / (n + s * M))));
      }
      tables.push({
        variable: source.label,
        type: 'categorical',
        levels: source.levels,
        probabilities,
        counts: rows,
      });
      predictors.push({ kind: 'categorical', source, probabilities });
      return;
    }
    const m = partial.moments[v] as Moments;
    const mean: Array<number | null> = [];
    const sd: Array<number | null> = [];
    for (let c = 0; c < L; c++) {
      const weight = m.weight[c]!;
      mean.push(weight > 0 ? finiteOrNull(m.mean[c]!) : null);
      if (weight > 1) sd.push(finiteOrNull(Math.sqrt(Math.max(0, m.m2[c]!) / (weight - 1))));
      else {
        sd.push(null);
        if (weight > 0) {
          warnings.add(
            `'${source.label}' has fewer than 2 rows in class '${classes[c]}': no standard deviation (scoring skips '${source.label}')`,
          );
        }
      }
    }
    tables.push({ variable: source.label, type: 'gaussian', mean, sd, counts: Array.from(m.weight) });
    predictors.push({ kind: 'gaussian', source: source as NumericSource, mean, sd });
  });

  const body: NaiveBayesModelBody = {
    kind: 'naiveBayes',
    response: { label: state.response.label, levels: classes },
    apriori,
    predictors,
    inputs: state.inputs,
  };
  const model = await context.io.saveModel({ type: 'naiveBayes', formula: state.formula, body });
  return {
    done: true,
    result: {
      response: state.response.label,
      levels: classes,
      apriori: apriori.map(finiteOrNull),
      aprioriCounts: Array.from(partial.classCounts),
      tables,
      smoothingFactor: s,
      nValidObs: partial.valid,
      nMissingObs: partial.rows - partial.valid,
      sumOfWeights: state.weights === null ? null : partial.validWeight,
      modelId: model.id,
      warnings: warnings.list(),
    },
  };
}

export const naiveBayes = {
  name: 'naiveBayes',
  paramsSchema: NaiveBayesParamsSchema,
  resultSchema: NaiveBayesResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<NaiveBayesParams, NaiveBayesState, NaiveBayesPartial, NaiveBayesResult>;
