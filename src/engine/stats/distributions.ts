import betainc from '@stdlib/math-base-special-betainc';
import erfc from '@stdlib/math-base-special-erfc';
import gammainc from '@stdlib/math-base-special-gammainc';
import normalQuantileOf from '@stdlib/stats-base-dists-normal-quantile';

/**
 * Tail probabilities of the t, F, chi-squared and normal distributions, from the regularized incomplete beta function of
 * @stdlib (a port of Boost's ibeta: accurate to a few ulps across the range, tails included).
 *
 * Both tails are written as I_x(a, b) and the argument handed over is always the SMALLER of x and
 * 1 - x, each computed directly from the statistic (not as 1 - the other): ibeta's accuracy is
 * relative to its argument, and x = df / (df + t^2) near 1 would lose the digits of 1 - x that a
 * p-value near 1, or a huge df, depends on.
 */

/** P(|T| > |t|) for Student's t with `df` degrees of freedom (NaN when df <= 0 or t is NaN). */
export function tTwoSidedPValue(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return Number.NaN;
  if (!Number.isFinite(t)) return 0;
  const t2 = t * t;
  // P(|T| > |t|) = I_{df / (df + t^2)}(df / 2, 1 / 2) = 1 - I_{t^2 / (df + t^2)}(1 / 2, df / 2).
  if (t2 < df) return betainc(t2 / (df + t2), 0.5, df / 2, true, true);
  return betainc(df / (df + t2), df / 2, 0.5, true, false);
}

/** P(F > f) for the F distribution with (d1, d2) degrees of freedom (NaN when a df is <= 0). */
export function fUpperPValue(f: number, d1: number, d2: number): number {
  if (Number.isNaN(f) || !(d1 > 0) || !(d2 > 0)) return Number.NaN;
  if (f <= 0) return 1;
  if (!Number.isFinite(f)) return 0;
  const d1f = d1 * f;
  // P(F > f) = I_{d2 / (d2 + d1 f)}(d2 / 2, d1 / 2) = 1 - I_{d1 f / (d2 + d1 f)}(d1 / 2, d2 / 2).
  if (d1f < d2) return betainc(d1f / (d2 + d1f), d1 / 2, d2 / 2, true, true);
  return betainc(d2 / (d2 + d1f), d2 / 2, d1 / 2, true, false);
}

/**
 * P(X > x) for the chi-squared distribution with `df` degrees of freedom, as the regularized upper
 * incomplete gamma Q(df / 2, x / 2) of @stdlib (computed directly, not as 1 - P, so tiny p-values keep
 * their digits).
 */
export function chiSquaredUpperPValue(x: number, df: number): number {
  if (Number.isNaN(x) || !(df > 0)) return Number.NaN;
  if (x <= 0) return 1;
  if (!Number.isFinite(x)) return 0;
  return gammainc(x / 2, df / 2, true, true);
}

/** P(|Z| > |z|) for a standard normal Z, as erfc(|z| / sqrt 2) (no cancellation in the far tail). */
export function normalTwoSidedPValue(z: number): number {
  if (Number.isNaN(z)) return Number.NaN;
  return erfc(Math.abs(z) / Math.SQRT2);
}

/** The standard normal quantile (R's qnorm(p)). */
export function normalQuantile(p: number): number {
  return normalQuantileOf(p, 0, 1);
}
