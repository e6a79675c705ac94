import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk } from '../analysis.ts';
import { andMasks, ChunkColumns, cellIndex, countSet, gatherValid } from '../columns.ts';
import { EngineError } from '../errors.ts';
import {
  type FactorSource,
  type NumericSource,
  type ParsedFormula,
  parseFormula,
  planSource,
  sourceInputs,
  sourceKey,
  TermColumns,
  type TermFactor,
  type TermSource,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { checkParams, finiteOrNull, planWeights, readWeights, Warnings, type WeightPlan } from '../params.ts';
import { summarizeDense } from '../stats/denseColumn.ts';
import { accumulateMoments, emptyMoments, type Moments, mergeMoments } from '../stats/moments.ts';
import {
  allocateBins,
  type BinSpec,
  emptySketch,
  interpolate7,
  mergeSketches,
  planBins,
  rankReader,
  type Sketch,
  sketchChunk,
  type7,
} from '../stats/sketch.ts';

/**
 * rxSummary: per numeric term mean, standard deviation, min, max, sum, valid and missing counts (and,
 * in the same pass, median and quartiles); per factor term counts per level; per `y:g` term the same
 * statistics in every cell of the groups.
 *
 * Terms (the shared formula parser, formula/): each term's factors are numeric (a numeric-like variable,
 * `N(f)`, an in-line expression) or categorical (a factor, `F(x)`). No numeric factor: counts per cell
 * of the categorical ones (`~ g`, `~ F(age)`, `~ g:h`); one: its statistics, per cell of the categorical
 * ones if any (`~ y`, `~ y:g`, `~ y:F(age):sex`); more than one is refused. `y ~ rhs` interacts y with
 * the FIRST rhs term (`y ~ g + h` = `~ y:g + h`), as RevoScaleR documents. `~ .` is every variable but
 * strings and the weight. Names in the result are the factors' labels (`F_age`, `N(g)`, `log(x)`).
 *
 * Weights (RevoScaleR's `pweights` / `fweights`, at most one): mean = sum(w x) / sum(w) and
 * stdDev = sqrt(sum(w (x - mean)^2) / (sum(w) - 1)) for BOTH kinds, which is what RevoScaleR prints
 * (for fweights it is exactly the unweighted statistic of the replicated rows; for pweights it is not
 * an unbiased estimator, and it depends on the scale of the weights). `validObs` / `missingObs` stay row
 * counts; `sumOfWeights` / `missingWeights` carry the weighted counts (RevoScaleR prints those instead).
 * Factor counts are sums of weights. Rows with a missing weight count as missing.
 *
 * Missing values: `byTerm: true` (default) drops missings term by term; `false` drops every row with a
 * missing value in any formula variable (listwise) for all terms. NaN counts as missing.
 * `nValidObs` / `nMissingObs` count rows complete / incomplete across all formula variables (and the
 * weight), in either mode.
 *
 * Quantiles (`quantiles: true`; off by default, as rxSummary has no median, and because binning every value
 * costs about 3.5x the moments alone): R's type 7 median and quartiles from a one-pass sketch
 * (see stats/sketch.ts). Exact when a chunk-merged variable has at most 16384 values, for integer
 * variables whose range spans at most 8192 integers, and whenever the order statistic falls in a bin
 * holding one distinct value (2048 bins over [low, high]); otherwise within the bin's [min, max], said
 * in a warning. The `quantile` analysis refines to exact values with extra passes.
 */

export const SUMMARY_STATS = [
  'Mean',
  'StdDev',
  'Min',
  'Max',
  'Sum',
  'ValidObs',
  'MissingObs',
  'SumOfWeights',
  'MissingWeights',
] as const;
export type SummaryStatName = (typeof SUMMARY_STATS)[number];

export const SummaryParamsSchema = Type.Object(
  {
    formula: Type.String({
      minLength: 1,
      description:
        "`~ x + y`, `~ .`, `~ y:g1:g2`, `~ y:F(age)` or `y ~ g` (y's statistics by the factors), `~ g` or `~ F(age)` (counts), `~ N(g)` (codes).",
    }),
    pweights: Type.Optional(Type.String({ minLength: 1, description: 'Probability-weight variable.' })),
    fweights: Type.Optional(Type.String({ minLength: 1, description: 'Frequency-weight variable.' })),
    summaryStats: Type.Optional(
      Type.Array(Type.Enum(SUMMARY_STATS), {
        minItems: 1,
        uniqueItems: true,
        description:
          'Statistics to return. Default: Mean, StdDev, Min, Max, Sum, ValidObs, MissingObs (and SumOfWeights, MissingWeights when weighted).',
      }),
    ),
    byTerm: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'true: drop missings term by term; false: drop rows with any missing.',
      }),
    ),
    quantiles: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'Also return median, q1 and q3 of numeric terms (same pass; slower).',
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
export type SummaryParams = Static<typeof SummaryParamsSchema>;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

