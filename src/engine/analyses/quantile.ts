import { type Static, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeOutcome } from '../analysis.ts';
import { andMasks, readNumeric } from '../columns.ts';
import { EngineError } from '../errors.ts';
import { lookupVariable, NUMERIC_LIKE_TYPES } from '../formula/variables.ts';
import { checkParams, finiteOrNull, planWeights, readWeights, Warnings, type WeightPlan } from '../params.ts';
import {
  type BinSpec,
  interpolate7,
  mergeSketches,
  type PathStep,
  planBins,
  type RankAnswer,
  rankReader,
  type Sketch,
  sketchChunk,
  type7,
} from '../stats/sketch.ts';

/**
 * rxQuantile. Quantiles are R's type 7 (h = (n - 1) p + 1, linear interpolation between the order
 * statistics x[floor h] and x[ceil h]: what R's `quantile()` and `summary()` print); with weights, the
 * weighted generalisation described in stats/sketch.ts (exact type 7 of the replicated rows for integer
 * fweights).
 *
 * Pass 0 builds one sketch of the variable, planned from the dataset's stored low/high:
 * - integer-valued variables (integer, logical, date, timestamp; numeric with integer low/high, as
 *   RevoScaleR) whose range spans at most `maxIntegerBins` integers: one count per integer, exact when
 *   the data really are integers;
 * - otherwise `numNumericBreaks` equal-width bins with each bin's min and max;
 * - either way, a variable with at most 16384 values is simply kept and sorted (exact).
 * With `exact: true` (default) every order statistic that is not pinned down (its bin holds several
 * distinct values) is refined by another pass over only that bin's values, zooming by a factor of
 * `numNumericBreaks` per pass, until exact (at most 6 passes). With `exact: false` it is one pass, and
 * `maxAbsError` bounds the error (each estimate lies within its bin's [min, max]).
 */

export const QuantileParamsSchema = Type.Object(
  {
    variable: Type.String({
      minLength: 1,
      description: 'Numeric, integer, logical, date or timestamp variable.',
    }),
    probs: Type.Optional(
      Type.Array(Type.Number({ minimum: 0, maximum: 1 }), {
        minItems: 1,
        maxItems: 1000,
        default: [0, 0.25, 0.5, 0.75, 1],
        description: 'Probabilities in [0, 1].',
      }),
    ),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
    maxIntegerBins: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10_000_000,
        default: 500_000,
        description: 'Most integer bins for exact integer data.',
      }),
    ),
    numNumericBreaks: Type.Optional(
      Type.Integer({
        minimum: 2,
        maximum: 1_000_000,
        default: 1000,
        description: 'Bins per pass for non-integer data.',
      }),
    ),
    exact: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'Refine with extra passes until exact; false = one pass with an error bound.',
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
export type QuantileParams = Static<typeof QuantileParamsSchema>;

export const QUANTILE_METHODS = ['sortedValues', 'integerCounts', 'binned', 'binnedRefined'] as const;

export const QuantileResultSchema = Type.Object({
  variable: Type.String(),
  probs: Type.Array(Type.Number()),
  quantiles: Type.Array(
    Type.Object({ prob: Type.Number(), value: Type.Union([Type.Number(), Type.Null()]) }),
  ),
  /** True when every value is an exact type 7 quantile. */
  exact: Type.Boolean(),
  /** Bound on |value - exact value| over all probs (0 when exact; null when unbounded). */
  maxAbsError: Type.Union([Type.Number(), Type.Null()]),
  method: Type.Enum(QUANTILE_METHODS),
  /** Passes over the data. */
  passes: Type.Integer(),
  validObs: Type.Number(),
  missingObs: Type.Number(),
  sumOfWeights: Type.Union([Type.Number(), Type.Null()]),
  warnings: Type.Array(Type.String()),
});
export type QuantileResult = Static<typeof QuantileResultSchema>;

/** Values a sketch keeps (and sorts) before switching to bins. */
export const QUANTILE_SKETCH_CAP = 16_384;
/** Most passes over the data with `exact: true`. */
export const QUANTILE_MAX_PASSES = 6;

/** State numbers are plain JSON: non-finite values travel as strings. */
type JsonNumber = number | 'Infinity' | '-Infinity' | 'NaN';
const toJson = (x: number): JsonNumber => (Number.isFinite(x) ? x : (String(x) as JsonNumber));
const fromJson = (x: JsonNumber): number => (typeof x === 'number' ? x : Number(x));

