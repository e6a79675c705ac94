import { tTwoSidedPValue } from './distributions.ts';

/**
 * Quantiles of the t and normal distributions, for confidence and prediction intervals, by inverting
 * the tail probabilities of distributions.ts (accurate to a few ulps) with a bracketing root finder:
 * intervals are computed once per job, so a few dozen tail evaluations cost nothing, and the quantile
 * inherits the tail's accuracy instead of a series approximation's.
 *
 * The normal tail is the t tail with df = 1e300: ibeta's large-a expansion gives P(|Z| > z) to full
 * precision there (checked against pnorm in the tests), and it avoids a second special function.
 */

/** Degrees of freedom standing for "infinite": the normal distribution. */
const NORMAL_DF = 1e300;

/** P(|Z| > |z|) for a standard normal Z. */
export function normalTwoSidedPValue(z: number): number {
  return tTwoSidedPValue(z, NORMAL_DF);
}

/** Standard normal CDF, both tails computed directly (no 1 - tiny cancellation). */
export function normalCdf(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  const half = 0.5 * normalTwoSidedPValue(z);
  return z < 0 ? half : 1 - half;
}

/**
 * The t quantile q with P(|T| > q) = alpha (two-sided), i.e. qt(1 - alpha / 2, df); df = Infinity
 * gives the normal quantile. NaN for alpha outside (0, 1] or df <= 0.
 */
export function tTwoSidedQuantile(alpha: number, df: number): number {
  if (!(alpha > 0 && alpha <= 1) || !(df > 0)) return Number.NaN;
  if (alpha === 1) return 0;
  const d = Number.isFinite(df) ? df : NORMAL_DF;
  const tail = (q: number) => tTwoSidedPValue(q, d);
  // Bracket: the tail falls from 1 at 0; double the upper end until it is below alpha.
  let low = 0;
  let high = 1;
  while (tail(high) > alpha) {
    low = high;
    high *= 2;
    if (high > 1e300) return Number.POSITIVE_INFINITY;
  }
  // Bisection on the tail in log scale would also do; plain bisection to the last bit is ~60 steps.
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (low + high);
    if (mid === low || mid === high) break;
    if (tail(mid) > alpha) low = mid;
    else high = mid;
  }
  return 0.5 * (low + high);
}