/** Statistic fields shared by `stats` entries and `byGroup` cells; present as `summaryStats` asks. */
const statFields = {
  mean: Type.Optional(NullableNumber),
  stdDev: Type.Optional(NullableNumber),
  min: Type.Optional(NullableNumber),
  max: Type.Optional(NullableNumber),
  sum: Type.Optional(NullableNumber),
  validObs: Type.Optional(Type.Number()),
  missingObs: Type.Optional(Type.Number()),
  sumOfWeights: Type.Optional(Type.Number()),
  missingWeights: Type.Optional(Type.Number()),
};

export const SummaryResultSchema = Type.Object({
  /** Rows with no missing value in any formula variable (or the weight). */
  nValidObs: Type.Number(),
  nMissingObs: Type.Number(),
  stats: Type.Array(
    Type.Object({
      name: Type.String(),
      ...statFields,
      median: Type.Optional(NullableNumber),
      q1: Type.Optional(NullableNumber),
      q3: Type.Optional(NullableNumber),
    }),
  ),
  categorical: Type.Array(
    Type.Object({
      name: Type.String(),
      groups: Type.Array(Type.String()),
      counts: Type.Array(
        Type.Object({
          level: Type.String(),
          levels: Type.Record(Type.String(), Type.String()),
          count: Type.Number(),
        }),
      ),
      validObs: Type.Number(),
      missingObs: Type.Number(),
    }),
  ),
  byGroup: Type.Array(
    Type.Object({
      name: Type.String(),
      groups: Type.Array(Type.String()),
      cells: Type.Array(Type.Object({ levels: Type.Record(Type.String(), Type.String()), ...statFields })),
      validObs: Type.Number(),
      missingObs: Type.Number(),
    }),
  ),
  warnings: Type.Array(Type.String()),
});
export type SummaryResult = Static<typeof SummaryResultSchema>;

/** Largest number of cells a factor or by-group term may cross (partials hold 9 doubles per cell). */
export const MAX_SUMMARY_CELLS = 1_000_000;
/** Values a summary quantile sketch keeps exactly before switching to bins. */
const SUMMARY_SKETCH_CAP = 16_384;
/** Integer bins and range bins cost about the same in a partial (64 KiB vs 48 KiB per column). */
const SUMMARY_MAX_INTEGER_BINS = 8_192;
const SUMMARY_NUMERIC_BREAKS = 2_048;

type TermPlan =
  | { kind: 'numeric'; label: string; source: NumericSource; sketch: BinSpec | null }
  | { kind: 'byGroup'; label: string; source: NumericSource; groups: FactorSource[] }
  | { kind: 'factor'; label: string; factors: FactorSource[] };

export interface SummaryState {
  terms: TermPlan[];
  /** Every source the terms read, once each (for listwise deletion). */
  numericSources: NumericSource[];
  factorSources: FactorSource[];
  /** Dataset variables read (without the weight). */
  inputs: string[];
  weights: WeightPlan | null;
  byTerm: boolean;
  stats: SummaryStatName[];
  quantiles: boolean;
}

type TermPartial =
  | { kind: 'moments'; moments: Moments; sketch: Sketch | null }
  | { kind: 'counts'; counts: Float64Array; counted: number };

export interface SummaryPartial {
  rows: number;
  completeRows: number;
  terms: TermPartial[];
}

// ---------------------------------------------------------------------------------------------------
// init

function cellCount(factors: readonly FactorSource[], label: string): number {
  const cells = factors.reduce((product, f) => product * f.levels.length, 1);
  if (cells > MAX_SUMMARY_CELLS) {
    throw new EngineError(
      'TOO_MANY_CELLS',
      `term '${label}' crosses ${cells} cells; at most ${MAX_SUMMARY_CELLS} are supported`,
      422,
      {
        term: label,
        cells,
      },
    );
  }
  return cells;
}

