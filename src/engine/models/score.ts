import { makeVector, Table, type Utf8, type Vector } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { dictionaryData, levelsVector, packValidity } from '../../storage/import/arrowChunk.ts';
import { ChunkColumns, readFactorCodes } from '../columns.ts';
import { EngineError } from '../errors.ts';
import {
  fillModelMatrix,
  isNumericLike,
  type ModelMatrixPlan,
  type NumericSource,
  parseFormula,
  planSource,
  TermColumns,
} from '../formula/index.ts';
import { linkByName } from '../glm/links.ts';
import { tTwoSidedQuantile } from '../stats/quantiles.ts';
import { type LinearModelBody, predictorVariables, responseVariables } from './body.ts';

/**
 * Scoring a stored linear model (linMod, logit, glm: body.ts) on new data, shared by the `predict`
 * job and the synchronous `POST /v1/models/{id}/predict`:
 *
 * 1. `planScoring` (once): the model's variables must be in the data, numeric-like where they were
 *    numeric and factors (or text) where they were factors (422 otherwise, naming them); each factor's
 *    levels in the new data are mapped BY LABEL onto the training levels (a level the model never saw
 *    maps to "unseen").
 * 2. `scoreChunk` (per chunk): the factor columns are re-coded to the training level lists (unseen ->
 *    missing, counted), then X is built by the SAME model-matrix code and plan as in training (same
 *    dummy coding, same reference levels, same column order), eta = X beta over the estimated
 *    coefficients (aliased ones contribute nothing, as R's predict on a rank-deficient fit), and the
 *    prediction is linkInverse(eta) (`type: 'response'`) or eta (`'link'`).
 *
 * Standard errors: se(eta) = sqrt(dispersion * x' C x) with C = (X'WX)^-1 stored as `covUnscaled`; on
 * the response scale times |d mu / d eta| (delta method, as R's predict.glm). Intervals: confidence
 * eta +- q se(eta), mapped through the inverse link for `type: 'response'`; prediction (gaussian
 * identity only) fit +- q sqrt(se^2 + dispersion), q the t quantile on dfResidual (normal when the
 * dispersion is fixed). Residuals are on the response scale, y - mu. Rows with a missing value in a
 * model variable (or in y when residuals are asked, as RevoScaleR does) get all outputs missing.
 */

export type IntervalType = 'none' | 'confidence' | 'prediction';

export interface ScoreOptions {
  computeResiduals: boolean;
  computeStdErrors: boolean;
  interval: IntervalType;
  /** @defaultValue 0.95 */
  confLevel: number;
  /** 'response' (linkInverse(eta)) or 'link' (eta). @defaultValue 'response' */
  type: 'response' | 'link';
}

/** A plain-JSON scoring plan (it travels in the predict job's state). */
export interface ScoringPlan {
  /** The training plan; responses kept only when residuals are asked, weights never. */
  matrix: ModelMatrixPlan;
  /** Per factor variable the model reads: data level index -> training level index (-1: unseen); null when identical. */
  levelMaps: Record<string, number[] | null>;
  /** Factor variables the data holds as text (a small CSV imports them so): mapped by label row by row. */
  stringFactors: string[];
  /** The data's own levels of those factors (to read chunks whose dictionaries differ). */
  dataLevels: Record<string, string[]>;
  /** Training levels of those factors. */
  trainingLevels: Record<string, string[]>;
  options: ScoreOptions;
  /** The GLM offset planned against the scored data (added to eta); null without one. */
  offset: NumericSource | null;
  /** Interval quantile (NaN without intervals). */
  quantile: number;
}

/** One response's outputs for a chunk; NaN where missing. */
export interface ScoredResponse {
  prediction: Float64Array;
  residual: Float64Array | null;
  stdError: Float64Array | null;
  lower: Float64Array | null;
  upper: Float64Array | null;
}

export interface LinearScores {
  numRows: number;
  responses: ScoredResponse[];
  /** Rows with a prediction. */
  predicted: number;
  /** Rows left without one because a factor level was not seen in training (and nothing else was missing). */
  unseenLevels: number;
}

export function defaultScoreOptions(options: Partial<ScoreOptions> = {}): ScoreOptions {
  return {
    computeResiduals: options.computeResiduals ?? false,
    computeStdErrors: options.computeStdErrors ?? false,
    interval: options.interval ?? 'none',
    confLevel: options.confLevel ?? 0.95,
    type: options.type ?? 'response',
  };
}

