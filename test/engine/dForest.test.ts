import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type DForestResult,
  DForestResultSchema,
  dForest,
  nodeFeatures,
} from '../../src/engine/analyses/dForest.ts';
import { type DForestModelBody, predictDForest } from '../../src/engine/models/treeScore.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import { setPassBudget } from '../../src/engine/trees/levelGrowth.ts';
import { poissonDraw, poissonTable, rowUniform } from '../../src/engine/trees/rowHash.ts';
import { irisDataset, makeDataset, seededRandom, type TestDataset } from './helpers.ts';
import { inLevelPasses, modelIO, onEachThreadCount } from './treeHelpers.ts';

async function fit(
  params: Record<string, unknown>,
  dataset: TestDataset,
): Promise<{ result: DForestResult; body: DForestModelBody; rounds: number }> {
  const io = modelIO();
  const out = await runInProcessDetailed(dForest, params, dataset.meta, dataset.chunks, {
    io,
    maxRounds: 500,
  });
  assert.ok(
    Value.Check(DForestResultSchema, out.result),
    JSON.stringify([...Value.Errors(DForestResultSchema, out.result)][0]),
  );
  return {
    result: out.result as DForestResult,
    body: io.models[0]?.body as DForestModelBody,
    rounds: out.rounds,
  };
}

const IRIS = 'Species ~ Sepal.Length + Sepal.Width + Petal.Length + Petal.Width';

