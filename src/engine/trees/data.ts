import type { Table } from 'apache-arrow';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import { andMasks, ChunkColumns } from '../columns.ts';
import { EngineError } from '../errors.ts';
import {
  type FactorSource,
  type NumericSource,
  parseFormula,
  planSource,
  sourceInputs,
  TermColumns,
  type TermFactor,
  type TermSource,
} from '../formula/index.ts';
import { formulaError } from '../formula/lexer.ts';
import { readWeights, type WeightPlan } from '../params.ts';

/**
 * What a tree analysis reads: the response, the predictors and the weight, planned once from the
 * formula (plain JSON, kept in the analysis state) and read per chunk.
 *
 * Predictors are main effects only: a numeric-like variable or `N(f)` (numeric, split at bin edges), a
 * factor or `F(x)` (split by level subsets). Trees find interactions themselves, so `a:b` is refused,
 * and so are in-line functions (`log(x)`): RevoScaleR's trees do not support them; a `transforms`
 * entry computes the variable first.
 *
 * Rows: a row is used when its response is present (not NaN), its weight present and > 0, and, with
 * `removeMissings`, every predictor present. Rows with missing predictors are otherwise kept: each split
 * sends them the way it learned (see splitSearch.ts).
 */

/** Most levels a factor predictor or response may have (codes are stored as 16-bit, one code for NA). */
export const MAX_TREE_LEVELS = 65_534;

export interface FeaturePlan {
  /** The term's label: `x`, `F_x`, `N(g)`. */
  name: string;
  source: TermSource;
  kind: 'numeric' | 'factor';
  /** Factor levels (factor predictors only). */
  levels: string[] | null;
}

export interface ResponsePlan {
  name: string;
  source: TermSource;
  /** `factor`: class codes into `levels`; `numeric`: values (a logical reads as 0/1). */
  kind: 'factor' | 'numeric';
  levels: string[] | null;
  /** The dataset type of the response variable, for checks such as bernoulli's 0/1. */
  type: string;
}

export interface TreeDataPlan {
  formula: string;
  response: ResponsePlan;
  features: FeaturePlan[];
  weights: WeightPlan | null;
  removeMissings: boolean;
  /** Dataset variables read, weight included. */
  inputs: string[];
}

function refuseExpression(factor: TermFactor, formula: string, analysis: string): void {
  if (factor.kind === 'expression') {
    throw formulaError(
      `${analysis} does not support in-line functions such as '${factor.label}' (RevoScaleR's trees do not); compute the variable with 'transforms' and use its name`,
      factor.column,
      formula,
    );
  }
}

/** Plans response and predictors from `y ~ x1 + x2 + F(x3)`. */
export function planTreeData(
  formula: string,
  meta: DatasetMeta,
  weights: WeightPlan | null,
  analysis: string,
  removeMissings: boolean,
): TreeDataPlan {
  const parsed = parseFormula(formula, meta.variables);
  const responses = parsed.response;
  if (responses === null || responses.length !== 1) {
    throw formulaError(`${analysis} needs one response: 'y ~ x1 + x2'`, 1, formula);
  }
  const responseFactor = responses[0] as TermFactor;
  refuseExpression(responseFactor, formula, analysis);
  const responseSource = planSource(responseFactor, meta.variables);
  const responseVariable = sourceInputs(responseSource)[0] as string;
  const responseType = meta.variables.find((v) => v.name === responseVariable)?.type ?? 'numeric';
  const response: ResponsePlan = {
    name: responseFactor.label,
    source: responseSource,
    kind: responseSource.role === 'factor' ? 'factor' : 'numeric',
    levels: responseSource.role === 'factor' ? responseSource.levels : null,
    type: responseSource.kind === 'variable' ? responseType : responseSource.role,
  };
  if (response.levels !== null && response.levels.length > MAX_TREE_LEVELS) {
    throw new EngineError(
      'TOO_MANY_LEVELS',
      `response '${response.name}' has ${response.levels.length} levels; at most ${MAX_TREE_LEVELS} are supported`,
      422,
      { variable: response.name, levels: response.levels.length },
    );
  }
  if (parsed.terms.length === 0) throw formulaError(`${analysis} needs at least one predictor`, 1, formula);
  const features: FeaturePlan[] = [];
  for (const term of parsed.terms) {
    if (term.factors.length !== 1) {
      throw formulaError(
        `${analysis} takes main effects only, not the interaction '${term.label}' (trees find interactions themselves)`,
        term.column,
        formula,
      );
    }
    const factor = term.factors[0] as TermFactor;
    refuseExpression(factor, formula, analysis);
    const source = planSource(factor, meta.variables);
    if (sourceInputs(source).includes(responseVariable) && factor.label === responseFactor.label) {
      throw formulaError(`the response '${response.name}' cannot also be a predictor`, term.column, formula);
    }
    const levels = source.role === 'factor' ? source.levels : null;
    if (levels !== null && levels.length > MAX_TREE_LEVELS) {
      throw new EngineError(
        'TOO_MANY_LEVELS',
        `predictor '${term.label}' has ${levels.length} levels; at most ${MAX_TREE_LEVELS} are supported`,
        422,
        { variable: term.label, levels: levels.length },
      );
    }
    features.push({
      name: term.label,
      source,
      kind: source.role === 'factor' ? 'factor' : 'numeric',
      levels,
    });
  }
  const inputs = new Set<string>();
  for (const s of [responseSource, ...features.map((f) => f.source)])
    for (const v of sourceInputs(s)) inputs.add(v);
  if (weights !== null) inputs.add(weights.variable);
  return { formula, response, features, weights, removeMissings, inputs: [...inputs] };
}

