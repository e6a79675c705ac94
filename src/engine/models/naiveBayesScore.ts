import type { Table } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { ChunkColumns } from '../columns.ts';
import { EngineError } from '../errors.ts';
import { type FactorSource, isNumericLike, type NumericSource, TermColumns } from '../formula/index.ts';
import {
  type LevelMapping,
  type MappedFactor,
  planLevelMapping,
  readMappedFactor,
  type ScoredChunk,
  type ScoredColumn,
} from './scoredColumns.ts';

/**
 * A stored rxNaiveBayes model and its scoring (rxPredict.rxNaiveBayes): the posterior of each class
 * given a row, P(c | x) proportional to P(c) * prod_v P(x_v | c), computed in log space and normalised
 * from the largest term (log-sum-exp), so thousands of predictors or tiny densities never underflow.
 *
 * - categorical predictors: log P(level | c) from the table (a level the model never saw is treated as
 *   a missing value and counted in `unseenLevels`); factor levels are matched BY LABEL, so new data
 *   may have other level lists (or hold the factor as text);
 * - numeric predictors: the normal log density with the class's mean and sd. An sd of 0 is a point
 *   mass: the density is infinite at the mean and 0 elsewhere. A predictor whose sd is unknown for some
 *   class (fewer than 2 training rows) is skipped for every class, so classes stay comparable;
 * - a missing value skips that predictor (e1071's rule): a row with every predictor missing gets the
 *   prior. A class whose terms include a zero probability is impossible; among the rest, classes with
 *   more point-mass matches win outright, then the finite log terms decide. A row for which every class
 *   is impossible gets no prediction (missing).
 *
 * Output: `type: 'class'` (default) the most probable class as a factor `<y>_Pred` (ties: the first
 * level); `'prob'` one numeric column `<level>_prob` per class (DESIGN.md's names).
 */

export type NaiveBayesPredictor =
  | {
      kind: 'categorical';
      source: FactorSource;
      /** Class x level, as the result's tables (null for a class with no rows and no smoothing). */
      probabilities: Array<Array<number | null>>;
    }
  | {
      kind: 'gaussian';
      source: NumericSource;
      mean: Array<number | null>;
      sd: Array<number | null>;
    };

export interface NaiveBayesModelBody {
  kind: 'naiveBayes';
  response: { label: string; levels: string[] };
  /** Class priors (proportions), in `response.levels` order. */
  apriori: number[];
  predictors: NaiveBayesPredictor[];
  /** Dataset variables the model was trained on (name, type, factor levels). */
  inputs: Array<Pick<VarInfo, 'name' | 'type' | 'levels'>>;
}

export function isNaiveBayesModelBody(body: unknown): body is NaiveBayesModelBody {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return b['kind'] === 'naiveBayes' && Array.isArray(b['predictors']) && Array.isArray(b['apriori']);
}

export interface NaiveBayesScoreOptions {
  /** @defaultValue 'class' */
  type?: 'class' | 'prob';
  /** Class priors replacing the model's (RevoScaleR's `prior`), one per class; normalised to sum 1. */
  prior?: number[];
  /** Name of the class column. @defaultValue `<response>_Pred` */
  predVarName?: string;
}

interface PredictorPlan {
  predictor: NaiveBayesPredictor;
  /** How the factor (or N()'s factor) variable is read; null for numeric variables and F() of numbers. */
  mapping: LevelMapping | null;
  /** Training levels of the factor variable the mapping reads into. */
  variableLevels: string[] | null;
  /** True when the predictor is left out of every row's score (an sd is unknown). */
  skip: boolean;
}

/** A plain-JSON scoring plan. */
export interface NaiveBayesScoringPlan {
  classes: string[];
  /** Normalised priors. */
  prior: number[];
  predictors: PredictorPlan[];
  type: 'class' | 'prob';
  predVarName: string;
  probVarNames: string[];
}

