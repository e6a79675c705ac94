import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { type DTreeResult, DTreeResultSchema, dTree } from '../../src/engine/analyses/dTree.ts';
import { type DTreeModelBody, predictDTree } from '../../src/engine/models/treeScore.ts';
import { runInProcess, runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import { setPassBudget } from '../../src/engine/trees/levelGrowth.ts';
import { UserError } from '../../src/userError.ts';
import { type ColumnSpec, makeDataset, referenceJson, seededRandom, type TestDataset } from './helpers.ts';
import { kyphosis, modelIO } from './treeHelpers.ts';

async function fit(
  params: Record<string, unknown>,
  dataset: TestDataset,
): Promise<{ result: DTreeResult; body: DTreeModelBody; rounds: number }> {
  const io = modelIO();
  const outcome = await runInProcessDetailed(dTree, params, dataset.meta, dataset.chunks, { io });
  const result = outcome.result as DTreeResult;
  assert.ok(
    Value.Check(DTreeResultSchema, result),
    JSON.stringify([...Value.Errors(DTreeResultSchema, result)][0]),
  );
  assert.equal(io.models.length, 1);
  assert.equal(result.modelId, io.models[0]?.id);
  return { result, body: io.models[0]?.body as DTreeModelBody, rounds: outcome.rounds };
}

interface RpartCase {
  expected: {
    tree: Array<{
      node: number;
      split: string;
      n: number;
      loss: number;
      yval: string;
      yprob: number[];
      leaf?: boolean;
    }>;
    root_primary_splits_improve: Record<string, number>;
    node2_primary_splits_improve: Record<string, number>;
    node5_primary_splits_improve: Record<string, number>;
    node11_primary_splits_improve: Record<string, number>;
    cp_table: Array<{ CP: number; nsplit: number; rel_error: number }>;
  };
}

/** Within one unit of the last digit printed in `expected` (as the reference prints it). */
function closeTo(actual: number, expected: number, what: string): void {
  const text = String(expected);
  const decimals = text.includes('.') ? (text.split('.')[1] as string).length : 0;
  const tolerance = 10 ** -decimals;
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

/** Relative agreement to `digits` significant digits (for values computed here independently). */
function agrees(actual: number, expected: number, digits: number, what: string): void {
  const tolerance = Math.max(Math.abs(expected), 1e-300) * 10 ** -digits;
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what}: ${actual} vs ${expected}`);
}

const KYPHOSIS_RPART = {
  formula: 'Kyphosis ~ Age + Number + Start',
  minSplit: 20,
  minBucket: 7,
  cp: 0.01,
  maxDepth: 30,
  xVal: 0,
  maxCompete: 2,
};

describe('dTree: the rpart kyphosis reference (rpart-Ex.Rout.save)', () => {
  it('grows the same tree: splits, node counts, losses, classes, probabilities, improvements, cp table', async () => {
    const reference = await referenceJson<RpartCase>('r_reference/cases/rpart_kyphosis_gini.json');
    const { result } = await fit(KYPHOSIS_RPART, await kyphosis(20));
    const expected = reference.expected;
    assert.deepEqual(
      result.nodes.map((n) => n.node),
      expected.tree.map((n) => n.node),
      'same nodes in the same (preorder) order',
    );
    expected.tree.forEach((want, i) => {
      const got = result.nodes[i] as DTreeResult['nodes'][number];
      assert.equal(got.split, want.split, `node ${want.node} split`);
      assert.equal(got.n, want.n, `node ${want.node} n`);
      assert.equal(got.deviance, want.loss, `node ${want.node} loss`);
      assert.equal(got.yval, want.yval, `node ${want.node} yval`);
      assert.equal(got.leaf, want.leaf === true, `node ${want.node} leaf`);
      want.yprob.forEach((p, j) => {
        closeTo(got.yprob?.[j] as number, p, `node ${want.node} yprob[${j}]`);
      });
    });
    // Primary split and its two competitors at each split node (rpart's summary, improve column).
    const improves: Array<[number, Record<string, number>]> = [
      [1, expected.root_primary_splits_improve],
      [2, expected.node2_primary_splits_improve],
      [5, expected.node5_primary_splits_improve],
      [11, expected.node11_primary_splits_improve],
    ];
    for (const [nodeNumber, table] of improves) {
      const node = result.nodes.find((n) => n.node === nodeNumber) as DTreeResult['nodes'][number];
      const [primary, ...others] = Object.entries(table);
      closeTo(node.improve as number, (primary as [string, number])[1], `node ${nodeNumber} improve`);
      assert.equal(node.variable, (primary as [string, number])[0].split(' ')[0]);
      assert.equal(node.competitors?.length, 2);
      others.forEach(([label, improve], j) => {
        const competitor = node.competitors?.[j];
        assert.equal(competitor?.split, label, `node ${nodeNumber} competitor ${j}`);
        closeTo(competitor?.improve as number, improve, `node ${nodeNumber} competitor ${label}`);
      });
    }
    assert.equal(result.cptable.length, expected.cp_table.length);
    expected.cp_table.forEach((row, i) => {
      const got = result.cptable[i] as DTreeResult['cptable'][number];
      closeTo(got.cp, row.CP, `cp row ${i}`);
      assert.equal(got.nsplit, row.nsplit);
      closeTo(got.relError, row.rel_error, `rel error row ${i}`);
    });
    // Importance of primary splits only (rpart adds surrogates): the sums of the improvements above.
    const start = result.variableImportance.find((v) => v.variable === 'Start')?.importance as number;
    const age = result.variableImportance.find((v) => v.variable === 'Age')?.importance as number;
    agrees(start, 6.76233 + 1.020528, 6, 'Start importance');
    agrees(age, 1.246753 + 1.714286, 6, 'Age importance');
  });

  it("information splits with priors: the root split and node losses of rpart's definitions", async () => {
    const dataset = await kyphosis(81);
    const { result } = await fit(
      {
        formula: 'Kyphosis ~ Age + Number + Start',
        parms: { split: 'information', prior: [0.65, 0.35] },
        minSplit: 20,
        cp: 0.01,
        xVal: 0,
      },
      dataset,
    );
    const table = dataset.chunks[0]?.table;
    const y = Array.from(table?.getChild('Kyphosis')?.toArray() as ArrayLike<string>, (v) =>
      v === 'absent' ? 0 : 1,
    );
    const columns = ['Age', 'Number', 'Start'].map((name) =>
      Array.from(table?.getChild(name)?.toArray() as ArrayLike<number>),
    );
    const counts = [y.filter((v) => v === 0).length, y.filter((v) => v === 1).length];
    const prior = [0.65, 0.35];
    // rpart: altered priors a_j = pi_j / (N_j / N); impurity P(t) * sum -p log p with p_j = a_j n_j / P(t).
    const a = prior.map((p, j) => p / ((counts[j] as number) / y.length));
    const entropy = (ys: number[]): number => {
      const n = [0, 1].map((j) => ys.filter((v) => v === j).length * (a[j] as number));
      const total = (n[0] as number) + (n[1] as number);
      return -n.reduce((s, w) => (w > 0 ? s + w * Math.log(w / total) : s), 0);
    };
    const brute = bestSplitBruteForce(columns, y, entropy, 7);
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    assert.equal(root.variable, ['Age', 'Number', 'Start'][brute.variable]);
    assert.equal(root.cutpoint, brute.cut);
    agrees(root.improve as number, brute.gain, 10, 'root improvement');
    // Loss of a node: the weight of the classes it does not predict, each scaled by pi_j / (N_j / N).
    for (const node of result.nodes) {
      const absent =
        node.n -
        (node.yval === 'absent'
          ? node.deviance / (a[1] as number)
          : node.n - node.deviance / (a[0] as number));
      assert.ok(Math.abs(absent - Math.round(absent)) < 1e-9, `node ${node.node}: whole class counts`);
      const p = [(a[0] as number) * absent, (a[1] as number) * (node.n - absent)];
      agrees(node.deviance, Math.min(p[0] as number, p[1] as number), 12, `node ${node.node} loss`);
      agrees(
        node.yprob?.[0] as number,
        (p[0] as number) / ((p[0] as number) + (p[1] as number)),
        12,
        `node ${node.node} yprob`,
      );
    }
  });

  it('a loss matrix changes the predicted class and the risk as rpart defines them', async () => {
    const { result } = await fit(
      {
        formula: 'Kyphosis ~ Age + Number + Start',
        parms: {
          loss: [
            [0, 1],
            [5, 0],
          ],
        },
        minSplit: 20,
        cp: 0.01,
        xVal: 0,
      },
      await kyphosis(81),
    );
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    // 64 absent, 17 present: predicting absent costs 17 x 5 = 85, predicting present 64 x 1.
    assert.equal(root.yval, 'present');
    assert.equal(root.deviance, 64);
    // Probabilities do not depend on losses (default priors: the class shares).
    agrees(root.yprob?.[1] as number, 17 / 81, 14, 'root yprob');
    for (const node of result.nodes) {
      const present = (node.yprob?.[1] as number) * node.n;
      const absent = node.n - present;
      agrees(node.deviance, Math.min(5 * present, absent), 10, `node ${node.node} loss`);
    }
  });

  it('gives the same tree whatever the chunking', async () => {
    const a = await fit({ ...KYPHOSIS_RPART, xVal: 4 }, await kyphosis(7));
    const b = await fit({ ...KYPHOSIS_RPART, xVal: 4 }, await kyphosis(81));
    assert.deepEqual(a.result.nodes, b.result.nodes);
    assert.deepEqual(a.result.cptable, b.result.cptable);
    assert.deepEqual(a.body.tree, b.body.tree);
  });
});

/** Exact CART by brute force (every midpoint, every variable), independent of the engine's bins. */
function bestSplitBruteForce(
  columns: number[][],
  y: number[],
  score: (ys: number[]) => number,
  minBucket = 1,
): { variable: number; cut: number; gain: number } {
  let best = { variable: -1, cut: Number.NaN, gain: Number.NEGATIVE_INFINITY };
  const total = score(y);
  columns.forEach((x, v) => {
    const values = [...new Set(x)].sort((a, b) => a - b);
    for (let k = 1; k < values.length; k++) {
      const cut = ((values[k - 1] as number) + (values[k] as number)) / 2;
      const left = y.filter((_, i) => (x[i] as number) < cut);
      const right = y.filter((_, i) => (x[i] as number) >= cut);
      if (left.length < minBucket || right.length < minBucket) continue;
      const gain = total - score(left) - score(right);
      if (gain > best.gain + 1e-9) best = { variable: v, cut, gain };
    }
  });
  return best;
}

const sumOfSquares = (ys: number[]): number => {
  const mean = ys.reduce((a, b) => a + b, 0) / Math.max(1, ys.length);
  return ys.reduce((s, v) => s + (v - mean) ** 2, 0);
};

describe('dTree on generated data', () => {
  it('regression: finds the root split exhaustive search finds, with the same improvement', async () => {
    const next = seededRandom(11);
    const n = 600;
    const x1 = Array.from({ length: n }, () => Math.round(next() * 200) / 2);
    const x2 = Array.from({ length: n }, () => Math.round(next() * 50));
    const y = x1.map((v, i) => (v < 37 ? 5 : 9) + ((x2[i] as number) > 30 ? 3 : 0) + next() * 2);
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x1', type: 'numeric', values: x1 },
        { name: 'x2', type: 'integer', values: x2 },
      ],
      128,
    );
    // 201 distinct x1 values: more bins than the default 101 are needed to be exact.
    const { result } = await fit({ formula: 'y ~ x1 + x2', maxNumBins: 1000, xVal: 0, maxDepth: 2 }, dataset);
    const brute = bestSplitBruteForce([x1, x2], y, sumOfSquares);
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    assert.equal(root.variable, ['x1', 'x2'][brute.variable]);
    assert.equal(root.cutpoint, brute.cut);
    agrees((root.improve as number) * root.deviance, brute.gain, 10, 'SS decrease');
    agrees(root.deviance, sumOfSquares(y), 12, 'root SS');
    agrees(root.yval as number, y.reduce((a, b) => a + b, 0) / n, 13, 'root mean');
  });

  it('classification: recovers a known tree with a numeric and a factor split, and scores it back', async () => {
    const next = seededRandom(3);
    const n = 20_000;
    const x = Array.from({ length: n }, () => next() * 10);
    const g = Array.from({ length: n }, () => 'abcdef'[Math.floor(next() * 6)] as string);
    const noise = Array.from({ length: n }, () => next());
    // The true tree: x < 4 -> A; else g in {b, d, f} -> B; else C (with 5% label noise).
    const truth = x.map((v, i) => (v < 4 ? 'A' : 'bdf'.includes(g[i] as string) ? 'B' : 'C'));
    const label = truth.map((t) => (next() < 0.05 ? ('ABC'[Math.floor(next() * 3)] as string) : t));
    const dataset = makeDataset(
      [
        { name: 'label', type: 'factor', values: label },
        { name: 'x', type: 'numeric', values: x },
        { name: 'g', type: 'factor', values: g },
        { name: 'noise', type: 'numeric', values: noise },
      ],
      3000,
    );
    const { result, body } = await fit(
      { formula: 'label ~ x + g + noise', maxDepth: 3, cp: 0.01, xVal: 0 },
      dataset,
    );
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    assert.equal(root.variable, 'x');
    // Equal-count bins of 141 (sqrt(n)) over [0, 10): the cut is within one bin of 4.
    assert.ok(Math.abs((root.cutpoint as number) - 4) < 0.1, `cut ${root.cutpoint}`);
    const factorNode = result.nodes.find((node) => node.variable === 'g') as DTreeResult['nodes'][number];
    assert.deepEqual(
      [factorNode.leftLevels, factorNode.rightLevels].map((l) => [...(l ?? [])].sort().join('')).sort(),
      ['ace', 'bdf'],
    );
    const leaves = result.nodes.filter((node) => node.leaf);
    assert.equal(leaves.length, 3, 'noise splits are pruned by cp');
    // Scoring the training data puts every row in the leaf training counted it in.
    const counts = new Map<number, number>();
    let agree = 0;
    for (const chunk of dataset.chunks) {
      const predicted = predictDTree(body, chunk.table);
      for (let i = 0; i < chunk.numRows; i++) {
        const node = predicted.node?.[i] as number;
        counts.set(node, (counts.get(node) ?? 0) + 1);
        if (predicted.levels?.[predicted.classIndex?.[i] as number] === truth[chunk.startRow + i]) agree++;
      }
    }
    for (const leaf of leaves) assert.equal(counts.get(leaf.node), leaf.n, `leaf ${leaf.node}`);
    // Only rows in the bin holding x = 4 can be on the wrong side.
    assert.ok(agree >= 0.995 * n, `the recovered tree predicts the true class of ${agree} of ${n} rows`);
  });

  it('splits a factor of many levels by the optimal subset (levels ordered by mean)', async () => {
    const next = seededRandom(5);
    const levels = Array.from({ length: 60 }, (_, k) => `L${String(k).padStart(2, '0')}`);
    // Half the levels (chosen by a fixed pattern, not by order) have mean 10, the others 0.
    const high = new Set(levels.filter((_, k) => (k * 7) % 11 < 5));
    const n = 6000;
    const g = Array.from({ length: n }, (_, i) => levels[i % levels.length] as string);
    const y = g.map((level) => (high.has(level) ? 10 : 0) + next());
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'g', type: 'factor', values: g, levels },
      ],
      1000,
    );
    const { result } = await fit({ formula: 'y ~ g', maxDepth: 1, xVal: 0 }, dataset);
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    assert.equal(root.variable, 'g');
    const right = new Set(root.rightLevels);
    assert.equal(right.size, high.size);
    for (const level of high) assert.ok(right.has(level), `${level} with the high mean goes right`);
    // A 3-class response refuses a factor beyond maxUnorderedLevels.
    const three = makeDataset(
      [
        { name: 'c', type: 'factor', values: g.map((_, i) => 'xyz'[i % 3] as string) },
        { name: 'g', type: 'factor', values: g, levels },
      ],
      1000,
    );
    await assert.rejects(
      runInProcess(dTree, { formula: 'c ~ g' }, three.meta, three.chunks, { io: modelIO() }),
      (error: unknown) =>
        error instanceof UserError && error.code === 'TOO_MANY_LEVELS' && error.status === 422,
    );
  });

  it('learns where missing values go, and removeMissings drops them instead', async () => {
    const next = seededRandom(8);
    const n = 2000;
    const x = Array.from({ length: n }, () => next() * 10);
    const y = x.map((v) => (v < 5 ? 1 : 20) + next());
    // x is missing for a fifth of the rows, all of which have a high response.
    const xMissing = x.map((v, i) => ((y[i] as number) > 10 && i % 5 === 0 ? null : v));
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'numeric', values: xMissing },
      ],
      500,
    );
    // As many bins as values: the split at 5 is exact.
    const { result, body } = await fit({ formula: 'y ~ x', maxDepth: 1, xVal: 0, maxNumBins: 5000 }, dataset);
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    const highChild = result.nodes.find((node) =>
      node.split.startsWith('x>='),
    ) as DTreeResult['nodes'][number];
    const highIsLeft = result.nodes[1] === highChild;
    assert.equal(root.missing, highIsLeft ? 'left' : 'right', 'missing x goes with the high side');
    // The high child counts the rows with missing x.
    const highRows = y.filter((v) => v > 10).length;
    assert.equal(highChild.n, highRows);
    const scored = predictDTree(body, dataset.chunks[0]?.table as never);
    xMissing.slice(0, 500).forEach((v, i) => {
      if (v === null) assert.equal(scored.node?.[i], highChild.node);
    });
    const dropped = await fit({ formula: 'y ~ x', maxDepth: 1, xVal: 0, removeMissings: true }, dataset);
    const missing = xMissing.filter((v) => v === null).length;
    assert.equal(dropped.result.nObs, n - missing);
    assert.equal(dropped.result.nMissing, missing);
  });

  it('keeps the fractions of a numeric predictor whose low and high are whole numbers apart', async () => {
    const next = seededRandom(12);
    const n = 30_000;
    // Fractional values between the whole-number extremes 0 and 10.
    const x = Array.from({ length: n }, (_, i) => (i === 0 ? 0 : i === 1 ? 10 : next() * 10));
    const y = x.map((v) => (v < 3.3 ? 0 : 5) + next());
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'numeric', values: x },
      ],
      10_000,
    );
    assert.equal(dataset.meta.variables[1]?.low, 0);
    assert.equal(dataset.meta.variables[1]?.high, 10);
    const { result } = await fit({ formula: 'y ~ x', maxDepth: 1, xVal: 0 }, dataset);
    const root = result.nodes[0] as DTreeResult['nodes'][number];
    assert.ok(Math.abs((root.cutpoint as number) - 3.3) < 0.1, `cut ${root.cutpoint}`);
  });

  it('frequency weights equal replicated rows', async () => {
    const base = await kyphosis(81);
    const rows = base.chunks[0]?.table.numRows as number;
    const table = base.chunks[0]?.table;
    const column = (name: string) => table?.getChild(name)?.toArray() as ArrayLike<number>;
    const kyph = (table?.getChild('Kyphosis')?.toArray() ?? []) as string[];
    const weight = Array.from({ length: rows }, (_, i) => 1 + (i % 3));
    const specs = (repeat: boolean): ColumnSpec[] => {
      const pick = <T>(values: ArrayLike<T>): T[] =>
        Array.from({ length: rows }).flatMap((_, i) =>
          Array(repeat ? (weight[i] as number) : 1).fill(values[i]),
        );
      const out: ColumnSpec[] = [
        { name: 'Kyphosis', type: 'factor', values: pick(kyph) },
        { name: 'Age', type: 'integer', values: pick(column('Age')) },
        { name: 'Start', type: 'integer', values: pick(column('Start')) },
      ];
      if (!repeat) out.push({ name: 'w', type: 'integer', values: weight });
      return out;
    };
    const params = { formula: 'Kyphosis ~ Age + Start', minSplit: 20, minBucket: 7, cp: 0.01, xVal: 0 };
    const replicated = await fit(params, makeDataset(specs(true), 50));
    const weighted = await fit({ ...params, fweights: 'w' }, makeDataset(specs(false), 30));
    assert.deepEqual(
      weighted.result.nodes.map(({ complexity: _c, ...node }) => node),
      replicated.result.nodes.map(({ complexity: _c, ...node }) => node),
    );
    assert.equal(
      weighted.result.nObs,
      weight.reduce((a, b) => a + b, 0),
    );
  });

  it('cross-validates the cp table and prunes with the 1-SE rule', async () => {
    const next = seededRandom(21);
    const n = 3000;
    const x = Array.from({ length: n }, () => next());
    const z = Array.from({ length: n }, () => next());
    const y = x.map((v, i) => (v < 0.5 ? 0 : 4) + ((z[i] as number) < 0.3 ? 2 : 0) + 3 * next());
    const dataset = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'numeric', values: x },
        { name: 'z', type: 'numeric', values: z },
      ],
      700,
    );
    const full = await fit({ formula: 'y ~ x + z', cp: 0.0005, xVal: 5, maxDepth: 6 }, dataset);
    const table = full.result.cptable;
    assert.ok(table.length > 3);
    for (const row of table) {
      assert.ok(Number.isFinite(row.xerror as number) && (row.xstd as number) > 0);
    }
    // The real structure (x, then z) lowers the cross-validated error; noise splits do not.
    assert.ok((table[2]?.xerror as number) < 0.7 * (table[0]?.xerror as number));
    const pruned = await fit(
      { formula: 'y ~ x + z', cp: 0.0005, xVal: 5, maxDepth: 6, pruneCp: 'auto' },
      dataset,
    );
    const best = table.reduce((m, row) => ((row.xerror as number) < (m.xerror as number) ? row : m));
    const limit = (best.xerror as number) + (best.xstd as number);
    const chosen = table.find((row) => (row.xerror as number) <= limit) as (typeof table)[number];
    assert.equal(pruned.result.pruneCp, chosen.cp);
    assert.equal(pruned.result.nodes.filter((node) => !node.leaf).length, chosen.nsplit);
  });
});

describe('dTree levels larger than one pass', () => {
  it('grows the same tree when a level is split over several passes', async () => {
    const dataset = await kyphosis(20);
    const params = { ...KYPHOSIS_RPART, xVal: 3, cp: 0 };
    const whole = await fit(params, dataset);
    const previous = setPassBudget(1);
    try {
      const sliced = await fit(params, dataset);
      assert.deepEqual(sliced.result.nodes, whole.result.nodes);
      assert.deepEqual(sliced.result.cptable, whole.result.cptable);
      assert.ok(sliced.rounds > whole.rounds, `${sliced.rounds} passes vs ${whole.rounds}`);
    } finally {
      setPassBudget(previous);
    }
  });
});

describe('dTree input checks', () => {
  const dataset = makeDataset(
    [
      { name: 'y', type: 'numeric', values: [1, 2, 3, 4] },
      { name: 'x', type: 'numeric', values: [1, 2, 3, 4] },
      { name: 'g', type: 'factor', values: ['a', 'b', 'a', 'b'] },
    ],
    2,
  );
  const rejects = (params: Record<string, unknown>, code: string) =>
    assert.rejects(
      runInProcess(dTree, params, dataset.meta, dataset.chunks, { io: modelIO() }),
      (error: unknown) => error instanceof UserError && error.code === code && error.status < 500,
    );
  it('refuses in-line functions and interactions with a clear message', async () => {
    await assert.rejects(
      runInProcess(dTree, { formula: 'y ~ log(x)' }, dataset.meta, dataset.chunks),
      /does not support in-line functions such as 'log\(x\)'.*transforms/,
    );
    await rejects({ formula: 'y ~ x:g' }, 'INVALID_FORMULA');
  });
  it('refuses methods that do not fit the response, and pruneCp "auto" without cross-validation', async () => {
    await rejects({ formula: 'y ~ x', method: 'class' }, 'WRONG_VARIABLE_TYPE');
    await rejects({ formula: 'g ~ x', method: 'anova' }, 'WRONG_VARIABLE_TYPE');
    await rejects({ formula: 'y ~ x', pruneCp: 'auto', xVal: 0 }, 'INVALID_PARAMS');
    await rejects({ formula: 'y ~ x', maxSurrogate: 2 }, 'INVALID_PARAMS');
    await rejects({ formula: 'g ~ x', parms: { prior: [0.2, 0.3] } }, 'INVALID_PARAMS');
  });
});
