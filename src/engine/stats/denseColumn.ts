import type { Moments } from './moments.ts';
import { binCount, rangeScale, type Sketch } from './sketch.ts';

/**
 * The hot loop of summary: one numeric column of a chunk with no missing mask, no weights and one
 * cell, read ONCE for its moments and (optionally) its quantile bins.
 *
 * Moments in one pass, without losing the two-pass accuracy: the pass accumulates s = sum(x - K) and
 * ss = sum((x - K)^2) around a shift K (the mean of the first few values), then mean = K + s / n and
 * M2 = ss - s^2 / n. That is the corrected two-pass formula of Chan, Golub & LeVeque with K standing
 * in for the first pass's mean; its cancellation costs log10(1 + d^2 / var) digits, d = mean - K. When
 * K turns out to be more than one standard deviation from the mean (sorted or trending data, an
 * outlier up front), a second pass around the computed mean redoes s and ss, so the result is always
 * within a fraction of a digit of the exact two-pass answer. NaN counts as missing.
 *
 * Binning uses exactly `binOf`'s arithmetic (see sketch.ts).
 */

/** Values averaged for the shift. */
const SHIFT_PREFIX = 32;

/** Mean of the first non-NaN values (0 when there are none). */
function shiftOf(values: Float64Array, numRows: number): number {
  let sum = 0;
  let count = 0;
  for (let i = 0; i < numRows && count < SHIFT_PREFIX; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) continue;
    sum += x;
    count++;
  }
  return count > 0 ? sum / count : 0;
}

/*
 * The loops below take only typed arrays and numbers and keep their running totals in `TOTALS`
 * (read at the start of a block, written at its end): no object property access or allocation around
 * them. They are called on blocks of BLOCK rows rather than once per column: with one long call V8
 * compiled them by on-stack replacement, deoptimised at the code after the loop, and whole processes
 * then ran up to 4x slower than others (measured); on 16K-row blocks they are optimised from call
 * counts and ran fastest and steadily (summary's pass 1.5x a plain sum loop, vs 2.3x with 64K blocks).
 * Blocks continue the same running sums, so the arithmetic, and the result, is that of one loop.
 */

/** Running nan, sum, min, max, s, ss. */
const TOTALS = new Float64Array(6);
const BLOCK = 16_384;

function resetTotals(): void {
  TOTALS.fill(0);
  TOTALS[2] = Number.POSITIVE_INFINITY;
  TOTALS[3] = Number.NEGATIVE_INFINITY;
}

function passPlain(values: Float64Array, from: number, to: number, shift: number): void {
  let nan = TOTALS[0] as number;
  let sum = TOTALS[1] as number;
  let min = TOTALS[2] as number;
  let max = TOTALS[3] as number;
  let s = TOTALS[4] as number;
  let ss = TOTALS[5] as number;
  for (let i = from; i < to; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) {
      nan++;
      continue;
    }
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
    const d = x - shift;
    s += d;
    ss += d * d;
  }
  TOTALS[0] = nan;
  TOTALS[1] = sum;
  TOTALS[2] = min;
  TOTALS[3] = max;
  TOTALS[4] = s;
  TOTALS[5] = ss;
}

/** Integer bins; returns how many values were not an in-range integer (their bins are inexact). */
function passIntegerBins(
  values: Float64Array,
  from: number,
  to: number,
  shift: number,
  counts: Float64Array,
  low: number,
  size: number,
): number {
  const last = size - 1;
  let inexact = 0;
  let nan = TOTALS[0] as number;
  let sum = TOTALS[1] as number;
  let min = TOTALS[2] as number;
  let max = TOTALS[3] as number;
  let s = TOTALS[4] as number;
  let ss = TOTALS[5] as number;
  for (let i = from; i < to; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) {
      nan++;
      continue;
    }
    sum += x;
    if (x < min) min = x;
    if (x > max) max = x;
    const d = x - shift;
    s += d;
    ss += d * d;
    const u = x - low;
    const k = u < size ? (u >= 0 ? u | 0 : 0) : last;
    // An in-range integer lands exactly on its bin; anything else makes the bins inexact.
    if (k !== u) inexact++;
    counts[k] = (counts[k] as number) + 1;
  }
  TOTALS[0] = nan;
  TOTALS[1] = sum;
  TOTALS[2] = min;
  TOTALS[3] = max;
  TOTALS[4] = s;
  TOTALS[5] = ss;
  return inexact;
}

