import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { LinModResult } from '../../src/engine/analyses/linMod.ts';
import { lre, parseCsv, referencePath, relDiff, seededRandom } from '../engine/helpers.ts';
import { referenceJson, referenceText, runJob, uploadCsv } from '../helpers/api.ts';
import { referenceFit, toCsv } from '../helpers/lmReference.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * rxLinMod through HTTP, real Redis, real worker processes, data in 7-row chunks: NIST StRD linear
 * regression (certified values), R's published lm output, and fits computed here by the normal
 * equations (test/helpers/lmReference.ts) for weights, factors, cube, cbind.
 */

interface NistCase {
  dataset: string;
  csv: string;
  model_spec: {
    type: 'linear' | 'polynomial';
    predictors?: string[];
    x?: string;
    degree?: number;
    intercept: boolean;
  };
  certified: {
    parameters: Array<{ estimate: number; std_dev: number }>;
    residual_standard_deviation: number;
    r_squared: number;
  };
}

const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '../engine/fixtures/nist_strd');

/** Every NIST linear case: shared/ first, then the transcribed fixtures (Filip, NoInt2, Wampler1-5). */
async function nistCases(): Promise<Array<{ spec: NistCase; csv: string; formula: string }>> {
  const seen = new Set<string>();
  const out: Array<{ spec: NistCase; csv: string; formula: string }> = [];
  for (const dir of [referencePath('nist_strd/linear_regression'), FIXTURE_DIR]) {
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
      const spec = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as NistCase;
      if (seen.has(spec.dataset)) continue;
      seen.add(spec.dataset);
      const { header, rows } = parseCsv(await readFile(path.join(dir, spec.csv), 'utf8'));
      const columns: Record<string, number[]> = {};
      header.forEach((name, j) => {
        columns[name] = rows.map((r) => Number(r[j]));
      });
      const ms = spec.model_spec;
      let predictors = ms.predictors ?? [];
      if (ms.type === 'polynomial') {
        // In-line pow() belongs to the expression language; the powers are columns here, as in NIST's model.
        const x = columns[ms.x as string] as number[];
        predictors = ['x'];
        for (let d = 2; d <= (ms.degree as number); d++) {
          columns[`x${d}`] = x.map((v) => v ** d);
          predictors.push(`x${d}`);
        }
      }
      const formula = `y ~ ${predictors.join(' + ')}${ms.intercept ? '' : ' - 1'}`;
      out.push({ spec, csv: toCsv(columns), formula });
    }
  }
  return out;
}

function nistLre(result: LinModResult, certified: NistCase['certified']) {
  const estimates = result.coefficients;
  const coefficients = Math.min(
    ...certified.parameters.map((p, i) => lre(estimates[i]?.estimate ?? Number.NaN, p.estimate)),
  );
  const stdErrors = Math.min(
    ...certified.parameters.map((p, i) => lre(estimates[i]?.stdError ?? Number.NaN, p.std_dev)),
  );
  const sigma = lre(result.sigma ?? Number.NaN, certified.residual_standard_deviation);
  const rSquared = lre(result.rSquared ?? Number.NaN, certified.r_squared);
  return {
    coefficients,
    stdErrors,
    sigma,
    rSquared,
    min: Math.min(coefficients, stdErrors, sigma, rSquared),
  };
}

/** The result without the parts that name the job (model id): what must be identical across runs. */
function numbersOf(result: LinModResult): string {
  const { modelId: _modelId, ...rest } = result;
  return JSON.stringify(rest);
}

