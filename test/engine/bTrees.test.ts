import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { type BTreesResult, BTreesResultSchema, bTrees } from '../../src/engine/analyses/bTrees.ts';
import { type BTreesModelBody, predictBTrees } from '../../src/engine/models/treeScore.ts';
import { runInProcess, runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import { setPassBudget } from '../../src/engine/trees/levelGrowth.ts';
import { preparedChunks } from '../../src/engine/trees/preparedChunks.ts';
import { UserError } from '../../src/userError.ts';
import { irisDataset, makeDataset, seededRandom, type TestDataset } from './helpers.ts';
import { inLevelPasses, modelIO, onEachThreadCount } from './treeHelpers.ts';

async function fit(
  params: Record<string, unknown>,
  dataset: TestDataset,
): Promise<{ result: BTreesResult; body: BTreesModelBody }> {
  const io = modelIO();
  const { result } = await runInProcessDetailed(bTrees, params, dataset.meta, dataset.chunks, {
    io,
    maxRounds: 2000,
  });
  assert.ok(
    Value.Check(BTreesResultSchema, result),
    JSON.stringify([...Value.Errors(BTreesResultSchema, result)][0]),
  );
  return { result: result as BTreesResult, body: io.models[0]?.body as BTreesModelBody };
}

/** A dataset with a numeric, a factor and a partly missing predictor, and three responses. */
function generated(
  n: number,
  rowsPerChunk: number,
): { dataset: TestDataset; f: number[]; yNum: number[]; y01: number[] } {
  const next = seededRandom(42);
  const x1 = Array.from({ length: n }, () => next());
  const x2 = Array.from({ length: n }, () => next() * 4);
  const g = Array.from({ length: n }, () => 'pqrstu'[Math.floor(next() * 6)] as string);
  const f = x1.map(
    (v, i) => 2 * (v - 0.5) + Math.sin(2 * (x2[i] as number)) + ('qt'.includes(g[i] as string) ? 1 : -0.5),
  );
  const yNum = f.map((v) => v + 0.3 * (next() - 0.5));
  const y01 = f.map((v) => (next() < 1 / (1 + Math.exp(-2 * v)) ? 1 : 0));
  const dataset = makeDataset(
    [
      { name: 'yNum', type: 'numeric', values: yNum },
      { name: 'y01', type: 'numeric', values: y01 },
      { name: 'x1', type: 'numeric', values: x1 },
      // A tenth of x2 is missing: splits must learn where those rows go.
      { name: 'x2', type: 'numeric', values: x2.map((v, i) => (i % 10 === 3 ? null : v)) },
      { name: 'g', type: 'factor', values: g },
    ],
    rowsPerChunk,
  );
  return { dataset, f, yNum, y01 };
}

/** Mean loss of scored predictions, computed here from the link scores. */
function scoredLoss(
  body: BTreesModelBody,
  dataset: TestDataset,
  loss: (score: number[], row: number) => number,
): number {
  let total = 0;
  let rows = 0;
  for (const chunk of dataset.chunks) {
    const predicted = predictBTrees(body, chunk.table, 'link');
    const columns = predicted.value !== null ? [predicted.value] : (predicted.perClass ?? []);
    for (let i = 0; i < chunk.numRows; i++) {
      total += loss(
        columns.map((c) => c[i] as number),
        chunk.startRow + i,
      );
      rows++;
    }
  }
  return total / rows;
}

describe('bTrees', () => {
  it('one gaussian stump with learning rate 1 is the exhaustive best split with mean-residual leaves', async () => {
    const next = seededRandom(9);
    const n = 400;
    const x = Array.from({ length: n }, () => Math.round(next() * 100));
    const y = x.map((v) => (v < 30 ? 2 : 7) + next());
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'integer', values: x },
      ],
      90,
    );
    const { result, body } = await fit(
      {
        formula: 'y ~ x',
        lossFunction: 'gaussian',
        nTree: 1,
        maxDepth: 1,
        learningRate: 1,
        sampRate: 1,
        lambda: 0,
        minSplit: 2,
        minBucket: 1,
      },
      dataset,
    );
    const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
    // Exhaustive search for the cut with the largest decrease of the sum of squares.
    let best = { cut: 0, sse: Number.POSITIVE_INFINITY };
    for (const cut of [...new Set(x)].sort((a, b) => a - b).slice(1)) {
      const left = y.filter((_, i) => (x[i] as number) < cut);
      const right = y.filter((_, i) => (x[i] as number) >= cut);
      const sse = [left, right].reduce(
        (s, side) => s + side.reduce((t, v) => t + (v - mean(side)) ** 2, 0),
        0,
      );
      if (sse < best.sse - 1e-9) best = { cut, sse };
    }
    const tree = body.trees[0];
    assert.equal(tree?.feature[0], 0);
    const threshold = tree?.threshold[0] as number;
    const below = Math.max(...x.filter((v) => v < best.cut));
    assert.ok(
      threshold > below && threshold <= best.cut,
      `threshold ${threshold} separates like ${best.cut}`,
    );
    const left = y.filter((_, i) => (x[i] as number) < best.cut);
    assert.ok(Math.abs((tree?.value[tree.lo[0] as number] as number) - (mean(left) - mean(y))) < 1e-12);
    assert.ok(Math.abs((result.initPred[0] as number) - mean(y)) < 1e-12);
    assert.ok(Math.abs((result.trainLoss[1] as number) - best.sse / n) < 1e-12 * best.sse);
    assert.ok(
      Math.abs((result.trainLoss[0] as number) - y.reduce((s, v) => s + (v - mean(y)) ** 2, 0) / n) < 1e-10,
    );
  });

  for (const lossFunction of ['gaussian', 'bernoulli'] as const) {
    it(`${lossFunction}: the training loss falls, and scoring the stored model gives the same loss`, async () => {
      const { dataset, yNum, y01 } = generated(6000, 1500);
      const response = lossFunction === 'gaussian' ? 'yNum' : 'y01';
      const { result, body } = await fit(
        {
          formula: `${response} ~ x1 + x2 + g`,
          lossFunction,
          nTree: 30,
          maxDepth: 3,
          learningRate: 0.3,
          sampRate: 0.5,
          seed: 5,
          maxNumBins: 64,
        },
        dataset,
      );
      assert.equal(result.trainLoss.length, 31);
      const losses = result.trainLoss as number[];
      assert.ok((losses[30] as number) < 0.6 * (losses[0] as number), `loss ${losses[0]} -> ${losses[30]}`);
      const scored =
        lossFunction === 'gaussian'
          ? scoredLoss(body, dataset, ([f], row) => ((yNum[row] as number) - (f as number)) ** 2)
          : scoredLoss(
              body,
              dataset,
              ([f], row) => -2 * ((y01[row] as number) * (f as number) - Math.log1p(Math.exp(f as number))),
            );
      assert.ok(
        Math.abs(scored - (losses[30] as number)) < 1e-12 * (losses[30] as number),
        `${scored} vs ${losses[30]}`,
      );
      // The initial prediction: the mean, or its log-odds.
      const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
      const expected = lossFunction === 'gaussian' ? mean(yNum) : Math.log(mean(y01) / (1 - mean(y01)));
      assert.ok(Math.abs((result.initPred[0] as number) - expected) < 1e-12);
      assert.deepEqual(result.variableImportance.map((v) => v.variable).sort(), ['g', 'x1', 'x2']);
    });
  }

  it('multinomial on iris: one tree per class and iteration, deviance from 2 log 3 down, accurate', async () => {
    const iris = await irisDataset(40);
    const { result, body } = await fit(
      {
        formula: 'Species ~ Sepal.Length + Sepal.Width + Petal.Length + Petal.Width',
        lossFunction: 'multinomial',
        nTree: 20,
        maxDepth: 2,
        learningRate: 0.3,
        sampRate: 1,
        minSplit: 4,
        minBucket: 2,
        seed: 1,
      },
      iris,
    );
    assert.equal(body.trees.length, 60);
    assert.equal(body.classes, 3);
    // Balanced classes: the initial deviance is -2 log(1/3).
    assert.ok(Math.abs((result.trainLoss[0] as number) - 2 * Math.log(3)) < 1e-12);
    let right = 0;
    let deviance = 0;
    for (const chunk of iris.chunks) {
      const predicted = predictBTrees(body, chunk.table);
      for (let i = 0; i < chunk.numRows; i++) {
        const truth = iris.species[chunk.startRow + i] as string;
        if (predicted.levels?.[predicted.classIndex?.[i] as number] === truth) right++;
        const k = (predicted.levels ?? []).indexOf(truth);
        const probabilities = (predicted.perClass ?? [])[k] as Float64Array;
        deviance += -2 * Math.log(probabilities[i] as number);
      }
    }
    assert.ok(right >= 145, `${right} of 150 right`);
    assert.ok(Math.abs(deviance / 150 - (result.trainLoss[20] as number)) < 1e-10);
  });

  it('is reproducible for a seed, and the seed matters', async () => {
    const { dataset } = generated(3000, 700);
    const params = { formula: 'y01 ~ x1 + x2 + g', nTree: 5, maxDepth: 2, seed: 11 };
    const a = await fit(params, dataset);
    const b = await fit(params, dataset);
    const c = await fit({ ...params, seed: 12 }, dataset);
    assert.deepEqual(a.body.trees, b.body.trees);
    assert.deepEqual(a.result.trainLoss, b.result.trainLoss);
    assert.notDeepEqual(a.result.trainLoss, c.result.trainLoss);
  });

  it('gives the same model when a level is split over several passes', async () => {
    const iris = await irisDataset(50);
    const params = {
      formula: 'Species ~ Sepal.Length + Sepal.Width + Petal.Length + Petal.Width',
      lossFunction: 'multinomial',
      nTree: 3,
      maxDepth: 3,
      minSplit: 4,
      seed: 2,
    };
    // Level passes (a local fit makes no passes per level).
    await inLevelPasses(async () => {
      const whole = await fit(params, iris);
      const previous = setPassBudget(1);
      try {
        const sliced = await fit(params, iris);
        assert.deepEqual(sliced.body, whole.body);
        assert.deepEqual(sliced.result.trainLoss, whole.result.trainLoss);
        assert.ok(sliced.result.passes > whole.result.passes);
      } finally {
        setPassBudget(previous);
      }
    });
  });

  it('a local fit grows the trees the level passes grow', async () => {
    // Local fits sum histograms and losses in row order, level passes chunk by chunk: the same trees,
    // with sums equal up to rounding.
    const { dataset } = generated(3000, 400);
    for (const params of [
      { formula: 'y01 ~ x1 + x2 + g', lossFunction: 'bernoulli', nTree: 5, maxDepth: 3, seed: 5 },
      { formula: 'g ~ x1 + x2 + yNum', lossFunction: 'multinomial', nTree: 2, maxDepth: 2, seed: 6 },
      // Rows dropped by rowSelection keep their ids, so the same rows are drawn.
      {
        formula: 'yNum ~ x1 + x2 + g',
        lossFunction: 'gaussian',
        nTree: 3,
        maxDepth: 3,
        seed: 7,
        rowSelection: 'x1 > 0.2',
      },
    ]) {
      const local = await fit(params, dataset);
      const passes = await inLevelPasses(() => fit(params, dataset));
      assert.ok(local.result.passes < passes.result.passes, 'the local fit took fewer rounds');
      assert.equal(local.body.trees.length, passes.body.trees.length);
      local.body.trees.forEach((tree, t) => {
        const other = passes.body.trees[t] as typeof tree;
        const { value, ...shape } = tree;
        const { value: otherValue, ...otherShape } = other;
        assert.deepEqual(shape, otherShape, `tree ${t}`);
        value.forEach((v, k) => {
          assert.ok(Math.abs(v - (otherValue[k] as number)) <= 1e-12 * (1 + Math.abs(v)));
        });
      });
      local.result.trainLoss.forEach((loss, k) => {
        const other = passes.result.trainLoss[k] as number;
        assert.ok(Math.abs((loss as number) - other) <= 1e-12 * other, `trainLoss[${k}]`);
      });
    }
  });

  it('a local fit is bit-identical on 1, 2 and 4 threads', async () => {
    // The rows are cut into fixed parts whatever the thread count (trees/boostRunner.ts), so only
    // where the parts run changes.
    const { dataset } = generated(3000, 400);
    for (const params of [
      { formula: 'y01 ~ x1 + x2 + g', lossFunction: 'bernoulli', nTree: 4, maxDepth: 4, seed: 5 },
      { formula: 'g ~ x1 + x2 + yNum', lossFunction: 'multinomial', nTree: 2, maxDepth: 3, seed: 6 },
      {
        formula: 'yNum ~ x1 + x2 + g',
        lossFunction: 'gaussian',
        nTree: 3,
        maxDepth: 3,
        seed: 7,
        replace: true,
        rowSelection: 'x1 > 0.2',
      },
    ]) {
      const { one, others } = await onEachThreadCount(() => fit(params, dataset));
      assert.ok(one.body.trees.length > 0);
      for (const other of others) {
        assert.deepEqual(other.body, one.body);
        assert.deepEqual(other.result.trainLoss, one.result.trainLoss);
        assert.deepEqual(other.result.variableImportance, one.result.variableImportance);
      }
    }
  });

  it("gives the same model whether or not the worker's cache keeps prepared chunks", async () => {
    const { dataset } = generated(2000, 500);
    const params = {
      formula: 'yNum ~ x1 + x2 + g',
      lossFunction: 'gaussian',
      nTree: 4,
      maxDepth: 3,
      seed: 3,
    };
    const cached = await fit(params, dataset);
    const previous = preparedChunks.size.bytes;
    preparedChunks.setBudget(0);
    try {
      const uncached = await fit(params, dataset);
      assert.equal(preparedChunks.size.entries, 0);
      assert.deepEqual(uncached.body, cached.body);
      assert.deepEqual(uncached.result.trainLoss, cached.result.trainLoss);
    } finally {
      preparedChunks.setBudget(1024 * 1024 * 1024);
    }
    assert.ok(previous > 0, 'the first fit used the cache');
  });

  it('refuses responses its loss cannot take', async () => {
    const { dataset } = generated(100, 50);
    const rejects = (params: Record<string, unknown>, code: string) =>
      assert.rejects(
        runInProcess(bTrees, params, dataset.meta, dataset.chunks, { io: modelIO() }),
        (error: unknown) => error instanceof UserError && error.code === code,
      );
    await rejects({ formula: 'yNum ~ x1', lossFunction: 'bernoulli' }, 'INVALID_RESPONSE');
    await rejects({ formula: 'g ~ x1', lossFunction: 'bernoulli' }, 'WRONG_VARIABLE_TYPE');
    await rejects({ formula: 'g ~ x1', lossFunction: 'gaussian' }, 'WRONG_VARIABLE_TYPE');
    await rejects({ formula: 'yNum ~ x1', lossFunction: 'multinomial' }, 'WRONG_VARIABLE_TYPE');
  });
});
