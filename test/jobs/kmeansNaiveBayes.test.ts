import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { referenceJson, referenceText, runJob, submitJob, uploadCsv, waitForJob } from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * kmeans and naiveBayes through HTTP with real Redis and real worker processes, data in small chunks:
 * the published iris references, the output dataset rxKmeans writes, models stored, and bit-identical
 * results with 1 and 3 workers.
 */

interface KmeansResult {
  centers: number[][];
  size: number[];
  withinSS: number[];
  totSS: number;
  totWithinSS: number;
  betweenSS: number;
  iterations: number;
  converged: boolean;
  passes: number;
  modelId: string;
  dataset?: { id: string; numRows: number; variables: { name: string }[] };
}

interface NaiveBayesResult {
  levels: string[];
  apriori: number[];
  tables: Array<{
    variable: string;
    type: string;
    mean?: number[];
    sd?: number[];
    probabilities?: number[][];
  }>;
  modelId: string;
}

interface IrisKmeansCase {
  expected: {
    sizes: number[];
    centers: Record<string, number[]>;
    withinss: Record<string, number>;
    corroborating_unattributed: { tot_withinss: number };
  };
}

const IRIS_FORMULA = '~ Sepal.Length + Sepal.Width + Petal.Length + Petal.Width';

/** Without the parts that name the job (model and dataset ids, creation time). */
function comparable(result: unknown): string {
  return JSON.stringify(result, (key, value) =>
    key === 'modelId' || key === 'id' || key === 'createdAt' ? undefined : value,
  );
}

