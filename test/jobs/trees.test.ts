import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { seededRandom } from '../engine/helpers.ts';
import { referenceJson, referenceText, runJob, uploadCsv } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * rxDTree, rxDForest and rxBTrees through HTTP, real Redis and real worker processes: the rpart
 * reference tree, and results that do not depend on how many workers ran the tasks (tasks land on
 * workers at random, so each worker's cache of prepared chunks misses and catches up).
 */

interface TreeNode {
  node: number;
  split: string;
  n: number;
  deviance: number;
  yval: string | number;
}

/** A generated table: numeric, integer and factor predictors, some missing; numeric, 0/1 and class responses. */
function generatedCsv(rows: number): string {
  const next = seededRandom(77);
  const lines = ['y,b,cls,x1,x2,g'];
  for (let i = 0; i < rows; i++) {
    const x1 = next() * 10;
    const x2 = Math.floor(next() * 50);
    const g = 'abcdefgh'[Math.floor(next() * 8)] as string;
    const f = (x1 < 4 ? -1 : 1) + (x2 > 30 ? 1 : 0) + ('aceg'.includes(g) ? 0.5 : -0.5);
    const y = f + next();
    const b = next() < 1 / (1 + Math.exp(-2 * f)) ? 1 : 0;
    const cls = f < -0.5 ? 'low' : f < 1 ? 'mid' : 'high';
    lines.push(`${y.toFixed(6)},${b},${cls},${i % 17 === 0 ? 'NA' : x1.toFixed(4)},${x2},${g}`);
  }
  return `${lines.join('\n')}\n`;
}

describe('tree analyses through the job engine', () => {
  let server: TestServer;
  let kyphosis = '';
  let generated = '';
  const firstResults = new Map<string, string>();

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    kyphosis = (
      await uploadCsv(server.url, await referenceText('r_reference/data/kyphosis.csv'), { rowsPerChunk: 20 })
    ).id;
    generated = (await uploadCsv(server.url, generatedCsv(4000), { rowsPerChunk: 400 })).id;
  });
  after(() => server.close());

  const jobs: Record<string, () => { type: string; dataset: string; params: Record<string, unknown> }> = {
    'dTree kyphosis': () => ({
      type: 'dTree',
      dataset: kyphosis,
      params: {
        formula: 'Kyphosis ~ Age + Number + Start',
        minSplit: 20,
        minBucket: 7,
        cp: 0.01,
        maxDepth: 30,
        xVal: 5,
      },
    }),
    'dTree anova': () => ({
      type: 'dTree',
      dataset: generated,
      params: { formula: 'y ~ x1 + x2 + g', maxDepth: 5, xVal: 3, pruneCp: 'auto' },
    }),
    'dForest class': () => ({
      type: 'dForest',
      dataset: generated,
      params: { formula: 'cls ~ x1 + x2 + g', nTree: 8, maxDepth: 5, seed: 3 },
    }),
    'bTrees bernoulli': () => ({
      type: 'bTrees',
      dataset: generated,
      params: { formula: 'b ~ x1 + x2 + g', lossFunction: 'bernoulli', nTree: 6, maxDepth: 3, seed: 9 },
    }),
    'bTrees multinomial': () => ({
      type: 'bTrees',
      dataset: generated,
      params: { formula: 'cls ~ x1 + x2 + g', lossFunction: 'multinomial', nTree: 3, maxDepth: 2, seed: 4 },
    }),
  };

  /** A result without its model id (which names the job that stored it). */
  const withoutModel = (result: Record<string, unknown>): string => {
    const { modelId, ...rest } = result;
    assert.match(String(modelId), /^mdl_[0-9a-f]{20}$/);
    return JSON.stringify(rest);
  };

  it('dTree grows the rpart kyphosis reference tree', async () => {
    const reference = await referenceJson<{
      expected: { tree: Array<{ node: number; split: string; n: number; loss: number; yval: string }> };
    }>('r_reference/cases/rpart_kyphosis_gini.json');
    const result = await runJob<{ nodes: TreeNode[]; cptable: Array<{ xerror: number }>; modelId: string }>(
      server.url,
      jobs['dTree kyphosis']!(),
    );
    firstResults.set('dTree kyphosis', withoutModel(result as unknown as Record<string, unknown>));
    assert.deepEqual(
      result.nodes.map((n) => [n.node, n.split, n.n, n.deviance, n.yval]),
      reference.expected.tree.map((n) => [n.node, n.split, n.n, n.loss, n.yval]),
    );
    assert.ok(result.cptable.every((row) => Number.isFinite(row.xerror)));
  });

  it('dForest, bTrees and an anova dTree complete on generated data with missing values', async () => {
    for (const name of ['dTree anova', 'dForest class', 'bTrees bernoulli', 'bTrees multinomial']) {
      const result = await runJob<Record<string, unknown>>(server.url, jobs[name]!());
      firstResults.set(name, withoutModel(result));
    }
    const forest = JSON.parse(firstResults.get('dForest class') as string) as {
      oobError: Array<{ error: number }>;
    };
    assert.ok((forest.oobError.at(-1)?.error as number) < 0.3);
    const boosted = JSON.parse(firstResults.get('bTrees bernoulli') as string) as {
      trainLoss: number[];
      passes: number;
    };
    assert.ok((boosted.trainLoss.at(-1) as number) < (boosted.trainLoss[0] as number));
    // A fit this small is local (TREE_LOCAL_MB): the sketch pass, then all 6 trees in one round.
    assert.equal(boosted.passes, 2);
  });

  it('gives identical results with 1 and 3 workers', async () => {
    await server.startWorkers(2);
    for (const [name, body] of Object.entries(jobs)) {
      const first = firstResults.get(name);
      assert.ok(first, `${name} ran with one worker`);
      const again = withoutModel(await runJob<Record<string, unknown>>(server.url, body()));
      assert.equal(again, first, `${name} differs with 3 workers`);
    }
  });
});

describe('forests and boosted trees in level passes (TREE_LOCAL_MB=0)', () => {
  let server: TestServer;
  let dataset = '';

  before(async () => {
    server = await startServer({ TREE_LOCAL_MB: '0' });
    await server.startWorkers(1);
    dataset = (await uploadCsv(server.url, generatedCsv(3000), { rowsPerChunk: 300 })).id;
  });
  after(() => server.close());

  it('gives identical results with 1 and 3 workers, one pass per tree level', async () => {
    const boosted = {
      type: 'bTrees',
      dataset,
      params: { formula: 'b ~ x1 + x2 + g', lossFunction: 'bernoulli', nTree: 4, maxDepth: 3, seed: 9 },
    };
    const forest = {
      type: 'dForest',
      dataset,
      params: { formula: 'cls ~ x1 + x2 + g', nTree: 6, maxDepth: 4, seed: 3 },
    };
    const withoutModel = ({ modelId: _, ...rest }: { passes: number; modelId: string }) => rest;
    const one = [
      withoutModel(await runJob(server.url, boosted)),
      withoutModel(await runJob(server.url, forest)),
    ];
    // The sketch pass, then a pass per tree level (and for bTrees the loss of the last tree): local
    // fits take 2 (bTrees) and 3 (dForest) rounds.
    assert.ok((one[0]?.passes as number) > 8, `bTrees passes: ${one[0]?.passes}`);
    assert.ok((one[1]?.passes as number) >= 5, `dForest passes: ${one[1]?.passes}`);
    await server.startWorkers(2);
    const three = [
      withoutModel(await runJob(server.url, boosted)),
      withoutModel(await runJob(server.url, forest)),
    ];
    assert.deepEqual(three, one);
  });
});