/** The factor variable a categorical (or N()) predictor reads, with its training levels; null for numbers. */
function factorVariable(predictor: NaiveBayesPredictor): { name: string; levels: string[] } | null {
  const source = predictor.source;
  if (source.kind === 'variable' && source.role === 'factor')
    return { name: source.name, levels: source.levels };
  if (source.kind === 'F' && source.of === 'factor') {
    return { name: source.variable, levels: source.variableLevels ?? [] };
  }
  if (source.kind === 'N') return { name: source.variable, levels: source.levels };
  return null;
}

/** The dataset variables a predictor reads. */
function predictorVariables(predictor: NaiveBayesPredictor): string[] {
  const source = predictor.source;
  if (source.kind === 'expression') return source.inputs.map((v) => v.name);
  if (source.kind === 'variable') return [source.name];
  return [source.variable];
}

/**
 * Checks the data's variables against the model's (present; numbers where the model had numbers,
 * factors or text where it had factors; 422 otherwise) and plans the scoring.
 */
export function planNaiveBayesScoring(
  body: NaiveBayesModelBody,
  data: ReadonlyArray<Pick<VarInfo, 'name' | 'type' | 'levels'>>,
  options: NaiveBayesScoreOptions = {},
): NaiveBayesScoringPlan {
  const byName = new Map(data.map((v) => [v.name, v]));
  const classes = body.response.levels;
  const missing = new Set<string>();
  const wrong: Array<{ variable: string; model: string; data: string }> = [];
  const predictors = body.predictors.map((predictor): PredictorPlan => {
    const variable = factorVariable(predictor);
    const names = predictorVariables(predictor);
    for (const name of names) if (!byName.has(name)) missing.add(name);
    const skip =
      predictor.kind === 'gaussian' && predictor.sd.some((sd, c) => sd === null && body.apriori[c]! > 0);
    if (variable === null) {
      for (const name of names) {
        const info = byName.get(name);
        if (info && !isNumericLike(info.type))
          wrong.push({ variable: name, model: 'numbers', data: info.type });
      }
      return { predictor, mapping: null, variableLevels: null, skip };
    }
    const info = byName.get(variable.name);
    if (info === undefined) return { predictor, mapping: null, variableLevels: variable.levels, skip };
    const mapping = planLevelMapping(variable.levels, { ...info, low: null, high: null, missing: 0 });
    if (mapping === null) wrong.push({ variable: variable.name, model: 'a factor', data: info.type });
    return { predictor, mapping, variableLevels: variable.levels, skip };
  });
  if (missing.size > 0) {
    throw new EngineError(
      'MISSING_VARIABLES',
      `the data to score lacks the model variable${missing.size === 1 ? '' : 's'} ${[...missing].map((m) => `'${m}'`).join(', ')}`,
      422,
      { missing: [...missing] },
    );
  }
  if (wrong.length > 0) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `the data to score has ${wrong.map((w) => `'${w.variable}' as ${w.data} where the model was fitted on ${w.model}`).join('; ')}`,
      422,
      { variables: wrong },
    );
  }
  let prior = body.apriori;
  if (options.prior !== undefined) {
    const given = options.prior;
    const sum = given.reduce((a, b) => a + b, 0);
    if (
      given.length !== classes.length ||
      given.some((p) => !(p >= 0) || !Number.isFinite(p)) ||
      !(sum > 0)
    ) {
      throw new EngineError(
        'INVALID_PARAMS',
        `prior needs ${classes.length} non-negative numbers (one per class: ${classes.join(', ')}) with a positive sum`,
        400,
        { classes },
      );
    }
    prior = given.map((p) => p / sum);
  }
  return {
    classes,
    prior,
    predictors,
    type: options.type ?? 'class',
    predVarName: options.predVarName ?? `${body.response.label}_Pred`,
    probVarNames: classes.map((level) => `${level}_prob`),
  };
}