describe('linMod through HTTP: NIST StRD in 7-row chunks, 1 vs 3 workers', async () => {
  const cases = await nistCases();
  let server: TestServer;
  const datasets = new Map<string, string>();
  const oneWorker = new Map<string, LinModResult>();

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    for (const c of cases)
      datasets.set(c.spec.dataset, (await uploadCsv(server.url, c.csv, { rowsPerChunk: 7 })).id);
  });
  after(() => server.close());

  it('has every case (shared/ and the transcribed fixtures)', () => {
    const names = cases.map((c) => c.spec.dataset);
    for (const name of ['Longley', 'Norris', 'Pontius', 'NoInt1', 'NoInt2', 'Filip', 'Wampler1', 'Wampler5'])
      assert.ok(names.includes(name), `${name} missing`);
  });

  for (const c of cases) {
    const name = c.spec.dataset;
    if (name === 'Filip') {
      it('Filip: the rank deficiency is reported honestly (x10 aliased, a warning), or LRE >= 6', async () => {
        const result = await runJob<LinModResult>(server.url, {
          type: 'linMod',
          dataset: datasets.get(name) as string,
          params: { formula: c.formula },
        });
        oneWorker.set(name, result);
        if (result.rank === 11) {
          assert.ok(nistLre(result, c.spec.certified).min >= 6);
          return;
        }
        assert.equal(result.rank, 10);
        const x10 = result.coefficients.find((co) => co.term === 'x10');
        assert.equal(x10?.aliased, true);
        assert.equal(x10?.estimate, null);
        assert.ok(
          result.warnings.some((w) => w.includes('x10')),
          JSON.stringify(result.warnings),
        );
        assert.ok((result.conditionNumber ?? 0) > 1e8);
      });
      continue;
    }
    it(`${name} (${c.formula}): coefficients, SDs, sigma, R-squared at LRE >= 9`, async () => {
      const result = await runJob<LinModResult>(server.url, {
        type: 'linMod',
        dataset: datasets.get(name) as string,
        params: { formula: c.formula },
      });
      oneWorker.set(name, result);
      assert.equal(result.rank, c.spec.certified.parameters.length);
      assert.equal(result.coefficients.length, c.spec.certified.parameters.length);
      const l = nistLre(result, c.spec.certified);
      assert.ok(l.min >= 9, `${name} LRE ${JSON.stringify(l)}`);
      assert.ok(result.modelId.startsWith('mdl_'));
    });
  }

  it('3 workers give bit-identical results to 1 worker', async () => {
    await server.startWorkers(2);
    for (const c of cases) {
      const result = await runJob<LinModResult>(server.url, {
        type: 'linMod',
        dataset: datasets.get(c.spec.dataset) as string,
        params: { formula: c.formula },
      });
      const first = oneWorker.get(c.spec.dataset);
      assert.ok(first, `${c.spec.dataset} ran with 1 worker`);
      assert.equal(numbersOf(result), numbersOf(first), c.spec.dataset);
    }
  });
});

