import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { LinModResult } from '../../src/engine/analyses/linMod.ts';
import { relDiff, seededRandom } from '../engine/helpers.ts';
import { runJob, uploadCsv } from '../helpers/api.ts';
import { referenceFit, toCsv } from '../helpers/lmReference.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * /v1/models: listing (paged, tenant-scoped), the model view, delete, and the synchronous predict
 * endpoint's limits and errors. Two tenants (API keys) to check that another tenant's model is 404.
 */

describe('models API', () => {
  let server: TestServer;
  const alice = { key: 'key-alice' };
  const bob = { key: 'key-bob' };
  const random = seededRandom(9);
  const n = 40;
  const x = Array.from({ length: n }, () => random() * 3);
  const g = Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 'q' : 'p'));
  const y = x.map((v, i) => 1 + 2 * v + (g[i] === 'q' ? 1 : 0) + random());
  let dataset: string;
  let modelId: string;
  let fit: LinModResult;

  const as = (who: { key: string }, req: request.Test) => req.set('authorization', `Bearer ${who.key}`);

  before(async () => {
    server = await startServer({ API_KEYS: 'key-alice:alice,key-bob:bob' });
    await server.startWorkers(1);
    dataset = (await uploadCsv(server.url, toCsv({ y, x, g }), { rowsPerChunk: 7 }, alice)).id;
    fit = await runJob<LinModResult>(
      server.url,
      { type: 'linMod', dataset, params: { formula: 'y ~ x + g' } },
      alice,
    );
    modelId = fit.modelId;
    // A second model, so paging has something to page.
    await runJob<LinModResult>(server.url, { type: 'linMod', dataset, params: { formula: 'y ~ x' } }, alice);
  });
  after(() => server.close());

  it('lists the tenant’s models, newest first, paged like datasets and jobs', async () => {
    const all = await as(alice, request(server.url).get('/v1/models')).expect(200);
    assert.equal(all.body.total, 2);
    assert.deepEqual(
      all.body.items.map((m: { formula: string }) => m.formula),
      ['y ~ x', 'y ~ x + g'],
    );
    const page = await as(alice, request(server.url).get('/v1/models?offset=1&limit=1')).expect(200);
    assert.deepEqual(
      [page.body.total, page.body.offset, page.body.limit, page.body.items.length],
      [2, 1, 1, 1],
    );
    assert.equal(page.body.items[0].id, modelId);
    assert.equal(page.body.items[0].dataset, dataset);
    assert.equal(page.body.items[0].type, 'linMod');
    const filtered = await as(alice, request(server.url).get('/v1/models?type=glm')).expect(200);
    assert.equal(filtered.body.total, 0);
    const others = await as(bob, request(server.url).get('/v1/models')).expect(200);
    assert.equal(others.body.total, 0);
  });

  it('shows a model: formula, terms, coefficients, factor levels, training dataset', async () => {
    const res = await as(alice, request(server.url).get(`/v1/models/${modelId}`)).expect(200);
    const model = res.body;
    assert.equal(model.formula, 'y ~ x + g');
    assert.equal(model.type, 'linMod');
    assert.equal(model.dataset, dataset);
    assert.deepEqual(model.terms, ['x', 'g']);
    assert.deepEqual(model.responses, ['y']);
    assert.deepEqual(model.factorLevels, { g: ['p', 'q'] });
    assert.deepEqual(model.coefficients, fit.coefficients);
    assert.equal(model.family, 'gaussian');
    assert.equal(model.link, 'identity');
    assert.ok(typeof model.createdAt === 'string');
    assert.deepEqual(model.variables.map((v: { name: string }) => v.name).sort(), ['g', 'x', 'y']);
  });

  it('another tenant gets 404 MODEL_NOT_FOUND for get, predict and delete', async () => {
    for (const req of [
      request(server.url).get(`/v1/models/${modelId}`),
      request(server.url)
        .post(`/v1/models/${modelId}/predict`)
        .send({ rows: [{ x: 1, g: 'p' }] }),
      request(server.url).delete(`/v1/models/${modelId}`),
    ]) {
      const res = await as(bob, req);
      assert.equal(res.status, 404);
      assert.equal(res.body.error.code, 'MODEL_NOT_FOUND');
    }
    const job = await as(bob, request(server.url).post('/v1/jobs')).send({
      type: 'predict',
      dataset,
      params: { modelId },
    });
    assert.equal(job.status, 404, 'bob cannot see the dataset nor the model');
  });

  it('scores JSON rows: X beta of the normal-equations fit; nulls for missing values', async () => {
    const ref = referenceFit(
      x.map((v, i) => [1, v, g[i] === 'p' ? 1 : 0]),
      y,
    );
    const rows = [{ x: 0.5, g: 'p' }, { x: 2, g: 'q' }, { x: null, g: 'q' }, { g: 'p' }, { x: 1, g: 'zzz' }];
    const res = await as(alice, request(server.url).post(`/v1/models/${modelId}/predict`))
      .send({ rows })
      .expect(200);
    const predictions = res.body.predictions as Array<{ y_Pred: number | null }>;
    assert.equal(predictions.length, 5);
    const beta = ref.beta as [number, number, number];
    assert.ok(relDiff(predictions[0]?.y_Pred as number, beta[0] + 0.5 * beta[1] + beta[2]) < 1e-10);
    assert.ok(relDiff(predictions[1]?.y_Pred as number, beta[0] + 2 * beta[1]) < 1e-10);
    assert.deepEqual(
      predictions.slice(2).map((p) => p.y_Pred),
      [null, null, null],
    );
    assert.deepEqual([res.body.nPredicted, res.body.nMissingObs, res.body.nUnseenLevels], [2, 2, 1]);
  });

  it('synchronous predict limits and errors: 413 beyond 10,000 rows, 400 naming row and field, 422 missing variable', async () => {
    const tooMany = await as(alice, request(server.url).post(`/v1/models/${modelId}/predict`)).send({
      rows: Array.from({ length: 10_001 }, () => ({ x: 1, g: 'p' })),
    });
    assert.equal(tooMany.status, 413);
    assert.equal(tooMany.body.error.code, 'TOO_MANY_ROWS');
    const badType = await as(alice, request(server.url).post(`/v1/models/${modelId}/predict`)).send({
      rows: [
        { x: 1, g: 'p' },
        { x: 'two', g: 'p' },
      ],
    });
    assert.equal(badType.status, 400);
    assert.equal(badType.body.error.code, 'INVALID_ROW_VALUE');
    assert.deepEqual([badType.body.error.details.row, badType.body.error.details.field], [1, 'x']);
    assert.match(badType.body.error.message, /rows\[1\]\.x/);
    const missing = await as(alice, request(server.url).post(`/v1/models/${modelId}/predict`)).send({
      rows: [{ x: 1 }],
    });
    assert.equal(missing.status, 422);
    assert.equal(missing.body.error.code, 'MISSING_VARIABLES');
    assert.deepEqual(missing.body.error.details.missing, ['g']);
    const noRows = await as(alice, request(server.url).post(`/v1/models/${modelId}/predict`)).send({});
    assert.equal(noRows.status, 400);
  });

  it('deletes a model: 204, then 404', async () => {
    await as(alice, request(server.url).delete(`/v1/models/${modelId}`)).expect(204);
    const gone = await as(alice, request(server.url).get(`/v1/models/${modelId}`));
    assert.equal(gone.status, 404);
    assert.equal(gone.body.error.code, 'MODEL_NOT_FOUND');
    const list = await as(alice, request(server.url).get('/v1/models')).expect(200);
    assert.equal(list.body.total, 1);
  });
});