/** Bins for a numeric source's quartiles, from what the dataset knows of its range. */
function sketchFor(source: NumericSource, meta: DatasetMeta): BinSpec | null {
  let info: VarInfo | undefined;
  if (source.kind === 'variable') info = meta.variables.find((v) => v.name === source.name);
  // N(f) is an integer from 1 to the number of levels.
  else if (source.kind === 'N') {
    info = { name: source.label, type: 'integer', low: 1, high: source.levels.length, missing: 0 };
  }
  // An in-line expression's range is unknown before the data are read: no quartiles (finalize says so).
  if (info === undefined) return null;
  return planBins(info, {
    maxIntegerBins: SUMMARY_MAX_INTEGER_BINS,
    numNumericBreaks: SUMMARY_NUMERIC_BREAKS,
    integerBinsForNumeric: false,
  });
}

/** One term's plan; `factors` are the term's factors (with the response joined to the first term). */
function planTerm(
  factors: readonly TermFactor[],
  label: string,
  column: number,
  parsed: ParsedFormula,
  meta: DatasetMeta,
  quantiles: boolean,
): TermPlan {
  const sources = factors.map((f) => planSource(f, meta.variables));
  const numeric = sources.filter((s): s is NumericSource => s.role === 'numeric');
  const categorical = sources.filter((s): s is FactorSource => s.role === 'factor');
  if (numeric.length > 1) {
    const second = numeric[1] as NumericSource;
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `term '${label}' at column ${column} has ${numeric.length} numeric factors (${numeric.map((n) => n.label).join(', ')}); summary statistics take one numeric per term: group by a numeric with F(), e.g. '${numeric[0]?.label}:F(${second.label})'`,
      422,
      { term: label, column, formula: parsed.text },
    );
  }
  const source = numeric[0];
  if (source === undefined) {
    cellCount(categorical, label);
    return { kind: 'factor', label, factors: categorical };
  }
  if (categorical.length === 0) {
    return { kind: 'numeric', label, source, sketch: quantiles ? sketchFor(source, meta) : null };
  }
  cellCount(categorical, label);
  return { kind: 'byGroup', label, source, groups: categorical };
}

function init(params: SummaryParams, meta: DatasetMeta): SummaryState {
  checkParams(SummaryParamsSchema, params, 'summary');
  const weights = planWeights(params, meta);
  const quantiles = params.quantiles ?? false;
  const parsed = parseFormula(params.formula, meta.variables, {
    allowDot: true,
    dotExclude: weights === null ? [] : [weights.variable],
  });
  const response = parsed.response?.[0] ?? null;
  if (response !== null && parsed.dotColumn !== null) {
    throw formulaError("'.' cannot be used with a response (y ~ .)", parsed.dotColumn, params.formula);
  }
  const first = parsed.terms[0];
  if (first === undefined) {
    throw formulaError(
      response === null ? 'the formula has no terms to summarize' : 'expected a term after the response',
      response?.column ?? 1,
      params.formula,
    );
  }
  const terms = parsed.terms.map((term, i) => {
    // y ~ g + h is ~ y:g + h: the response joins the first term.
    if (i === 0 && response !== null) {
      const label = [response, ...term.factors].map((f) => f.label).join(':');
      return planTerm([response, ...term.factors], label, response.column, parsed, meta, quantiles);
    }
    return planTerm(term.factors, term.label, term.column, parsed, meta, quantiles);
  });
  const numericSources = new Map<string, NumericSource>();
  const factorSources = new Map<string, FactorSource>();
  const add = (source: TermSource): void => {
    if (source.role === 'numeric') numericSources.set(sourceKey(source), source);
    else factorSources.set(sourceKey(source), source);
  };
  for (const term of terms) {
    if (term.kind === 'factor') term.factors.forEach(add);
    else {
      add(term.source);
      if (term.kind === 'byGroup') term.groups.forEach(add);
    }
  }
  const inputs = [...new Set([...numericSources.values(), ...factorSources.values()].flatMap(sourceInputs))];
  const weighted = weights !== null;
  // The default is every statistic but the weighted counts, which come only with weights.
  const stats: SummaryStatName[] =
    params.summaryStats ??
    SUMMARY_STATS.slice(0, weighted ? SUMMARY_STATS.length : SUMMARY_STATS.indexOf('SumOfWeights'));
  return {
    terms,
    numericSources: [...numericSources.values()],
    factorSources: [...factorSources.values()],
    inputs,
    weights,
    byTerm: params.byTerm ?? true,
    stats,
    quantiles,
  };
}

