import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { searchNode } from '../../src/engine/trees/splitSearch.ts';
import { seededRandom } from './helpers.ts';

/**
 * Boosting's split search (XGBoost's gain G_L^2 / (H_L + lambda) / 2 + G_R^2 / (H_R + lambda) / 2 -
 * G^2 / (H + lambda) / 2 at every boundary after a non-empty bin, missing values sent hi then lo) against
 * a direct evaluation of every candidate.
 */

interface Candidate {
  gain: number;
  bin: number;
  missingLo: boolean;
}

function reference(
  hist: Float64Array,
  numBins: number,
  lambda: number,
  minBucket: number,
  parentScore: number,
): Candidate | null {
  const score = (g: number, h: number) => (h + lambda > 0 ? (g * g) / (h + lambda) / 2 : 0);
  const sum = (from: number, to: number, k: number) => {
    let s = 0;
    for (let b = from; b < to; b++) if ((hist[3 * b + 2] as number) > 0) s += hist[3 * b + k] as number;
    return s;
  };
  const total = [0, 1, 2].map((k) => sum(0, numBins + 1, k)) as [number, number, number];
  const miss = [0, 1, 2].map((k) => hist[3 * numBins + k] as number) as [number, number, number];
  const hasMissing = miss[2] > 0;
  let best: Candidate | null = null;
  let last = -1;
  for (let b = 0; b < numBins; b++) {
    if (!((hist[3 * b + 2] as number) > 0)) continue;
    if (last >= 0) {
      const lo = [0, 1, 2].map((k) => sum(0, b, k)) as [number, number, number];
      const options: Candidate[] = [];
      for (const missingLo of hasMissing ? [false, true] : [false]) {
        const l = lo.map((v, k) => (missingLo ? v + (miss[k] as number) : v)) as [number, number, number];
        const r = total.map((v, k) => v - (l[k] as number)) as [number, number, number];
        if (l[2] < minBucket || r[2] < minBucket) continue;
        if (!(lambda > 0) && !(l[1] > 0 && r[1] > 0)) continue;
        options.push({
          gain: score(l[0], l[1]) + score(r[0], r[1]) - parentScore,
          bin: b,
          missingLo: hasMissing ? missingLo : l[2] >= r[2],
        });
      }
      let pick = options[0];
      if (options.length === 2 && (options[1] as Candidate).gain > (pick as Candidate).gain)
        pick = options[1];
      if (pick !== undefined && (best === null || pick.gain > best.gain)) best = pick;
    }
    last = b;
  }
  return best;
}

describe('split search, gradient sums', () => {
  it('picks the best boundary and missing direction as a direct evaluation does', () => {
    const random = seededRandom(11);
    let compared = 0;
    for (let trial = 0; trial < 300; trial++) {
      const numBins = 2 + Math.floor(random() * 40);
      const lambda = trial % 3 === 0 ? 0 : random() * 2;
      const minBucket = 1 + Math.floor(random() * 5);
      const hist = new Float64Array(3 * (numBins + 1));
      for (let b = 0; b <= numBins; b++) {
        // Some empty bins, and missing values in about half the trials.
        if (random() < 0.25 || (b === numBins && trial % 2 === 0)) continue;
        const count = 1 + Math.floor(random() * 20);
        hist[3 * b] = (random() - 0.45) * count;
        hist[3 * b + 1] = random() * count * 0.25;
        hist[3 * b + 2] = count;
      }
      const nodeStats = new Float64Array(3);
      for (let b = 0; b <= numBins; b++)
        for (let k = 0; k < 3; k++) nodeStats[k] = (nodeStats[k] as number) + (hist[3 * b + k] as number);
      const parentScore =
        (nodeStats[1] as number) + lambda > 0
          ? (nodeStats[0] as number) ** 2 / ((nodeStats[1] as number) + lambda) / 2
          : 0;
      const { best } = searchNode(
        { criterion: { kind: 'gradient', lambda }, minBucket, kinds: ['numeric'], numBins: [numBins] },
        hist,
        [0],
        nodeStats,
        false,
      );
      const expected = reference(hist, numBins, lambda, minBucket, parentScore);
      if (expected === null) {
        assert.equal(best, null, `trial ${trial}`);
        continue;
      }
      assert.ok(best !== null, `trial ${trial}`);
      assert.equal(best.bin, expected.bin, `trial ${trial}: bin`);
      assert.equal(best.missingLo, expected.missingLo, `trial ${trial}: missing direction`);
      assert.ok(
        Math.abs(best.gain - expected.gain) <= 1e-12 * (1 + Math.abs(expected.gain)),
        `trial ${trial}`,
      );
      compared++;
    }
    assert.ok(compared > 200, `${compared} trials had a split`);
  });

  it('breaks ties as documented: missing values hi first, else with the larger side (lo on equal counts)', () => {
    const search = (hist: number[]) => {
      const h = Float64Array.from(hist);
      const stats = new Float64Array(3);
      for (let b = 0; b < h.length / 3; b++)
        for (let k = 0; k < 3; k++) stats[k] = (stats[k] as number) + (h[3 * b + k] as number);
      const parentScore = (stats[0] as number) ** 2 / ((stats[1] as number) + 1) / 2;
      const { best } = searchNode(
        { criterion: { kind: 'gradient', lambda: 1 }, minBucket: 1, kinds: ['numeric'], numBins: [2] },
        h,
        [0],
        stats,
        false,
      );
      assert.ok(best !== null);
      assert.ok(Math.abs(best.gain - (reference(h, 2, 1, 1, parentScore) as Candidate).gain) < 1e-15);
      return best;
    };
    // Missing rows with no gradient: both directions score the same, and hi is kept.
    assert.equal(search([2, 1, 3, -2, 1, 3, 0, 0, 1]).missingLo, false);
    // No missing rows, equal counts on both sides: missing values (at prediction) go lo.
    assert.equal(search([2, 1, 3, -2, 1, 3, 0, 0, 0]).missingLo, true);
    // Larger hi side: they go hi.
    assert.equal(search([2, 1, 2, -2, 1, 3, 0, 0, 0]).missingLo, false);
  });
});
