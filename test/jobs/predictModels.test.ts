import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { LinModResult } from '../../src/engine/analyses/linMod.ts';
import type { PredictResult } from '../../src/engine/analyses/predict.ts';
import { seededRandom } from '../engine/helpers.ts';
import { runJob, uploadCsv } from '../helpers/api.ts';
import { toCsv } from '../helpers/lmReference.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * The predict job and the synchronous endpoint for kmeans and naiveBayes models, through HTTP with
 * real workers: cluster numbers against the nearest center computed here from the model's centers
 * (exact ties included: the lowest cluster number wins), class probabilities and classes against the
 * posterior computed here from the model's tables (a custom prior, factor levels in another order, an
 * unseen level, missing values), and options that do not fit the model's kind refused with 400.
 */

interface KmeansFit {
  centers: number[][];
  modelId: string;
}

type NaiveBayesTable =
  | { variable: string; type: 'categorical'; levels: string[]; probabilities: number[][] }
  | { variable: string; type: 'gaussian'; mean: number[]; sd: number[] };

interface NaiveBayesFit {
  levels: string[];
  apriori: number[];
  tables: NaiveBayesTable[];
  modelId: string;
}

type Row = Record<string, unknown>;

describe('predict for kmeans and naiveBayes models', () => {
  let server: TestServer;

  // kmeans training data: integer points around (0,0), (10,0), (0,10), symmetric so each mean is exact.
  const offsets = [
    [0, 0],
    [1, 0],
    [-1, 0],
    [0, 1],
    [0, -1],
    [2, 0],
    [-2, 0],
    [0, 2],
    [0, -2],
  ];
  const truth = [
    [0, 0],
    [10, 0],
    [0, 10],
  ];
  const kx: number[] = [];
  const ky: number[] = [];
  for (const [cx, cy] of truth) {
    for (const [dx, dy] of offsets) {
      kx.push(cx! + dx!);
      ky.push(cy! + dy!);
    }
  }
  // Points to cluster: (5,0) is as far from (0,0) as from (10,0); (5,5) as far from all three.
  const kScore = {
    id: [1, 2, 3, 4, 5, 6, 7, 8, 9],
    x: [5, 5, 1, 9, null, -3, 0.5, 7.25, 2],
    y: [0, 5, 1, 0.5, 3, 11, 4.9, 6, null],
  };

  // naiveBayes training data: class by x (gaussian) and g (categorical).
  const random = seededRandom(31);
  const classes = ['A', 'B', 'C'];
  const nbClass: string[] = [];
  const nbX: number[] = [];
  const nbG: string[] = [];
  for (let i = 0; i < 90; i++) {
    const c = i % 3;
    nbClass.push(classes[c]!);
    nbX.push(2 * c + 1.5 * (random() - 0.5) + (random() - 0.5));
    // Every level in every class, in class-dependent proportions.
    nbG.push(['u', 'v', 'w'][(i % 7 === 0 ? c + 1 : c + Math.floor(random() * 2)) % 3]!);
  }
  // Data to score: g's levels in another order (w first), an unseen level, missing x, missing g, both.
  // g first, a factor: its dictionary id in the chunks is 0, the id a predicted factor would otherwise take.
  const nbScore = {
    g: ['w', 'u', 'v', 'v', null, 'zz', null, 'u'],
    id: [1, 2, 3, 4, 5, 6, 7, 8],
    x: [0.1, 2.2, 3.9, null, 1.0, 5.5, null, -0.4],
  };

  let kmeansFit: KmeansFit;
  let nbFit: NaiveBayesFit;
  let linearModelId: string;
  let kScoreId: string;
  let nbScoreId: string;

  before(async () => {
    server = await startServer();
    await server.startWorkers(2);
    const kTrain = (await uploadCsv(server.url, toCsv({ x: kx, y: ky }), { rowsPerChunk: 5 })).id;
    kmeansFit = await runJob<KmeansFit>(server.url, {
      type: 'kmeans',
      dataset: kTrain,
      params: { formula: '~ x + y', numClusters: 3, seed: 11 },
    });
    const nbTrain = (
      await uploadCsv(server.url, toCsv({ cls: nbClass, x: nbX, g: nbG }), { rowsPerChunk: 13 })
    ).id;
    nbFit = await runJob<NaiveBayesFit>(server.url, {
      type: 'naiveBayes',
      dataset: nbTrain,
      params: { formula: 'cls ~ x + g' },
    });
    linearModelId = (
      await runJob<LinModResult>(server.url, {
        type: 'linMod',
        dataset: kTrain,
        params: { formula: 'y ~ x' },
      })
    ).modelId;
    kScoreId = (await uploadCsv(server.url, toCsv(kScore), { rowsPerChunk: 4 })).id;
    nbScoreId = (
      await uploadCsv(server.url, toCsv(nbScore), {
        rowsPerChunk: 3,
        colInfo: JSON.stringify({ g: { type: 'factor', levels: ['w', 'zz', 'v', 'u'] } }),
      })
    ).id;
  });
  after(() => server.close());

  async function outputRows(datasetId: string): Promise<Row[]> {
    const res = await request(server.url).get(`/v1/datasets/${datasetId}/rows?limit=1000`).expect(200);
    return res.body.rows;
  }

  /** 1-based number of the nearest center (squared distance; ties: the lowest number); null if x or y is missing. */
  function nearest(x: number | null | undefined, y: number | null | undefined): number | null {
    if (x === null || x === undefined || y === null || y === undefined) return null;
    let best = -1;
    let bestDistance = Number.POSITIVE_INFINITY;
    kmeansFit.centers.forEach(([cx, cy], c) => {
      const d = (x - cx!) ** 2 + (y - cy!) ** 2;
      if (d < bestDistance) {
        bestDistance = d;
        best = c;
      }
    });
    return best + 1;
  }

  /** How many centers are at the smallest distance from (x, y). */
  function tiedCenters(x: number, y: number): number {
    const d = kmeansFit.centers.map(([cx, cy]) => (x - cx!) ** 2 + (y - cy!) ** 2);
    return d.filter((v) => v === Math.min(...d)).length;
  }

  /** Posterior P(class | x, g) from the model's tables: missing and unseen values leave their predictor out. */
  function posterior(x: number | null | undefined, g: string | null | undefined, prior: number[]): number[] {
    const sum = prior.reduce((a, b) => a + b, 0);
    const logs = classes.map((_, c) => {
      let s = Math.log(prior[c]! / sum);
      for (const table of nbFit.tables) {
        if (table.type === 'gaussian') {
          if (x === null || x === undefined) continue;
          const sd = table.sd[c]!;
          const z = (x - table.mean[c]!) / sd;
          s += -Math.log(sd) - 0.5 * Math.log(2 * Math.PI) - 0.5 * z * z;
        } else {
          const at = g === null || g === undefined ? -1 : table.levels.indexOf(g);
          if (at < 0) continue;
          s += Math.log(table.probabilities[c]![at]!);
        }
      }
      return s;
    });
    const top = Math.max(...logs);
    const e = logs.map((l) => Math.exp(l - top));
    const total = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / total);
  }

  function argmax(p: number[]): string {
    return classes[p.indexOf(Math.max(...p))]!;
  }

  it('kmeans: the predict job writes the nearest center of each row, ties to the lowest number', async () => {
    // The fit found the three true centers (to rounding), so (5,0) and (5,5) are ties, exact in doubles.
    for (const t of truth)
      assert.ok(
        kmeansFit.centers.some((c) => Math.abs(c[0]! - t[0]!) < 1e-12 && Math.abs(c[1]! - t[1]!) < 1e-12),
      );
    assert.equal(tiedCenters(5, 0), 2);
    assert.equal(tiedCenters(5, 5), 3);
    const result = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: kScoreId,
      params: { modelId: kmeansFit.modelId, extraVarsToWrite: ['id'], outName: 'clusters' },
    });
    assert.deepEqual(result.predictionVariables, ['.rxCluster']);
    assert.deepEqual(
      [result.nRows, result.nPredicted, result.nMissingObs, result.nUnseenLevels],
      [9, 7, 2, 0],
    );
    const rows = await outputRows(result.dataset['id'] as string);
    assert.deepEqual(
      rows.map((r) => r['id']),
      kScore.id,
    );
    const expected = kScore.id.map((_, i) => nearest(kScore.x[i], kScore.y[i]));
    assert.deepEqual(
      rows.map((r) => r['.rxCluster']),
      expected,
    );
    // Row 2 (5,5) is equidistant from all three centers: cluster 1.
    assert.equal(rows[1]!['.rxCluster'], 1);
    const variables = result.dataset['variables'] as Array<{ name: string; type: string }>;
    assert.equal(variables.find((v) => v.name === '.rxCluster')?.type, 'integer');
  });

  it('kmeans: predVarNames renames the cluster column; writeModelVars copies x and y', async () => {
    const result = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: kScoreId,
      params: { modelId: kmeansFit.modelId, predVarNames: ['cluster'], writeModelVars: true },
    });
    const rows = await outputRows(result.dataset['id'] as string);
    assert.deepEqual(Object.keys(rows[0]!), ['x', 'y', 'cluster']);
    assert.deepEqual(
      rows.map((r) => r['cluster']),
      kScore.id.map((_, i) => nearest(kScore.x[i], kScore.y[i])),
    );
  });

  it('naiveBayes: type prob gives the posterior of the model tables, class its most probable class', async () => {
    const prob = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: nbScoreId,
      params: { modelId: nbFit.modelId, type: 'prob', extraVarsToWrite: ['id'] },
    });
    assert.deepEqual(prob.predictionVariables, ['A_prob', 'B_prob', 'C_prob']);
    // Every row is scored: missing values and the unseen level only leave a predictor out.
    assert.deepEqual([prob.nPredicted, prob.nMissingObs, prob.nUnseenLevels], [8, 0, 1]);
    assert.ok(prob.warnings.some((w) => w.includes('factor level')));
    const probRows = await outputRows(prob.dataset['id'] as string);
    const expected = nbScore.id.map((_, i) => posterior(nbScore.x[i], nbScore.g[i], nbFit.apriori));
    probRows.forEach((row, i) => {
      classes.forEach((level, c) => {
        const got = row[`${level}_prob`] as number;
        assert.ok(
          Math.abs(got - expected[i]![c]!) < 1e-12,
          `row ${i} ${level}: ${got} vs ${expected[i]![c]}`,
        );
      });
    });
    // Row 7 has no x and no g: the prior itself.
    classes.forEach((level, c) => {
      assert.ok(Math.abs((probRows[6]![`${level}_prob`] as number) - nbFit.apriori[c]!) < 1e-12);
    });

    const cls = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: nbScoreId,
      // A copied factor beside the predicted one: each keeps its own levels.
      params: { modelId: nbFit.modelId, extraVarsToWrite: ['g'] },
    });
    assert.deepEqual(cls.predictionVariables, ['cls_Pred']);
    const classRows = await outputRows(cls.dataset['id'] as string);
    assert.deepEqual(
      classRows.map((r) => r['g']),
      nbScore.g,
    );
    assert.deepEqual(
      classRows.map((r) => r['cls_Pred']),
      expected.map(argmax),
    );
    assert.ok(new Set(expected.map(argmax)).size > 1, 'the rows do not all go to one class');
    const variables = cls.dataset['variables'] as Array<{ name: string; type: string; levels?: string[] }>;
    assert.deepEqual(variables.find((v) => v.name === 'cls_Pred')?.levels, classes);
  });

  it('naiveBayes: prior replaces the model priors; predVarNames names the probability columns', async () => {
    const prior = [1, 2, 7];
    const result = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: nbScoreId,
      params: { modelId: nbFit.modelId, type: 'prob', prior, predVarNames: ['pa', 'pb', 'pc'] },
    });
    assert.deepEqual(result.predictionVariables, ['pa', 'pb', 'pc']);
    const rows = await outputRows(result.dataset['id'] as string);
    rows.forEach((row, i) => {
      const want = posterior(nbScore.x[i], nbScore.g[i], prior);
      ['pa', 'pb', 'pc'].forEach((name, c) => {
        assert.ok(Math.abs((row[name] as number) - want[c]!) < 1e-12, `row ${i} ${name}`);
      });
    });
  });

  it('GET /v1/models/{id} shows the centers of a kmeans model and the tables of a naiveBayes model', async () => {
    const km = await request(server.url).get(`/v1/models/${kmeansFit.modelId}`).expect(200);
    assert.equal(km.body.type, 'kmeans');
    assert.deepEqual(km.body.centers, kmeansFit.centers);
    const nb = await request(server.url).get(`/v1/models/${nbFit.modelId}`).expect(200);
    assert.equal(nb.body.type, 'naiveBayes');
    assert.deepEqual(nb.body.apriori, nbFit.apriori);
    assert.deepEqual(nb.body.responseLevels, nbFit.levels);
    assert.equal(nb.body.tables.length, nbFit.tables.length);
  });

  it('the synchronous endpoint scores kmeans and naiveBayes rows the same way', async () => {
    const kRows = kScore.id.map((_, i) => ({ x: kScore.x[i], y: kScore.y[i] }));
    const k = await request(server.url)
      .post(`/v1/models/${kmeansFit.modelId}/predict`)
      .send({ rows: kRows })
      .expect(200);
    assert.deepEqual(
      k.body.predictions.map((p: Row) => p['.rxCluster']),
      kScore.id.map((_, i) => nearest(kScore.x[i], kScore.y[i])),
    );
    assert.deepEqual([k.body.nPredicted, k.body.nMissingObs, k.body.nUnseenLevels], [7, 2, 0]);

    const nbRows = nbScore.id.map((_, i) => ({ x: nbScore.x[i], g: nbScore.g[i] }));
    const expected = nbScore.id.map((_, i) => posterior(nbScore.x[i], nbScore.g[i], nbFit.apriori));
    const cls = await request(server.url)
      .post(`/v1/models/${nbFit.modelId}/predict`)
      .send({ rows: nbRows })
      .expect(200);
    assert.deepEqual(
      cls.body.predictions.map((p: Row) => p['cls_Pred']),
      expected.map(argmax),
    );
    assert.deepEqual([cls.body.nPredicted, cls.body.nMissingObs, cls.body.nUnseenLevels], [8, 0, 1]);
    const prob = await request(server.url)
      .post(`/v1/models/${nbFit.modelId}/predict`)
      .send({ rows: nbRows, type: 'prob' })
      .expect(200);
    prob.body.predictions.forEach((p: Row, i: number) => {
      classes.forEach((level, c) => {
        assert.ok(Math.abs((p[`${level}_prob`] as number) - expected[i]![c]!) < 1e-12, `row ${i} ${level}`);
      });
    });
  });

  it('options that do not apply to the model kind are 400 naming the option, for jobs and the endpoint', async () => {
    const cases: Array<{ modelId: () => string; dataset: () => string; options: Row; param: string }> = [
      {
        modelId: () => kmeansFit.modelId,
        dataset: () => kScoreId,
        options: { computeStdErrors: true },
        param: 'computeStdErrors',
      },
      {
        modelId: () => kmeansFit.modelId,
        dataset: () => kScoreId,
        options: { type: 'class' },
        param: 'type',
      },
      {
        modelId: () => nbFit.modelId,
        dataset: () => nbScoreId,
        options: { interval: 'confidence' },
        param: 'interval',
      },
      { modelId: () => nbFit.modelId, dataset: () => nbScoreId, options: { type: 'link' }, param: 'type' },
      { modelId: () => linearModelId, dataset: () => kScoreId, options: { prior: [1, 1] }, param: 'prior' },
      { modelId: () => linearModelId, dataset: () => kScoreId, options: { type: 'prob' }, param: 'type' },
    ];
    for (const { modelId, dataset, options, param } of cases) {
      const job = await request(server.url)
        .post('/v1/jobs')
        .send({ type: 'predict', dataset: dataset(), params: { modelId: modelId(), ...options } });
      assert.equal(job.status, 400, JSON.stringify(job.body));
      assert.equal(job.body.error.code, 'INVALID_PARAMS');
      assert.equal(job.body.error.details.param, param);
      assert.match(job.body.error.message, new RegExp(param));
      const sync = await request(server.url)
        .post(`/v1/models/${modelId()}/predict`)
        .send({ rows: [{ x: 1, y: 1, g: 'u' }], ...options });
      assert.equal(sync.status, 400, JSON.stringify(sync.body));
      assert.equal(sync.body.error.details.param, param);
    }
    // A count of names that does not fit the kind's columns.
    const names = await request(server.url)
      .post('/v1/jobs')
      .send({
        type: 'predict',
        dataset: nbScoreId,
        params: { modelId: nbFit.modelId, predVarNames: ['a', 'b'] },
      });
    assert.equal(names.status, 400);
    assert.equal(names.body.error.details.param, 'predVarNames');
  });
});
