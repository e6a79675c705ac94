import { type Criterion, countOf, gradientScore, orderKeyOf, scoreOf, statWidth } from './criteria.ts';

/**
 * The best split of one node from its merged histograms: for each predictor, every boundary between
 * two bins holding data at this node (numeric), or every subset of levels worth trying (factors), with
 * missing values sent left and right in turn.
 *
 * - Numeric: rows with code < bin go "lo". Only boundaries right after a non-empty bin are tried: empty
 *   bins between two values do not change the partition (rpart's `x[i+1] != x[i]`).
 * - Factor, two classes / regression / boosting: levels sorted by `orderKeyOf`, prefixes tried (the
 *   optimal subset, Breiman et al. 1984; what rpart's ordered gray code does). More classes: every
 *   subset when at most EXHAUSTIVE_LEVELS levels are present, else prefixes of the levels sorted by each
 *   class's share in turn (a heuristic; rpart enumerates every subset, which 2^31 subsets forbid).
 * - Missing values: when the node has rows with a missing code, both directions are tried and the
 *   better kept; otherwise missing values go with the larger side (rpart's "majority direction").
 *   Levels absent from the node go where missing values go.
 * Ties keep the first candidate: lower boundary, earlier predictor, missing values "hi" before "lo".
 */

/** Factor splits of more than two classes enumerate every subset up to this many levels present. */
export const EXHAUSTIVE_LEVELS = 12;

export interface SplitRules {
  criterion: Criterion;
  /** Smallest observation count of either side (minBucket). */
  minBucket: number;
  /** Per predictor: `numeric` or `factor`, and its number of bins (the missing code). */
  kinds: ReadonlyArray<'numeric' | 'factor'>;
  numBins: ArrayLike<number>;
}

export interface SplitChoice {
  feature: number;
  /** Numeric: codes < bin go lo; -1 for factors. */
  bin: number;
  /** Numeric: the last non-empty bin of the lo side (for the threshold halfway to `bin`). */
  lastLoBin: number;
  /** Factor: per level 1 = lo (levels absent from the node follow missing values). */
  loLevels: Uint8Array | null;
  missingLo: boolean;
  /** score(lo) + score(hi) - score(node). */
  gain: number;
  lo: Float64Array;
  hi: Float64Array;
}

/** Working buffers of one search (no allocation per candidate). */
class Scratch {
  readonly total: Float64Array;
  readonly left: Float64Array;
  readonly right: Float64Array;
  readonly missing: Float64Array;
  readonly cand: Float64Array;
  /** tryPartition's answer when it returns true (kept here: no object per candidate boundary). */
  gain = 0;
  missingLo = false;
  constructor(width: number) {
    this.total = new Float64Array(width);
    this.left = new Float64Array(width);
    this.right = new Float64Array(width);
    this.missing = new Float64Array(width);
    this.cand = new Float64Array(width);
  }
}

function addInto(out: Float64Array, src: ArrayLike<number>, at: number, width: number): void {
  for (let k = 0; k < width; k++) out[k] = (out[k] as number) + (src[at + k] as number);
}

/**
 * `out` = the sum of `count` bins of `width` stats from `at`, added bin by bin from 0 (as addInto
 * would, so to the same bits). Gradient sums (width 3) on scalars: a boosted tree sums every bin of
 * every predictor at each node, and the vector loop was a third of its split search.
 */
function sumBins(out: Float64Array, hist: Float64Array, at: number, count: number, width: number): void {
  if (width === 3) {
    let g = 0;
    let h = 0;
    let n = 0;
    for (let b = 0; b < count; b++) {
      const o = at + 3 * b;
      g += hist[o] as number;
      h += hist[o + 1] as number;
      n += hist[o + 2] as number;
    }
    out[0] = g;
    out[1] = h;
    out[2] = n;
    return;
  }
  out.fill(0);
  for (let b = 0; b < count; b++) addInto(out, hist, at + b * width, width);
}

/** Best candidate of one feature, or null; `bestGain` is what it must beat. */
interface FeatureBest {
  gain: number;
  bin: number;
  lastLoBin: number;
  loLevels: Uint8Array | null;
  missingLo: boolean;
}

