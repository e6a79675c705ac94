import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { summarizeDense } from '../../src/engine/stats/denseColumn.ts';
import { accumulateMoments, emptyMoments, mergeMoments } from '../../src/engine/stats/moments.ts';
import {
  allocateBins,
  type BinSpec,
  binOf,
  emptySketch,
  mergeSketches,
  rankReader,
  sketchChunk,
} from '../../src/engine/stats/sketch.ts';
import { relDiff, seededRandom } from './helpers.ts';

/** Exact two-pass moments the slow, obvious way. */
function twoPass(values: readonly number[]): { mean: number; m2: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const correction = values.reduce((a, b) => a + (b - mean), 0);
  return {
    mean: mean + correction / n,
    m2: values.reduce((a, b) => a + (b - mean) ** 2, 0) - (correction * correction) / n,
  };
}

describe('stats kernels', () => {
  it('every binning path puts a value in the bin binOf says (edges, out of range, infinities)', () => {
    const random = seededRandom(3);
    const specs: BinSpec[] = [
      { kind: 'range', low: -3, high: 7, bins: 97 },
      { kind: 'range', low: 0.1, high: 0.1 + 3e-12, bins: 1000 },
      { kind: 'integer', low: -5, size: 40 },
    ];
    const values = Float64Array.from({ length: 40_000 }, (_, i) => {
      const r = random();
      if (i % 997 === 0)
        return [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -1e300, 1e300][i % 4] as number;
      return i % 3 === 0 ? Math.round(r * 50) - 10 : -4 + r * 12;
    });
    const n = values.length;
    for (const spec of specs) {
      const expected = new Float64Array(spec.kind === 'integer' ? spec.size : spec.bins);
      for (const x of values) expected[binOf(spec, x)] = (expected[binOf(spec, x)] as number) + 1;
      // The dense first-pass loop, the masked/general loop and summary's fused kernel.
      const dense = sketchChunk(spec, 10, { values, valid: null, weights: null, numRows: n, path: [] });
      const general = sketchChunk(spec, 10, {
        values,
        valid: new Uint8Array(n).fill(1),
        weights: null,
        numRows: n,
        path: [],
      });
      const fused = emptySketch(spec, 10, false);
      allocateBins(fused);
      summarizeDense(values, n, emptyMoments(1), fused);
      for (const sketch of [dense, general, fused])
        assert.deepEqual([...(sketch.counts ?? [])], [...expected]);
      assert.equal(dense.inexact, general.inexact);
      assert.equal(dense.inexact, fused.inexact);
    }
  });

  it('one-pass moments match the exact two-pass, also when the shift is far off (sorted, outlier first)', () => {
    const random = seededRandom(5);
    const cases: Record<string, number[]> = {
      iid: Array.from({ length: 10_000 }, () => 1e7 + random()),
      sorted: Array.from({ length: 10_000 }, (_, i) => 1e6 + i * 1e-3),
      outlierFirst: [1e12, ...Array.from({ length: 999 }, () => random())],
      constant: Array.from({ length: 100 }, () => 0.1),
    };
    for (const [name, values] of Object.entries(cases)) {
      const m = emptyMoments(1);
      summarizeDense(Float64Array.from(values), values.length, m, null);
      const exact = twoPass(values);
      // Any summation order is only good to ~ n eps sum|x| / |sum x| for the mean (1e-13 for the
      // outlier case, ~1e-16 for the others).
      const bound = Math.max(
        1e-15,
        values.length *
          1.1e-16 *
          (values.reduce((a, b) => a + Math.abs(b), 0) / Math.abs(values.reduce((a, b) => a + b, 0))),
      );
      assert.ok(
        relDiff(m.mean[0] as number, exact.mean) <= bound,
        `${name} mean ${m.mean[0]} vs ${exact.mean}`,
      );
      assert.ok(
        Math.abs((m.m2[0] as number) - exact.m2) <= 1e-12 * Math.max(exact.m2, 1e-300),
        `${name} m2 ${m.m2[0]} vs ${exact.m2}`,
      );
    }
  });

  it('merging with an empty partial changes nothing', () => {
    const m = emptyMoments(2);
    accumulateMoments(m, {
      values: Float64Array.from([1, 2, 3, 10]),
      valid: null,
      weights: null,
      cells: Int32Array.from([0, 0, 0, 1]),
      numRows: 4,
    });
    const merged = mergeMoments(emptyMoments(2), mergeMoments(m, emptyMoments(2)));
    assert.deepEqual(merged, m);
  });

  it('a sketch switches from kept values to bins at the cap, whatever the grouping', () => {
    const spec: BinSpec = { kind: 'range', low: 0, high: 1, bins: 8 };
    const random = seededRandom(8);
    const parts = [30, 30, 50].map((size) =>
      sketchChunk(spec, 100, {
        values: Float64Array.from({ length: size }, random),
        valid: null,
        weights: null,
        numRows: size,
        path: [],
      }),
    );
    const [a, b, c] = parts as [
      ReturnType<typeof sketchChunk>,
      ReturnType<typeof sketchChunk>,
      ReturnType<typeof sketchChunk>,
    ];
    assert.ok(mergeSketches(a, b).values !== null);
    const left = mergeSketches(mergeSketches(a, b), c);
    const right = mergeSketches(a, mergeSketches(b, c));
    assert.equal(left.values, null);
    assert.deepEqual(left, right);
    assert.equal(rankReader(left, 8).total, 110);
  });
});
