import type { VarInfo } from '../../storage/datasetMeta.ts';

/**
 * A mergeable quantile sketch that knows how exact it is.
 *
 * A sketch covers the values of one variable that fall in a "target" (the whole variable in the first
 * pass; one bin of a previous pass when refining). While the target holds at most `cap` values the
 * sketch keeps them (exact). Past that it is a histogram over a fixed `BinSpec`:
 *
 * - `integer` bins: one bin per integer in [low, low + size), as RevoScaleR's rxQuantile does for
 *   integer data (`maxIntegerBins`); exact as long as every value was an integer in range;
 * - `range` bins: `bins` equal-width bins over [low, high], each with its count AND its smallest and
 *   largest value. A bin whose min equals its max holds a single distinct value, so an order statistic
 *   landing there is exact; otherwise it is known to lie in [min, max] of the bin, which is the stated
 *   error bound (and the interval a refinement pass zooms into).
 *
 * Values outside the spec's range (stale low/high) are clamped into the edge bins, which stays correct:
 * binning is monotone in the value, so every bin is a contiguous range of the sorted data.
 *
 * Merge is associative: counts are sums, min/max are exact, and the values-vs-histogram choice depends
 * only on the merged count (values lists are concatenated in the order given and sorted at the end).
 *
 * Quantile definition: R's type 7, h = (n - 1) p + 1, q = (1 - g) x[floor h] + g x[ceil h] with
 * g = h - floor h (what R's `quantile()` and `summary()` use). With weights, n is the sum of weights and
 * x[k] is the smallest value whose cumulative weight reaches k: for integer frequency weights this is
 * exactly type 7 on the replicated data.
 */

export type BinSpec =
  | { kind: 'integer'; low: number; size: number }
  | { kind: 'range'; low: number; high: number; bins: number };

export interface Sketch {
  spec: BinSpec;
  /** Most values kept before switching to the histogram. */
  cap: number;
  weighted: boolean;
  /** Values mode: the values (unsorted, in merge order); null in histogram mode. */
  values: Float64Array | null;
  /** Values mode with weights: each value's weight. */
  valueWeights: Float64Array | null;
  /** Histogram mode: sum of weights per bin. */
  counts: Float64Array | null;
  /** Histogram mode, range bins: smallest / largest value per bin (+-Infinity when empty). */
  mins: Float64Array | null;
  maxs: Float64Array | null;
  /** Integer bins: values that were not an in-range integer, so their bin may hold several values. */
  inexact: number;
  /** Values (rows with weight > 0) in the sketch. */
  count: number;
  /** Sum of their weights (= count when unweighted). */
  total: number;
  min: number;
  max: number;
}

/** One level of a refinement path: the values that fell in `bin` of `spec`. */
export interface PathStep {
  spec: BinSpec;
  bin: number;
}

/** Multiplier of the range-bin index; computed one way only, so membership tests agree with binning. */
export function rangeScale(spec: { low: number; high: number; bins: number }): number {
  return spec.high > spec.low ? spec.bins / (spec.high - spec.low) : 0;
}

export function binCount(spec: BinSpec): number {
  return spec.kind === 'integer' ? spec.size : spec.bins;
}

/**
 * Bin of x under spec, clamped to the spec's bins. THE binning formula: the dense kernels inline exactly
 * this arithmetic (u = offset scaled; truncation, which equals floor for u >= 0; anything below 0 goes
 * to bin 0, anything at or past the end, and NaN, to the last bin), so refinement passes, which test
 * membership with this function, agree with the first pass bit for bit.
 */
export function binOf(spec: BinSpec, x: number): number {
  const size = binCount(spec);
  const u = spec.kind === 'integer' ? x - spec.low : (x - spec.low) * rangeScale(spec);
  return u < size ? (u >= 0 ? u | 0 : 0) : size - 1;
}

function inPath(path: readonly PathStep[], x: number): boolean {
  for (const step of path) if (binOf(step.spec, x) !== step.bin) return false;
  return true;
}

export function emptySketch(spec: BinSpec, cap: number, weighted: boolean): Sketch {
  return {
    spec,
    cap,
    weighted,
    values: new Float64Array(0),
    valueWeights: weighted ? new Float64Array(0) : null,
    counts: null,
    mins: null,
    maxs: null,
    inexact: 0,
    count: 0,
    total: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
  };
}