function passRangeBins(
  values: Float64Array,
  from: number,
  to: number,
  shift: number,
  counts: Float64Array,
  mins: Float64Array,
  maxs: Float64Array,
  low: number,
  scale: number,
  size: number,
): void {
  const last = size - 1;
  let nan = TOTALS[0] as number;
  let sum = TOTALS[1] as number;
  let s = TOTALS[4] as number;
  let ss = TOTALS[5] as number;
  for (let i = from; i < to; i++) {
    const x = values[i] as number;
    if (Number.isNaN(x)) {
      nan++;
      continue;
    }
    sum += x;
    const d = x - shift;
    s += d;
    ss += d * d;
    const u = (x - low) * scale;
    const k = u < size ? (u >= 0 ? u | 0 : 0) : last;
    counts[k] = (counts[k] as number) + 1;
    // Branch-free: these rarely change, but a mispredicted branch per value costs more than a store.
    mins[k] = Math.min(x, mins[k] as number);
    maxs[k] = Math.max(x, maxs[k] as number);
  }
  TOTALS[0] = nan;
  TOTALS[1] = sum;
  TOTALS[4] = s;
  TOTALS[5] = ss;
}

/** The column's min and max are those of its first and last non-empty bins. */
function edgeBins(counts: Float64Array, mins: Float64Array, maxs: Float64Array): void {
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < counts.length; k++) {
    if ((counts[k] as number) > 0) {
      min = mins[k] as number;
      break;
    }
  }
  for (let k = counts.length - 1; k >= 0; k--) {
    if ((counts[k] as number) > 0) {
      max = maxs[k] as number;
      break;
    }
  }
  TOTALS[2] = min;
  TOTALS[3] = max;
}

/** The second pass, only when the shift was too far from the mean. */
function recentre(
  values: Float64Array,
  numRows: number,
  centre: number,
  nan: number,
): { s: number; ss: number } {
  let s = 0;
  let ss = 0;
  if (nan === 0) {
    for (let i = 0; i < numRows; i++) {
      const d = (values[i] as number) - centre;
      s += d;
      ss += d * d;
    }
  } else {
    for (let i = 0; i < numRows; i++) {
      const d = (values[i] as number) - centre;
      if (Number.isNaN(d)) continue;
      s += d;
      ss += d * d;
    }
  }
  return { s, ss };
}

/**
 * Fills cell 0 of an empty `moments` from the column, and bins it into `sketch` when given (which must
 * be empty and in histogram mode).
 */
export function summarizeDense(
  values: Float64Array,
  numRows: number,
  moments: Moments,
  sketch: Sketch | null,
): void {
  let shift = shiftOf(values, numRows);
  // Infinite values make the shift (and everything else) non-finite; the statistics then say so.
  if (!Number.isFinite(shift)) shift = 0;
  resetTotals();
  if (sketch === null) {
    for (let from = 0; from < numRows; from += BLOCK)
      passPlain(values, from, Math.min(numRows, from + BLOCK), shift);
  } else if (sketch.spec.kind === 'integer') {
    const counts = sketch.counts as Float64Array;
    const { low, size } = sketch.spec;
    for (let from = 0; from < numRows; from += BLOCK) {
      sketch.inexact += passIntegerBins(
        values,
        from,
        Math.min(numRows, from + BLOCK),
        shift,
        counts,
        low,
        size,
      );
    }
  } else {
    const counts = sketch.counts as Float64Array;
    const mins = sketch.mins as Float64Array;
    const maxs = sketch.maxs as Float64Array;
    const low = sketch.spec.low;
    const scale = rangeScale(sketch.spec);
    const size = binCount(sketch.spec);
    for (let from = 0; from < numRows; from += BLOCK) {
      passRangeBins(
        values,
        from,
        Math.min(numRows, from + BLOCK),
        shift,
        counts,
        mins,
        maxs,
        low,
        scale,
        size,
      );
    }
    edgeBins(counts, mins, maxs);
  }
  const nan = TOTALS[0] as number;
  const totals = { sum: TOTALS[1] as number, min: TOTALS[2] as number, max: TOTALS[3] as number };
  const n = numRows - nan;
  moments.validObs[0] = n;
  moments.missingObs[0] = nan;
  moments.weight[0] = n;
  moments.sum[0] = totals.sum;
  moments.min[0] = totals.min;
  moments.max[0] = totals.max;
  if (sketch !== null) {
    sketch.count += n;
    sketch.total += n;
    sketch.min = Math.min(sketch.min, totals.min);
    sketch.max = Math.max(sketch.max, totals.max);
  }
  if (n === 0) return;
  let s = TOTALS[4] as number;
  let ss = TOTALS[5] as number;
  let centre = shift;
  const offset = s / n;
  // offset^2 > M2 / n: the shift is more than a (population) standard deviation away, or M2 lost its
  // digits to cancellation; either way, redo s and ss around the mean.
  if (!(offset * offset * n <= ss - s * offset)) {
    centre = shift + offset;
    ({ s, ss } = recentre(values, numRows, centre, nan));
  }
  moments.mean[0] = centre + s / n;
  moments.m2[0] = ss - (s * s) / n;
}
