import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { CrossTabsResult } from '../../src/engine/analyses/crossTabs.ts';
import type { CubeResult } from '../../src/engine/analyses/cube.ts';
import { closeTo, fixtureText, printedDigits, rValues, UCB_LEVELS } from '../engine/crossTabsData.ts';
import { referenceJson, referenceText, runJob, uploadCsv } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * cube and crossTabs through HTTP, real Redis and real worker processes, on data uploaded as CSV in
 * small chunks: the chi-squared reference case (../shared/data/reference), RevoScaleR's documented
 * UCBAdmissions and kyphosis outputs (REVOSCALER.md section 6), R's tests on the UCBAdmissions tables
 * (test/engine/fixtures/crosstabs/r_values.json), and the same bits with 1 and 3 workers.
 */

type Body = { type: string; dataset: string; params: Record<string, unknown> };

describe('cube and crossTabs jobs', () => {
  let server: TestServer;
  const datasets = new Map<string, string>();
  const firstResults = new Map<string, string>();
  const jobs: Record<string, () => Body> = {
    'crossTabs agresti': () => ({
      type: 'crossTabs',
      dataset: datasets.get('agresti')!,
      params: { formula: '~ gender:party', fweights: 'count' },
    }),
    'crossTabs ucb': () => ({
      type: 'crossTabs',
      dataset: datasets.get('ucb')!,
      params: {
        formula: '~ Gender:Admit:Dept',
        fweights: 'Freq',
        marginals: true,
        fisherTest: true,
        oddsRatio: true,
        riskRatio: true,
        kendallTau: true,
      },
    }),
    'cube ucb': () => ({
      type: 'cube',
      dataset: datasets.get('ucb')!,
      params: { formula: 'Freq ~ Gender:Admit' },
    }),
    'cube kyphosis': () => ({
      type: 'cube',
      dataset: datasets.get('kyphosis')!,
      params: { formula: '~ Kyphosis:F(Number)', rowSelection: 'Age > 0' },
    }),
  };

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    const upload = async (name: string, csv: string, query: Record<string, string | number>) =>
      datasets.set(name, (await uploadCsv(server.url, csv, query)).id);
    await upload('agresti', await referenceText('r_reference/data/agresti_party_gender_long.csv'), {
      rowsPerChunk: 1,
    });
    await upload('ucb', await fixtureText('ucb_admissions.csv'), {
      rowsPerChunk: 5,
      colInfo: JSON.stringify({
        Admit: { levels: UCB_LEVELS.Admit },
        Gender: { levels: UCB_LEVELS.Gender },
        Dept: { levels: UCB_LEVELS.Dept },
      }),
    });
    await upload('kyphosis', await referenceText('r_reference/data/kyphosis.csv'), { rowsPerChunk: 7 });
  });
  after(() => server.close());

  it('chi-squared reference case (Agresti party x gender, one row per chunk): 30.07 on 2 df, p 2.954e-07', async () => {
    const ref = await referenceJson<{ expected: { x_squared: number; df: number; p_value: number } }>(
      'r_reference/cases/chisq_agresti_party_gender.json',
    );
    const result = await runJob<CrossTabsResult>(server.url, jobs['crossTabs agresti']!());
    firstResults.set('crossTabs agresti', JSON.stringify(result));
    const chi = result.tables[0]?.chiSquaredTest;
    assert.ok(chi);
    printedDigits(chi.statistic, ref.expected.x_squared, 4, 'X-squared');
    assert.equal(chi.df, ref.expected.df);
    printedDigits(chi.pValue, ref.expected.p_value, 4, 'p-value');
    assert.deepEqual(result.tables[0]?.counts, [
      [762, 327, 468],
      [484, 239, 477],
    ]);
  });

  it('UCBAdmissions by department: every test as R computes it', async () => {
    const ref = await rValues();
    const result = await runJob<CrossTabsResult>(server.url, jobs['crossTabs ucb']!());
    firstResults.set('crossTabs ucb', JSON.stringify(result));
    assert.equal(result.tables.length, 6);
    result.tables.forEach((table, i) => {
      const r = ref.ucb_by_dept[i]!;
      assert.equal(table.name, `Dept = ${r.dept}`);
      assert.deepEqual(table.counts, r.counts);
      closeTo(table.chiSquaredTest?.statistic, r.chisq.statistic, 1e-12, 'X-squared');
      closeTo(table.chiSquaredTest?.pValue, r.chisq.p_value, 1e-10, 'chi-squared p');
      closeTo(table.fisherTest?.pValue, r.fisher!.p_value, 1e-10, 'Fisher p');
      closeTo(table.fisherTest?.oddsRatio, r.fisher!.estimate, 1e-9, 'conditional MLE');
      closeTo(table.oddsRatio?.estimate, r.odds_ratio!.estimate, 1e-12, 'odds ratio');
      closeTo(table.riskRatio?.confInt[1], r.risk_ratio!.conf_int[1], 1e-12, 'risk ratio upper');
      closeTo(table.kendallTau?.estimate, r.kendall.tau_b, 1e-12, 'tau-b');
      closeTo(table.kendallTau?.pValue, r.kendall.p_value, 1e-10, 'tau-b p');
    });
    // The department A grand total RevoScaleR's summary prints.
    assert.equal(result.tables[0]?.marginals?.counts.grandTotal, 933);
  });

  it('cubes: UCBAdmissions means and kyphosis counts as RevoScaleR documents them', async () => {
    const ucb = await runJob<CubeResult>(server.url, jobs['cube ucb']!());
    firstResults.set('cube ucb', JSON.stringify(ucb));
    assert.deepEqual(ucb.columns, ['Gender', 'Admit', 'Freq', 'Counts']);
    [199.66667, 92.83333, 248.83333, 213.0].forEach((printed, i) => {
      // Printed with 5 decimals: within one unit of the last.
      assert.ok(Math.abs((ucb.rows[i]?.['Freq'] as number) - printed) <= 1e-5, `cell ${i}`);
      assert.equal(ucb.rows[i]?.['Counts'], 6);
    });
    const kyphosis = await runJob<CubeResult>(server.url, jobs['cube kyphosis']!());
    firstResults.set('cube kyphosis', JSON.stringify(kyphosis));
    const absent = kyphosis.rows.filter((r) => r['Kyphosis'] === 'absent').map((r) => r['Counts']);
    const present = kyphosis.rows.filter((r) => r['Kyphosis'] === 'present').map((r) => r['Counts']);
    assert.deepEqual(absent, [12, 19, 16, 12, 2, 2, 0, 1, 0]);
    assert.deepEqual(present, [0, 4, 2, 5, 2, 3, 0, 0, 1]);
  });

  it("refuses '+' when the job is submitted, with the column", async () => {
    const res = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'crossTabs', dataset: datasets.get('ucb'), params: { formula: '~ Gender + Admit' } });
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'INVALID_FORMULA');
    assert.match(res.body.error.message, /'\+' is not allowed at column 10/);
  });

  it('gives bit-identical results with 1 and 3 workers', async () => {
    await server.startWorkers(2);
    for (const [name, body] of Object.entries(jobs)) {
      const first = firstResults.get(name);
      assert.ok(first, `${name} ran with one worker`);
      assert.equal(JSON.stringify(await runJob(server.url, body())), first, `${name} differs with 3 workers`);
    }
  });
});