/** The offset of a GLM body planned against the data; its variable goes into `missing` when absent. */
function planOffset(
  body: LinearModelBody,
  data: readonly VarInfo[],
  missing: string[],
): NumericSource | null {
  const text = body.offset;
  if (typeof text !== 'string' || text === '') return null;
  let source: ReturnType<typeof planSource>;
  try {
    const factor = parseFormula(`~ ${text}`, data).terms[0]?.factors[0];
    if (factor === undefined) throw new Error(`offset '${text}' is not a term`);
    source = planSource(factor, data);
  } catch (error) {
    if (error instanceof EngineError && error.code === 'UNKNOWN_VARIABLE') {
      missing.push(String(error.details?.['variable'] ?? text));
      return null;
    }
    throw error;
  }
  if (source.role !== 'numeric') {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `the model's offset '${text}' is not numeric in the data to score`,
      422,
      { offset: text },
    );
  }
  return source;
}

/** Checks the model against the data's variables and plans the scoring (see the file comment). */
export function planScoring(
  body: LinearModelBody,
  data: readonly VarInfo[],
  options: ScoreOptions,
): ScoringPlan {
  const needed = [
    ...predictorVariables(body.plan),
    ...(options.computeResiduals ? responseVariables(body.plan) : []),
  ];
  const byName = new Map(data.map((v) => [v.name, v]));
  const missing = [...new Set(needed)].filter((name) => !byName.has(name));
  const offset = planOffset(body, data, missing);
  if (missing.length > 0) {
    throw new EngineError(
      'MISSING_VARIABLES',
      `the data to score lacks ${missing.length === 1 ? 'the model variable' : 'the model variables'} ${missing.map((m) => `'${m}'`).join(', ')}${options.computeResiduals ? ' (computeResiduals needs the response too)' : ''}`,
      422,
      { missing },
    );
  }
  const training = new Map(body.variables.map((v) => [v.name, v]));
  const levelMaps: Record<string, number[] | null> = {};
  const dataLevels: Record<string, string[]> = {};
  const trainingLevels: Record<string, string[]> = {};
  const wrongType: Array<{ variable: string; model: string; data: string }> = [];
  const stringFactors: string[] = [];
  for (const name of new Set(needed)) {
    const model = training.get(name);
    const info = byName.get(name) as VarInfo;
    if (model === undefined) continue;
    if (model.type === 'factor' && info.type === 'string') {
      stringFactors.push(name);
      trainingLevels[name] = model.levels ?? [];
    } else if (model.type === 'factor') {
      if (info.type !== 'factor') {
        wrongType.push({ variable: name, model: 'factor', data: info.type });
        continue;
      }
      const trained = model.levels ?? [];
      const given = info.levels ?? [];
      const index = new Map(trained.map((level, i) => [level, i]));
      const map = given.map((level) => index.get(level) ?? -1);
      const identical = given.length === trained.length && map.every((code, i) => code === i);
      levelMaps[name] = identical ? null : map;
      dataLevels[name] = given;
      trainingLevels[name] = trained;
    } else if (isNumericLike(model.type) && !isNumericLike(info.type)) {
      wrongType.push({ variable: name, model: model.type, data: info.type });
    }
  }
  if (wrongType.length > 0) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `the data to score has ${wrongType.map((w) => `'${w.variable}' as ${w.data} where the model was fitted on ${w.model === 'factor' ? 'a factor' : 'numbers'}`).join('; ')}`,
      422,
      { variables: wrongType },
    );
  }
  const hasCovariance = body.responses.every((r) => r.covUnscaled !== null);
  if ((options.computeStdErrors || options.interval !== 'none') && !hasCovariance) {
    throw new EngineError(
      'COVARIANCE_NOT_STORED',
      'this model was fitted without covCoef and is too large to keep its coefficient covariance by default: refit it with covCoef: true to get standard errors or intervals',
      422,
    );
  }
  if (options.interval === 'prediction' && !(body.family === 'gaussian' && body.link === 'identity')) {
    throw new EngineError(
      'INVALID_PARAMS',
      `interval 'prediction' is defined for linear models only; use 'confidence' for a ${body.family} model`,
      400,
    );
  }
  if (!(options.confLevel > 0 && options.confLevel < 1)) {
    throw new EngineError(
      'INVALID_PARAMS',
      `confLevel must be between 0 and 1, not ${options.confLevel}`,
      400,
    );
  }
  const matrix: ModelMatrixPlan = {
    ...body.plan,
    responses: options.computeResiduals ? body.plan.responses : [],
    weights: null,
  };
  // One df for every response: cbind models share the design, so their dfResidual agree.
  const df = body.dispersionFixed ? Number.POSITIVE_INFINITY : (body.responses[0]?.dfResidual ?? 0);
  return {
    matrix,
    levelMaps,
    stringFactors,
    dataLevels,
    trainingLevels,
    options,
    offset,
    quantile: options.interval === 'none' ? Number.NaN : tTwoSidedQuantile(1 - options.confLevel, df),
  };
}

/** Cached dictionaries of the training levels, one per plan (the Arrow vectors are immutable). */
const dictionaries = new WeakMap<ScoringPlan, Map<string, Vector<Utf8>>>();