interface QuantileTarget {
  path: PathStep[];
  spec: BinSpec;
  /** Sum of weights of the values below this target. */
  rankOffset: number;
}

interface RankState {
  /** 1-based (weighted) rank. */
  rank: number;
  /** Index of the current pass's target holding this rank; null once known. */
  target: number | null;
  value: JsonNumber | null;
  exact: boolean;
  lower: JsonNumber | null;
  upper: JsonNumber | null;
}

export interface QuantileState {
  variable: string;
  weights: WeightPlan | null;
  probs: number[];
  exact: boolean;
  numNumericBreaks: number;
  /** The pass about to run (0-based; the runner's round). */
  pass: number;
  targets: QuantileTarget[];
  ranks: RankState[];
  /** Set after pass 0. */
  firstPass: {
    validObs: number;
    missingObs: number;
    total: number;
    mode: 'values' | 'integer' | 'range';
  } | null;
}

export interface QuantilePartial {
  validObs: number;
  missingObs: number;
  sketches: Sketch[];
}

function init(params: QuantileParams, meta: DatasetMeta): QuantileState {
  checkParams(QuantileParamsSchema, params, 'quantile');
  const info = lookupVariable(meta, params.variable);
  if (!NUMERIC_LIKE_TYPES.includes(info.type)) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `variable '${info.name}' is ${info.type}; quantiles need a numeric-like variable`,
      422,
      {
        variable: info.name,
      },
    );
  }
  const weights = planWeights(params, meta);
  const numNumericBreaks = params.numNumericBreaks ?? 1000;
  const spec = planBins(info, {
    maxIntegerBins: params.maxIntegerBins ?? 500_000,
    numNumericBreaks,
    integerBinsForNumeric: true,
  });
  return {
    variable: info.name,
    weights,
    probs: params.probs ?? [0, 0.25, 0.5, 0.75, 1],
    exact: params.exact ?? true,
    numNumericBreaks,
    pass: 0,
    targets: [{ path: [], spec, rankOffset: 0 }],
    ranks: [],
    firstPass: null,
  };
}

function columnsUsed(state: QuantileState): string[] {
  return state.weights === null ? [state.variable] : [state.variable, state.weights.variable];
}

function map(chunk: Chunk, state: QuantileState): QuantilePartial {
  const numRows = chunk.table.numRows;
  const column = readNumeric(chunk.table, state.variable);
  const weightColumn = state.weights === null ? null : readWeights(chunk.table, state.weights);
  const valid = andMasks(numRows, [column.valid, weightColumn?.valid ?? null]);
  const weights = weightColumn?.values ?? null;
  let validObs = 0;
  const values = column.values;
  for (let i = 0; i < numRows; i++) {
    const x = values[i] as number;
    if (!Number.isNaN(x) && (valid === null || valid[i] === 1)) validObs++;
  }
  const sketches = state.targets.map((target) =>
    sketchChunk(
      target.spec,
      QUANTILE_SKETCH_CAP,
      { values, valid, weights, numRows, path: target.path },
      target.path.length === 0 && weights === null ? validObs : undefined,
    ),
  );
  return { validObs, missingObs: numRows - validObs, sketches };
}

function merge(a: QuantilePartial, b: QuantilePartial): QuantilePartial {
  return {
    validObs: a.validObs + b.validObs,
    missingObs: a.missingObs + b.missingObs,
    sketches: a.sketches.map((s, i) => mergeSketches(s, b.sketches[i] as Sketch)),
  };
}

function errorOf(answer: RankAnswer): number {
  return answer.exact ? 0 : Math.max(answer.value - answer.lower, answer.upper - answer.value);
}