export interface SketchInputs {
  values: Float64Array;
  /** 1 = usable row (value and weight present); null = all. NaN values are skipped as missing. */
  valid: Uint8Array | null;
  /** Row weights; rows with weight 0 are skipped (they stand for no observation). */
  weights: Float64Array | null;
  numRows: number;
  /** Only values in this refinement path are sketched (empty: all). */
  path: readonly PathStep[];
}

function isMember(input: SketchInputs, i: number): boolean {
  const x = input.values[i] as number;
  if (Number.isNaN(x) || (input.valid !== null && input.valid[i] === 0)) return false;
  if (input.weights !== null && !((input.weights[i] as number) > 0)) return false;
  return input.path.length === 0 || inPath(input.path, x);
}

/** Switches an empty sketch to histogram mode (allocates the bins). */
export function allocateBins(sketch: Sketch): void {
  const size = binCount(sketch.spec);
  sketch.counts = new Float64Array(size);
  if (sketch.spec.kind === 'range') {
    sketch.mins = new Float64Array(size).fill(Number.POSITIVE_INFINITY);
    sketch.maxs = new Float64Array(size).fill(Number.NEGATIVE_INFINITY);
  }
  sketch.values = null;
  sketch.valueWeights = null;
}

/** Adds one value to a histogram-mode sketch (not used in hot loops). */
function binValue(sketch: Sketch, x: number, w: number): void {
  const k = binOf(sketch.spec, x);
  const counts = sketch.counts as Float64Array;
  counts[k] = (counts[k] as number) + w;
  if (sketch.spec.kind === 'integer') {
    // Exact only for an in-range integer: then the bin is the value itself.
    if (k !== x - sketch.spec.low) sketch.inexact++;
  } else {
    const mins = sketch.mins as Float64Array;
    const maxs = sketch.maxs as Float64Array;
    if (x < (mins[k] as number)) mins[k] = x;
    if (x > (maxs[k] as number)) maxs[k] = x;
  }
}

/** Running count, min, max of the block loops below (see denseColumn.ts for why blocks). */
const BIN_TOTALS = new Float64Array(3);
const BIN_BLOCK = 16_384;

/** Integer bins of values[from, to); returns how many were not an in-range integer. */
function binIntegerBlock(
  values: Float64Array,
  from: number,
  to: number,
  counts: Float64Array,
  low: number,
  size: number,
): number {
  const last = size - 1;
  let inexact = 0;
  let count = BIN_TOTALS[0] as number;
  let min = BIN_TOTALS[1] as number;
  let max = BIN_TOTALS[2] as number;
  for (let i = from; i < to; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) continue;
    const u = x - low;
    const k = u < size ? (u >= 0 ? u | 0 : 0) : last;
    if (k !== u) inexact++;
    counts[k] = (counts[k] as number) + 1;
    count++;
    if (x < min) min = x;
    if (x > max) max = x;
  }
  BIN_TOTALS[0] = count;
  BIN_TOTALS[1] = min;
  BIN_TOTALS[2] = max;
  return inexact;
}

/** Range bins (with per-bin min and max) of values[from, to). */
function binRangeBlock(
  values: Float64Array,
  from: number,
  to: number,
  counts: Float64Array,
  mins: Float64Array,
  maxs: Float64Array,
  low: number,
  scale: number,
  size: number,
): void {
  const last = size - 1;
  let count = BIN_TOTALS[0] as number;
  for (let i = from; i < to; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) continue;
    const u = (x - low) * scale;
    const k = u < size ? (u >= 0 ? u | 0 : 0) : last;
    counts[k] = (counts[k] as number) + 1;
    count++;
    mins[k] = Math.min(x, mins[k] as number);
    maxs[k] = Math.max(x, maxs[k] as number);
  }
  BIN_TOTALS[0] = count;
}

/**
 * The first pass's loop for a chunk with no mask, weights or path (the quantile analysis; summary
 * bins inside its moments pass, see denseColumn.ts). Same arithmetic as `binOf`.
 */
