import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Dictionary, Float64, Int32, Table, Utf8, vectorFromArray } from 'apache-arrow';
import request from 'supertest';
import type { DTreeResult } from '../../src/engine/analyses/dTree.ts';
import type { PredictResult } from '../../src/engine/analyses/predict.ts';
import { predictTrees, type TreeModelBody, type TreePredictions } from '../../src/engine/models/treeScore.ts';
import { seededRandom } from '../engine/helpers.ts';
import { datasetRows, runJob, uploadCsv } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * predict (job and synchronous endpoint) for dTree, dForest and bTrees models fitted through HTTP with
 * real workers, scoring the training data: every output against treeScore.ts applied here to the
 * stored body, and checks that do not go through treeScore.ts at all: an anova tree predicts each row
 * the mean response of the training rows sharing its leaf, a class tree's predicted classes have the
 * counts of the fitted tree's leaves, probabilities and votes sum to one and agree with the class,
 * bTrees' link is the logit of its response. Options that do not fit are 400 naming the option.
 */

type Row = Record<string, unknown>;

const N = 300;
const random = seededRandom(4242);
const data = {
  y: [] as number[],
  b: [] as number[],
  cls: [] as string[],
  x1: [] as Array<number | null>,
  x2: [] as number[],
  g: [] as string[],
};
for (let i = 0; i < N; i++) {
  const x1 = Math.round(random() * 1000) / 100;
  const x2 = Math.floor(random() * 40);
  const g = 'abcde'[Math.floor(random() * 5)] as string;
  const f = (x1 < 4 ? -1 : 1) + (x2 > 25 ? 1 : 0) + ('ace'.includes(g) ? 0.5 : -0.5);
  data.y.push(Math.round((f + random()) * 1e4) / 1e4);
  data.b.push(random() < 1 / (1 + Math.exp(-2 * f)) ? 1 : 0);
  data.cls.push(f < -0.5 ? 'low' : f < 1 ? 'mid' : 'high');
  data.x1.push(i % 23 === 0 ? null : x1);
  data.x2.push(x2);
  data.g.push(g);
}

function csv(): string {
  const lines = ['y,b,cls,x1,x2,g'];
  for (let i = 0; i < N; i++)
    lines.push([data.y[i], data.b[i], data.cls[i], data.x1[i] ?? 'NA', data.x2[i], data.g[i]].join(','));
  return `${lines.join('\n')}\n`;
}

/** The training data as JSON rows (the synchronous endpoint) and as an Arrow table (treeScore.ts). */
const jsonRows: Row[] = data.y.map((_, i) => ({ x1: data.x1[i], x2: data.x2[i], g: data.g[i] }));
const table = new Table({
  x1: vectorFromArray(data.x1, new Float64()),
  x2: vectorFromArray(data.x2, new Float64()),
  g: vectorFromArray(data.g, new Dictionary(new Utf8(), new Int32())),
});

