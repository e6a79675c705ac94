import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Chunk } from '../analysis.ts';
import { andMasks } from '../columns.ts';
import { sourceInputs } from '../formula/index.ts';
import { type BinSpec, mergeSketches, type Sketch, sketchChunk } from '../stats/sketch.ts';
import { cutsFromSketch, defaultMaxNumBins, factorBins, sketchSpecFor, TREE_SKETCH_CAP } from './binning.ts';
import { readTreeChunk, type TreeDataPlan } from './data.ts';
import type { BinsInfo } from './levelGrowth.ts';

/**
 * The passes before any tree grows, shared by the three tree analyses:
 *
 * 1. (only when a numeric predictor has no stored low/high, e.g. one made by `transforms`) its range;
 * 2. the sketch of every numeric predictor (binning.ts), the response's class weights or weighted
 *    sum, and the counts of rows used and dropped.
 * Its outcome is the bins of every predictor and what the response looks like.
 */

export interface PreludeState {
  phase: 'range' | 'sketch';
  /** Per predictor: the numeric range the sketch is planned on (null for factors). */
  ranges: Array<{ low: number; high: number } | null>;
  specs: Array<BinSpec | null>;
  /** Per predictor: the type its values have (integer types get one sketch bin per integer). */
  types: string[];
  /** maxNumBins as given (null = RevoScaleR's default from the number of observations). */
  maxNumBins: number | null;
}

export type PreludePartial =
  | { kind: 'range'; low: Float64Array; high: Float64Array }
  | {
      kind: 'sketch';
      sketches: Array<Sketch | null>;
      rows: number;
      used: number;
      /** Sum of the observation counts (fweights count as their weight). */
      count: number;
      weight: number;
      /** Factor response: case weight per class. */
      classWeights: Float64Array | null;
      /** Numeric response: sum of w*y, and how many used rows are not 0 or 1 (bernoulli's check). */
      sumWY: number;
      nonBinary: number;
    };

export interface PreludeOutcome {
  bins: BinsInfo[];
  maxNumBins: number;
  /** Rows read, used, and dropped (missing response or weight, or a missing predictor with removeMissings). */
  rows: number;
  usedRows: number;
  /** Observations (sum of fweights, else rows) and total case weight of the used rows. */
  numObs: number;
  totalWeight: number;
  classWeights: number[] | null;
  /** Weighted mean of a numeric response. */
  mean: number;
  nonBinary: number;
}

/** Whether some numeric predictor needs the range pass. */
export function preludeInit(data: TreeDataPlan, meta: DatasetMeta, maxNumBins: number | null): PreludeState {
  const ranges = data.features.map((feature) => {
    if (feature.kind !== 'numeric') return null;
    const source = feature.source;
    if (source.kind === 'N') return { low: 1, high: Math.max(1, (source.levels ?? []).length) };
    const name = sourceInputs(source)[0] as string;
    const info = meta.variables.find((v) => v.name === name);
    if (info?.low === null || info?.high === null || info === undefined) return null;
    if (!Number.isFinite(info.low) || !Number.isFinite(info.high)) return null;
    return { low: info.low, high: info.high };
  });
  const needsRange = data.features.some((f, i) => f.kind === 'numeric' && ranges[i] === null);
  const types = data.features.map((_, f) => typeOf(data, f, meta));
  const state: PreludeState = {
    phase: needsRange ? 'range' : 'sketch',
    ranges,
    specs: [],
    types,
    maxNumBins,
  };
  if (!needsRange) state.specs = planSpecs(data, state, meta.numRows);
  return state;
}

/** The variable type a predictor's values have (N() codes and F() are integers). */
function typeOf(
  data: TreeDataPlan,
  f: number,
  meta: { variables: readonly { name: string; type: string }[] },
): string {
  const source = data.features[f]?.source;
  if (source === undefined || source.kind !== 'variable') return 'integer';
  return meta.variables.find((v) => v.name === source.name)?.type ?? 'numeric';
}

function planSpecs(data: TreeDataPlan, state: PreludeState, numRows: number): Array<BinSpec | null> {
  const binsHint = state.maxNumBins ?? defaultMaxNumBins(numRows);
  return data.features.map((feature, f) => {
    const range = state.ranges[f];
    if (feature.kind !== 'numeric' || range === null || range === undefined) return null;
    return sketchSpecFor(range.low, range.high, state.types[f] as string, binsHint);
  });
}