function columnsUsed(state: SummaryState): string[] {
  const names = [...state.inputs];
  if (state.weights !== null && !names.includes(state.weights.variable)) names.push(state.weights.variable);
  return names;
}

// ---------------------------------------------------------------------------------------------------
// map

function map(chunk: Chunk, state: SummaryState): SummaryPartial {
  const reader = new TermColumns(new ChunkColumns(chunk.table));
  const numRows = chunk.table.numRows;
  const weightColumn = state.weights === null ? null : readWeights(chunk.table, state.weights);
  const weights = weightColumn?.values ?? null;
  const weightValid = weightColumn?.valid ?? null;

  // Rows complete in every formula variable and the weight; computed only when needed.
  let complete: Uint8Array | null | undefined;
  const completeMask = (): Uint8Array | null => {
    if (complete === undefined) {
      complete = andMasks(numRows, [
        weightValid,
        ...state.numericSources.map((s) => reader.usable(s)),
        ...state.factorSources.map((s) => reader.factor(s).valid),
      ]);
    }
    return complete;
  };

  const terms: TermPartial[] = state.terms.map((term): TermPartial => {
    if (term.kind === 'factor') {
      const rowMask = state.byTerm ? weightValid : completeMask();
      const sizes = term.factors.map((f) => f.levels.length);
      const cells = cellIndex(
        term.factors.map((f) => reader.factor(f)),
        sizes,
        numRows,
        rowMask,
      );
      const counts = new Float64Array(sizes.reduce((p, size) => p * size, 1));
      let counted = 0;
      for (let i = 0; i < numRows; i++) {
        const c = cells[i] as number;
        if (c < 0) continue;
        counts[c] = (counts[c] as number) + (weights === null ? 1 : (weights[i] as number));
        counted++;
      }
      return { kind: 'counts', counts, counted };
    }
    const column = reader.numeric(term.source);
    const valid = state.byTerm ? andMasks(numRows, [column.valid, weightValid]) : completeMask();
    if (term.kind === 'byGroup') {
      const sizes = term.groups.map((g) => g.levels.length);
      const cells = cellIndex(
        term.groups.map((g) => reader.factor(g)),
        sizes,
        numRows,
        null,
      );
      const moments = emptyMoments(sizes.reduce((p, size) => p * size, 1));
      accumulateMoments(moments, { values: column.values, valid, weights, weightValid, cells, numRows });
      return { kind: 'moments', moments, sketch: null };
    }
    const moments = emptyMoments(1);
    if (weights === null) {
      // The hot path: moments and quantile bins in one read of the column. Rows with a missing value
      // are packed out first, so masked columns run the same kernel.
      const values = valid === null ? column.values : gatherValid(column.values, valid, numRows);
      const present = values.length;
      let sketch: Sketch | null = null;
      if (term.sketch !== null && present > SUMMARY_SKETCH_CAP) {
        sketch = emptySketch(term.sketch, SUMMARY_SKETCH_CAP, false);
        allocateBins(sketch);
      }
      summarizeDense(values, present, moments, sketch);
      const usable = moments.validObs[0] as number;
      // The kernel counted the NaN among the present rows: no need to scan for them again.
      if (moments.missingObs[0] === 0 && valid === column.valid) reader.markNoNaN(term.source);
      moments.missingObs[0] = numRows - usable;
      // Few usable values (e.g. a mostly-NaN chunk): keep the values instead, as sketchChunk would.
      if (term.sketch !== null && (sketch === null || usable <= SUMMARY_SKETCH_CAP)) {
        sketch = sketchChunk(
          term.sketch,
          SUMMARY_SKETCH_CAP,
          { values, valid: null, weights: null, numRows: present, path: [] },
          usable,
        );
      }
      return { kind: 'moments', moments, sketch };
    }
    // Weighted: the general two-pass path.
    accumulateMoments(moments, { values: column.values, valid, weights, weightValid, cells: null, numRows });
    const sketch =
      term.sketch === null
        ? null
        : sketchChunk(term.sketch, SUMMARY_SKETCH_CAP, {
            values: column.values,
            valid,
            weights,
            numRows,
            path: [],
          });
    return { kind: 'moments', moments, sketch };
  });

  return { rows: numRows, completeRows: countSet(completeMask(), numRows), terms };
}