describe("linMod through HTTP: R's published lm output", () => {
  let server: TestServer;
  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
  });
  after(() => server.close());

  interface RCase {
    expected: {
      coefficients: Array<{
        term: string;
        estimate_text: string;
        std_error_text: string;
        statistic_text: string;
      }>;
      residual_standard_error_text: string;
      df_residual: number;
      r_squared_text: string;
      adj_r_squared_text: string;
      f_statistic_text: string;
    };
  }
  /** Within one unit of R's last printed digit (the text as printed). */
  const close = (a: number | null, printed: string | undefined) => {
    const text = printed as string;
    const decimals = text.includes('.') ? (text.split('.')[1] as string).length : 0;
    return a !== null && Math.abs(a - Number(text)) <= 10 ** -decimals;
  };

  it('mtcars mpg ~ wt + hp', async () => {
    const csv = await referenceText('r_reference/data/mtcars.csv');
    const dataset = (await uploadCsv(server.url, csv, { rowsPerChunk: 7 })).id;
    const r = await referenceJson<RCase>('r_reference/cases/lm_mtcars_mpg_wt_hp.json');
    const result = await runJob<LinModResult>(server.url, {
      type: 'linMod',
      dataset,
      params: { formula: 'mpg ~ wt + hp' },
    });
    r.expected.coefficients.forEach((e, i) => {
      const got = result.coefficients[i];
      assert.equal(got?.term, e.term);
      assert.ok(close(got?.estimate ?? null, e.estimate_text), `${e.term} ${got?.estimate}`);
      assert.ok(close(got?.stdError ?? null, e.std_error_text), `${e.term} ${got?.stdError}`);
      assert.ok(close(got?.statistic ?? null, e.statistic_text), `${e.term} ${got?.statistic}`);
    });
    assert.ok(close(result.sigma, r.expected.residual_standard_error_text));
    assert.equal(result.dfResidual, r.expected.df_residual);
    assert.ok(close(result.rSquared, r.expected.r_squared_text));
    assert.ok(close(result.adjRSquared, r.expected.adj_r_squared_text));
    assert.ok(close(result.fStatistic.value, r.expected.f_statistic_text));
  });

  it("Dobson's plant weights weight ~ group with dropFirst and R labels: lm's groupTrt", async () => {
    const csv = await referenceText('r_reference/data/dobson_plant_weight_D9.csv');
    const dataset = (await uploadCsv(server.url, csv, { rowsPerChunk: 7 })).id;
    const r = await referenceJson<RCase>('r_reference/cases/lm_dobson_plant_weight_D9_intercept.json');
    const result = await runJob<LinModResult>(server.url, {
      type: 'linMod',
      dataset,
      params: { formula: 'weight ~ group', dropFirst: true, coefLabelStyle: 'R' },
    });
    // RevoScaleR lists the reference level as Dropped: (Intercept), groupCtl (dropped), groupTrt.
    assert.deepEqual(
      result.coefficients.map((c) => [c.term, c.aliased]),
      [
        ['(Intercept)', false],
        ['groupCtl', true],
        ['groupTrt', false],
      ],
    );
    const [intercept, trt] = r.expected.coefficients;
    assert.ok(close(result.coefficients[0]?.estimate ?? null, intercept?.estimate_text));
    assert.ok(close(result.coefficients[0]?.stdError ?? null, intercept?.std_error_text));
    assert.ok(close(result.coefficients[2]?.estimate ?? null, trt?.estimate_text));
    assert.ok(close(result.coefficients[2]?.stdError ?? null, trt?.std_error_text));
    assert.ok(close(result.coefficients[2]?.statistic ?? null, trt?.statistic_text));
    assert.ok(close(result.sigma, r.expected.residual_standard_error_text));
    assert.ok(close(result.rSquared, r.expected.r_squared_text));
    assert.ok(close(result.adjRSquared, r.expected.adj_r_squared_text));
    assert.ok(close(result.fStatistic.value, r.expected.f_statistic_text));
    assert.equal(result.fStatistic.numDf, 1);
    assert.equal(result.rank, 2);
  });
});