function binDense(sketch: Sketch, values: Float64Array, numRows: number): void {
  const counts = sketch.counts as Float64Array;
  const spec = sketch.spec;
  BIN_TOTALS[0] = 0;
  BIN_TOTALS[1] = sketch.min;
  BIN_TOTALS[2] = sketch.max;
  if (spec.kind === 'integer') {
    for (let from = 0; from < numRows; from += BIN_BLOCK) {
      sketch.inexact += binIntegerBlock(
        values,
        from,
        Math.min(numRows, from + BIN_BLOCK),
        counts,
        spec.low,
        spec.size,
      );
    }
  } else {
    const mins = sketch.mins as Float64Array;
    const maxs = sketch.maxs as Float64Array;
    const scale = rangeScale(spec);
    for (let from = 0; from < numRows; from += BIN_BLOCK) {
      binRangeBlock(
        values,
        from,
        Math.min(numRows, from + BIN_BLOCK),
        counts,
        mins,
        maxs,
        spec.low,
        scale,
        spec.bins,
      );
    }
    // Global min/max follow from the edge bins.
    for (let k = 0; k < spec.bins; k++) {
      if ((counts[k] as number) > 0) {
        BIN_TOTALS[1] = Math.min(BIN_TOTALS[1] as number, mins[k] as number);
        break;
      }
    }
    for (let k = spec.bins - 1; k >= 0; k--) {
      if ((counts[k] as number) > 0) {
        BIN_TOTALS[2] = Math.max(BIN_TOTALS[2] as number, maxs[k] as number);
        break;
      }
    }
  }
  const count = BIN_TOTALS[0] as number;
  sketch.count += count;
  sketch.total += count;
  sketch.min = BIN_TOTALS[1] as number;
  sketch.max = BIN_TOTALS[2] as number;
}

/**
 * Sketches one chunk. `knownCount`, when the caller already counted the usable rows (no path), saves
 * a counting pass.
 */
export function sketchChunk(spec: BinSpec, cap: number, input: SketchInputs, knownCount?: number): Sketch {
  const weighted = input.weights !== null;
  const sketch = emptySketch(spec, cap, weighted);
  const { numRows } = input;
  const dense = input.valid === null && input.weights === null && input.path.length === 0;
  let members = knownCount;
  if (members === undefined) {
    members = 0;
    for (let i = 0; i < numRows; i++) if (isMember(input, i)) members++;
  }
  if (members <= cap) {
    const values = new Float64Array(members);
    const weights = weighted ? new Float64Array(members) : null;
    let at = 0;
    let total = 0;
    let min = Number.POSITIVE_INFINITY;
    let max = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < numRows && at < members; i++) {
      if (!isMember(input, i)) continue;
      const x = input.values[i] as number;
      const w = weights === null ? 1 : (input.weights?.[i] as number);
      values[at] = x;
      if (weights !== null) weights[at] = w;
      at++;
      total += w;
      if (x < min) min = x;
      if (x > max) max = x;
    }
    sketch.values = values;
    sketch.valueWeights = weights;
    sketch.count = members;
    sketch.total = total;
    sketch.min = min;
    sketch.max = max;
    return sketch;
  }
  allocateBins(sketch);
  if (dense) {
    binDense(sketch, input.values, numRows);
    return sketch;
  }
  for (let i = 0; i < numRows; i++) {
    if (!isMember(input, i)) continue;
    const x = input.values[i] as number;
    const w = input.weights === null ? 1 : (input.weights[i] as number);
    binValue(sketch, x, w);
    sketch.count++;
    sketch.total += w;
    if (x < sketch.min) sketch.min = x;
    if (x > sketch.max) sketch.max = x;
  }
  return sketch;
}

/** A histogram-mode copy of a sketch (values are binned). */
function asBins(sketch: Sketch): Sketch {
  const out: Sketch = { ...sketch };
  if (sketch.values === null) {
    out.counts = (sketch.counts as Float64Array).slice();
    out.mins = sketch.mins?.slice() ?? null;
    out.maxs = sketch.maxs?.slice() ?? null;
    return out;
  }
  allocateBins(out);
  const values = sketch.values;
  for (let i = 0; i < values.length; i++) {
    binValue(out, values[i] as number, sketch.valueWeights === null ? 1 : (sketch.valueWeights[i] as number));
  }
  return out;
}