describe('kmeans and naiveBayes through the job engine', () => {
  let server: TestServer;
  let iris = '';
  let blobs = '';
  let party = '';
  const firstResults = new Map<string, string>();
  const firstRows = new Map<string, string>();

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    const irisCsv = await referenceText('r_reference/data/iris.csv');
    iris = (await uploadCsv(server.url, irisCsv, { rowsPerChunk: 7 })).id;
    // Three blobs in 2-D with a few missing values, 3000 rows in 61-row chunks.
    const lines = ['x,y'];
    let state = 12345;
    const random = () => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state / 2 ** 32;
    };
    for (let i = 0; i < 3000; i++) {
      const c = [
        [0, 0],
        [10, 0],
        [0, 10],
      ][i % 3]!;
      const x = c[0]! + (random() - 0.5) * 4;
      const y = c[1]! + (random() - 0.5) * 4;
      lines.push(i % 101 === 0 ? `NA,${y}` : `${x},${y}`);
    }
    blobs = (await uploadCsv(server.url, `${lines.join('\n')}\n`, { rowsPerChunk: 61 })).id;
    party = (
      await uploadCsv(server.url, await referenceText('r_reference/data/agresti_party_gender_long.csv'), {
        rowsPerChunk: 2,
      })
    ).id;
  });
  after(() => server.close());

  const jobs: Record<string, () => { type: string; dataset: string; params: Record<string, unknown> }> = {
    'kmeans iris': () => ({
      type: 'kmeans',
      dataset: iris,
      params: { formula: IRIS_FORMULA, numClusters: 3, numStarts: 5, seed: 2024 },
    }),
    'kmeans blobs with output': () => ({
      type: 'kmeans',
      dataset: blobs,
      params: { formula: '~ x + y', numClusters: 3, seed: 7, outName: 'blob clusters' },
    }),
    'naiveBayes iris': () => ({ type: 'naiveBayes', dataset: iris, params: { formula: 'Species ~ .' } }),
    'naiveBayes party': () => ({
      type: 'naiveBayes',
      dataset: party,
      params: { formula: 'party ~ gender', fweights: 'count', smoothingFactor: 1 },
    }),
  };

  async function allRows(datasetId: string): Promise<Record<string, unknown>[]> {
    const rows: Record<string, unknown>[] = [];
    for (let offset = 0; ; offset += 1000) {
      const res = await request(server.url).get(`/v1/datasets/${datasetId}/rows?offset=${offset}&limit=1000`);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      rows.push(...res.body.rows);
      if (rows.length >= res.body.numRows) return rows;
    }
  }

  it('kmeans: the iris optimum R prints, from seeded k-means|| in 7-row chunks', async () => {
    const ref = await referenceJson<IrisKmeansCase>('r_reference/cases/kmeans_iris_k3.json');
    const result = await runJob<KmeansResult>(server.url, jobs['kmeans iris']!());
    firstResults.set('kmeans iris', comparable(result));
    assert.deepEqual([...result.size].sort(), [...ref.expected.sizes].sort());
    result.size.forEach((size, c) => {
      const center = ref.expected.centers[`size${size}`]!;
      for (let j = 0; j < 4; j++)
        assert.ok(Math.abs(result.centers[c]![j]! - center[j]!) <= 5e-7 * center[j]!);
      const within = ref.expected.withinss[`size${size}`]!;
      assert.ok(Math.abs(result.withinSS[c]! - within) <= 5e-7 * within);
    });
    assert.ok(Math.abs(result.totWithinSS - ref.expected.corroborating_unattributed.tot_withinss) <= 1e-5);
    assert.equal(result.converged, true);
    const model = await request(server.url).get(`/v1/jobs`).expect(200);
    assert.ok(model.body.items.some((j: { type: string }) => j.type === 'kmeans'));
  });

  it('kmeans: outName writes the rows with .rxCluster, the nearest center, missing where x is', async () => {
    const result = await runJob<KmeansResult>(server.url, jobs['kmeans blobs with output']!());
    firstResults.set('kmeans blobs with output', comparable(result));
    assert.ok(result.dataset);
    assert.deepEqual(
      result.dataset.variables.map((v) => v.name),
      ['x', 'y', '.rxCluster'],
    );
    const rows = await allRows(result.dataset.id);
    firstRows.set('kmeans blobs with output', JSON.stringify(rows));
    assert.equal(rows.length, 3000);
    let missing = 0;
    rows.forEach((row, i) => {
      if (row['x'] === null) {
        missing++;
        assert.equal(row['.rxCluster'], null, `row ${i}`);
        return;
      }
      const d = result.centers.map(
        (c) => (c[0]! - (row['x'] as number)) ** 2 + (c[1]! - (row['y'] as number)) ** 2,
      );
      assert.equal(row['.rxCluster'], d.indexOf(Math.min(...d)) + 1, `row ${i}`);
    });
    assert.equal(missing, 30);
    assert.deepEqual(
      result.size.map((_, c) => rows.filter((r) => r['.rxCluster'] === c + 1).length),
      result.size,
    );
    // Each center sits within 0.1 of a true one.
    for (const t of [
      [0, 0],
      [10, 0],
      [0, 10],
    ]) {
      assert.ok(result.centers.some((c) => Math.abs(c[0]! - t[0]!) < 0.15 && Math.abs(c[1]! - t[1]!) < 0.15));
    }
    assert.equal(result.passes, 4 + result.iterations + 1);
  });

  it('naiveBayes: the iris priors, means and sample sds of the reference', async () => {
    const ref = await referenceJson<{
      expected: {
        mean_by_species: Record<string, Record<string, number>>;
        sd_by_species_n_minus_1: Record<string, Record<string, number>>;
      };
    }>('r_reference/cases/summary_iris.json');
    const result = await runJob<NaiveBayesResult>(server.url, jobs['naiveBayes iris']!());
    firstResults.set('naiveBayes iris', comparable(result));
    assert.deepEqual(result.apriori, [1 / 3, 1 / 3, 1 / 3]);
    for (const table of result.tables) {
      result.levels.forEach((species, c) => {
        const mean = ref.expected.mean_by_species[species]![table.variable]!;
        const sd = ref.expected.sd_by_species_n_minus_1[species]![table.variable]!;
        assert.ok(Math.abs(table.mean![c]! - mean) <= 1e-12);
        assert.ok(Math.abs(table.sd![c]! - sd) <= 5e-7 * sd);
      });
    }
  });

  it('naiveBayes: frequency weights and Laplace smoothing on a 2 x 3 table', async () => {
    const result = await runJob<NaiveBayesResult>(server.url, jobs['naiveBayes party']!());
    firstResults.set('naiveBayes party', comparable(result));
    // Agresti's party x gender counts: Democrat F 762, M 484; Independent 327, 239; Republican 468, 477.
    const expected: Record<string, [number, number]> = {
      Democrat: [762, 484],
      Independent: [327, 239],
      Republican: [468, 477],
    };
    const gender = result.tables[0]!;
    result.levels.forEach((level, c) => {
      const [f, m] = expected[level]!;
      assert.ok(Math.abs(gender.probabilities![c]![0]! - (f + 1) / (f + m + 2)) < 1e-15);
    });
  });

  it('refuses a kmeans job without k or centers before queueing it (400)', async () => {
    const res = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'kmeans', dataset: iris, params: { formula: IRIS_FORMULA } });
    assert.equal(res.status, 400);
    assert.equal(res.body.error.code, 'INVALID_PARAMS');
    const nb = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'naiveBayes', dataset: iris, params: { formula: 'Sepal.Length ~ Species' } });
    assert.equal(nb.status, 422);
    assert.equal(nb.body.error.code, 'WRONG_VARIABLE_TYPE');
  });

  it('fails a kmeans job asking for more clusters than rows with 422, leaving no dataset behind', async () => {
    const tiny = (await uploadCsv(server.url, 'x\n1\n2\n3\n', { rowsPerChunk: 2 })).id;
    const before = (await request(server.url).get('/v1/datasets').expect(200)).body.total;
    const job = await submitJob(server.url, {
      type: 'kmeans',
      dataset: tiny,
      params: { formula: '~ x', numClusters: 4, seed: 1, outName: 'never' },
    });
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'TOO_FEW_OBSERVATIONS');
    assert.equal((await request(server.url).get('/v1/datasets').expect(200)).body.total, before);
  });

  it('gives bit-identical results (and output rows) with 1 and 3 workers', async () => {
    await server.startWorkers(2);
    for (const [name, body] of Object.entries(jobs)) {
      const first = firstResults.get(name);
      assert.ok(first, `${name} ran with one worker`);
      const result = await runJob<KmeansResult>(server.url, body());
      assert.equal(comparable(result), first, `${name} differs with 3 workers`);
      const rows = firstRows.get(name);
      if (rows !== undefined) assert.equal(JSON.stringify(await allRows(result.dataset!.id)), rows);
    }
  });
});