/**
 * Tries lo = `left` (hi = total - left), with missing values both ways when present. Returns false
 * when no direction is valid, else true with the best gain and direction in `scratch.gain` and
 * `scratch.missingLo`. Runs once per candidate boundary, so it allocates nothing.
 */
function tryPartition(
  rules: SplitRules,
  scratch: Scratch,
  parentScore: number,
  hasMissing: boolean,
): boolean {
  const c = rules.criterion;
  const width = scratch.total.length;
  const { total, left, right, missing, cand } = scratch;
  let found = false;
  // Missing values hi: lo = left, hi = total - left.
  for (let k = 0; k < width; k++) right[k] = (total[k] as number) - (left[k] as number);
  if (
    countOf(c, left, 0) >= rules.minBucket &&
    countOf(c, right, 0) >= rules.minBucket &&
    validSides(c, left, right)
  ) {
    scratch.gain = scoreOf(c, left, 0) + scoreOf(c, right, 0) - parentScore;
    scratch.missingLo = hasMissing ? false : countOf(c, left, 0) >= countOf(c, right, 0);
    found = true;
  }
  if (!hasMissing) return found;
  // Missing values lo.
  for (let k = 0; k < width; k++) {
    cand[k] = (left[k] as number) + (missing[k] as number);
    right[k] = (total[k] as number) - (cand[k] as number);
  }
  if (
    countOf(c, cand, 0) >= rules.minBucket &&
    countOf(c, right, 0) >= rules.minBucket &&
    validSides(c, cand, right)
  ) {
    const gain = scoreOf(c, cand, 0) + scoreOf(c, right, 0) - parentScore;
    if (!found || gain > scratch.gain) {
      scratch.gain = gain;
      scratch.missingLo = true;
      found = true;
    }
  }
  return found;
}

/** Boosting needs a positive hessian on both sides when lambda is 0. */
function validSides(c: Criterion, a: Float64Array, b: Float64Array): boolean {
  if (c.kind !== 'gradient' || c.lambda > 0) return true;
  return (a[1] as number) > 0 && (b[1] as number) > 0;
}

function numericBest(
  rules: SplitRules,
  hist: Float64Array,
  at: number,
  numBins: number,
  scratch: Scratch,
  parentScore: number,
  hasMissing: boolean,
): FeatureBest | null {
  const c = rules.criterion;
  const width = scratch.total.length;
  scratch.left.fill(0);
  let best: FeatureBest | null = null;
  let lastNonEmpty = -1;
  for (let b = 0; b < numBins; b++) {
    const o = at + b * width;
    if (!(countOf(c, hist, o) > 0)) continue;
    if (lastNonEmpty >= 0) {
      // Boundary between the last non-empty bin and this one: lo = bins <= lastNonEmpty.
      if (
        tryPartition(rules, scratch, parentScore, hasMissing) &&
        (best === null || scratch.gain > best.gain)
      ) {
        best = {
          gain: scratch.gain,
          bin: b,
          lastLoBin: lastNonEmpty,
          loLevels: null,
          missingLo: scratch.missingLo,
        };
      }
    }
    addInto(scratch.left, hist, o, width);
    lastNonEmpty = b;
  }
  return best;
}

/**
 * numericBest for boosting's gradient sums, on scalars: the same sums, gains and tie-breaks in the same
 * order (so the same splits to the last bit), without the per-candidate vector loops and criterion
 * dispatch, since a boosted tree searches every bin of every predictor at each node.
 */