export function mergeSketches(a: Sketch, b: Sketch): Sketch {
  const count = a.count + b.count;
  const base = {
    spec: a.spec,
    cap: a.cap,
    weighted: a.weighted,
    count,
    total: a.total + b.total,
    min: Math.min(a.min, b.min),
    max: Math.max(a.max, b.max),
  };
  if (a.values !== null && b.values !== null && count <= a.cap) {
    const values = new Float64Array(count);
    values.set(a.values, 0);
    values.set(b.values, a.values.length);
    let valueWeights: Float64Array | null = null;
    if (a.weighted) {
      valueWeights = new Float64Array(count);
      valueWeights.set(a.valueWeights ?? new Float64Array(a.values.length), 0);
      valueWeights.set(b.valueWeights ?? new Float64Array(b.values.length), a.values.length);
    }
    return { ...base, values, valueWeights, counts: null, mins: null, maxs: null, inexact: 0 };
  }
  const left = asBins(a);
  const right = b.values === null ? b : asBins(b);
  const counts = left.counts as Float64Array;
  const rightCounts = right.counts as Float64Array;
  for (let k = 0; k < counts.length; k++) counts[k] = (counts[k] as number) + (rightCounts[k] as number);
  if (left.mins !== null && left.maxs !== null && right.mins !== null && right.maxs !== null) {
    for (let k = 0; k < counts.length; k++) {
      left.mins[k] = Math.min(left.mins[k] as number, right.mins[k] as number);
      left.maxs[k] = Math.max(left.maxs[k] as number, right.maxs[k] as number);
    }
  }
  return {
    ...base,
    values: null,
    valueWeights: null,
    counts,
    mins: left.mins,
    maxs: left.maxs,
    inexact: left.inexact + right.inexact,
  };
}

export interface BinPlanOptions {
  maxIntegerBins: number;
  numNumericBreaks: number;
  /** Use integer bins for a `numeric` variable whose low and high are integers (RevoScaleR does). */
  integerBinsForNumeric: boolean;
}

const INTEGER_VALUED_TYPES = new Set(['integer', 'logical', 'date', 'timestamp']);

/**
 * The first-pass bins of a variable, from its stored low/high. With no usable low/high (stale or
 * absent) the bins still work: values outside are clamped into the edge bins, whose min/max are kept.
 */
export function planBins(info: VarInfo, options: BinPlanOptions): BinSpec {
  const { low, high } = info;
  if (low === null || high === null || !Number.isFinite(low) || !Number.isFinite(high)) {
    return { kind: 'range', low: 0, high: 1, bins: options.numNumericBreaks };
  }
  const lo = Math.min(low, high);
  const hi = Math.max(low, high);
  const integerValued =
    INTEGER_VALUED_TYPES.has(info.type) ||
    (options.integerBinsForNumeric && Number.isInteger(lo) && Number.isInteger(hi));
  if (integerValued && Math.floor(hi) - Math.floor(lo) + 1 <= options.maxIntegerBins) {
    return { kind: 'integer', low: Math.floor(lo), size: Math.floor(hi) - Math.floor(lo) + 1 };
  }
  return { kind: 'range', low: lo, high: hi, bins: options.numNumericBreaks };
}

// ---------------------------------------------------------------------------------------------------
// Reading order statistics

/** What is known about the order statistic x[k]. */
export type RankAnswer =
  | { exact: true; value: number }
  | {
      exact: false;
      /** Best estimate (linear interpolation of the ECDF inside the bin). */
      value: number;
      /** The true value lies in [lower, upper]. */
      lower: number;
      upper: number;
      /** Bin to refine in another pass (null when it cannot be refined, e.g. infinite bounds). */
      refine: { step: PathStep; spec: BinSpec; rankOffset: number } | null;
    };

/** A sketch prepared for rank look-ups (values sorted once). */
export interface RankReader {
  /** Sum of weights (n when unweighted). */
  total: number;
  at(rank: number): RankAnswer;
}

/** Smallest index i whose cumulative weight reaches k (the last index when rounding leaves k above). */
function searchCumulative(weights: ArrayLike<number>, k: number): { index: number; before: number } {
  let before = 0;
  let lastNonEmpty = -1;
  let lastBefore = 0;
  for (let i = 0; i < weights.length; i++) {
    const w = weights[i] as number;
    if (w <= 0) continue;
    if (before + w >= k) return { index: i, before };
    lastNonEmpty = i;
    lastBefore = before;
    before += w;
  }
  return { index: lastNonEmpty, before: lastBefore };
}