function dictionaryFor(plan: ScoringPlan, name: string): Vector<Utf8> {
  let cache = dictionaries.get(plan);
  if (cache === undefined) {
    cache = new Map();
    dictionaries.set(plan, cache);
  }
  let vector = cache.get(name);
  if (vector === undefined) {
    vector = levelsVector(plan.trainingLevels[name] ?? []);
    cache.set(name, vector);
  }
  return vector;
}

/**
 * The chunk with its factor columns re-coded to the training levels; `unseen` flags rows where a
 * present value's level is not one of them (those rows become missing).
 */
function adaptTable(plan: ScoringPlan, table: Table): { table: Table; unseen: Uint8Array | null } {
  const numRows = table.numRows;
  let unseen: Uint8Array | null = null;
  const replaced: Record<string, Vector> = {};
  for (const [name, map] of Object.entries(plan.levelMaps)) {
    if (map === null) continue;
    const { codes, valid } = readFactorCodes(table, name, plan.dataLevels[name]);
    const out = new Int32Array(numRows);
    const present = new Uint8Array(numRows);
    for (let i = 0; i < numRows; i++) {
      if (valid !== null && valid[i] === 0) continue;
      const code = map[codes[i] as number] ?? -1;
      if (code < 0) {
        if (unseen === null) unseen = new Uint8Array(numRows);
        unseen[i] = 1;
        continue;
      }
      out[i] = code;
      present[i] = 1;
    }
    replaced[name] = makeVector(
      dictionaryData(out, packValidity(present, numRows), numRows, 0, dictionaryFor(plan, name)),
    );
  }
  for (const name of plan.stringFactors) {
    const vector = table.getChild(name);
    if (vector === null) throw new Error(`column '${name}' is not in the chunk`);
    const index = new Map((plan.trainingLevels[name] ?? []).map((level, i) => [level, i]));
    const out = new Int32Array(numRows);
    const present = new Uint8Array(numRows);
    for (let i = 0; i < numRows; i++) {
      const value: unknown = vector.get(i);
      if (value === null || value === undefined) continue;
      const code = index.get(String(value));
      if (code === undefined) {
        if (unseen === null) unseen = new Uint8Array(numRows);
        unseen[i] = 1;
        continue;
      }
      out[i] = code;
      present[i] = 1;
    }
    replaced[name] = makeVector(
      dictionaryData(out, packValidity(present, numRows), numRows, 0, dictionaryFor(plan, name)),
    );
  }
  if (Object.keys(replaced).length === 0) return { table, unseen };
  const columns: Record<string, Vector> = {};
  for (const field of table.schema.fields) {
    const vector = replaced[field.name] ?? table.getChild(field.name);
    if (vector !== null) columns[field.name] = vector;
  }
  return { table: new Table(columns), unseen };
}

function filled(n: number): Float64Array {
  return new Float64Array(n).fill(Number.NaN);
}