function numericBestGradient(
  rules: SplitRules,
  lambda: number,
  hist: Float64Array,
  at: number,
  numBins: number,
  scratch: Scratch,
  parentScore: number,
  hasMissing: boolean,
): FeatureBest | null {
  const minBucket = rules.minBucket;
  // validSides: without regularisation both sides need a positive hessian.
  const anyHessian = lambda > 0;
  const { total, missing } = scratch;
  const tg = total[0] as number;
  const th = total[1] as number;
  const tc = total[2] as number;
  const mg = missing[0] as number;
  const mh = missing[1] as number;
  const mc = missing[2] as number;
  let best: FeatureBest | null = null;
  let lg = 0;
  let lh = 0;
  let lc = 0;
  let lastNonEmpty = -1;
  for (let b = 0; b < numBins; b++) {
    const o = at + b * 3;
    const count = hist[o + 2] as number;
    if (!(count > 0)) continue;
    if (lastNonEmpty >= 0) {
      let found = false;
      let gain = 0;
      let missingLo = false;
      // Missing values hi.
      const rg = tg - lg;
      const rh = th - lh;
      const rc = tc - lc;
      if (lc >= minBucket && rc >= minBucket && (anyHessian || (lh > 0 && rh > 0))) {
        gain = gradientScore(lg, lh, lambda) + gradientScore(rg, rh, lambda) - parentScore;
        missingLo = hasMissing ? false : lc >= rc;
        found = true;
      }
      if (hasMissing) {
        // Missing values lo.
        const cg = lg + mg;
        const ch = lh + mh;
        const cc = lc + mc;
        const og = tg - cg;
        const oh = th - ch;
        const oc = tc - cc;
        if (cc >= minBucket && oc >= minBucket && (anyHessian || (ch > 0 && oh > 0))) {
          const lowGain = gradientScore(cg, ch, lambda) + gradientScore(og, oh, lambda) - parentScore;
          if (!found || lowGain > gain) {
            gain = lowGain;
            missingLo = true;
            found = true;
          }
        }
      }
      if (found && (best === null || gain > best.gain)) {
        best = { gain, bin: b, lastLoBin: lastNonEmpty, loLevels: null, missingLo };
      }
    }
    lg += hist[o] as number;
    lh += hist[o + 1] as number;
    lc += count;
    lastNonEmpty = b;
  }
  return best;
}

/** Evaluates lo = the levels flagged in `inLo` (present levels only). */
function subsetGain(
  rules: SplitRules,
  hist: Float64Array,
  at: number,
  levels: readonly number[],
  inLo: Uint8Array,
  scratch: Scratch,
  parentScore: number,
  hasMissing: boolean,
): boolean {
  const width = scratch.total.length;
  scratch.left.fill(0);
  for (const level of levels) if (inLo[level] === 1) addInto(scratch.left, hist, at + level * width, width);
  return tryPartition(rules, scratch, parentScore, hasMissing);
}

function factorBest(
  rules: SplitRules,
  hist: Float64Array,
  at: number,
  numLevels: number,
  scratch: Scratch,
  parentScore: number,
  hasMissing: boolean,
): FeatureBest | null {
  const c = rules.criterion;
  const width = scratch.total.length;
  const present: number[] = [];
  for (let level = 0; level < numLevels; level++)
    if (countOf(c, hist, at + level * width) > 0) present.push(level);
  if (present.length < 2) return null;
  let best: FeatureBest | null = null;
  // `found`: tryPartition's answer, its gain and direction in scratch.
  const consider = (inLo: Uint8Array, found: boolean): void => {
    if (found && (best === null || scratch.gain > best.gain)) {
      best = {
        gain: scratch.gain,
        bin: -1,
        lastLoBin: -1,
        loLevels: inLo.slice(),
        missingLo: scratch.missingLo,
      };
    }
  };
  const inLo = new Uint8Array(numLevels);
  const scanOrder = (order: number[]): void => {
    inLo.fill(0);
    scratch.left.fill(0);
    for (let k = 0; k < order.length - 1; k++) {
      const level = order[k] as number;
      inLo[level] = 1;
      addInto(scratch.left, hist, at + level * width, width);
      consider(inLo, tryPartition(rules, scratch, parentScore, hasMissing));
    }
  };
  const twoWay = c.kind !== 'class' || c.classes <= 2;
  if (twoWay) {
    const keys = new Map(present.map((level) => [level, orderKeyOf(c, hist, at + level * width)]));
    scanOrder([...present].sort((x, y) => (keys.get(x) as number) - (keys.get(y) as number) || x - y));
    return best;
  }
  if (present.length <= EXHAUSTIVE_LEVELS) {
    // Every split once: the last present level always stays hi.
    const m = present.length - 1;
    for (let mask = 1; mask < 1 << m; mask++) {
      inLo.fill(0);
      for (let k = 0; k < m; k++) if ((mask >> k) & 1) inLo[present[k] as number] = 1;
      consider(inLo, subsetGain(rules, hist, at, present, inLo, scratch, parentScore, hasMissing));
    }
    return best;
  }
  for (let j = 0; j < c.classes; j++) {
    const share = (level: number): number => {
      const o = at + level * width;
      let total = 0;
      for (let k = 0; k < c.classes; k++) total += (c.aprior[k] as number) * (hist[o + k] as number);
      return total > 0 ? ((c.aprior[j] as number) * (hist[o + j] as number)) / total : 0;
    };
    const keys = new Map(present.map((level) => [level, share(level)]));
    scanOrder([...present].sort((x, y) => (keys.get(x) as number) - (keys.get(y) as number) || x - y));
  }
  return best;
}