// ---------------------------------------------------------------------------------------------------
// merge

function merge(a: SummaryPartial, b: SummaryPartial): SummaryPartial {
  return {
    rows: a.rows + b.rows,
    completeRows: a.completeRows + b.completeRows,
    terms: a.terms.map((ta, i): TermPartial => {
      const tb = b.terms[i];
      if (ta.kind === 'counts' && tb?.kind === 'counts') {
        const counts = ta.counts.slice();
        for (let c = 0; c < counts.length; c++) counts[c] = (counts[c] as number) + (tb.counts[c] as number);
        return { kind: 'counts', counts, counted: ta.counted + tb.counted };
      }
      if (ta.kind === 'moments' && tb?.kind === 'moments') {
        const sketch = ta.sketch !== null && tb.sketch !== null ? mergeSketches(ta.sketch, tb.sketch) : null;
        return { kind: 'moments', moments: mergeMoments(ta.moments, tb.moments), sketch };
      }
      throw new Error('summary merge: partials of different plans');
    }),
  };
}

// ---------------------------------------------------------------------------------------------------
// finalize

type StatRecord = Record<string, number | null>;

/** The requested statistics of one moments cell; non-finite values become null with a warning. */
function statsOf(
  m: Moments,
  c: number,
  state: SummaryState,
  what: string,
  warnings: Warnings,
  reportEmpty = true,
): StatRecord {
  const weight = m.weight[c] as number;
  const validObs = m.validObs[c] as number;
  const out: StatRecord = {};
  const wanted = new Set(state.stats);
  const empty = weight === 0;
  const put = (field: string, stat: SummaryStatName, value: number, reason: () => string): void => {
    if (!wanted.has(stat)) return;
    const v = finiteOrNull(value);
    if (v === null && (reportEmpty || !empty)) warnings.add(reason());
    out[field] = v;
  };
  const noData = () =>
    validObs === 0
      ? `${what} has no valid observations`
      : `${what} has no observations with a positive weight`;
  const infinite = (stat: string) => () =>
    `${stat} of ${what} is not finite (the data hold infinite or huge values)`;
  put('mean', 'Mean', empty ? Number.NaN : (m.mean[c] as number), empty ? noData : infinite('mean'));
  const variance = weight > 1 ? Math.max(0, m.m2[c] as number) / (weight - 1) : Number.NaN;
  put(
    'stdDev',
    'StdDev',
    Math.sqrt(variance),
    empty
      ? noData
      : weight <= 1
        ? () =>
            `stdDev of ${what} is undefined with ${state.weights === null ? 'fewer than 2 observations' : 'a sum of weights of 1 or less'}`
        : infinite('stdDev'),
  );
  put('min', 'Min', empty ? Number.NaN : (m.min[c] as number), empty ? noData : infinite('min'));
  put('max', 'Max', empty ? Number.NaN : (m.max[c] as number), empty ? noData : infinite('max'));
  put('sum', 'Sum', m.sum[c] as number, infinite('sum'));
  if (wanted.has('ValidObs')) out.validObs = validObs;
  if (wanted.has('MissingObs')) out.missingObs = m.missingObs[c] as number;
  if (wanted.has('SumOfWeights')) out.sumOfWeights = weight;
  if (wanted.has('MissingWeights')) out.missingWeights = m.missingWeight[c] as number;
  return out;
}