export function preludeMap(chunk: Chunk, data: TreeDataPlan, state: PreludeState): PreludePartial {
  const raw = readTreeChunk(chunk.table, data);
  const n = raw.numRows;
  const p = data.features.length;
  if (state.phase === 'range') {
    const low = new Float64Array(p).fill(Number.POSITIVE_INFINITY);
    const high = new Float64Array(p).fill(Number.NEGATIVE_INFINITY);
    raw.features.forEach((feature, f) => {
      if (feature.kind !== 'numeric') return;
      const { values, usable } = feature;
      let lo = Number.POSITIVE_INFINITY;
      let hi = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < n; i++) {
        if (raw.use[i] === 0 || (usable !== null && usable[i] === 0)) continue;
        const x = values[i] as number;
        if (x < lo) lo = x;
        if (x > hi) hi = x;
      }
      low[f] = lo;
      high[f] = hi;
    });
    return { kind: 'range', low, high };
  }
  let used = 0;
  let count = 0;
  let weight = 0;
  let sumWY = 0;
  let nonBinary = 0;
  const classWeights = raw.yCode !== null ? new Float64Array((data.response.levels ?? []).length) : null;
  const countsByFrequency = data.weights?.kind === 'fweights';
  for (let i = 0; i < n; i++) {
    if (raw.use[i] === 0) continue;
    const w = raw.weight === null ? 1 : (raw.weight[i] as number);
    used++;
    count += countsByFrequency ? w : 1;
    weight += w;
    if (classWeights !== null) {
      const k = (raw.yCode as Int32Array)[i] as number;
      classWeights[k] = (classWeights[k] as number) + w;
    } else {
      const y = (raw.yValue as Float64Array)[i] as number;
      sumWY += w * y;
      if (y !== 0 && y !== 1) nonBinary++;
    }
  }
  const sketches = raw.features.map((feature, f) => {
    const spec = state.specs[f];
    if (feature.kind !== 'numeric' || spec === null || spec === undefined) return null;
    const valid = andMasks(n, [raw.use, feature.usable]);
    return sketchChunk(spec, TREE_SKETCH_CAP, {
      values: feature.values,
      valid,
      weights: raw.weight,
      numRows: n,
      path: [],
    });
  });
  return { kind: 'sketch', sketches, rows: n, used, count, weight, classWeights, sumWY, nonBinary };
}

export function preludeMerge(a: PreludePartial, b: PreludePartial): PreludePartial {
  if (a.kind === 'range' && b.kind === 'range') {
    for (let f = 0; f < a.low.length; f++) {
      a.low[f] = Math.min(a.low[f] as number, b.low[f] as number);
      a.high[f] = Math.max(a.high[f] as number, b.high[f] as number);
    }
    return a;
  }
  if (a.kind === 'sketch' && b.kind === 'sketch') {
    if (a.classWeights !== null && b.classWeights !== null) {
      for (let k = 0; k < a.classWeights.length; k++)
        a.classWeights[k] = (a.classWeights[k] as number) + (b.classWeights[k] as number);
    }
    return {
      kind: 'sketch',
      sketches: a.sketches.map((s, f) => (s === null ? null : mergeSketches(s, b.sketches[f] as Sketch))),
      rows: a.rows + b.rows,
      used: a.used + b.used,
      count: a.count + b.count,
      weight: a.weight + b.weight,
      classWeights: a.classWeights,
      sumWY: a.sumWY + b.sumWY,
      nonBinary: a.nonBinary + b.nonBinary,
    };
  }
  throw new Error('tree prelude: partials of different passes');
}