/** Scores one chunk (see the file comment). The outputs have one entry per chunk row, NaN = missing. */
export function scoreChunk(plan: ScoringPlan, body: LinearModelBody, input: Table): LinearScores {
  const { options, matrix } = plan;
  const numRows = input.numRows;
  const { table, unseen } = adaptTable(plan, input);
  const m = fillModelMatrix(matrix, table);
  const { n, p, x, usable } = m;
  const rowOf = (r: number, rows: Int32Array | null): number => (rows === null ? r : (rows[r] as number));
  let rows: Int32Array | null = null;
  if (usable !== null) {
    rows = new Int32Array(n);
    for (let i = 0, r = 0; i < numRows; i++) if (usable[i] === 1) rows[r++] = i;
  }
  let unseenLevels = 0;
  if (unseen !== null) for (let i = 0; i < numRows; i++) unseenLevels += unseen[i] as number;

  // The offset at the usable rows, NaN where it is missing.
  let offsetValues: Float64Array | null = null;
  let noOffset = 0;
  if (plan.offset !== null) {
    const reader = new TermColumns(new ChunkColumns(table));
    const { values } = reader.numeric(plan.offset);
    const present = reader.usable(plan.offset);
    offsetValues = new Float64Array(n);
    for (let r = 0; r < n; r++) {
      const at = rowOf(r, rows);
      const ok = present === null || present[at] === 1;
      offsetValues[r] = ok ? (values[at] as number) : Number.NaN;
      if (!ok) noOffset++;
    }
  }
  // The GLM code's own links (R's clamps included), so scoring inverts exactly what training fitted.
  const link = linkByName(body.link, body.linkPower);
  const wantSe = options.computeStdErrors || options.interval !== 'none';
  const responses = body.responses.map((fit, k): ScoredResponse => {
    // Coefficients of X's columns (plan.kept order); aliased -> 0. Estimated ones (for the covariance).
    const beta = new Float64Array(p);
    const estimated: number[] = [];
    matrix.kept.forEach((column, c) => {
      const row = fit.coefficients[column];
      if (row !== undefined && !row.aliased && row.estimate !== null) {
        beta[c] = row.estimate;
        estimated.push(c);
      }
    });
    const eta = new Float64Array(n);
    for (let c = 0; c < p; c++) {
      const b = beta[c] as number;
      if (b === 0) continue;
      const column = x.subarray(c * n, (c + 1) * n);
      for (let r = 0; r < n; r++) eta[r] = (eta[r] as number) + b * (column[r] as number);
    }
    // A missing offset leaves eta NaN: every output of the row is then missing.
    if (offsetValues !== null)
      for (let r = 0; r < n; r++) eta[r] = (eta[r] as number) + (offsetValues[r] as number);
    const out: ScoredResponse = {
      prediction: filled(numRows),
      residual: options.computeResiduals ? filled(numRows) : null,
      stdError: options.computeStdErrors ? filled(numRows) : null,
      lower: options.interval !== 'none' ? filled(numRows) : null,
      upper: options.interval !== 'none' ? filled(numRows) : null,
    };
    const toResponse = options.type === 'response';
    for (let r = 0; r < n; r++) {
      const e = eta[r] as number;
      out.prediction[rowOf(r, rows)] = toResponse ? link.linkinv(e) : e;
    }
    if (out.residual !== null) {
      const y = m.y.subarray(k * n, (k + 1) * n);
      for (let r = 0; r < n; r++)
        out.residual[rowOf(r, rows)] = (y[r] as number) - link.linkinv(eta[r] as number);
    }
    if (!wantSe) return out;
    const cov = fit.covUnscaled ?? [];
    const e = estimated.length;
    const dispersion = fit.dispersion ?? Number.NaN;
    const v = new Float64Array(e);
    for (let r = 0; r < n; r++) {
      for (let a = 0; a < e; a++) v[a] = x[(estimated[a] as number) * n + r] as number;
      // x' C x over the symmetric C: the diagonal plus twice the upper triangle.
      let quadratic = 0;
      for (let a = 0; a < e; a++) {
        const va = v[a] as number;
        if (va === 0) continue;
        let s = 0.5 * (cov[a * e + a] as number) * va;
        for (let b = a + 1; b < e; b++) s += (cov[a * e + b] as number) * (v[b] as number);
        quadratic += 2 * va * s;
      }
      const seEta = Math.sqrt(dispersion * Math.max(0, quadratic));
      const etaR = eta[r] as number;
      const at = rowOf(r, rows);
      if (out.stdError !== null) out.stdError[at] = toResponse ? seEta * Math.abs(link.muEta(etaR)) : seEta;
      if (out.lower !== null && out.upper !== null) {
        const q = plan.quantile;
        if (options.interval === 'prediction') {
          const half = q * Math.sqrt(seEta * seEta + dispersion);
          out.lower[at] = etaR - half;
          out.upper[at] = etaR + half;
        } else {
          let low = etaR - q * seEta;
          let high = etaR + q * seEta;
          if (toResponse) {
            low = link.linkinv(low);
            high = link.linkinv(high);
            if (low > high) [low, high] = [high, low]; // decreasing links (inverse, 1/mu^2)
          }
          out.lower[at] = low;
          out.upper[at] = high;
        }
      }
    }
    return out;
  });
  return { numRows, responses, predicted: n - noOffset, unseenLevels };
}

/** Output column names of each response: `<y>_Pred` (or predVarNames), `_Resid`, `_StdErr`, `_Lower`, `_Upper`. */
export interface OutputNames {
  prediction: string;
  residual: string;
  stdError: string;
  lower: string;
  upper: string;
}

export function outputNames(
  body: LinearModelBody,
  predVarNames: readonly string[] | undefined,
): OutputNames[] {
  return body.responses.map((fit, k) => ({
    prediction: predVarNames?.[k] ?? `${fit.response}_Pred`,
    residual: `${fit.response}_Resid`,
    stdError: `${fit.response}_StdErr`,
    lower: `${fit.response}_Lower`,
    upper: `${fit.response}_Upper`,
  }));
}

/** The outputs of a scored response as named columns, in RevoScaleR's order. */
export function outputColumns(
  names: OutputNames,
  scored: ScoredResponse,
): Array<{ name: string; values: Float64Array }> {
  const out = [{ name: names.prediction, values: scored.prediction }];
  if (scored.residual !== null) out.push({ name: names.residual, values: scored.residual });
  if (scored.stdError !== null) out.push({ name: names.stdError, values: scored.stdError });
  if (scored.lower !== null && scored.upper !== null) {
    out.push({ name: names.lower, values: scored.lower });
    out.push({ name: names.upper, values: scored.upper });
  }
  return out;
}
