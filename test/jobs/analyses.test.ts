import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  lre,
  referenceJson,
  referenceText,
  runJob,
  submitJob,
  uploadCsv,
  waitForJob,
} from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * Every analysis of the engine issue through HTTP, real Redis and real worker processes, against
 * published reference values (../shared/data/reference), with data split into small chunks so that
 * merging is exercised.
 */

interface SummaryStat {
  name: string;
  mean: number;
  stdDev: number;
  min: number;
  max: number;
  validObs: number;
  missingObs: number;
}
interface SummaryResult {
  stats: SummaryStat[];
  byGroup: { name: string; cells: { levels: Record<string, string>; mean: number; validObs: number }[] }[];
  categorical: { name: string; counts: { level: string; count: number }[] }[];
}
interface NistUnivariate {
  certified: { mean: number; std_dev_sample: number };
}

const NIST_CASES = ['Lew', 'Michelso', 'NumAcc1', 'NumAcc2'];

describe('analyses through the job engine', () => {
  let server: TestServer;
  const datasets = new Map<string, string>();
  const firstResults = new Map<string, string>();

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    for (const name of NIST_CASES) {
      const csv = await referenceText(`nist_strd/univariate/${name}.csv`);
      datasets.set(name, (await uploadCsv(server.url, csv, { rowsPerChunk: 7 })).id);
    }
    datasets.set(
      'iris',
      (await uploadCsv(server.url, await referenceText('r_reference/data/iris.csv'), { rowsPerChunk: 7 })).id,
    );
    datasets.set(
      'longley',
      (
        await uploadCsv(server.url, await referenceText('r_reference/data/longley_R.csv'), {
          rowsPerChunk: 3,
        })
      ).id,
    );
  });
  after(() => server.close());

  const jobs: Record<string, () => { type: string; dataset: string; params: Record<string, unknown> }> = {};
  for (const name of NIST_CASES) {
    jobs[`summary ${name}`] = () => ({
      type: 'summary',
      dataset: datasets.get(name)!,
      params: { formula: '~ y' },
    });
  }
  jobs['summary iris by species'] = () => ({
    type: 'summary',
    dataset: datasets.get('iris')!,
    params: { formula: '~ Sepal.Length:Species + Petal.Width:Species' },
  });
  jobs['quantile iris'] = () => ({
    type: 'quantile',
    dataset: datasets.get('iris')!,
    params: { variable: 'Petal.Length', probs: [0, 0.25, 0.5, 0.75, 1] },
  });
  jobs['covCor longley'] = () => ({
    type: 'covCor',
    dataset: datasets.get('longley')!,
    params: {
      formula: '~ GNP.deflator + GNP + Unemployed + Armed.Forces + Population + Year + Employed',
      type: 'Cor',
    },
  });

  it('NIST univariate: mean LRE >= 13 and standard deviation LRE >= 9 with 7-row chunks', async () => {
    for (const name of NIST_CASES) {
      const ref = await referenceJson<NistUnivariate>(`nist_strd/univariate/${name}.json`);
      const result = await runJob<SummaryResult>(server.url, jobs[`summary ${name}`]!());
      firstResults.set(`summary ${name}`, JSON.stringify(result));
      const y = result.stats.find((s) => s.name === 'y')!;
      assert.ok(
        lre(y.mean, ref.certified.mean) >= 13,
        `${name} mean ${y.mean} LRE ${lre(y.mean, ref.certified.mean)}`,
      );
      assert.ok(
        lre(y.stdDev, ref.certified.std_dev_sample) >= 9,
        `${name} sd ${y.stdDev} LRE ${lre(y.stdDev, ref.certified.std_dev_sample)}`,
      );
    }
  });

  it('iris: means by species and counts as R prints them', async () => {
    const ref = await referenceJson<{
      expected: {
        mean_by_species: Record<string, Record<string, number>>;
        counts_by_species: Record<string, number>;
      };
    }>('r_reference/cases/summary_iris.json');
    const result = await runJob<SummaryResult>(server.url, jobs['summary iris by species']!());
    firstResults.set('summary iris by species', JSON.stringify(result));
    for (const variable of ['Sepal.Length', 'Petal.Width']) {
      const group = result.byGroup.find((g) => g.name === variable);
      assert.ok(group, `by-group stats for ${variable}`);
      for (const cell of group.cells) {
        const species = cell.levels['Species']!;
        const expected = ref.expected.mean_by_species[species]![variable]!;
        // R prints 3 decimals: within one unit of the last printed digit.
        assert.ok(
          Math.abs(cell.mean - expected) <= 0.001,
          `${variable} ${species}: ${cell.mean} vs ${expected}`,
        );
        assert.equal(cell.validObs, ref.expected.counts_by_species[species]);
      }
    }
  });

  it('quantile: R type-7 quartiles of iris Petal.Length', async () => {
    const ref = await referenceJson<{
      expected: { overall_summary_R_type7_quantiles: Record<string, Record<string, number>> };
    }>('r_reference/cases/summary_iris.json');
    const q = ref.expected.overall_summary_R_type7_quantiles['Petal.Length']!;
    const result = await runJob<{ quantiles: { prob: number; value: number }[] }>(
      server.url,
      jobs['quantile iris']!(),
    );
    firstResults.set('quantile iris', JSON.stringify(result));
    const expected = [q['min'], q['q1'], q['median'], q['q3'], q['max']] as number[];
    result.quantiles.forEach((entry, i) => {
      assert.ok(
        Math.abs(entry.value - expected[i]!) <= 1e-9,
        `p=${entry.prob}: ${entry.value} vs ${expected[i]}`,
      );
    });
  });

  it("covCor: Longley's Pearson correlations as R prints them (7 digits)", async () => {
    const ref = await referenceJson<{ expected: { columns: string[]; matrix: number[][] } }>(
      'r_reference/cases/cor_longley_R_pearson_matrix.json',
    );
    const result = await runJob<{ variables: string[]; matrix: number[][] }>(
      server.url,
      jobs['covCor longley']!(),
    );
    firstResults.set('covCor longley', JSON.stringify(result));
    assert.deepEqual(result.variables, ref.expected.columns);
    ref.expected.matrix.forEach((row, i) => {
      row.forEach((value, j) => {
        assert.ok(
          Math.abs(result.matrix[i]![j]! - value) <= 1e-7,
          `[${i}][${j}] ${result.matrix[i]![j]} vs ${value}`,
        );
      });
    });
  });

  it('blocksPerRead groups chunks into fewer tasks and keeps the accuracy', async () => {
    const ref = await referenceJson<NistUnivariate>('nist_strd/univariate/NumAcc2.json');
    const job = await submitJob(server.url, {
      type: 'summary',
      dataset: datasets.get('NumAcc2')!,
      params: { formula: '~ y', blocksPerRead: 10 },
    });
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'completed');
    // 1001 rows in 7-row chunks: 143 chunks, read 10 at a time.
    assert.equal(done.progress.chunksTotal, 143);
    const res = await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(200);
    const y = (res.body.result as SummaryResult).stats[0]!;
    assert.ok(lre(y.mean, ref.certified.mean) >= 13);
    assert.ok(lre(y.stdDev, ref.certified.std_dev_sample) >= 9);
  });

  it('gives bit-identical results with 1 and 3 workers', async () => {
    await server.startWorkers(2);
    for (const [name, body] of Object.entries(jobs)) {
      const first = firstResults.get(name);
      assert.ok(first, `${name} ran with one worker`);
      const again = JSON.stringify(await runJob(server.url, body()));
      assert.equal(again, first, `${name} differs with 3 workers`);
    }
  });
});