/** One predictor as read from a chunk: numbers (NaN or `usable` 0 = missing) or factor codes. */
export type RawFeature =
  | { kind: 'numeric'; values: Float64Array; usable: Uint8Array | null }
  | { kind: 'factor'; codes: Int32Array; valid: Uint8Array | null };

export interface RawTreeChunk {
  numRows: number;
  /** 1 = the row takes part (response and weight present, weight > 0). */
  use: Uint8Array;
  /** Class codes (factor responses) or values (numeric responses); meaningless where `use` is 0. */
  yCode: Int32Array | null;
  yValue: Float64Array | null;
  /** Case weights; null = all 1. */
  weight: Float64Array | null;
  features: RawFeature[];
}

/** Reads response, weight and predictors of a chunk. */
export function readTreeChunk(table: Table, plan: TreeDataPlan): RawTreeChunk {
  const reader = new TermColumns(new ChunkColumns(table));
  const n = table.numRows;
  const use = new Uint8Array(n).fill(1);
  let yCode: Int32Array | null = null;
  let yValue: Float64Array | null = null;
  const response = plan.response.source;
  if (response.role === 'factor') {
    const column = reader.factor(response as FactorSource);
    yCode = column.codes;
    const valid = column.valid;
    if (valid !== null) for (let i = 0; i < n; i++) use[i] = valid[i] as number;
  } else {
    const column = reader.numeric(response as NumericSource);
    yValue = column.values;
    const usable = reader.usable(response as NumericSource);
    if (usable !== null) for (let i = 0; i < n; i++) use[i] = usable[i] as number;
  }
  let weight: Float64Array | null = null;
  if (plan.weights !== null) {
    const column = readWeights(table, plan.weights);
    weight = column.values;
    const valid = column.valid;
    for (let i = 0; i < n; i++) {
      if ((valid !== null && valid[i] === 0) || !((weight[i] as number) > 0)) use[i] = 0;
    }
  }
  const features = plan.features.map((feature): RawFeature => {
    if (feature.source.role === 'factor') {
      const column = reader.factor(feature.source);
      return { kind: 'factor', codes: column.codes, valid: column.valid };
    }
    const source = feature.source;
    return { kind: 'numeric', values: reader.numeric(source).values, usable: reader.usable(source) };
  });
  if (plan.removeMissings) {
    const present = andMasks(
      n,
      features.map((f) => (f.kind === 'numeric' ? f.usable : f.valid)),
    );
    if (present !== null) for (let i = 0; i < n; i++) use[i] = (use[i] as number) & (present[i] as number);
  }
  return { numRows: n, use, yCode, yValue, weight, features };
}
