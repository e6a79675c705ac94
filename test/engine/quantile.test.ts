import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type QuantileParams,
  type QuantilePartial,
  type QuantileResult,
  QuantileResultSchema,
  type QuantileState,
  quantile,
} from '../../src/engine/analyses/quantile.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import {
  type ColumnSpec,
  irisDataset,
  makeDataset,
  referenceJson,
  seededRandom,
  type TestDataset,
  type7Reference,
} from './helpers.ts';

async function run(
  params: QuantileParams,
  dataset: TestDataset,
): Promise<QuantileResult & { rounds: number }> {
  const { result, rounds } = await runInProcessDetailed(quantile, params, dataset.meta, dataset.chunks);
  assert.ok(Value.Check(QuantileResultSchema, result), 'result fits the schema');
  const typed = result as QuantileResult;
  assert.equal(typed.passes, rounds);
  return { ...typed, rounds };
}

const PROBS = [0, 0.01, 0.1, 0.25, 0.333, 0.5, 0.75, 0.9, 0.999, 1];

function expectExact(result: QuantileResult, values: readonly number[]): void {
  assert.equal(result.exact, true);
  assert.equal(result.maxAbsError, 0);
  for (const q of result.quantiles) assert.equal(q.value, type7Reference(values, q.prob), `p=${q.prob}`);
}

