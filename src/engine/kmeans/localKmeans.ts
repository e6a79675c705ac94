import { squaredDistance } from './nearest.ts';

/**
 * The last step of k-means|| (Bahmani et al. 2012, step 8): the few hundred weighted candidates are
 * reduced to k starting centers in memory, by weighted k-means++ (Arthur & Vassilvitskii 2007) and then
 * weighted Lloyd iterations on the candidates alone. Runs in the finalizer, once per start, with a
 * sequential generator seeded from (seed, start), so it is as reproducible as the passes before it.
 */

/** Lloyd iterations on the candidates; they are few, so this is cheap, and it rarely needs many. */
const LOCAL_ITERATIONS = 100;
/**
 * k-means++ trials on the candidates, the one with the smallest weighted cost kept: trials cost no
 * pass over the data, and one k-means++ draw alone lands in a poor local optimum now and then (on
 * iris, k = 3, about one seed in three without this).
 */
export const LOCAL_TRIALS = 10;

/** Weighted cost of `points` against `centers`: sum of w * d^2 to the nearest center. */
export function weightedCost(
  points: Float64Array,
  weights: Float64Array,
  p: number,
  centers: Float64Array,
): number {
  const k = centers.length / p;
  let cost = 0;
  for (let i = 0; i < weights.length; i++) {
    let best = Number.POSITIVE_INFINITY;
    for (let c = 0; c < k; c++) best = Math.min(best, squaredDistance(points, i, centers, c, p));
    if ((weights[i] as number) > 0) cost += (weights[i] as number) * best;
  }
  return cost;
}

/**
 * LOCAL_TRIALS runs of `weightedKmeansPlusPlus`, the cheapest kept (ties: the earlier trial); all
 * draw from `random` in turn, so the outcome is a function of the generator's seed.
 */
export function bestOfKmeansPlusPlus(
  points: Float64Array,
  weights: Float64Array,
  p: number,
  k: number,
  random: () => number,
): Float64Array {
  let best: Float64Array | null = null;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let trial = 0; trial < LOCAL_TRIALS; trial++) {
    const centers = weightedKmeansPlusPlus(points, weights, p, k, random);
    // More centers always win: fewer come back only when the candidates ran out of distinct points.
    const cost = weightedCost(points, weights, p, centers);
    if (
      best === null ||
      centers.length > best.length ||
      (centers.length === best.length && cost < bestCost)
    ) {
      best = centers;
      bestCost = cost;
    }
  }
  return best ?? new Float64Array(0);
}

/**
 * Picks up to k centers from `points` (m x p, row-major) with weights `weights` (>= 0). Fewer than k
 * come back only when fewer than k distinct points have positive weight. Returns the centers row-major.
 */
export function weightedKmeansPlusPlus(
  points: Float64Array,
  weights: Float64Array,
  p: number,
  k: number,
  random: () => number,
): Float64Array {
  const m = weights.length;
  const chosen: number[] = [];
  const nearest = new Float64Array(m).fill(Number.POSITIVE_INFINITY);
  const pick = (score: (i: number) => number): number => {
    let total = 0;
    for (let i = 0; i < m; i++) total += score(i);
    if (!(total > 0)) return -1;
    const target = random() * total;
    let running = 0;
    let last = -1;
    for (let i = 0; i < m; i++) {
      const s = score(i);
      if (s <= 0) continue;
      running += s;
      last = i;
      if (running > target) return i;
    }
    return last; // rounding left target at the very end
  };
  while (chosen.length < k) {
    const next =
      chosen.length === 0
        ? pick((i) => weights[i] as number)
        : pick((i) => (weights[i] as number) * (nearest[i] as number));
    if (next < 0) break;
    chosen.push(next);
    for (let i = 0; i < m; i++) {
      const d = squaredDistance(points, i, points, next, p);
      if (d < (nearest[i] as number)) nearest[i] = d;
    }
  }
  const centers = new Float64Array(chosen.length * p);
  chosen.forEach((i, c) => {
    centers.set(points.subarray(i * p, (i + 1) * p), c * p);
  });
  return weightedLloyd(points, weights, p, centers);
}

/**
 * Weighted Lloyd on the candidates from `centers`, until no candidate changes cluster; a center that
 * loses all its candidates stays where it was (the full-data passes handle empty clusters).
 */
export function weightedLloyd(
  points: Float64Array,
  weights: Float64Array,
  p: number,
  start: Float64Array,
): Float64Array {
  const m = weights.length;
  const k = start.length / p;
  const centers = start.slice();
  const assigned = new Int32Array(m).fill(-1);
  for (let iteration = 0; iteration < LOCAL_ITERATIONS; iteration++) {
    let changed = false;
    for (let i = 0; i < m; i++) {
      let best = -1;
      let bestDistance = Number.POSITIVE_INFINITY;
      for (let c = 0; c < k; c++) {
        const d = squaredDistance(points, i, centers, c, p);
        if (d < bestDistance) {
          bestDistance = d;
          best = c;
        }
      }
      if (assigned[i] !== best) {
        assigned[i] = best;
        changed = true;
      }
    }
    if (!changed) break;
    const sums = new Float64Array(k * p);
    const totals = new Float64Array(k);
    for (let i = 0; i < m; i++) {
      const c = assigned[i] as number;
      const w = weights[i] as number;
      if (c < 0 || w === 0) continue;
      totals[c] = (totals[c] as number) + w;
      for (let j = 0; j < p; j++)
        sums[c * p + j] = (sums[c * p + j] as number) + w * (points[i * p + j] as number);
    }
    for (let c = 0; c < k; c++) {
      const w = totals[c] as number;
      if (w > 0) for (let j = 0; j < p; j++) centers[c * p + j] = (sums[c * p + j] as number) / w;
    }
  }
  return centers;
}