/** Dataset variables `scoreNaiveBayesChunk` reads. */
export function naiveBayesScoringColumns(plan: NaiveBayesScoringPlan): string[] {
  return [...new Set(plan.predictors.flatMap((p) => predictorVariables(p.predictor)))];
}

/** The output columns a plan writes (names and types), for the output dataset's meta. */
export function naiveBayesOutputColumns(
  plan: NaiveBayesScoringPlan,
): Array<Pick<ScoredColumn, 'name' | 'type' | 'levels'>> {
  if (plan.type === 'class') return [{ name: plan.predVarName, type: 'factor', levels: plan.classes }];
  return plan.probVarNames.map((name) => ({ name, type: 'numeric' }));
}

const HALF_LOG_2PI = 0.5 * Math.log(2 * Math.PI);

/** A categorical predictor's codes into its own levels, through the level mapping. */
function readCategorical(table: Table, reader: TermColumns, plan: PredictorPlan): MappedFactor {
  const source = plan.predictor.source as FactorSource;
  if (plan.mapping === null) {
    const { codes, valid } = reader.factor(source); // F() of a number: computed from the values
    return { codes, valid, unseen: null };
  }
  const variable = factorVariable(plan.predictor) as { name: string; levels: string[] };
  const mapped = readMappedFactor(table, variable.name, variable.levels, plan.mapping);
  if (source.kind !== 'F') return mapped;
  // F() of a factor: a slice of the variable's levels, outside it missing (or `Other`).
  const n = table.numRows;
  const codes = new Int32Array(n);
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (mapped.valid !== null && mapped.valid[i] === 0) continue;
    const k = mapped.codes[i]! - source.first;
    if (k >= 0 && k < source.count) {
      codes[i] = k;
      valid[i] = 1;
    } else if (!source.exclude) {
      codes[i] = source.count;
      valid[i] = 1;
    }
  }
  return { codes, valid, unseen: mapped.unseen };
}

/** A numeric predictor's values and usable rows. */
function readNumericPredictor(
  table: Table,
  reader: TermColumns,
  plan: PredictorPlan,
): {
  values: Float64Array;
  usable: Uint8Array | null;
  unseen: Uint8Array | null;
} {
  const source = plan.predictor.source as NumericSource;
  if (source.kind !== 'N' || plan.mapping === null) {
    return { values: reader.numeric(source).values, usable: reader.usable(source), unseen: null };
  }
  const mapped = readMappedFactor(table, source.variable, source.levels, plan.mapping);
  const values = new Float64Array(table.numRows);
  for (let i = 0; i < values.length; i++) values[i] = mapped.codes[i]! + 1;
  return { values, usable: mapped.valid, unseen: mapped.unseen };
}

/**
 * Scores one chunk: the class (`type: 'class'`) or the class probabilities (`'prob'`) of every row.
 * Rows for which every class is impossible are missing (see the file comment).
 */