/** Median and quartiles from a sketch; a warning states the bound when one is not exact. */
function quartilesOf(
  sketch: Sketch,
  name: string,
  warnings: Warnings,
): { median: number | null; q1: number | null; q3: number | null } {
  const reader = rankReader(sketch, SUMMARY_NUMERIC_BREAKS);
  if (reader.total <= 0) {
    warnings.add(`median and quartiles of '${name}' are undefined without observations`);
    return { median: null, q1: null, q3: null };
  }
  let worst = 0;
  const at = (p: number): number | null => {
    const plan = type7(reader.total, p);
    const lo = reader.at(plan.lo);
    const hi = plan.hi === plan.lo ? lo : reader.at(plan.hi);
    const errLo = lo.exact ? 0 : Math.max(lo.value - lo.lower, lo.upper - lo.value);
    const errHi = hi.exact ? 0 : Math.max(hi.value - hi.lower, hi.upper - hi.value);
    worst = Math.max(worst, (1 - plan.g) * errLo + plan.g * errHi);
    return finiteOrNull(interpolate7(lo.value, hi.value, plan.g));
  };
  const result = { q1: at(0.25), median: at(0.5), q3: at(0.75) };
  if (worst > 0) {
    warnings.add(
      `median and quartiles of '${name}' are approximate (one pass, binned): within ${worst.toPrecision(3)} of the exact values; run a quantile job for exact ones`,
    );
  }
  if (result.q1 === null || result.median === null || result.q3 === null) {
    warnings.add(`median or quartiles of '${name}' are not finite (the data hold infinite values)`);
  }
  return result;
}

function cellLevels(factors: readonly FactorSource[], cell: number): Record<string, string> {
  const out: Record<string, string> = {};
  let rest = cell;
  for (const factor of factors) {
    const size = factor.levels.length;
    out[factor.label] = factor.levels[rest % size] as string;
    rest = Math.floor(rest / size);
  }
  return out;
}

function finalize(partial: SummaryPartial, state: SummaryState): { done: true; result: SummaryResult } {
  const warnings = new Warnings();
  const result: SummaryResult = {
    nValidObs: partial.completeRows,
    nMissingObs: partial.rows - partial.completeRows,
    stats: [],
    categorical: [],
    byGroup: [],
    warnings: [],
  };
  state.terms.forEach((term, i) => {
    const tp = partial.terms[i];
    if (term.kind === 'factor' && tp?.kind === 'counts') {
      const names = term.factors.map((f) => f.label);
      result.categorical.push({
        name: term.label,
        groups: names,
        counts: Array.from(tp.counts, (count, cell) => {
          const levels = cellLevels(term.factors, cell);
          const level =
            names.length === 1
              ? (levels[names[0] as string] as string)
              : names.map((f) => `${f}=${levels[f]}`).join(', ');
          return { level, levels, count };
        }),
        validObs: tp.counted,
        missingObs: partial.rows - tp.counted,
      });
    } else if (term.kind === 'numeric' && tp?.kind === 'moments') {
      const name = term.source.label;
      const entry: SummaryResult['stats'][number] = {
        name,
        ...statsOf(tp.moments, 0, state, `'${name}'`, warnings),
      };
      if (tp.sketch !== null) Object.assign(entry, quartilesOf(tp.sketch, name, warnings));
      else if (state.quantiles) {
        warnings.add(
          `median and quartiles of '${name}' are not computed: the range of an in-line expression is unknown before the data are read`,
        );
      }
      result.stats.push(entry);
    } else if (term.kind === 'byGroup' && tp?.kind === 'moments') {
      const m = tp.moments;
      const groups = term.groups.map((g) => g.label);
      let valid = 0;
      let empty = 0;
      const cellWarnings = new Warnings();
      const cells = Array.from(m.validObs, (obs, cell) => {
        valid += obs;
        if ((m.weight[cell] as number) === 0) empty++;
        return {
          levels: cellLevels(term.groups, cell),
          // Empty cells are reported once for the whole term below.
          ...statsOf(
            m,
            cell,
            state,
            `'${term.source.label}' in a cell of ${groups.join(':')}`,
            cellWarnings,
            false,
          ),
        };
      });
      for (const w of cellWarnings.list()) warnings.add(w);
      if (empty > 0) {
        warnings.add(
          `${empty} of ${cells.length} cells of '${term.label}' have no observations; their statistics are null`,
        );
      }
      result.byGroup.push({
        name: term.source.label,
        groups,
        cells,
        validObs: valid,
        missingObs: partial.rows - valid,
      });
    }
  });
  result.warnings = warnings.list();
  return { done: true, result };
}

export const summary = {
  name: 'summary',
  paramsSchema: SummaryParamsSchema,
  resultSchema: SummaryResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<SummaryParams, SummaryState, SummaryPartial, SummaryResult>;
