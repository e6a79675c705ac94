import type { VarInfo } from '../../storage/datasetMeta.ts';
import { type BinSpec, planBins, type Sketch } from '../stats/sketch.ts';
import type { FeaturePlan, RawFeature } from './data.ts';

/**
 * Equal-count bins of numeric predictors, as RevoScaleR's trees bin them: a first pass sketches each
 * numeric predictor (stats/sketch.ts: the values themselves up to 16384 of them, else one count per
 * integer or fine equal-width bins with each bin's min and max), and the cut points are chosen from
 * the merged sketch so that each of at most `maxNumBins` bins holds about the same weight. Splits are
 * only ever made at cut points.
 *
 * A cut always lies strictly between two values that occur in the data: halfway between the largest
 * value below it and the smallest above it (as rpart places its split points), so when a variable has
 * no more distinct values than bins every gap between them is a cut and the bins are exact.
 *
 * Codes: bin(x) = the number of cuts c with x >= c, so "bin < b" is exactly "x < cuts[b - 1]", which is
 * what a stored split tests on raw values at scoring time. Missing values (and NaN) get the code
 * `numBins`; factor levels are their own codes, with `levels.length` for missing.
 */

/** Values a first-pass sketch keeps exactly before switching to bins. */
export const TREE_SKETCH_CAP = 16_384;
/** Integer bins of an integer-valued predictor's sketch. */
const SKETCH_INTEGER_BINS = 65_536;

/** RevoScaleR's default: min(1001, max(101, sqrt(n))). */
export function defaultMaxNumBins(numObs: number): number {
  return Math.min(1001, Math.max(101, Math.floor(Math.sqrt(numObs))));
}

/** The sketch of a numeric predictor, planned from its (possibly first-pass) low / high. */
export function sketchSpecFor(
  low: number | null,
  high: number | null,
  type: string,
  maxNumBins: number,
): BinSpec {
  const info: VarInfo = { name: '', type: type as VarInfo['type'], low, high, missing: 0 };
  return planBins(info, {
    maxIntegerBins: SKETCH_INTEGER_BINS,
    numNumericBreaks: Math.max(4096, 4 * maxNumBins),
    // A numeric variable with whole-number low / high may still hold fractions: range bins (each with
    // its min and max) keep every value apart; only integer-typed variables get one bin per integer.
    integerBinsForNumeric: false,
  });
}

/** A run of the sorted data the sketch cannot split further: [low, high] with its weight. */
interface Unit {
  low: number;
  high: number;
  weight: number;
}

function unitsOf(sketch: Sketch): Unit[] {
  const units: Unit[] = [];
  if (sketch.values !== null) {
    const values = sketch.values;
    const weights = sketch.valueWeights;
    const order = Array.from({ length: values.length }, (_, i) => i).sort(
      (a, b) => (values[a] as number) - (values[b] as number),
    );
    for (const i of order) {
      const x = values[i] as number;
      const w = weights === null ? 1 : (weights[i] as number);
      const last = units[units.length - 1];
      if (last !== undefined && last.high === x) last.weight += w;
      else units.push({ low: x, high: x, weight: w });
    }
    return units;
  }
  const counts = sketch.counts as Float64Array;
  const spec = sketch.spec;
  for (let k = 0; k < counts.length; k++) {
    const w = counts[k] as number;
    if (!(w > 0)) continue;
    if (spec.kind === 'integer') {
      // Inexact integer bins (values that are not in-range integers) cover [low + k, low + k + 1), the
      // first one reaching down to the smallest value: cutBetween then cuts at the integer.
      const v = spec.low + k;
      units.push({ low: sketch.inexact > 0 && k === 0 ? Math.min(sketch.min, v) : v, high: v, weight: w });
    } else {
      units.push({
        low: (sketch.mins as Float64Array)[k] as number,
        high: (sketch.maxs as Float64Array)[k] as number,
        weight: w,
      });
    }
  }
  return units;
}

/**
 * The cut between two neighbouring units: rpart's midpoint of the values either side when they are
 * known, never equal to the lower value (so the lower value stays below the cut).
 */
function cutBetween(below: Unit, above: Unit, inexactIntegers: boolean): number {
  // Inexact integer bins: the upper bin starts at its integer, whatever values it holds.
  if (inexactIntegers) return above.low;
  const a = below.high;
  const b = above.low;
  const mid = (a + b) / 2;
  return mid > a && mid <= b ? mid : b;
}