export function scoreNaiveBayesChunk(plan: NaiveBayesScoringPlan, table: Table): ScoredChunk {
  const n = table.numRows;
  const L = plan.classes.length;
  const reader = new TermColumns(new ChunkColumns(table));
  // Per row and class: the finite part of the log score, zero-probability and point-mass counts.
  const finite = new Float64Array(n * L);
  const impossible = new Uint8Array(n * L);
  const pointMasses = new Float64Array(n * L);
  const logPrior = plan.prior.map((p) => Math.log(p));
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < L; c++) {
      if (plan.prior[c] === 0) impossible[i * L + c] = 1;
      else finite[i * L + c] = logPrior[c]!;
    }
  }
  let unseenRows: Uint8Array | null = null;
  const markUnseen = (unseen: Uint8Array | null): void => {
    if (unseen === null) return;
    if (unseenRows === null) unseenRows = new Uint8Array(n);
    for (let i = 0; i < n; i++) if (unseen[i] === 1) unseenRows[i] = 1;
  };
  for (const predictorPlan of plan.predictors) {
    if (predictorPlan.skip) continue;
    const predictor = predictorPlan.predictor;
    if (predictor.kind === 'categorical') {
      const { codes, valid, unseen } = readCategorical(table, reader, predictorPlan);
      markUnseen(unseen);
      const logs = predictor.probabilities.map((row) =>
        row.map((p) => (p === null ? Number.NaN : Math.log(p))),
      );
      for (let i = 0; i < n; i++) {
        if (valid !== null && valid[i] === 0) continue;
        const code = codes[i]!;
        for (let c = 0; c < L; c++) {
          const lp = logs[c]?.[code] ?? Number.NaN;
          if (Number.isNaN(lp)) continue; // a class without rows: already impossible by its prior
          if (lp === Number.NEGATIVE_INFINITY) impossible[i * L + c] = 1;
          else finite[i * L + c] = finite[i * L + c]! + lp;
        }
      }
      continue;
    }
    const { values, usable, unseen } = readNumericPredictor(table, reader, predictorPlan);
    markUnseen(unseen);
    for (let c = 0; c < L; c++) {
      const mean = predictor.mean[c];
      const sd = predictor.sd[c];
      if (mean === null || mean === undefined || sd === null || sd === undefined) continue;
      const logNorm = -Math.log(sd) - HALF_LOG_2PI;
      for (let i = 0; i < n; i++) {
        if (usable !== null && usable[i] === 0) continue;
        const x = values[i]!;
        const at = i * L + c;
        if (sd === 0) {
          if (x === mean) pointMasses[at] = pointMasses[at]! + 1;
          else impossible[at] = 1;
          continue;
        }
        const z = (x - mean) / sd;
        finite[at] = finite[at]! + logNorm - 0.5 * z * z;
      }
    }
  }

  const classCodes = new Int32Array(n);
  const valid = new Uint8Array(n);
  const probabilities = plan.type === 'prob' ? plan.classes.map(() => new Float64Array(n)) : [];
  let scored = 0;
  for (let i = 0; i < n; i++) {
    // The best tier: possible classes with the most point-mass matches.
    let tier = -1;
    for (let c = 0; c < L; c++) {
      if (impossible[i * L + c] === 0 && pointMasses[i * L + c]! > tier) tier = pointMasses[i * L + c]!;
    }
    if (tier < 0) continue;
    let top = Number.NEGATIVE_INFINITY;
    let best = -1;
    for (let c = 0; c < L; c++) {
      const at = i * L + c;
      if (impossible[at] === 1 || pointMasses[at] !== tier) continue;
      if (finite[at]! > top || best < 0) {
        top = finite[at]!;
        best = c;
      }
    }
    valid[i] = 1;
    scored++;
    classCodes[i] = best;
    if (plan.type === 'prob') {
      let sum = 0;
      for (let c = 0; c < L; c++) {
        const at = i * L + c;
        const e = impossible[at] === 1 || pointMasses[at] !== tier ? 0 : Math.exp(finite[at]! - top);
        probabilities[c]![i] = e;
        sum += e;
      }
      for (let c = 0; c < L; c++) probabilities[c]![i] = probabilities[c]![i]! / sum;
    }
  }
  const allValid = scored === n ? null : valid;
  const columns: ScoredColumn[] =
    plan.type === 'class'
      ? [
          {
            name: plan.predVarName,
            type: 'factor',
            values: classCodes,
            valid: allValid,
            levels: plan.classes,
          },
        ]
      : plan.probVarNames.map((name, c) => ({
          name,
          type: 'numeric',
          values: probabilities[c] as Float64Array,
          valid: allValid,
        }));
  let unseenCount = 0;
  const unseenMask = unseenRows as Uint8Array | null;
  if (unseenMask !== null) for (let i = 0; i < n; i++) unseenCount += unseenMask[i]!;
  return { numRows: n, columns, scored, unseenLevels: unseenCount };
}