export function rankReader(sketch: Sketch, refineBins: number): RankReader {
  if (sketch.values !== null) {
    const values = sketch.values;
    const n = values.length;
    if (sketch.valueWeights === null) {
      const sorted = values.slice().sort();
      return {
        total: n,
        at: (rank) => ({
          exact: true,
          value: sorted[Math.min(n, Math.max(1, Math.ceil(rank))) - 1] as number,
        }),
      };
    }
    const weights = sketch.valueWeights;
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (i, j) => (values[i] as number) - (values[j] as number) || i - j,
    );
    const sortedWeights = Float64Array.from(order, (i) => weights[i] as number);
    const sortedValues = Float64Array.from(order, (i) => values[i] as number);
    return {
      total: sketch.total,
      at: (rank) => {
        const { index } = searchCumulative(sortedWeights, rank);
        return { exact: true, value: sortedValues[Math.max(0, index)] as number };
      },
    };
  }
  const counts = sketch.counts as Float64Array;
  const spec = sketch.spec;
  return {
    total: sketch.total,
    at: (rank) => {
      const { index: k, before } = searchCumulative(counts, rank);
      const c = counts[k] as number;
      if (spec.kind === 'integer') {
        if (sketch.inexact === 0) return { exact: true, value: spec.low + k };
        // With out-of-range values clamped, the edge bins reach to the data's min / max.
        const lower = k === 0 ? Math.min(sketch.min, spec.low) : spec.low + k;
        const upper = k === spec.size - 1 ? Math.max(sketch.max, spec.low + spec.size) : spec.low + k + 1;
        return approximate(
          lower,
          upper,
          c,
          rank - before,
          sketch.weighted,
          { spec, bin: k },
          refineBins,
          before,
        );
      }
      const lower = (sketch.mins as Float64Array)[k] as number;
      const upper = (sketch.maxs as Float64Array)[k] as number;
      if (lower === upper) return { exact: true, value: lower };
      // Unweighted, the first and last value of a bin are its min and max.
      if (!sketch.weighted && rank - before <= 1) return { exact: true, value: lower };
      if (!sketch.weighted && rank - before >= c) return { exact: true, value: upper };
      return approximate(
        lower,
        upper,
        c,
        rank - before,
        sketch.weighted,
        { spec, bin: k },
        refineBins,
        before,
      );
    },
  };
}

function approximate(
  lower: number,
  upper: number,
  binTotal: number,
  localRank: number,
  weighted: boolean,
  step: PathStep,
  refineBins: number,
  before: number,
): RankAnswer {
  // Linear interpolation of the ECDF between the bin's first (rank 1) and last (rank c) value.
  const fraction = weighted || binTotal <= 1 ? localRank / binTotal : (localRank - 1) / (binTotal - 1);
  const t = Math.min(1, Math.max(0, fraction));
  const finite = Number.isFinite(lower) && Number.isFinite(upper);
  const value = finite ? lower + t * (upper - lower) : t < 0.5 ? lower : upper;
  return {
    exact: false,
    value,
    lower,
    upper,
    refine: finite
      ? { step, spec: { kind: 'range', low: lower, high: upper, bins: refineBins }, rankOffset: before }
      : null,
  };
}

// ---------------------------------------------------------------------------------------------------
// Type 7

export interface Type7Plan {
  /** Ranks of the two order statistics (1-based, possibly equal). */
  lo: number;
  hi: number;
  /** Interpolation weight of x[hi]. */
  g: number;
}

/** R's type 7 positions for probability p over n (or the sum of weights). */
export function type7(n: number, p: number): Type7Plan {
  const h = 1 + Math.max(n - 1, 0) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  return { lo, hi, g: h - lo };
}

/** R's type 7 interpolation, in R's own arithmetic ((1 - g) x[lo] + g x[hi], skipped when equal). */
export function interpolate7(xlo: number, xhi: number, g: number): number {
  if (g === 0 || xlo === xhi) return xlo;
  return (1 - g) * xlo + g * xhi;
}
