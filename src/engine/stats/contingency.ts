import { chiSquaredUpperPValue, normalQuantile, normalTwoSidedPValue } from './distributions.ts';

/**
 * Tests on one two-way table of counts (row-major, `rows` x `columns`), as rxCrossTabs' summary and
 * RevoScaleR's rxChiSquaredTest / rxFisherTest / rxOddsRatio / rxRiskRatio / rxKendallCor give them.
 * Rows are the first factor of the crossing, columns the second. Every function returns raw doubles;
 * the caller turns non-finite ones into null with a warning.
 */

export interface ChiSquaredTest {
  statistic: number;
  df: number;
  pValue: number;
  /** Rows / columns with a total of 0, left out of the test (their expected counts are 0). */
  emptyRows: number;
  emptyColumns: number;
  /** Some expected count is below 5: R warns "Chi-squared approximation may be incorrect". */
  smallExpected: boolean;
}

/**
 * Pearson's chi-squared test of independence, as R's summary.table (what RevoScaleR's summary of a
 * crossTabs prints): sum((O - E)^2 / E) with E = row total x column total / n, df = (r - 1)(c - 1),
 * and no continuity correction, for 2 x 2 tables too (chisq.test's Yates correction is not applied).
 * Rows and columns whose total is 0 carry no information and would make E = 0: they are left out
 * (R would give NaN). Null when fewer than 2 rows or columns have observations.
 */
export function chiSquaredTest(table: Float64Array, rows: number, columns: number): ChiSquaredTest | null {
  const rowTotals = new Float64Array(rows);
  const columnTotals = new Float64Array(columns);
  let n = 0;
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) {
      const o = table[i * columns + j] as number;
      rowTotals[i] = (rowTotals[i] as number) + o;
      columnTotals[j] = (columnTotals[j] as number) + o;
    }
  }
  for (let i = 0; i < rows; i++) n += rowTotals[i] as number;
  const keptRows = [...rowTotals.keys()].filter((i) => (rowTotals[i] as number) > 0);
  const keptColumns = [...columnTotals.keys()].filter((j) => (columnTotals[j] as number) > 0);
  if (keptRows.length < 2 || keptColumns.length < 2) return null;
  let statistic = 0;
  let smallExpected = false;
  for (const i of keptRows) {
    for (const j of keptColumns) {
      const expected = ((rowTotals[i] as number) * (columnTotals[j] as number)) / n;
      const diff = (table[i * columns + j] as number) - expected;
      statistic += (diff * diff) / expected;
      if (expected < 5) smallExpected = true;
    }
  }
  const df = (keptRows.length - 1) * (keptColumns.length - 1);
  return {
    statistic,
    df,
    pValue: chiSquaredUpperPValue(statistic, df),
    emptyRows: rows - keptRows.length,
    emptyColumns: columns - keptColumns.length,
    smallExpected,
  };
}

// ---------------------------------------------------------------------------------------------------
// Fisher's exact test (2 x 2), as R's fisher.test

/**
 * The conditional distribution of the top-left count x given the margins: non-central hypergeometric
 * with odds ratio psi on the support lo..hi. `logWeights[s - lo]` = log(C(m, s) C(n, k - s)) up to a
 * constant, built by the ratio of neighbours (exact products of integers below 2^53, so no lgamma of
 * huge arguments cancelling each other).
 */
class ConditionalHypergeometric {
  readonly lo: number;
  readonly hi: number;
  private readonly logWeights: Float64Array;

  constructor(m: number, n: number, k: number) {
    this.lo = Math.max(0, k - n);
    this.hi = Math.min(k, m);
    const size = this.hi - this.lo + 1;
    this.logWeights = new Float64Array(size);
    for (let s = this.lo; s < this.hi; s++) {
      const ratio = ((m - s) * (k - s)) / ((s + 1) * (n - k + s + 1));
      this.logWeights[s - this.lo + 1] = (this.logWeights[s - this.lo] as number) + Math.log(ratio);
    }
  }