function finalize(
  partial: QuantilePartial,
  state: QuantileState,
): FinalizeOutcome<QuantileState, QuantileResult> {
  const readers = partial.sketches.map((s) => rankReader(s, state.numNumericBreaks));
  let firstPass = state.firstPass;
  let ranks = state.ranks;
  if (firstPass === null) {
    const sketch = partial.sketches[0] as Sketch;
    const total = (readers[0] as { total: number }).total;
    firstPass = {
      validObs: partial.validObs,
      missingObs: partial.missingObs,
      total,
      mode: sketch.values !== null ? 'values' : sketch.spec.kind,
    };
    const unique = new Set<number>();
    if (total > 0) {
      for (const p of state.probs) {
        const plan = type7(total, p);
        unique.add(plan.lo);
        unique.add(plan.hi);
      }
    }
    ranks = [...unique]
      .sort((x, y) => x - y)
      .map((rank) => ({ rank, target: 0, value: null, exact: false, lower: null, upper: null }));
  }

  const nextTargets: QuantileTarget[] = [];
  const targetKeys = new Map<string, number>();
  const canRefine = state.exact && state.pass + 1 < QUANTILE_MAX_PASSES;
  ranks = ranks.map((r): RankState => {
    if (r.target === null) return r;
    const target = state.targets[r.target] as QuantileTarget;
    const answer = (readers[r.target] as ReturnType<typeof rankReader>).at(r.rank - target.rankOffset);
    if (answer.exact)
      return { ...r, target: null, value: toJson(answer.value), exact: true, lower: null, upper: null };
    if (canRefine && answer.refine !== null) {
      const path = [...target.path, answer.refine.step];
      const key = JSON.stringify(path);
      let index = targetKeys.get(key);
      if (index === undefined) {
        index = nextTargets.length;
        targetKeys.set(key, index);
        nextTargets.push({
          path,
          spec: answer.refine.spec,
          rankOffset: target.rankOffset + answer.refine.rankOffset,
        });
      }
      return { ...r, target: index };
    }
    return {
      ...r,
      target: null,
      value: toJson(answer.value),
      exact: false,
      lower: toJson(answer.lower),
      upper: toJson(answer.upper),
    };
  });

  if (nextTargets.length > 0) {
    return {
      done: false,
      state: { ...state, pass: state.pass + 1, targets: nextTargets, ranks, firstPass },
      message: `refining ${nextTargets.length} bin(s) for exact quantiles (pass ${state.pass + 2})`,
    };
  }
  return { done: true, result: toResult(state, firstPass, ranks) };
}

function toResult(
  state: QuantileState,
  firstPass: NonNullable<QuantileState['firstPass']>,
  ranks: RankState[],
): QuantileResult {
  const warnings = new Warnings();
  const byRank = new Map(ranks.map((r) => [r.rank, r]));
  let exact = true;
  let maxAbsError = 0;
  const quantiles = state.probs.map((prob) => {
    if (firstPass.total <= 0) return { prob, value: null };
    const plan = type7(firstPass.total, prob);
    const lo = byRank.get(plan.lo) as RankState;
    const hi = byRank.get(plan.hi) as RankState;
    const answer = (r: RankState): RankAnswer =>
      r.exact
        ? { exact: true, value: fromJson(r.value as JsonNumber) }
        : {
            exact: false,
            value: fromJson(r.value as JsonNumber),
            lower: fromJson(r.lower as JsonNumber),
            upper: fromJson(r.upper as JsonNumber),
            refine: null,
          };
    const a = answer(lo);
    const b = answer(hi);
    if (!a.exact || !b.exact) exact = false;
    maxAbsError = Math.max(maxAbsError, (1 - plan.g) * errorOf(a) + plan.g * errorOf(b));
    const value = finiteOrNull(interpolate7(a.value, b.value, plan.g));
    if (value === null)
      warnings.add(
        `the ${prob} quantile of '${state.variable}' is not finite (the data hold infinite values)`,
      );
    return { prob, value };
  });
  if (firstPass.total <= 0) {
    warnings.add(
      firstPass.validObs === 0
        ? `'${state.variable}' has no valid observations`
        : `'${state.variable}' has no observations with a positive weight`,
    );
  }
  const passes = state.pass + 1;
  let method: QuantileResult['method'];
  if (passes > 1) method = 'binnedRefined';
  else if (firstPass.mode === 'values') method = 'sortedValues';
  else if (firstPass.mode === 'integer' && exact) method = 'integerCounts';
  else method = 'binned';
  const errorBound = finiteOrNull(maxAbsError);
  if (!exact) {
    warnings.add(
      errorBound === null
        ? 'some quantiles are approximate and their error is unbounded (infinite values in their bins)'
        : `quantiles are approximate: within ${errorBound.toPrecision(3)} of the exact values`,
    );
  }
  return {
    variable: state.variable,
    probs: state.probs,
    quantiles,
    exact,
    maxAbsError: exact ? 0 : errorBound,
    method,
    passes,
    validObs: firstPass.validObs,
    missingObs: firstPass.missingObs,
    sumOfWeights: state.weights === null ? null : firstPass.total,
    warnings: warnings.list(),
  };
}

export const quantile = {
  name: 'quantile',
  paramsSchema: QuantileParamsSchema,
  resultSchema: QuantileResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<QuantileParams, QuantileState, QuantilePartial, QuantileResult>;