/** Cut points (ascending) of at most `maxNumBins` equal-weight bins from a merged sketch. */
export function cutsFromSketch(sketch: Sketch, maxNumBins: number): number[] {
  const units = unitsOf(sketch);
  if (units.length <= 1) return [];
  const inexactIntegers = sketch.values === null && sketch.spec.kind === 'integer' && sketch.inexact > 0;
  const cuts: number[] = [];
  if (units.length <= maxNumBins) {
    for (let u = 1; u < units.length; u++)
      cuts.push(cutBetween(units[u - 1] as Unit, units[u] as Unit, inexactIntegers));
    return cuts;
  }
  let total = 0;
  for (const unit of units) total += unit.weight;
  const step = total / maxNumBins;
  let target = step;
  let cumulative = 0;
  for (let u = 0; u < units.length - 1; u++) {
    cumulative += (units[u] as Unit).weight;
    if (cumulative + 1e-9 * step >= target) {
      cuts.push(cutBetween(units[u] as Unit, units[u + 1] as Unit, inexactIntegers));
      // A heavy unit may pass several targets: the next cut aims at the next target above it.
      target = (Math.floor(cumulative / step + 1e-9) + 1) * step;
      if (cuts.length >= maxNumBins - 1) break;
    }
  }
  return cuts;
}

/** Code of a numeric value: the number of cuts <= x (binary search); `missing` for NaN. */
export function binValue(cuts: Float64Array, x: number, missing: number): number {
  if (Number.isNaN(x)) return missing;
  let lo = 0;
  let hi = cuts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (x >= (cuts[mid] as number)) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Per feature: the number of bins (codes 0..numBins-1) plus one code for missing values. */
export interface FeatureBins {
  /** Numeric: the cut points (ascending); factor: null. */
  cuts: number[] | null;
  /** Codes 0..numBins-1 hold values; `numBins` is the missing code. */
  numBins: number;
}

export function factorBins(feature: FeaturePlan): FeatureBins {
  return { cuts: null, numBins: (feature.levels ?? []).length };
}

/** Codes of one chunk's predictor; rows with `use` 0 get the missing code (they are never counted). */
export function binFeature(raw: RawFeature, bins: FeatureBins, numRows: number): Uint16Array {
  const out = new Uint16Array(numRows);
  const missing = bins.numBins;
  if (raw.kind === 'factor') {
    const { codes, valid } = raw;
    for (let i = 0; i < numRows; i++) {
      const c = codes[i] as number;
      out[i] = (valid !== null && valid[i] === 0) || c < 0 || c >= missing ? missing : c;
    }
    return out;
  }
  const cuts = Float64Array.from(bins.cuts ?? []);
  const { values, usable } = raw;
  const m = cuts.length;
  // A grid over [first cut, last cut] tells each value which few cuts to search between: the cuts
  // are quantiles, so most cells hold none or one and the search is a comparison or two.
  const cells = m === 0 ? 0 : 4 * (m + 1);
  const low = m === 0 ? 0 : (cuts[0] as number);
  const span = m === 0 ? 0 : (cuts[m - 1] as number) - low;
  const scale = span > 0 ? cells / span : 0;
  const firstBin = new Int32Array(cells + 2);
  if (scale > 0) {
    // firstBin[c] = bins of the values at cell c's left edge: the cuts <= that edge.
    let k = 0;
    for (let c = 0; c <= cells + 1; c++) {
      const edge = low + c / scale;
      while (k < m && edge >= (cuts[k] as number)) k++;
      firstBin[c] = k;
    }
  }
  for (let i = 0; i < numRows; i++) {
    const x = values[i] as number;
    if ((usable !== null && usable[i] === 0) || Number.isNaN(x)) {
      out[i] = missing;
      continue;
    }
    let lo = 0;
    let hi = m;
    if (scale > 0) {
      if (x < low) {
        out[i] = 0;
        continue;
      }
      // Rounding at cell edges: widen by one cell each side, the search below is exact anyway.
      const u = (x - low) * scale;
      const c = u < cells ? u | 0 : cells - 1;
      lo = c > 0 ? (firstBin[c - 1] as number) : 0;
      hi = c + 2 < cells ? (firstBin[c + 2] as number) : m;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (x >= (cuts[mid] as number)) lo = mid + 1;
      else hi = mid;
    }
    out[i] = lo;
  }
  return out;
}