describe('dForest', () => {
  it('classifies iris with a small out-of-bag error that scoring each tree reproduces', async () => {
    const iris = await irisDataset(40);
    const seed = 17;
    const nTree = 30;
    const { result, body, rounds } = await fit(
      { formula: IRIS, nTree, seed, minSplit: 5, minBucket: 2 },
      iris,
    );
    assert.equal(body.trees.length, nTree);
    assert.equal(result.mTry, 2);
    // One sketch pass, one round growing the trees in groups (a local fit), one out-of-bag round.
    assert.equal(rounds, 3);
    const last = result.oobError[nTree - 1] as DForestResult['oobError'][number];
    assert.ok((last.error as number) <= 0.08, `oob error ${last.error}`);
    // Out-of-bag votes recomputed here: each tree scored alone, on the rows its bootstrap left out.
    const cdf = poissonTable(1);
    const levels = body.response.levels as string[];
    let errors = 0;
    let scored = 0;
    const confusion = levels.map(() => levels.map(() => 0));
    for (const chunk of iris.chunks) {
      const votes = Array.from({ length: chunk.numRows }, () => [0, 0, 0]);
      body.trees.forEach((tree, t) => {
        const single = predictDForest({ ...body, trees: [tree] }, chunk.table);
        for (let i = 0; i < chunk.numRows; i++) {
          if (poissonDraw(cdf, rowUniform(seed, chunk.startRow + i, t)) !== 0) continue;
          const row = votes[i] as number[];
          const k = single.classIndex?.[i] as number;
          row[k] = (row[k] as number) + 1;
        }
      });
      votes.forEach((v, i) => {
        if (v.every((x) => x === 0)) return;
        const predicted = v.indexOf(Math.max(...v));
        const truth = levels.indexOf(iris.species[chunk.startRow + i] as string);
        scored++;
        if (predicted !== truth) errors++;
        const cells = confusion[truth] as number[];
        cells[predicted] = (cells[predicted] as number) + 1;
      });
    }
    assert.equal(last.oobObs, scored);
    assert.equal(last.error, errors / scored);
    assert.deepEqual(result.confusion, confusion);
    // Petal measurements carry the signal.
    assert.ok(['Petal.Length', 'Petal.Width'].includes(result.variableImportance[0]?.variable as string));
  });

  it('votes, probabilities and the response agree with the trees', async () => {
    const iris = await irisDataset(150);
    const { body } = await fit({ formula: IRIS, nTree: 7, seed: 2, minSplit: 5 }, iris);
    const table = iris.chunks[0]?.table as never;
    const vote = predictDForest(body, table, 'vote');
    const prob = predictDForest(body, table, 'prob');
    for (let i = 0; i < 150; i++) {
      const shares = (vote.perClass ?? []).map((c) => c[i] as number);
      assert.ok(Math.abs(shares.reduce((a, b) => a + b, 0) - 1) < 1e-12);
      assert.equal(vote.classIndex?.[i], shares.indexOf(Math.max(...shares)));
      const probs = (prob.perClass ?? []).map((c) => c[i] as number);
      assert.ok(Math.abs(probs.reduce((a, b) => a + b, 0) - 1) < 1e-12);
      // 7 trees: vote shares are multiples of 1/7.
      for (const s of shares) assert.ok(Math.abs(s * 7 - Math.round(s * 7)) < 1e-9);
    }
  });

  it('regression: explains a clear signal (pseudo R^2), each node searching mTry predictors', async () => {
    const next = seededRandom(6);
    const n = 4000;
    const x = Array.from({ length: n }, () => next());
    const z = Array.from({ length: n }, () => next());
    const noise = Array.from({ length: n }, () => next());
    const y = x.map((v, i) => 8 * v + ((z[i] as number) > 0.5 ? 4 : 0) + 0.5 * next());
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'numeric', values: x },
        { name: 'z', type: 'numeric', values: z },
        { name: 'noise', type: 'numeric', values: noise },
      ],
      1000,
    );
    const { result, body } = await fit(
      { formula: 'y ~ x + z + noise', nTree: 15, seed: 8, mTry: 1, replace: false },
      dataset,
    );
    assert.equal(result.method, 'anova');
    assert.ok((result.pseudoRSquared as number) > 0.9, `pseudo R2 ${result.pseudoRSquared}`);
    // The root of each tree splits on the one predictor its draw allows.
    body.trees.forEach((tree, t) => {
      const allowed = nodeFeatures(8, t, 1, 3, 1);
      if ((tree.feature[0] as number) >= 0) assert.deepEqual([tree.feature[0]], allowed);
    });
    const predicted = predictDForest(body, dataset.chunks[0]?.table as never);
    const mse =
      y.slice(0, 1000).reduce((s, v, i) => s + (v - (predicted.value?.[i] as number)) ** 2, 0) / 1000;
    assert.ok(mse < 1, `training mse ${mse}`);
  });

  it('is reproducible for a seed and differs for another', async () => {
    const iris = await irisDataset(50);
    const a = await fit({ formula: IRIS, nTree: 5, seed: 99 }, iris);
    const b = await fit({ formula: IRIS, nTree: 5, seed: 99 }, iris);
    const c = await fit({ formula: IRIS, nTree: 5, seed: 98 }, iris);
    assert.deepEqual(a.body, b.body);
    assert.notDeepEqual(a.body, c.body);
  });

  it('level passes: one pass per level shared by all trees, the same forest with levels split over passes', async () => {
    const iris = await irisDataset(40);
    const params = { formula: IRIS, nTree: 6, seed: 4, minSplit: 5, minBucket: 2, maxDepth: 4 };
    await inLevelPasses(async () => {
      const whole = await fit(params, iris);
      // One sketch pass, at most maxDepth + 1 level passes (the last finds no split), one out-of-bag pass.
      assert.ok(whole.rounds <= 1 + 5 + 1, `${whole.rounds} passes`);
      const previous = setPassBudget(1);
      try {
        const sliced = await fit(params, iris);
        assert.deepEqual(sliced.body, whole.body);
        assert.deepEqual(sliced.result.oobError, whole.result.oobError);
        assert.ok(sliced.rounds > whole.rounds);
      } finally {
        setPassBudget(previous);
      }
    });
  });

  it('a local fit is bit-identical on 1, 2 and 4 threads', async () => {
    // Threads take a partition's trees as they come free (trees/treeThreads.ts); importance is summed
    // tree by tree, so nothing depends on which thread grew which tree.
    const next = seededRandom(12);
    const n = 2000;
    const x1 = Array.from({ length: n }, () => next());
    const x2 = Array.from({ length: n }, () => (next() < 0.05 ? null : next() * 4));
    const y = x1.map((v, i) => 3 * v + Math.sin(2 * (x2[i] ?? 0)) + next());
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'cls', type: 'factor', values: y.map((v) => (v < 2 ? 'a' : 'b')), levels: ['a', 'b'] },
        { name: 'x1', type: 'numeric', values: x1 },
        { name: 'x2', type: 'numeric', values: x2 },
      ],
      300,
    );
    for (const params of [
      { formula: 'cls ~ x1 + x2', nTree: 20, maxDepth: 5, seed: 5 },
      { formula: 'y ~ x1 + x2', nTree: 9, maxDepth: 4, seed: 6, mTry: 1 },
    ]) {
      const { one, others } = await onEachThreadCount(() => fit(params, dataset));
      assert.equal(one.body.trees.length, params.nTree);
      for (const other of others) {
        assert.deepEqual(other.body, one.body);
        const { modelId: _a, ...rest } = other.result;
        const { modelId: _b, ...oneRest } = one.result;
        assert.deepEqual(rest, oneRest);
      }
    }
  });

  it('a local fit grows the trees the level passes grow', async () => {
    // Local fits sum each tree's histograms in row order, level passes chunk by chunk: the same trees,
    // with sums (node statistics, importance, out-of-bag errors) equal up to rounding.
    const next = seededRandom(11);
    const n = 3000;
    const x1 = Array.from({ length: n }, () => next());
    const x2 = Array.from({ length: n }, () => (next() < 0.05 ? Number.NaN : next() * 4));
    const g = Array.from({ length: n }, () => 'pqrstu'[Math.floor(next() * 6)] as string);
    const y = x1.map(
      (v, i) => 3 * v + Math.sin(2 * (x2[i] as number) || 0) + ('qt'.includes(g[i] as string) ? 1 : 0),
    );
    const cls = y.map((v) => (v + 0.5 * next() < 1.5 ? 'a' : v < 2.5 ? 'b' : 'c'));
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y.map((v) => v + 0.3 * next()) },
        { name: 'cls', type: 'factor', values: cls, levels: ['a', 'b', 'c'] },
        { name: 'x1', type: 'numeric', values: x1 },
        { name: 'x2', type: 'numeric', values: x2.map((v) => (Number.isNaN(v) ? null : v)) },
        { name: 'g', type: 'factor', values: g, levels: [...'pqrstu'] },
      ],
      400,
    );
    const close = (a: number, b: number, what: string): void => {
      assert.ok(Math.abs(a - b) <= 1e-12 * (1 + Math.abs(a)), `${what}: ${a} vs ${b}`);
    };
    for (const params of [
      { formula: 'cls ~ x1 + x2 + g', nTree: 20, maxDepth: 6, seed: 5, minSplit: 10 },
      { formula: 'y ~ x1 + x2 + g', nTree: 7, maxDepth: 5, seed: 6, replace: false, mTry: 2 },
      // Rows dropped by rowSelection keep their ids, so the same bootstrap is drawn.
      { formula: 'cls ~ x1 + x2 + g', nTree: 5, maxDepth: 4, seed: 8, rowSelection: 'x1 > 0.3' },
    ]) {
      const local = await fit(params, dataset);
      const passes = await inLevelPasses(() => fit(params, dataset));
      assert.ok(local.rounds < passes.rounds, 'the local fit took fewer rounds');
      assert.equal(local.body.trees.length, params.nTree);
      assert.ok(
        local.body.trees.some((tree) => tree.feature.length > 7),
        'the trees grow several levels',
      );
      local.body.trees.forEach((tree, t) => {
        const other = passes.body.trees[t] as typeof tree;
        const { value, prob, ...shape } = tree;
        const { value: otherValue, prob: otherProb, ...otherShape } = other;
        assert.deepEqual(shape, otherShape, `tree ${t}`);
        value.forEach((v, k) => {
          close(v, otherValue[k] as number, `tree ${t} value ${k}`);
        });
        prob?.forEach((v, k) => {
          close(v, otherProb?.[k] as number, `tree ${t} prob ${k}`);
        });
      });
      const { oobError, variableImportance, passes: _p, modelId: _m, ...rest } = local.result;
      const {
        oobError: otherOob,
        variableImportance: otherImportance,
        passes: _q,
        modelId: _n,
        ...otherRest
      } = passes.result;
      assert.deepEqual({ ...rest, pseudoRSquared: null }, { ...otherRest, pseudoRSquared: null });
      oobError.forEach((row, k) => {
        const other = otherOob[k] as typeof row;
        assert.equal(row.oobObs, other.oobObs);
        close(row.error as number, other.error as number, `oobError[${k}]`);
      });
      if (local.result.pseudoRSquared !== undefined)
        close(local.result.pseudoRSquared as number, passes.result.pseudoRSquared as number, 'pseudo R2');
      assert.deepEqual(
        variableImportance.map((v) => v.variable),
        otherImportance.map((v) => v.variable),
      );
      variableImportance.forEach((v, k) => {
        close(v.importance, otherImportance[k]?.importance as number, v.variable);
      });
    }
  });
});