  /** Probabilities of lo..hi for log(psi) = u (normalised; the largest term is scaled to 1 first). */
  density(u: number): Float64Array {
    const size = this.logWeights.length;
    const d = new Float64Array(size);
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < size; t++) {
      const w = (this.logWeights[t] as number) + u * t;
      d[t] = w;
      if (w > max) max = w;
    }
    let total = 0;
    for (let t = 0; t < size; t++) {
      const p = Math.exp((d[t] as number) - max);
      d[t] = p;
      total += p;
    }
    for (let t = 0; t < size; t++) d[t] = (d[t] as number) / total;
    return d;
  }

  mean(u: number): number {
    const d = this.density(u);
    let mean = 0;
    for (let t = 0; t < d.length; t++) mean += (this.lo + t) * (d[t] as number);
    return mean;
  }

  /** P(X <= x) (upper: P(X >= x)) for log(psi) = u. */
  tail(x: number, u: number, upper: boolean): number {
    const d = this.density(u);
    let p = 0;
    for (let t = 0; t < d.length; t++) {
      const s = this.lo + t;
      if (upper ? s >= x : s <= x) p += d[t] as number;
    }
    return p;
  }
}

/**
 * The root of an increasing function of u = log(psi): brackets it by doubling, then bisects to the
 * last bit (about 60 halvings), which is as exact as the function allows; R's uniroot stops at its
 * default tolerance of 1.2e-4 instead.
 */
function solveIncreasing(f: (u: number) => number): number {
  let low = -1;
  let high = 1;
  while (f(low) > 0 && low > -1e4) low *= 2;
  while (f(high) < 0 && high < 1e4) high *= 2;
  for (let i = 0; i < 200; i++) {
    const mid = low + (high - low) / 2;
    if (mid === low || mid === high) break;
    if (f(mid) < 0) low = mid;
    else high = mid;
  }
  return low + (high - low) / 2;
}

export interface FisherTest {
  pValue: number;
  /** The conditional maximum likelihood estimate of the odds ratio, as R's fisher.test. */
  oddsRatio: number;
  confInt: [number, number];
  confLevel: number;
}

/**
 * Fisher's exact test of a 2 x 2 table [[a, b], [c, d]] (integer counts), two-sided, as R's
 * fisher.test: the p-value sums the probabilities of the tables (same margins) no more likely than
 * the observed one, with R's relative tolerance 1e-7 so that ties in probability count as equal; the
 * odds ratio is the conditional MLE, and its confidence interval inverts the two one-sided tests at
 * (1 - confLevel) / 2 each.
 */
export function fisherTest(a: number, b: number, c: number, d: number, confLevel: number): FisherTest {
  const m = a + c;
  const n = b + d;
  const k = a + b;
  const x = a;
  const dist = new ConditionalHypergeometric(m, n, k);
  const { lo, hi } = dist;
  const null0 = dist.density(0);
  const observed = (null0[x - lo] as number) * (1 + 1e-7);
  let pValue = 0;
  for (let t = 0; t < null0.length; t++) if ((null0[t] as number) <= observed) pValue += null0[t] as number;
  pValue = Math.min(1, pValue);

  let oddsRatio: number;
  if (x === lo) oddsRatio = 0;
  else if (x === hi) oddsRatio = Number.POSITIVE_INFINITY;
  else oddsRatio = Math.exp(solveIncreasing((u) => dist.mean(u) - x));

  const alpha = (1 - confLevel) / 2;
  // Lower bound: the psi where P(X >= x) = alpha (increasing in psi); upper: P(X <= x) = alpha.
  const lower = x === lo ? 0 : Math.exp(solveIncreasing((u) => dist.tail(x, u, true) - alpha));
  const upper =
    x === hi ? Number.POSITIVE_INFINITY : Math.exp(solveIncreasing((u) => alpha - dist.tail(x, u, false)));
  return { pValue, oddsRatio, confInt: [lower, upper], confLevel };
}

// ---------------------------------------------------------------------------------------------------
// Odds and risk ratios (2 x 2), Wald intervals on the log scale

export interface RatioEstimate {
  estimate: number;
  confInt: [number, number];
  confLevel: number;
  /** z = log(estimate) / its standard error, and its two-sided normal p-value (H0: ratio = 1). */
  statistic: number;
  pValue: number;
}

function waldOnLog(logEstimate: number, se: number, confLevel: number): RatioEstimate {
  const z = normalQuantile(1 - (1 - confLevel) / 2);
  const statistic = logEstimate / se;
  return {
    estimate: Math.exp(logEstimate),
    confInt: [Math.exp(logEstimate - z * se), Math.exp(logEstimate + z * se)],
    confLevel,
    statistic,
    pValue: normalTwoSidedPValue(statistic),
  };
}

/**
 * The sample odds ratio (a d) / (b c) of [[a, b], [c, d]] with Woolf's interval,
 * exp(log OR +- z sqrt(1/a + 1/b + 1/c + 1/d)). A zero cell gives 0 or infinity and no interval.
 */
