import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { GlmResult } from '../../src/engine/analyses/glmCommon.ts';
import { assertPrinted, checkPublished, close, estimated, type RFit, rReference } from '../engine/glmData.ts';
import { referenceText, runJob, submitJob, uploadCsv, waitForJob } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * logit and glm through HTTP, Redis and real worker processes, the data in many small chunks: R Core's
 * published glm cases to the last printed digit, the same bits with 1 and 3 workers, a perfectly
 * separated logit, frequency weights against replicated rows, probability weights against R, and
 * predictions from the stored model on both scales.
 */

type Row = Record<string, string | number>;

function toCsv(header: string[], rows: Row[]): string {
  return `${header.join(',')}\n${rows.map((r) => header.map((h) => r[h]).join(',')).join('\n')}\n`;
}

function parseRows(csv: string): { header: string[]; rows: Row[] } {
  const lines = csv.trim().split(/\r?\n/);
  const header = (lines[0] as string).split(',').map((h) => h.replace(/"/g, ''));
  const rows = lines.slice(1).map((line) => {
    const cells = line.split(',').map((c) => c.replace(/"/g, ''));
    const row: Row = {};
    header.forEach((h, j) => {
      const cell = cells[j] as string;
      row[h] = Number.isNaN(Number(cell)) ? cell : Number(cell);
    });
    return row;
  });
  return { header, rows };
}

/** The result without its model id (each job stores its own model). */
function withoutModel(result: GlmResult): Omit<GlmResult, 'modelId'> {
  const { modelId: _modelId, ...rest } = result;
  return rest;
}

describe('logit and glm through the job engine', () => {
  let server: TestServer;
  const datasets: Record<string, string> = {};
  let infert: { header: string[]; rows: Row[] };
  let reference: Map<string, RFit>;

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    reference = await rReference();
    infert = parseRows(await referenceText('r_reference/data/infert.csv'));
    for (const row of infert.rows) row['w'] = (row['age'] as number) / 30;
    const infertHeader = [...infert.header, 'w'];
    datasets['infert'] = (
      await uploadCsv(server.url, toCsv(infertHeader, infert.rows), { rowsPerChunk: 10 })
    ).id;
    // The same rows, each repeated `parity` times: what fweights = parity stands for.
    const replicated = infert.rows.flatMap((row) => new Array<Row>(row['parity'] as number).fill(row));
    datasets['infertReplicated'] = (
      await uploadCsv(server.url, toCsv(infertHeader, replicated), { rowsPerChunk: 37 })
    ).id;
    datasets['d93'] = (
      await uploadCsv(server.url, await referenceText('r_reference/data/dobson_poisson_D93.csv'), {
        rowsPerChunk: 2,
        colInfo: JSON.stringify({
          outcome: { type: 'factor', levels: ['1', '2', '3'] },
          treatment: { type: 'factor', levels: ['1', '2', '3'] },
        }),
      })
    ).id;
    const clotting = parseRows(await referenceText('r_reference/data/clotting_gamma.csv'));
    for (const row of clotting.rows) row['logu'] = Math.log(row['u'] as number);
    datasets['clotting'] = (
      await uploadCsv(server.url, toCsv([...clotting.header, 'logu'], clotting.rows), { rowsPerChunk: 2 })
    ).id;
    datasets['kyphosis'] = (
      await uploadCsv(server.url, await referenceText('r_reference/data/kyphosis.csv'), {
        rowsPerChunk: 7,
        colInfo: JSON.stringify({ Kyphosis: { type: 'factor', levels: ['absent', 'present'] } }),
      })
    ).id;
    const separated = Array.from({ length: 40 }, (_, i) => ({ x: i + 1, y: i + 1 > 20 ? 1 : 0 }));
    datasets['separated'] = (
      await uploadCsv(server.url, toCsv(['x', 'y'], separated), { rowsPerChunk: 3 })
    ).id;
  });
  after(() => server.close());

  const jobs = () => [
    {
      type: 'glm',
      dataset: datasets['infert'] as string,
      params: { formula: 'case ~ spontaneous + induced', family: 'binomial' },
    },
    {
      type: 'glm',
      dataset: datasets['d93'] as string,
      params: {
        formula: 'counts ~ outcome + treatment',
        family: 'poisson',
        dropFirst: true,
        coefLabelStyle: 'R',
      },
    },
    {
      type: 'glm',
      dataset: datasets['clotting'] as string,
      params: { formula: 'lot1 ~ logu', family: 'Gamma' },
    },
    {
      type: 'logit',
      dataset: datasets['kyphosis'] as string,
      params: { formula: 'Kyphosis ~ Age + Start + Number' },
    },
  ];
  const oneWorker: GlmResult[] = [];

  it("R Core's published glm cases, to the last printed digit (1 worker)", async () => {
    for (const job of jobs()) oneWorker.push(await runJob<GlmResult>(server.url, job));
    const [infertFit, d93Fit, clottingFit, kyphosisFit] = oneWorker as [
      GlmResult,
      GlmResult,
      GlmResult,
      GlmResult,
    ];
    await checkPublished('glm_binomial_infert_model1.json', infertFit);
    await checkPublished('glm_poisson_dobson_D93.json', d93Fit, {}, ['treatment2', 'treatment3']);
    await checkPublished('glm_gamma_clotting_lot1.json', clottingFit, { 'log(u)': 'logu' });
    // R's glm on kyphosis (fixtures/glm/reference.R) and RevoScaleR's printed deviance.
    const r = reference.get('kyphosis') as RFit;
    estimated(kyphosisFit).forEach((c, i) => {
      assert.ok(close(c.estimate, r.coefficients[i]?.estimate as number, 1e-9), c.term);
    });
    assertPrinted(kyphosisFit.deviance, '61.38', 'kyphosis deviance');
    assert.match(infertFit.modelId, /^mdl_/);
  });

  it('3 workers give the same bits as 1', async () => {
    await server.startWorkers(2);
    const threeWorkers: GlmResult[] = [];
    for (const job of jobs()) threeWorkers.push(await runJob<GlmResult>(server.url, job));
    assert.equal(threeWorkers.length, oneWorker.length);
    threeWorkers.forEach((result, i) => {
      assert.deepEqual(withoutModel(result), withoutModel(oneWorker[i] as GlmResult));
    });
  });

  it('a perfectly separated logit finishes with R’s warnings, not silent garbage', async () => {
    const result = await runJob<GlmResult>(server.url, {
      type: 'logit',
      dataset: datasets['separated'] as string,
      params: { formula: 'y ~ x' },
    });
    assert.ok(
      result.warnings.includes('glm.fit: fitted probabilities numerically 0 or 1 occurred'),
      JSON.stringify(result.warnings),
    );
    assert.ok((result.deviance as number) < 1e-6);
    // The slope runs off: its z statistic is meaningless and says so by being ~0.
    assert.ok(Math.abs(result.coefficients[1]?.statistic as number) < 0.01);
  });

  it('fweights give the fit of the replicated rows; pweights are R’s glm(weights =)', async () => {
    const formula = 'case ~ spontaneous + induced';
    const weighted = await runJob<GlmResult>(server.url, {
      type: 'logit',
      dataset: datasets['infert'] as string,
      params: { formula, fweights: 'parity' },
    });
    const replicated = await runJob<GlmResult>(server.url, {
      type: 'logit',
      dataset: datasets['infertReplicated'] as string,
      params: { formula },
    });
    weighted.coefficients.forEach((c, i) => {
      const other = replicated.coefficients[i];
      assert.ok(close(c.estimate, other?.estimate as number, 1e-12), c.term);
      assert.ok(close(c.stdError, other?.stdError as number, 1e-10), c.term);
    });
    assert.ok(close(weighted.deviance, replicated.deviance as number, 1e-12));
    assert.ok(close(weighted.aic, replicated.aic as number, 1e-12));
    assert.equal(weighted.dfResidual, replicated.dfResidual);
    assert.equal(weighted.nValidObs, 248);
    assert.equal(replicated.nValidObs, weighted.dfNull + 1);

    const pweighted = await runJob<GlmResult>(server.url, {
      type: 'logit',
      dataset: datasets['infert'] as string,
      params: { formula, pweights: 'w' },
    });
    const r = reference.get('infert pweights age/30') as RFit;
    pweighted.coefficients.forEach((c, i) => {
      assert.ok(close(c.estimate, r.coefficients[i]?.estimate as number, 1e-9), c.term);
    });
  });

  it('predictions from the stored model, on the response and the link scale', async () => {
    const fit = oneWorker[0] as GlmResult;
    const [b0, b1, b2] = fit.coefficients.map((c) => c.estimate as number) as [number, number, number];
    for (const type of ['response', 'link'] as const) {
      const predicted = await runJob<{ dataset: { id: string }; nPredicted: number }>(server.url, {
        type: 'predict',
        dataset: datasets['infert'] as string,
        params: { modelId: fit.modelId, type },
      });
      assert.equal(predicted.nPredicted, 248);
      const res = await request(server.url)
        .get(`/v1/datasets/${predicted.dataset.id}/rows?limit=1000`)
        .expect(200);
      const rows = res.body.rows as Array<Record<string, number>>;
      rows.forEach((row, i) => {
        const source = infert.rows[i] as Row;
        const eta = b0 + b1 * (source['spontaneous'] as number) + b2 * (source['induced'] as number);
        const expected = type === 'link' ? eta : 1 / (1 + Math.exp(-eta));
        assert.ok(
          close(row['case_Pred'] ?? null, expected, 1e-12),
          `row ${i}: ${row['case_Pred']} vs ${expected}`,
        );
      });
    }
  });

  it('bad input: 400 before queueing; data outside the family’s range fails the job with its code', async () => {
    const bad = await request(server.url)
      .post('/v1/jobs')
      .send({
        type: 'glm',
        dataset: datasets['infert'],
        params: { formula: 'case ~ induced', family: 'poisson', link: 'logit' },
      });
    assert.equal(bad.status, 400, JSON.stringify(bad.body));
    assert.equal(bad.body.error.code, 'INVALID_PARAMS');
    const job = await submitJob(server.url, {
      type: 'glm',
      dataset: datasets['infert'] as string,
      params: { formula: 'parity ~ induced', family: 'binomial' },
    });
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'INVALID_RESPONSE');
  });
});