const close = (a: unknown, b: number, what: string): void => {
  assert.equal(typeof a, 'number', `${what}: ${String(a)}`);
  assert.ok(Math.abs((a as number) - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
};

describe('predict for dTree, dForest and bTrees models', () => {
  let server: TestServer;
  let dataset = '';
  const models: Record<string, { id: string; body: TreeModelBody }> = {};
  let classTree: DTreeResult;

  async function fit(name: string, type: string, params: Row): Promise<unknown> {
    const result = await runJob<{ modelId: string }>(server.url, { type, dataset, params });
    const stored = JSON.parse(
      await readFile(path.join(server.config.dataDir, 'models', `${result.modelId}.json`), 'utf8'),
    ) as { body: TreeModelBody };
    models[name] = { id: result.modelId, body: stored.body };
    return result;
  }

  /** The predictions of a job and of the endpoint (same columns, same rows). */
  async function predictBoth(
    name: string,
    options: Row,
  ): Promise<{ job: Row[]; sync: Row[]; vars: string[] }> {
    const model = models[name]!;
    const result = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset,
      params: { modelId: model.id, ...options },
    });
    assert.equal(result.nRows, N);
    assert.equal(result.nPredicted, N);
    const job = await datasetRows(server.url, String(result.dataset['id']));
    const sync = await request(server.url)
      .post(`/v1/models/${model.id}/predict`)
      .send({ rows: jsonRows, ...options });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    assert.equal(sync.body.nPredicted, N);
    return { job, sync: sync.body.predictions as Row[], vars: result.predictionVariables };
  }

  /** Every column of both against treeScore.ts on the stored body. */
  function checkAgainst(
    out: { job: Row[]; sync: Row[] },
    expected: TreePredictions,
    columns: Array<{ name: string; values: (i: number) => number | string }>,
  ): void {
    for (const rows of [out.job, out.sync]) {
      assert.equal(rows.length, N);
      rows.forEach((row, i) => {
        for (const { name, values } of columns) {
          const want = values(i);
          if (typeof want === 'string') assert.equal(row[name], want, `${name} row ${i}`);
          else close(row[name], want, `${name} row ${i}`);
        }
      });
    }
    assert.equal(expected.numRows, N);
  }

  before(async () => {
    server = await startServer();
    await server.startWorkers(2);
    dataset = (await uploadCsv(server.url, csv(), { rowsPerChunk: 70 })).id;
    await fit('anova', 'dTree', { formula: 'y ~ x1 + x2 + g', maxDepth: 4, xVal: 0, minSplit: 20 });
    classTree = (await fit('class', 'dTree', {
      formula: 'cls ~ x1 + x2 + g',
      maxDepth: 4,
      xVal: 0,
      minSplit: 20,
    })) as DTreeResult;
    await fit('boost', 'bTrees', {
      formula: 'b ~ x1 + x2 + g',
      lossFunction: 'bernoulli',
      nTree: 5,
      maxDepth: 2,
      seed: 9,
    });
    await fit('forest', 'dForest', { formula: 'cls ~ x1 + x2 + g', nTree: 5, maxDepth: 4, seed: 3 });
  });
  after(() => server.close());

  it('dTree anova: y_Pred is the mean response of the training rows in the leaf', async () => {
    const out = await predictBoth('anova', {});
    assert.deepEqual(out.vars, ['y_Pred']);
    // Independent of treeScore.ts: rows predicted alike share a leaf (or leaves of one mean), whose
    // prediction is the mean y of its training rows.
    const groups = new Map<number, number[]>();
    out.job.forEach((row, i) => {
      const v = row['y_Pred'] as number;
      groups.set(v, [...(groups.get(v) ?? []), data.y[i]!]);
    });
    assert.ok(groups.size >= 4, `only ${groups.size} distinct predictions`);
    for (const [v, ys] of groups) close(v, ys.reduce((s, y) => s + y, 0) / ys.length, `leaf mean ${v}`);
    const expected = predictTrees(models['anova']!.body, table);
    checkAgainst(out, expected, [{ name: 'y_Pred', values: (i) => expected.value![i]! }]);
  });

  it("dTree class: cls_Pred has the fitted leaves' counts; type 'prob' gives <level>_prob", async () => {
    const body = models['class']!.body;
    const levels = body.response.levels!;
    const expected = predictTrees(body, table);
    const out = await predictBoth('class', {});
    assert.deepEqual(out.vars, ['cls_Pred']);
    checkAgainst(out, expected, [{ name: 'cls_Pred', values: (i) => levels[expected.classIndex![i]!]! }]);
    // Independent: the count of each predicted class is the training n of the leaves with that yval.
    const fromLeaves = new Map<string, number>();
    for (const node of classTree.nodes)
      if (node.leaf) fromLeaves.set(String(node.yval), (fromLeaves.get(String(node.yval)) ?? 0) + node.n);
    const predicted = new Map<string, number>();
    for (const row of out.job)
      predicted.set(String(row['cls_Pred']), (predicted.get(String(row['cls_Pred'])) ?? 0) + 1);
    assert.deepEqual(new Map([...predicted].sort()), new Map([...fromLeaves].sort()));

    const prob = await predictBoth('class', { type: 'prob' });
    assert.deepEqual(
      prob.vars,
      levels.map((l) => `${l}_prob`),
    );
    checkAgainst(
      prob,
      expected,
      levels.map((l, k) => ({ name: `${l}_prob`, values: (i: number) => expected.perClass![k]![i]! })),
    );
    prob.sync.forEach((row, i) => {
      close(
        levels.reduce((s, l) => s + (row[`${l}_prob`] as number), 0),
        1,
        `prob sum row ${i}`,
      );
    });
  });

  it('bTrees bernoulli: b_prob (response) and b_Pred (link) = logit(b_prob)', async () => {
    const body = models['boost']!.body;
    const response = predictTrees(body, table, 'response');
    const link = predictTrees(body, table, 'link');
    const out = await predictBoth('boost', {});
    assert.deepEqual(out.vars, ['b_prob']);
    checkAgainst(out, response, [{ name: 'b_prob', values: (i) => response.value![i]! }]);
    const linkOut = await predictBoth('boost', { type: 'link' });
    assert.deepEqual(linkOut.vars, ['b_Pred']);
    checkAgainst(linkOut, link, [{ name: 'b_Pred', values: (i) => link.value![i]! }]);
    out.job.forEach((row, i) => {
      const p = row['b_prob'] as number;
      close(linkOut.job[i]!['b_Pred'], Math.log(p / (1 - p)), `logit row ${i}`);
    });
  });

  it("dForest class: cls_Pred, type 'vote' and 'prob'", async () => {
    const body = models['forest']!.body;
    const levels = body.response.levels!;
    const response = predictTrees(body, table, 'response');
    const out = await predictBoth('forest', { type: 'class' });
    assert.deepEqual(out.vars, ['cls_Pred']);
    checkAgainst(out, response, [{ name: 'cls_Pred', values: (i) => levels[response.classIndex![i]!]! }]);
    for (const type of ['vote', 'prob'] as const) {
      const expected = predictTrees(body, table, type);
      const got = await predictBoth('forest', { type });
      assert.deepEqual(
        got.vars,
        levels.map((l) => `${l}_${type}`),
      );
      checkAgainst(
        got,
        expected,
        levels.map((l, k) => ({ name: `${l}_${type}`, values: (i: number) => expected.perClass![k]![i]! })),
      );
      got.job.forEach((row, i) => {
        const shares = levels.map((l) => row[`${l}_${type}`] as number);
        close(
          shares.reduce((s, v) => s + v, 0),
          1,
          `${type} sum row ${i}`,
        );
        if (type === 'vote') {
          // The class is the majority vote (ties: the first level), and votes are multiples of 1/nTree.
          const best = shares.indexOf(Math.max(...shares));
          assert.equal(out.job[i]!['cls_Pred'], levels[best]);
          for (const s of shares) close(Math.round(s * 5) / 5, s, `vote share row ${i}`);
        }
      });
    }
  });

  it('predVarNames renames the columns', async () => {
    const out = await predictBoth('anova', { predVarNames: ['fitted'] });
    assert.deepEqual(out.vars, ['fitted']);
    assert.equal(typeof out.sync[0]!['fitted'], 'number');
  });

  it('options that do not apply are 400 naming the option', async () => {
    const cases: Array<{ model: string; options: Row; param: string }> = [
      { model: 'anova', options: { type: 'prob' }, param: 'type' },
      { model: 'class', options: { type: 'vote' }, param: 'type' },
      { model: 'class', options: { computeResiduals: true }, param: 'computeResiduals' },
      { model: 'forest', options: { type: 'link' }, param: 'type' },
      { model: 'forest', options: { interval: 'confidence' }, param: 'interval' },
      { model: 'boost', options: { type: 'prob' }, param: 'type' },
      { model: 'boost', options: { prior: [1, 1] }, param: 'prior' },
      { model: 'class', options: { predVarNames: ['a', 'b'] }, param: 'predVarNames' },
    ];
    for (const { model, options, param } of cases) {
      const modelId = models[model]!.id;
      const job = await request(server.url)
        .post('/v1/jobs')
        .send({ type: 'predict', dataset, params: { modelId, ...options } });
      assert.equal(job.status, 400, `${model} ${JSON.stringify(options)}: ${JSON.stringify(job.body)}`);
      assert.equal(job.body.error.code, 'INVALID_PARAMS');
      assert.equal(job.body.error.details.param, param);
      const sync = await request(server.url)
        .post(`/v1/models/${modelId}/predict`)
        .send({ rows: jsonRows.slice(0, 2), ...options });
      assert.equal(sync.status, 400, JSON.stringify(sync.body));
      assert.equal(sync.body.error.details.param, param);
    }
  });

  it('an unseen level is read as missing and counted; a missing predictor is 422', async () => {
    const sync = await request(server.url)
      .post(`/v1/models/${models['class']!.id}/predict`)
      .send({
        rows: [
          { x1: 1, x2: 3, g: 'zz' },
          { x1: 1, x2: 3, g: null },
        ],
      });
    assert.equal(sync.status, 200, JSON.stringify(sync.body));
    assert.equal(sync.body.nUnseenLevels, 1);
    assert.equal(sync.body.nPredicted, 2);
    assert.equal(sync.body.predictions[0].cls_Pred, sync.body.predictions[1].cls_Pred);
    const lacking = await request(server.url)
      .post(`/v1/models/${models['class']!.id}/predict`)
      .send({ rows: [{ x1: 1, g: 'a' }] });
    assert.equal(lacking.status, 422);
    assert.equal(lacking.body.error.code, 'MISSING_VARIABLES');
  });

  it('GET /v1/models/{id} describes tree models', async () => {
    const res = await request(server.url).get(`/v1/models/${models['class']!.id}`).expect(200);
    assert.equal(res.body.type, 'dTree');
    assert.deepEqual(res.body.responses, ['cls']);
    assert.deepEqual(res.body.terms, ['x1', 'x2', 'g']);
    assert.equal(res.body.tree.method, 'class');
    assert.equal(res.body.tree.nTree, 1);
    const splitVars = new Set(classTree.nodes.filter((n) => !n.leaf).map((n) => n.variable));
    assert.deepEqual(new Set(res.body.tree.variablesUsed), splitVars);
    const nodes = res.body.tree.nodes as Array<{ node: number; yval: unknown; split: string | null }>;
    assert.deepEqual(
      nodes
        .map((n) => [n.node, n.yval, n.split === null])
        .sort((a, b) => (a[0] as number) - (b[0] as number)),
      classTree.nodes
        .map((n) => [n.node, n.yval, n.leaf])
        .sort((a, b) => (a[0] as number) - (b[0] as number)),
    );
    const forest = await request(server.url).get(`/v1/models/${models['forest']!.id}`).expect(200);
    assert.equal(forest.body.tree.nTree, 5);
    assert.equal(forest.body.tree.nodes, undefined);
    assert.ok(forest.body.tree.variablesUsed.length >= 1);
  });
});
