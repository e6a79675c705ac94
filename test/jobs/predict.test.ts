import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { LinModResult } from '../../src/engine/analyses/linMod.ts';
import type { PredictResult } from '../../src/engine/analyses/predict.ts';
import { tTwoSidedPValue } from '../../src/engine/stats/distributions.ts';
import { relDiff, seededRandom } from '../engine/helpers.ts';
import { runJob, submitJob, uploadCsv, waitForJob } from '../helpers/api.ts';
import { referenceFit, toCsv } from '../helpers/lmReference.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * rxPredict as a job through HTTP with real workers: predictions, residuals, standard errors and both
 * kinds of interval against X beta and the textbook formulas computed here from a normal-equations
 * fit; factor levels matched by label (another level order, an unseen level); missing values; the
 * synchronous endpoint giving the same numbers.
 */

describe('predict job through HTTP', () => {
  let server: TestServer;
  const random = seededRandom(77);
  const n = 80;
  const x1 = Array.from({ length: n }, () => 5 * random());
  const g = Array.from({ length: n }, (_, i) => ['lo', 'mid', 'hi'][i % 3] as string);
  const effect: Record<string, number> = { lo: -1, mid: 0.5, hi: 2 };
  const y = x1.map((v, i) => 2 - 0.6 * v + (effect[g[i] as string] as number) + 0.5 * (random() - 0.5));
  // The model matrix RevoScaleR builds for y ~ x1 + g: levels in first-seen order (lo, mid, hi), last dropped.
  const design = (x: number, level: string) => [1, x, level === 'lo' ? 1 : 0, level === 'mid' ? 1 : 0];
  const ref = referenceFit(
    x1.map((v, i) => design(v, g[i] as string)),
    y,
  );
  let modelId: string;

  // Data to score: levels in another order, one unseen level ('huge'), a missing x1, a missing y.
  const score = {
    id: [1, 2, 3, 4, 5, 6, 7, 8, 9],
    x1: [0.5, 1.5, 2.5, null, 3.5, 4.5, 0, 2, 9],
    g: ['hi', 'lo', 'mid', 'lo', 'huge', 'mid', 'hi', 'lo', 'mid'],
    y: [1, 2, 3, 4, 5, null, 0, 1, -3],
  };
  let scoreDataset: string;

  before(async () => {
    server = await startServer();
    await server.startWorkers(2);
    const train = (await uploadCsv(server.url, toCsv({ y, x1, g }), { rowsPerChunk: 7 })).id;
    const fit = await runJob<LinModResult>(server.url, {
      type: 'linMod',
      dataset: train,
      params: { formula: 'y ~ x1 + g' },
    });
    modelId = fit.modelId;
    // The level order of the scoring data comes from its CSV: hi, lo, mid, huge.
    scoreDataset = (await uploadCsv(server.url, toCsv(score), { rowsPerChunk: 4 })).id;
  });
  after(() => server.close());

  async function outputRows(datasetId: string): Promise<Array<Record<string, unknown>>> {
    const res = await request(server.url).get(`/v1/datasets/${datasetId}/rows?limit=1000`).expect(200);
    return res.body.rows;
  }

  /** X beta, se(fit) and the residual df from the normal-equations fit, per scoring row (null: no prediction). */
  function expected(i: number) {
    const x = score.x1[i];
    const level = score.g[i] as string;
    if (x === null || x === undefined || !['lo', 'mid', 'hi'].includes(level)) return null;
    const row = design(x, level);
    const fit = row.reduce((s, v, a) => s + v * (ref.beta[a] as number), 0);
    let quadratic = 0;
    for (let a = 0; a < 4; a++)
      for (let b = 0; b < 4; b++)
        quadratic += (row[a] as number) * ref.unscaled.get(a, b) * (row[b] as number);
    return { fit, se: ref.sigma * Math.sqrt(quadratic) };
  }

  it('predictions, residuals, SEs and confidence intervals = X beta and the textbook formulas', async () => {
    const result = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: scoreDataset,
      params: {
        modelId,
        computeResiduals: true,
        computeStdErrors: true,
        interval: 'confidence',
        confLevel: 0.9,
        extraVarsToWrite: ['id'],
        outName: 'scored',
      },
    });
    assert.deepEqual(result.predictionVariables, ['y_Pred', 'y_Resid', 'y_StdErr', 'y_Lower', 'y_Upper']);
    assert.equal(result.nRows, 9);
    assert.equal(result.nUnseenLevels, 1);
    // Row 4 (x1 missing) and row 6 (y missing, residuals asked: RevoScaleR leaves all outputs NA).
    assert.equal(result.nMissingObs, 2);
    assert.equal(result.nPredicted, 6);
    assert.ok(result.warnings.some((w) => w.includes('factor level')));
    assert.equal(result.dataset['name'], 'scored');
    const rows = await outputRows(result.dataset['id'] as string);
    assert.deepEqual(
      rows.map((r) => r['id']),
      score.id,
    );
    const quantiles = new Set<number>();
    rows.forEach((row, i) => {
      const e = score.y[i] === null ? null : expected(i);
      if (e === null) {
        for (const name of ['y_Pred', 'y_Resid', 'y_StdErr', 'y_Lower', 'y_Upper'])
          assert.equal(row[name], null);
        return;
      }
      const pred = row['y_Pred'] as number;
      assert.ok(relDiff(pred, e.fit) < 1e-10, `row ${i}: ${pred} vs ${e.fit}`);
      assert.ok(relDiff(row['y_Resid'] as number, (score.y[i] as number) - e.fit) < 1e-9);
      assert.ok(relDiff(row['y_StdErr'] as number, e.se) < 1e-9, `row ${i} se`);
      const half = (row['y_Upper'] as number) - pred;
      assert.ok(relDiff(pred - (row['y_Lower'] as number), half) < 1e-9, 'symmetric');
      quantiles.add(Number((half / e.se).toPrecision(10)));
      // The multiplier is the t quantile: P(|T_df| > q) = 1 - confLevel.
      assert.ok(Math.abs(tTwoSidedPValue(half / e.se, ref.dfResidual) - 0.1) < 1e-9);
    });
    assert.equal(quantiles.size, 1, 'one multiplier for every row');
  });

  it('prediction intervals: fit +- q sqrt(se^2 + sigma^2)', async () => {
    const result = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: scoreDataset,
      params: { modelId, interval: 'prediction' },
    });
    assert.deepEqual(result.predictionVariables, ['y_Pred', 'y_Lower', 'y_Upper']);
    // Without residuals a missing y does not matter.
    assert.equal(result.nPredicted, 7);
    const rows = await outputRows(result.dataset['id'] as string);
    rows.forEach((row, i) => {
      const e = expected(i);
      if (e === null) {
        assert.equal(row['y_Pred'], null);
        return;
      }
      const half = (row['y_Upper'] as number) - (row['y_Pred'] as number);
      const q = half / Math.sqrt(e.se ** 2 + ref.sigma ** 2);
      assert.ok(Math.abs(tTwoSidedPValue(q, ref.dfResidual) - 0.05) < 1e-9, `row ${i}: q ${q}`);
    });
  });

  it('the synchronous endpoint gives the same numbers as the job', async () => {
    const job = await runJob<PredictResult>(server.url, {
      type: 'predict',
      dataset: scoreDataset,
      params: { modelId, computeStdErrors: true, predVarNames: ['yhat'] },
    });
    const jobRows = await outputRows(job.dataset['id'] as string);
    const rows = score.id.map((_, i) => ({ x1: score.x1[i], g: score.g[i] }));
    const res = await request(server.url)
      .post(`/v1/models/${modelId}/predict`)
      .send({ rows, computeStdErrors: true, predVarNames: ['yhat'] })
      .expect(200);
    assert.equal(res.body.nUnseenLevels, 1);
    assert.equal(res.body.nPredicted, 7);
    res.body.predictions.forEach((p: Record<string, number | null>, i: number) => {
      assert.equal(p['yhat'], jobRows[i]?.['yhat']);
      assert.equal(p['y_StdErr'], jobRows[i]?.['y_StdErr']);
    });
  });

  it('refuses data without the model variables (422, named) and unknown models (404)', async () => {
    const other = (await uploadCsv(server.url, toCsv({ x1: [1, 2], z: [3, 4] }))).id;
    const res = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'predict', dataset: other, params: { modelId } });
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'MISSING_VARIABLES');
    assert.deepEqual(res.body.error.details.missing, ['g']);
    const unknown = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'predict', dataset: other, params: { modelId: 'mdl_00000000000000000000' } });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.body.error.code, 'MODEL_NOT_FOUND');
    const wrongType = (await uploadCsv(server.url, toCsv({ x1: ['a', 'b'], g: ['lo', 'hi'] }))).id;
    const typed = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'predict', dataset: wrongType, params: { modelId } });
    assert.equal(typed.status, 422);
    assert.equal(typed.body.error.code, 'WRONG_VARIABLE_TYPE');
  });

  it('a failed predict leaves no dataset behind', async () => {
    const before = (await request(server.url).get('/v1/datasets').expect(200)).body.total;
    // Residuals need y; this dataset has none: refused before queuing, nothing written.
    const noY = (await uploadCsv(server.url, toCsv({ x1: [1, 2], g: ['lo', 'hi'] }))).id;
    const res = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'predict', dataset: noY, params: { modelId, computeResiduals: true } });
    assert.equal(res.status, 422);
    assert.deepEqual(res.body.error.details.missing, ['y']);
    const ok = await submitJob(server.url, { type: 'predict', dataset: noY, params: { modelId } });
    assert.equal((await waitForJob(server.url, ok.id)).status, 'completed');
    const total = (await request(server.url).get('/v1/datasets').expect(200)).body.total;
    assert.equal(total, before + 2, 'the upload and the one completed prediction');
  });
});