/** Either the state of the next prelude pass, or the bins and response summary. */
export function preludeFinalize(
  partial: PreludePartial,
  data: TreeDataPlan,
  state: PreludeState,
  numRows: number,
): { next: PreludeState } | { done: PreludeOutcome } {
  if (partial.kind === 'range') {
    const ranges = state.ranges.map((range, f) => {
      if (range !== null || data.features[f]?.kind !== 'numeric') return range;
      const low = partial.low[f] as number;
      const high = partial.high[f] as number;
      // No valid value at all: any range will do, every row is missing.
      return Number.isFinite(low) && Number.isFinite(high) ? { low, high } : { low: 0, high: 1 };
    });
    const next: PreludeState = { ...state, phase: 'sketch', ranges };
    next.specs = planSpecs(data, next, numRows);
    return { next };
  }
  const maxNumBins = state.maxNumBins ?? defaultMaxNumBins(partial.count);
  const bins = data.features.map((feature, f): BinsInfo => {
    const sketch = partial.sketches[f];
    if (feature.kind === 'factor' || sketch === null || sketch === undefined) {
      return { ...factorBins(feature), binLow: null, binHigh: null };
    }
    return binsOfSketch(sketch, maxNumBins);
  });
  return {
    done: {
      bins,
      maxNumBins,
      rows: partial.rows,
      usedRows: partial.used,
      numObs: partial.count,
      totalWeight: partial.weight,
      classWeights: partial.classWeights === null ? null : Array.from(partial.classWeights),
      mean: partial.weight > 0 ? partial.sumWY / partial.weight : 0,
      nonBinary: partial.nonBinary,
    },
  };
}

/** Cuts plus the smallest and largest value of each bin (from the sketch's exact values or bin ranges). */
function binsOfSketch(sketch: Sketch, maxNumBins: number): BinsInfo {
  const cuts = cutsFromSketch(sketch, maxNumBins);
  const numBins = cuts.length + 1;
  const binLow = new Array<number>(numBins).fill(Number.POSITIVE_INFINITY);
  const binHigh = new Array<number>(numBins).fill(Number.NEGATIVE_INFINITY);
  const cutArray = Float64Array.from(cuts);
  const note = (low: number, high: number): void => {
    // Units never straddle a cut, so both ends fall in the same bin.
    let lo = 0;
    let hi = cutArray.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (low >= (cutArray[mid] as number)) lo = mid + 1;
      else hi = mid;
    }
    binLow[lo] = Math.min(binLow[lo] as number, low);
    binHigh[lo] = Math.max(binHigh[lo] as number, high);
  };
  if (sketch.values !== null) {
    for (const x of sketch.values) note(x, x);
  } else {
    const counts = sketch.counts as Float64Array;
    const spec = sketch.spec;
    for (let k = 0; k < counts.length; k++) {
      if (!((counts[k] as number) > 0)) continue;
      if (spec.kind === 'integer') {
        const v = spec.low + k;
        // Inexact integer bins hold [v, v + 1): v + 1 as the upper end makes the threshold the next integer.
        if (sketch.inexact > 0) {
          note(
            k === 0 ? Math.min(sketch.min, v) : v,
            k === counts.length - 1 ? Math.max(sketch.max, v + 1) : v + 1,
          );
        } else note(v, v);
      } else {
        note((sketch.mins as Float64Array)[k] as number, (sketch.maxs as Float64Array)[k] as number);
      }
    }
  }
  // A bin may be empty when a sketch unit had no weight; keep the cut as its bounds then.
  for (let b = 0; b < numBins; b++) {
    if (!Number.isFinite(binLow[b] as number)) binLow[b] = b > 0 ? (cuts[b - 1] as number) : (cuts[0] ?? 0);
    if (!Number.isFinite(binHigh[b] as number))
      binHigh[b] = b < cuts.length ? (cuts[b] as number) : (cuts[cuts.length - 1] ?? 0);
  }
  return { cuts, numBins, binLow, binHigh };
}

/** What every tree analysis's state carries through its prelude passes. */
interface PreludeCarrier {
  phase: string;
  passes: number;
  data: TreeDataPlan;
  prelude: PreludeState;
  numRows: number;
}

/**
 * The finalize step of a prelude pass, shared by dTree, dForest and bTrees: either another prelude
 * pass (the sketch after a range pass) or, with the bins known, `start`'s first growing state.
 * `passes` counts the pass just finished; `messages` are the progress texts of the two outcomes.
 */
export function finishPreludePass<S extends PreludeCarrier>(
  partial: PreludePartial,
  state: S,
  passes: number,
  start: (state: S, prelude: PreludeOutcome) => S,
  messages: { sketch: string; grow: string },
): { done: false; state: S; message: string } {
  const outcome = preludeFinalize(partial, state.data, state.prelude, state.numRows);
  if ('next' in outcome) {
    return { done: false, state: { ...state, passes, prelude: outcome.next }, message: messages.sketch };
  }
  return { done: false, state: { ...start(state, outcome.done), passes }, message: messages.grow };
}