/** Stats of the lo side of a chosen split (missing values included when they go lo). */
function loStats(
  hist: Float64Array,
  at: number,
  pick: FeatureBest,
  numBins: number,
  width: number,
): Float64Array {
  const lo = new Float64Array(width);
  for (let b = 0; b < numBins; b++) {
    const inLo = pick.loLevels === null ? b < pick.bin : pick.loLevels[b] === 1;
    if (inLo) addInto(lo, hist, at + b * width, width);
  }
  if (pick.missingLo) addInto(lo, hist, at + numBins * width, width);
  return lo;
}

export interface SlotSearch {
  best: SplitChoice | null;
  /** Best candidate of each predictor searched (for competitor splits), by predictor. */
  perFeature: Array<{ feature: number; gain: number; choice: SplitChoice }>;
}

/**
 * Searches one node. `offsets[f]` is where predictor f's histogram starts in `hist` (-1 = not built
 * for this node, e.g. a random forest's unsampled predictors). `nodeStats` are the node's sums.
 */
export function searchNode(
  rules: SplitRules,
  hist: Float64Array,
  offsets: ArrayLike<number>,
  nodeStats: Float64Array,
  wantPerFeature: boolean,
): SlotSearch {
  const c = rules.criterion;
  const width = statWidth(c);
  const scratch = new Scratch(width);
  const parentScore = scoreOf(c, nodeStats, 0);
  let best: SplitChoice | null = null;
  const perFeature: SlotSearch['perFeature'] = [];
  for (let f = 0; f < rules.kinds.length; f++) {
    const at = offsets[f] as number;
    if (at < 0) continue;
    const numBins = rules.numBins[f] as number;
    // Each predictor's histogram holds every row of the node once: its own total keeps lo + hi exact.
    sumBins(scratch.total, hist, at, numBins + 1, width);
    scratch.missing.fill(0);
    addInto(scratch.missing, hist, at + numBins * width, width);
    const hasMissing = countOf(c, scratch.missing, 0) > 0;
    const pick =
      rules.kinds[f] !== 'numeric'
        ? factorBest(rules, hist, at, numBins, scratch, parentScore, hasMissing)
        : c.kind === 'gradient'
          ? numericBestGradient(rules, c.lambda, hist, at, numBins, scratch, parentScore, hasMissing)
          : numericBest(rules, hist, at, numBins, scratch, parentScore, hasMissing);
    if (pick === null) continue;
    const isBest = best === null || pick.gain > best.gain;
    if (!isBest && !wantPerFeature) continue;
    const lo = loStats(hist, at, pick, numBins, width);
    const hi = new Float64Array(width);
    for (let k = 0; k < width; k++) hi[k] = (scratch.total[k] as number) - (lo[k] as number);
    let loLevels = pick.loLevels;
    if (loLevels !== null && pick.missingLo) {
      // Levels absent from this node go where missing values go.
      loLevels = loLevels.slice();
      for (let level = 0; level < numBins; level++) {
        if (!(countOf(c, hist, at + level * width) > 0)) loLevels[level] = 1;
      }
    }
    const choice: SplitChoice = {
      feature: f,
      bin: pick.bin,
      lastLoBin: pick.lastLoBin,
      loLevels,
      missingLo: pick.missingLo,
      gain: pick.gain,
      lo,
      hi,
    };
    if (wantPerFeature) perFeature.push({ feature: f, gain: pick.gain, choice });
    if (isBest) best = choice;
  }
  return { best, perFeature };
}