describe('linMod through HTTP: designs checked against the normal equations', () => {
  let server: TestServer;
  const random = seededRandom(2024);
  const n = 90;
  const x1 = Array.from({ length: n }, () => 10 * random());
  const x2 = Array.from({ length: n }, () => 4 * random() - 2);
  // g's level 'c' only in rows 70-76: one 7-row chunk (chunk 10) holds all of it.
  const g = Array.from({ length: n }, (_, i) => (i >= 70 && i < 77 ? 'c' : i % 2 === 0 ? 'a' : 'b'));
  const h = Array.from({ length: n }, (_, i) => ['u', 'v', 'w'][i % 3] as string);
  const effect: Record<string, number> = { a: 0, b: 1.5, c: -2, u: 0, v: 0.7, w: -0.4 };
  const y = x1.map(
    (v, i) =>
      3 +
      0.8 * v -
      1.2 * (x2[i] as number) +
      (effect[g[i] as string] as number) +
      (effect[h[i] as string] as number) +
      random(),
  );
  const y2 = x1.map((v, i) => 1 - v + 2 * (x2[i] as number) + random());
  const w = Array.from({ length: n }, () => 0.2 + 2 * random());
  const reps = Array.from({ length: n }, () => 1 + Math.floor(3 * random()));
  let dataset: string;

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    const csv = toCsv({ y, y2, x1, x2, g, h, w, reps, x3: x1.map((v, i) => v + (x2[i] as number)) });
    dataset = (await uploadCsv(server.url, csv, { rowsPerChunk: 7 })).id;
  });
  after(() => server.close());

  const lmFit = (params: Record<string, unknown>) =>
    runJob<LinModResult>(server.url, { type: 'linMod', dataset, params });
  const estimates = (result: LinModResult) => result.coefficients.filter((c) => !c.aliased);

  it("factors, default coding (last level dropped, Revo labels) = lm on RevoScaleR's dummies", async () => {
    const result = await lmFit({ formula: 'y ~ x1 + g + x2' });
    assert.deepEqual(
      result.coefficients.map((c) => [c.term, c.aliased]),
      [
        ['(Intercept)', false],
        ['x1', false],
        ['g=a', false],
        ['g=b', false],
        ['g=c', true],
        ['x2', false],
      ],
    );
    const rows = x1.map((v, i) => [1, v, g[i] === 'a' ? 1 : 0, g[i] === 'b' ? 1 : 0, x2[i] as number]);
    const ref = referenceFit(rows, y);
    estimates(result).forEach((c, i) => {
      assert.ok(relDiff(c.estimate as number, ref.beta[i] as number) < 1e-10, `${c.term}`);
      assert.ok(relDiff(c.stdError as number, ref.stdError[i] as number) < 1e-9, `${c.term} se`);
    });
    assert.ok(relDiff(result.sigma as number, ref.sigma) < 1e-10);
    assert.ok(relDiff(result.rSquared as number, ref.rSquared) < 1e-10);
    assert.ok(relDiff(result.adjRSquared as number, ref.adjRSquared) < 1e-10);
    assert.ok(relDiff(result.fStatistic.value as number, ref.fStatistic) < 1e-9);
    assert.equal(result.dfResidual, ref.dfResidual);
    assert.equal(result.nValidObs, n);
  });

  it("factors with dropFirst and R labels, interaction x1:h = lm's coding", async () => {
    const result = await lmFit({ formula: 'y ~ g + x1 + x1:h', dropFirst: true, coefLabelStyle: 'R' });
    assert.deepEqual(
      result.coefficients.map((c) => c.term),
      ['(Intercept)', 'ga', 'gb', 'gc', 'x1', 'x1:hu', 'x1:hv', 'x1:hw'],
    );
    assert.deepEqual(
      result.coefficients.map((c) => c.aliased),
      [false, true, false, false, false, true, false, false],
    );
    const rows = x1.map((v, i) => [
      1,
      g[i] === 'b' ? 1 : 0,
      g[i] === 'c' ? 1 : 0,
      v,
      h[i] === 'v' ? v : 0,
      h[i] === 'w' ? v : 0,
    ]);
    const ref = referenceFit(rows, y);
    estimates(result).forEach((c, i) => {
      assert.ok(relDiff(c.estimate as number, ref.beta[i] as number) < 1e-10, `${c.term}`);
      assert.ok(relDiff(c.stdError as number, ref.stdError[i] as number) < 1e-9, `${c.term} se`);
    });
  });

  it('a level present in one chunk only is estimated like any other', async () => {
    const result = await lmFit({ formula: 'y ~ g', dropFirst: true });
    const rows = g.map((v) => [1, v === 'b' ? 1 : 0, v === 'c' ? 1 : 0]);
    const ref = referenceFit(rows, y);
    const c = result.coefficients.find((co) => co.term === 'g=c');
    assert.ok(relDiff(c?.estimate as number, ref.beta[2] as number) < 1e-10);
    assert.ok(relDiff(c?.stdError as number, ref.stdError[2] as number) < 1e-9);
  });

  it('collinear design: x3 = x1 + x2 is aliased, said in a warning, and the rest is the fit without it', async () => {
    const result = await lmFit({ formula: 'y ~ x1 + x2 + x3' });
    assert.equal(result.rank, 3);
    const x3 = result.coefficients[3];
    assert.deepEqual(x3, {
      term: 'x3',
      estimate: null,
      stdError: null,
      statistic: null,
      pValue: null,
      aliased: true,
    });
    assert.ok(result.warnings.some((m) => m.includes('x3')));
    const ref = referenceFit(
      x1.map((v, i) => [1, v, x2[i] as number]),
      y,
    );
    ref.beta.forEach((b, i) => {
      assert.ok(relDiff(result.coefficients[i]?.estimate as number, b) < 1e-9);
    });
    assert.equal(result.fStatistic.numDf, 2);
  });

  it('pweights = weighted least squares (R lm(weights = w))', async () => {
    const result = await lmFit({ formula: 'y ~ x1 + x2', pweights: 'w', covCoef: true });
    const ref = referenceFit(
      x1.map((v, i) => [1, v, x2[i] as number]),
      y,
      { weights: w },
    );
    result.coefficients.forEach((c, i) => {
      assert.ok(relDiff(c.estimate as number, ref.beta[i] as number) < 1e-10);
      assert.ok(relDiff(c.stdError as number, ref.stdError[i] as number) < 1e-9);
    });
    assert.ok(relDiff(result.sigma as number, ref.sigma) < 1e-10);
    assert.ok(relDiff(result.rSquared as number, ref.rSquared) < 1e-10);
    assert.equal(result.dfResidual, n - 3);
    assert.ok(
      result.sumOfWeights !== null &&
        relDiff(
          result.sumOfWeights,
          w.reduce((a, b) => a + b),
        ) < 1e-12,
    );
    const cov = result.covCoef as Array<Array<number | null>>;
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++)
        assert.ok(relDiff(cov[a]?.[b] as number, ref.unscaled.get(a, b) * ref.sigma ** 2) < 1e-8);
  });

  it('fweights equal replicating the rows', async () => {
    const weighted = await lmFit({ formula: 'y ~ x1 + g', fweights: 'reps' });
    const replicate = <T>(values: T[]) => values.flatMap((v, i) => Array<T>(reps[i] as number).fill(v));
    const csv = toCsv({ y: replicate(y), x1: replicate(x1), g: replicate(g) });
    const big = (await uploadCsv(server.url, csv, { rowsPerChunk: 7 })).id;
    const replicated = await runJob<LinModResult>(server.url, {
      type: 'linMod',
      dataset: big,
      params: { formula: 'y ~ x1 + g' },
    });
    assert.equal(weighted.nValidObs, n, 'valid observations stay rows (RevoScaleR prints 44 for 44 rows)');
    assert.equal(weighted.dfResidual, replicated.dfResidual);
    weighted.coefficients.forEach((c, i) => {
      const r = replicated.coefficients[i];
      assert.equal(c.aliased, r?.aliased);
      if (c.aliased) return;
      assert.ok(relDiff(c.estimate as number, r?.estimate as number) < 1e-10);
      assert.ok(relDiff(c.stdError as number, r?.stdError as number) < 1e-10);
    });
    assert.ok(relDiff(weighted.sigma as number, replicated.sigma as number) < 1e-10);
    assert.ok(relDiff(weighted.adjRSquared as number, replicated.adjRSquared as number) < 1e-10);
  });

  it('cube: one coefficient per cell (the cell means), R-squared as if with an intercept, countDF', async () => {
    const result = await lmFit({ formula: 'y ~ g', cube: true });
    assert.deepEqual(
      result.coefficients.map((c) => [c.term, c.aliased]),
      [
        ['g=a', false],
        ['g=b', false],
        ['g=c', false],
      ],
    );
    for (const [k, level] of ['a', 'b', 'c'].entries()) {
      const cell = y.filter((_, i) => g[i] === level);
      const mean = cell.reduce((s, v) => s + v, 0) / cell.length;
      assert.ok(relDiff(result.coefficients[k]?.estimate as number, mean) < 1e-12, level);
      assert.deepEqual(result.countDF?.[k], { g: level, Counts: cell.length });
    }
    // The same fit with an intercept and contrasts has the same residuals: same R-squared and F.
    const ref = referenceFit(
      g.map((v) => [1, v === 'b' ? 1 : 0, v === 'c' ? 1 : 0]),
      y,
    );
    assert.ok(relDiff(result.rSquared as number, ref.rSquared) < 1e-10);
    assert.ok(relDiff(result.adjRSquared as number, ref.adjRSquared) < 1e-10);
    assert.ok(relDiff(result.fStatistic.value as number, ref.fStatistic) < 1e-9);
    assert.equal(result.fStatistic.numDf, 2);
  });

  it('cube with a covariate: cell intercepts and a common slope', async () => {
    const result = await lmFit({ formula: 'y ~ h + x1', cube: true });
    const rows = h.map((v, i) => [v === 'u' ? 1 : 0, v === 'v' ? 1 : 0, v === 'w' ? 1 : 0, x1[i] as number]);
    const ref = referenceFit(rows, y, { intercept: false });
    result.coefficients.forEach((c, i) => {
      assert.ok(relDiff(c.estimate as number, ref.beta[i] as number) < 1e-10, c.term);
      assert.ok(relDiff(c.stdError as number, ref.stdError[i] as number) < 1e-9, c.term);
    });
  });

  it('cbind(y, y2): one block per response, each as if fitted alone', async () => {
    const both = await lmFit({ formula: 'cbind(y, y2) ~ x1 + x2' });
    assert.equal(both.responses?.length, 2);
    assert.deepEqual(
      both.responses?.map((r) => r.response),
      ['y', 'y2'],
    );
    assert.deepEqual(both.coefficients, both.responses?.[0]?.coefficients);
    const alone = await lmFit({ formula: 'y2 ~ x1 + x2' });
    both.responses?.[1]?.coefficients.forEach((c, i) => {
      assert.ok(relDiff(c.estimate as number, alone.coefficients[i]?.estimate as number) < 1e-12);
      assert.ok(relDiff(c.stdError as number, alone.coefficients[i]?.stdError as number) < 1e-12);
    });
    assert.ok(relDiff(both.responses?.[1]?.sigma as number, alone.sigma as number) < 1e-12);
  });

  it('bad requests: all-NA column (422 ALL_MISSING), stepwise (501), no response (400)', async () => {
    const csv = toCsv({ y: [1, 2, 3, 4], x: [1, 2, 3, 5], empty: [null, null, null, null] });
    const small = (await uploadCsv(server.url, csv, { rowsPerChunk: 2 })).id;
    const submit = (params: Record<string, unknown>) =>
      request(server.url).post('/v1/jobs').send({ type: 'linMod', dataset: small, params });
    const allNa = await submit({ formula: 'y ~ x + empty' });
    assert.equal(allNa.status, 422, JSON.stringify(allNa.body));
    assert.equal(allNa.body.error.code, 'ALL_MISSING');
    assert.match(allNa.body.error.message, /'empty'/);
    const stepwise = await submit({ formula: 'y ~ x', variableSelection: { method: 'stepwise' } });
    assert.equal(stepwise.status, 501);
    const noResponse = await submit({ formula: '~ x' });
    assert.equal(noResponse.status, 400);
    const unknown = await submit({ formula: 'y ~ x', dropMain: true });
    assert.equal(unknown.status, 400);
  });
});