export function oddsRatio(a: number, b: number, c: number, d: number, confLevel: number): RatioEstimate {
  return waldOnLog(
    Math.log(a) + Math.log(d) - Math.log(b) - Math.log(c),
    Math.sqrt(1 / a + 1 / b + 1 / c + 1 / d),
    confLevel,
  );
}

/**
 * The risk ratio of [[a, b], [c, d]] with rows as groups and the first column as the event:
 * (a / (a + b)) / (c / (c + d)), with the interval exp(log RR +- z sqrt(1/a - 1/(a+b) + 1/c - 1/(c+d))).
 */
export function riskRatio(a: number, b: number, c: number, d: number, confLevel: number): RatioEstimate {
  const logRr = Math.log(a) - Math.log(a + b) - (Math.log(c) - Math.log(c + d));
  return waldOnLog(logRr, Math.sqrt(1 / a - 1 / (a + b) + 1 / c - 1 / (c + d)), confLevel);
}

// ---------------------------------------------------------------------------------------------------
// Kendall's tau-b

export interface KendallTau {
  estimate: number;
  /** z = S / sqrt(Var S) with R's tie-corrected variance, and its two-sided normal p-value. */
  statistic: number;
  pValue: number;
}

/**
 * Kendall's tau-b between the row and column orders (levels in their order), the table holding the
 * frequencies of the pairs: tau-b = (C - D) / sqrt((T0 - T1)(T0 - T2)). The p-value is the normal
 * approximation of R's cor.test(method = "kendall", exact = FALSE, continuity = FALSE), with its
 * variance of S corrected for ties (the only choice for tables, which are all ties).
 */
export function kendallTauB(table: Float64Array, rows: number, columns: number): KendallTau {
  // below[i][j] = sum of O[i'][j'] with i' >= i and j' >= j; left[i][j] = ... i' >= i and j' <= j.
  const width = columns + 2;
  const below = new Float64Array((rows + 1) * width);
  const left = new Float64Array((rows + 1) * width);
  for (let i = rows - 1; i >= 0; i--) {
    for (let j = columns - 1; j >= 0; j--) {
      const o = table[i * columns + j] as number;
      below[i * width + j] =
        o +
        (below[(i + 1) * width + j] as number) +
        (below[i * width + j + 1] as number) -
        (below[(i + 1) * width + j + 1] as number);
    }
    for (let j = 0; j < columns; j++) {
      const o = table[i * columns + j] as number;
      // Column j is stored at j + 1, so column -1 is slot 0 (always 0).
      left[i * width + j + 1] =
        o +
        (left[(i + 1) * width + j + 1] as number) +
        (left[i * width + j] as number) -
        (left[(i + 1) * width + j] as number);
    }
  }
  let concordant = 0;
  let discordant = 0;
  const rowTotals = new Float64Array(rows);
  const columnTotals = new Float64Array(columns);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < columns; j++) {
      const o = table[i * columns + j] as number;
      rowTotals[i] = (rowTotals[i] as number) + o;
      columnTotals[j] = (columnTotals[j] as number) + o;
      if (o === 0) continue;
      concordant += o * (below[(i + 1) * width + j + 1] as number);
      discordant += o * (left[(i + 1) * width + j] as number);
    }
  }
  let n = 0;
  for (const t of rowTotals) n += t;
  const ties = (totals: Float64Array) => {
    let pairs = 0; // sum t (t - 1)
    let v = 0; // sum t (t - 1)(2t + 5)
    let triples = 0; // sum t (t - 1)(t - 2)
    for (const t of totals) {
      pairs += t * (t - 1);
      v += t * (t - 1) * (2 * t + 5);
      triples += t * (t - 1) * (t - 2);
    }
    return { pairs, v, triples };
  };
  const x = ties(rowTotals);
  const y = ties(columnTotals);
  const s = concordant - discordant;
  const t0 = (n * (n - 1)) / 2;
  const estimate = s / Math.sqrt((t0 - x.pairs / 2) * (t0 - y.pairs / 2));
  const varS =
    (n * (n - 1) * (2 * n + 5) - x.v - y.v) / 18 +
    (x.pairs * y.pairs) / (2 * n * (n - 1)) +
    (x.triples * y.triples) / (9 * n * (n - 1) * (n - 2));
  const statistic = s / Math.sqrt(varS);
  return { estimate, statistic, pValue: normalTwoSidedPValue(statistic) };
}