describe('quantile', () => {
  it("iris: R's type 7 quartiles of every variable (7-row chunks)", async () => {
    const ref = await referenceJson<{
      expected: { overall_summary_R_type7_quantiles: Record<string, Record<string, number>> };
    }>('r_reference/cases/summary_iris.json');
    const iris = await irisDataset(7);
    for (const [variable, expected] of Object.entries(ref.expected.overall_summary_R_type7_quantiles)) {
      const result = await run({ variable }, iris);
      assert.deepEqual(result.probs, [0, 0.25, 0.5, 0.75, 1]);
      const want = [
        expected['min'],
        expected['q1'],
        expected['median'],
        expected['q3'],
        expected['max'],
      ] as number[];
      result.quantiles.forEach((q, i) => {
        assert.ok(
          Math.abs((q.value as number) - (want[i] as number)) <= 1e-12,
          `${variable} p=${q.prob}: ${q.value}`,
        );
      });
      assert.equal(result.exact, true);
      assert.equal(result.method, 'sortedValues');
    }
  });

  it('integer data: exact in one pass from counts per integer', async () => {
    const random = seededRandom(5);
    const k = Array.from({ length: 50_000 }, () => Math.floor(random() * random() * 30_000) - 86);
    const result = await run(
      { variable: 'k', probs: PROBS },
      makeDataset([{ name: 'k', type: 'integer', values: k }], 8_000),
    );
    expectExact(result, k);
    assert.equal(result.method, 'integerCounts');
    assert.equal(result.passes, 1);
  });

  it('continuous data: exact after refinement passes, agreeing across chunkings', async () => {
    const random = seededRandom(9);
    const u = Array.from({ length: 70_000 }, () => (random() - 0.5) ** 5 * 1e4);
    const results = [];
    for (const rows of [70_000, 9_999, 1_000]) {
      const result = await run(
        { variable: 'u', probs: PROBS },
        makeDataset([{ name: 'u', type: 'numeric', values: u }], rows),
      );
      expectExact(result, u);
      assert.equal(result.method, 'binnedRefined');
      assert.ok(result.passes >= 2 && result.passes <= 6, `passes ${result.passes}`);
      results.push(result);
    }
    assert.deepEqual(results[1]?.quantiles, results[0]?.quantiles);
    assert.deepEqual(results[2]?.quantiles, results[0]?.quantiles);
  });

  it('exact: false is one pass and every value lies within maxAbsError', async () => {
    const random = seededRandom(13);
    const u = Array.from({ length: 40_000 }, () => Math.exp(random() * 8));
    const result = await run(
      { variable: 'u', probs: PROBS, exact: false },
      makeDataset([{ name: 'u', type: 'numeric', values: u }], 10_000),
    );
    assert.equal(result.passes, 1);
    assert.equal(result.exact, false);
    assert.equal(result.method, 'binned');
    const bound = result.maxAbsError as number;
    assert.ok(bound > 0 && bound < 5, `bound ${bound}`);
    for (const q of result.quantiles) {
      assert.ok(Math.abs((q.value as number) - type7Reference(u, q.prob)) <= bound, `p=${q.prob}`);
    }
    assert.ok(result.warnings.some((w) => /approximate/.test(w)));
  });

  it('numeric data with integer bounds but fractional values, and heavy ties inside one bin', async () => {
    const random = seededRandom(17);
    // Integer low/high (0 and 1000) put the first pass on integer bins; the fractions force refinement.
    const x = Array.from({ length: 30_000 }, (_, i) =>
      i === 0 ? 0 : i === 1 ? 1000 : 500 + random() * 1e-9 * (i % 3),
    );
    const result = await run(
      { variable: 'x', probs: PROBS },
      makeDataset([{ name: 'x', type: 'numeric', values: x }], 7_000),
    );
    expectExact(result, x);
  });

  it('fweights: the quantiles of the replicated rows', async () => {
    const random = seededRandom(21);
    const n = 20_000;
    const x = Array.from({ length: n }, () => random() * 100);
    const w = Array.from({ length: n }, () => Math.floor(random() * 3));
    const replicated = x.flatMap((v, i) => Array<number>(w[i] as number).fill(v));
    const result = await run(
      { variable: 'x', probs: PROBS, fweights: 'w' },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: x },
          { name: 'w', type: 'integer', values: w },
        ],
        5_000,
      ),
    );
    expectExact(result, replicated);
    assert.equal(result.sumOfWeights, replicated.length);
    // Few rows: the values are kept and sorted.
    const small = await run(
      { variable: 'x', fweights: 'w' },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: x.slice(0, 50) },
          { name: 'w', type: 'integer', values: w.slice(0, 50) },
        ],
        7,
      ),
    );
    expectExact(
      small,
      x.slice(0, 50).flatMap((v, i) => Array<number>(w[i] as number).fill(v)),
    );
  });

  it('missing values are skipped and counted; no values gives nulls with a warning', async () => {
    const columns: ColumnSpec[] = [
      { name: 'x', type: 'numeric', values: [5, null, 1, Number.NaN, 3, null] },
      { name: 'e', type: 'numeric', values: [null, null, null, null, null, null] },
    ];
    const ds = makeDataset(columns, 4);
    const result = await run({ variable: 'x', probs: [0.5] }, ds);
    assert.deepEqual(result.quantiles, [{ prob: 0.5, value: 3 }]);
    assert.deepEqual([result.validObs, result.missingObs], [3, 3]);
    const empty = await run({ variable: 'e' }, ds);
    assert.ok(empty.quantiles.every((q) => q.value === null));
    assert.ok(empty.warnings.some((w) => /no valid observations/.test(w)));
  });

  it('infinite values are order statistics like any other; non-finite quantiles are null with a warning', async () => {
    const x = [Number.NEGATIVE_INFINITY, 1, 2, 3, Number.POSITIVE_INFINITY];
    const result = await run(
      { variable: 'x', probs: [0, 0.5, 1] },
      makeDataset([{ name: 'x', type: 'numeric', values: x }], 2),
    );
    assert.deepEqual(
      result.quantiles.map((q) => q.value),
      [null, 2, null],
    );
    assert.ok(result.warnings.some((w) => /not finite/.test(w)));
  });

  it('merges sketches associatively (identical results either way)', () => {
    const random = seededRandom(31);
    const x = Array.from({ length: 45_000 }, () => random() * 7);
    const ds = makeDataset([{ name: 'x', type: 'numeric', values: x }], 15_000);
    const state = quantile.init({ variable: 'x', exact: false }, ds.meta) as QuantileState;
    const [a, b, c] = ds.chunks.map((chunk) => quantile.map(chunk, state)) as [
      QuantilePartial,
      QuantilePartial,
      QuantilePartial,
    ];
    const left = quantile.finalize(quantile.merge(quantile.merge(a, b), c), state);
    const right = quantile.finalize(quantile.merge(a, quantile.merge(b, c)), state);
    assert.deepEqual(left, right);
  });

  it('rejects bad params and non-numeric variables', () => {
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values: [1, 2] },
        { name: 'g', type: 'factor', values: ['a', 'b'] },
      ],
      2,
    );
    const code = (params: unknown, expected: string) =>
      assert.throws(
        () => quantile.init(params as QuantileParams, ds.meta),
        (e: unknown) => e instanceof EngineError && e.code === expected,
      );
    code({ variable: 'x', probs: [1.5] }, 'INVALID_PARAMS');
    code({ variable: 'x', probs: [] }, 'INVALID_PARAMS');
    code({ variable: 'g' }, 'WRONG_VARIABLE_TYPE');
    code({ variable: 'xx' }, 'UNKNOWN_VARIABLE');
    code({ variable: 'x', maxIntegerBins: 0 }, 'INVALID_PARAMS');
  });
});
