import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emptySketch, mergeSketches, sketchChunk } from '../../src/engine/stats/sketch.ts';
import { binFeature, binValue, cutsFromSketch } from '../../src/engine/trees/binning.ts';
import { seededRandom } from './helpers.ts';

describe('tree binning', () => {
  it('every distinct value gets its own bin when there are few, cut halfway between neighbours', () => {
    const values = Float64Array.from([5, 1, 3, 3, 9, 1, 7]);
    const spec = { kind: 'range' as const, low: 1, high: 9, bins: 4096 };
    const sketch = sketchChunk(spec, 16384, {
      values,
      valid: null,
      weights: null,
      numRows: values.length,
      path: [],
    });
    assert.deepEqual(cutsFromSketch(sketch, 101), [2, 4, 6, 8]);
  });

  it('equal-count bins: each bin holds about n / maxNumBins rows', () => {
    const next = seededRandom(4);
    const n = 200_000;
    // Skewed data: exponential.
    const values = Float64Array.from({ length: n }, () => -Math.log(1 - next()));
    const spec = { kind: 'range' as const, low: 0, high: 20, bins: 4096 };
    let sketch = emptySketch(spec, 16384, false);
    for (let from = 0; from < n; from += 50_000) {
      const part = values.subarray(from, from + 50_000);
      sketch = mergeSketches(
        sketch,
        sketchChunk(spec, 16384, {
          values: part,
          valid: null,
          weights: null,
          numRows: part.length,
          path: [],
        }),
      );
    }
    const cuts = cutsFromSketch(sketch, 100);
    assert.ok(cuts.length >= 90 && cuts.length <= 99, `${cuts.length} cuts`);
    const codes = binFeature(
      { kind: 'numeric', values, usable: null },
      { cuts, numBins: cuts.length + 1 },
      n,
    );
    const counts = new Array(cuts.length + 1).fill(0);
    for (const c of codes) counts[c]++;
    // Within the heavy part of the distribution the sketch's bins are narrow enough for near-equal counts.
    const target = n / 100;
    for (const count of counts.slice(0, 80))
      assert.ok(count > 0.5 * target && count < 2 * target, `bin of ${count} rows`);
  });

  it('the fast binning equals a plain binary search, at and around every cut', () => {
    const next = seededRandom(9);
    const cuts = [-3, -1, -0.5, 0, 1e-9, 2, 2.0000000000000004, 5, 100, 1e6];
    const samples: number[] = [];
    for (const c of cuts)
      samples.push(c, c - 1e-12, c + 1e-12, c * (1 + Number.EPSILON), c * (1 - Number.EPSILON));
    for (let i = 0; i < 20000; i++) samples.push((next() - 0.3) * 200, next() * 5, -1e7 + next() * 2e7);
    samples.push(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY);
    const values = Float64Array.from(samples);
    const codes = binFeature(
      { kind: 'numeric', values, usable: null },
      { cuts, numBins: cuts.length + 1 },
      values.length,
    );
    const sorted = Float64Array.from(cuts);
    values.forEach((x, i) => {
      assert.equal(codes[i], binValue(sorted, x, cuts.length + 1), `x = ${x}`);
    });
  });
});
