import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { inverse, Matrix } from 'ml-matrix';
import { decodePartial, encodePartial } from '../../src/engine/codec.ts';
import { EngineError } from '../../src/engine/errors.ts';
import {
  emptyQrPartial,
  emptyRefinement,
  type LeastSquaresFit,
  mergeQr,
  mergeRefinement,
  type QrChunkInput,
  type QrPartial,
  qrPartial,
  refineLeastSquares,
  refinementPlan,
  residualProducts,
  type SolveOptions,
  solveLeastSquares,
} from '../../src/engine/linalg/index.ts';
import { fUpperPValue, tTwoSidedPValue } from '../../src/engine/stats/distributions.ts';
import { lre, parseCsv, referencePath, relDiff, seededRandom } from './helpers.ts';

// ---------------------------------------------------------------------------------------------------
// Helpers: chunking, fitting in chunks, an independent normal-equations solve.

interface Design {
  predictors: Float64Array[];
  responses: Float64Array[];
  weights?: Float64Array | null;
  use?: Uint8Array | null;
}

function numRowsOf(design: Design): number {
  return (design.responses[0] as Float64Array).length;
}

/** The design cut into chunks of `rowsPerChunk` rows, as the runner would hand them to map. */
function chunksOf(design: Design, rowsPerChunk: number): QrChunkInput[] {
  const n = numRowsOf(design);
  const out: QrChunkInput[] = [];
  for (let from = 0; from < n; from += rowsPerChunk) {
    const to = Math.min(n, from + rowsPerChunk);
    out.push({
      predictors: design.predictors.map((c) => c.slice(from, to)),
      responses: design.responses.map((c) => c.slice(from, to)),
      weights: design.weights ? design.weights.slice(from, to) : null,
      use: design.use ? design.use.slice(from, to) : null,
      numRows: to - from,
    });
  }
  return out;
}

function partialOf(chunks: readonly QrChunkInput[]): QrPartial {
  const first = chunks[0] as QrChunkInput;
  let partial = emptyQrPartial(first.predictors.length, first.responses.length);
  for (const chunk of chunks) partial = mergeQr(partial, qrPartial(chunk)); // in chunk order, as the runner
  return partial;
}

/** Round 1 (QR) and, for `refined`, round 2 (residual products) over the same chunks. */
function fitInChunks(
  design: Design,
  rowsPerChunk: number,
  options: SolveOptions = {},
): { partial: QrPartial; fit: LeastSquaresFit; refined: LeastSquaresFit } {
  const chunks = chunksOf(design, rowsPerChunk);
  const partial = partialOf(chunks);
  const fit = solveLeastSquares(partial, options);
  const plan = refinementPlan(partial, fit, options);
  let products = emptyRefinement(fit.coefficients.length);
  for (const chunk of chunks) products = mergeRefinement(products, residualProducts(chunk, plan));
  return { partial, fit, refined: refineLeastSquares(partial, plan, products, options) };
}

/**
 * Weighted least squares the textbook way (normal equations, ml-matrix's LU inverse): an algorithm
 * that shares nothing with the QR code, good to ~1e-12 on well-conditioned designs.
 */
function normalEquations(design: Design, intercept: boolean) {
  const n = numRowsOf(design);
  const y = design.responses[0] as Float64Array;
  const rows: number[][] = [];
  const ys: number[] = [];
  const ws: number[] = [];
  for (let i = 0; i < n; i++) {
    if (design.use && design.use[i] === 0) continue;
    const w = design.weights ? (design.weights[i] as number) : 1;
    rows.push([...(intercept ? [1] : []), ...design.predictors.map((c) => c[i] as number)]);
    ys.push(y[i] as number);
    ws.push(w);
  }
  const p = (rows[0] as number[]).length;
  const xtwx = Matrix.zeros(p, p);
  const xtwy = Matrix.zeros(p, 1);
  rows.forEach((row, i) => {
    const w = ws[i] as number;
    for (let a = 0; a < p; a++) {
      xtwy.set(a, 0, xtwy.get(a, 0) + w * (row[a] as number) * (ys[i] as number));
      for (let b = 0; b < p; b++)
        xtwx.set(a, b, xtwx.get(a, b) + w * (row[a] as number) * (row[b] as number));
    }
  });
  const xtwxInverse = inverse(xtwx);
  const beta = xtwxInverse.mmul(xtwy).getColumn(0);
  const fitted = rows.map((row) => row.reduce((s, x, a) => s + x * (beta[a] as number), 0));
  const residuals = ys.map((v, i) => v - (fitted[i] as number));
  const nPositive = ws.filter((w) => w > 0).length;
  const rss = residuals.reduce((s, r, i) => s + (ws[i] as number) * r * r, 0);
  const df = nPositive - p;
  const sigma2 = rss / df;
  const sumW = ws.reduce((s, w) => s + w, 0);
  const fittedMean = intercept ? fitted.reduce((s, f, i) => s + (ws[i] as number) * f, 0) / sumW : 0;
  const mss = fitted.reduce((s, f, i) => s + (ws[i] as number) * (f - fittedMean) ** 2, 0);
  return {
    beta,
    stdError: beta.map((_, a) => Math.sqrt(sigma2 * xtwxInverse.get(a, a))),
    covariance: xtwxInverse.mul(sigma2),
    sigma: Math.sqrt(sigma2),
    rSquared: mss / (mss + rss),
    df,
  };
}

function randomColumn(random: () => number, n: number, scale = 1, shift = 0): Float64Array {
  return Float64Array.from({ length: n }, () => shift + scale * (random() - 0.5));
}

// ---------------------------------------------------------------------------------------------------
// NIST StRD linear least squares.

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
    anova?: { regression: { f_statistic: number } };
  };
}

const SHARED_DIR = referencePath('nist_strd/linear_regression');
/** Filip, NoInt2, Wampler1-5: not in shared/ yet; transcribed from the same mirror (see its README). */
const FIXTURE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/nist_strd');

async function loadNistCases(): Promise<Array<{ spec: NistCase; design: Design }>> {
  const seen = new Set<string>();
  const out: Array<{ spec: NistCase; design: Design }> = [];
  for (const dir of [SHARED_DIR, FIXTURE_DIR]) {
    for (const file of (await readdir(dir)).filter((f) => f.endsWith('.json')).sort()) {
      const spec = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as NistCase;
      if (seen.has(spec.dataset)) continue; // shared/ wins once a case is moved there
      seen.add(spec.dataset);
      const { header, rows } = parseCsv(await readFile(path.join(dir, spec.csv), 'utf8'));
      const column = (name: string) => Float64Array.from(rows, (r) => Number(r[header.indexOf(name)]));
      const ms = spec.model_spec;
      const predictors =
        ms.type === 'polynomial'
          ? Array.from({ length: ms.degree as number }, (_, d) =>
              column(ms.x as string).map((v) => v ** (d + 1)),
            )
          : (ms.predictors as string[]).map(column);
      out.push({ spec, design: { predictors, responses: [column('y')] } });
    }
  }
  return out;
}

/** The smallest LRE over coefficients, their standard deviations, residual SD and R-squared. */
function nistLre(fit: LeastSquaresFit, certified: NistCase['certified']) {
  const coefficients = Math.min(
    ...certified.parameters.map((p, i) => lre(fit.coefficients[i]?.estimate ?? Number.NaN, p.estimate)),
  );
  const stdErrors = Math.min(
    ...certified.parameters.map((p, i) => lre(fit.coefficients[i]?.stdError ?? Number.NaN, p.std_dev)),
  );
  const sigma = lre(fit.sigma, certified.residual_standard_deviation);
  const rSquared = lre(fit.rSquared, certified.r_squared);
  return {
    coefficients,
    stdErrors,
    sigma,
    rSquared,
    min: Math.min(coefficients, stdErrors, sigma, rSquared),
  };
}

/** Filip's certified fit keeps x^10; with R's default tolerance it is (correctly) found aliased. */
const FILIP_FIT_TOLERANCE = 1e-11;

/**
 * One QR pass is backward stable, and its forward error carries a kappa^2 * ||r|| term that the
 * huge-residual Wampler cases expose (R's lm shows the same): these are the LREs one pass achieves
 * (measured 8.6 and 6.6; asserted with margin). The refinement round reaches >= 9 everywhere.
 */
const SINGLE_PASS_COEFFICIENT_LRE: Record<string, number> = { Wampler4: 8.3, Wampler5: 6.3 };

describe('least squares: NIST StRD linear regression, many chunks merged in order', async () => {
  const cases = await loadNistCases();
  it('finds the cases (shared/ and the transcribed fixtures)', () => {
    const names = cases.map((c) => c.spec.dataset);
    for (const name of ['Longley', 'Norris', 'Pontius', 'NoInt1', 'NoInt2', 'Filip', 'Wampler1', 'Wampler5'])
      assert.ok(names.includes(name), `${name} missing`);
  });
  for (const { spec, design } of cases) {
    const n = numRowsOf(design);
    for (const rowsPerChunk of [7, Math.ceil(n / 3)]) {
      const label = `${spec.dataset}, ${Math.ceil(n / rowsPerChunk)} chunks of <= ${rowsPerChunk} rows`;
      if (spec.dataset === 'Filip') {
        it(`${label}: x^10 aliased with the default tolerance (rank 10, honest report)`, () => {
          const { fit } = fitInChunks(design, rowsPerChunk, { intercept: true });
          assert.equal(fit.rank, 10);
          assert.deepEqual(
            fit.coefficients.map((c) => c.aliased),
            [...Array(10).fill(false), true],
          );
          assert.ok(Number.isNaN(fit.coefficients[10]?.estimate));
          assert.ok(fit.conditionNumber > 1e8, `condition number ${fit.conditionNumber}`);
        });
        it(`${label}: with tolerance ${FILIP_FIT_TOLERANCE}, all 11 terms at LRE >= 7`, () => {
          const { fit, refined } = fitInChunks(design, rowsPerChunk, { tolerance: FILIP_FIT_TOLERANCE });
          assert.equal(fit.rank, 11);
          for (const f of [fit, refined]) {
            const l = nistLre(f, spec.certified);
            assert.ok(l.min >= 7, `Filip LRE ${JSON.stringify(l)}`);
          }
        });
        continue;
      }
      it(`${label}: LRE >= 9 (refined), single pass as documented`, () => {
        const { fit, refined } = fitInChunks(design, rowsPerChunk, { intercept: spec.model_spec.intercept });
        assert.equal(fit.rank, spec.certified.parameters.length);
        assert.ok(fit.coefficients.every((c) => !c.aliased));
        const one = nistLre(fit, spec.certified);
        const two = nistLre(refined, spec.certified);
        assert.ok(two.min >= 9, `refined LRE ${JSON.stringify(two)}`);
        assert.ok(
          one.coefficients >= (SINGLE_PASS_COEFFICIENT_LRE[spec.dataset] ?? 9),
          `${JSON.stringify(one)}`,
        );
        assert.ok(
          Math.min(one.stdErrors, one.sigma, one.rSquared) >= 9,
          `single pass LRE ${JSON.stringify(one)}`,
        );
        const f = spec.certified.anova?.regression.f_statistic;
        if (f !== undefined)
          assert.ok(lre(fit.fStatistic.value, f) >= 9, `F ${fit.fStatistic.value} vs ${f}`);
      });
    }
  }

  it('Wampler5 with constant probability weights 2 and masked junk rows: the certified fit', () => {
    const wampler5 = cases.find((c) => c.spec.dataset === 'Wampler5');
    assert.ok(wampler5);
    const { design } = wampler5;
    const n = numRowsOf(design);
    // Interleave junk rows (NaN, huge) that the mask removes; constant weights leave b and its SEs unchanged.
    const pad = <T extends Float64Array>(c: T, junk: number) =>
      Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? (c[i / 2] as number) : junk));
    const padded: Design = {
      predictors: design.predictors.map((c) => pad(c, Number.NaN)),
      responses: [pad(design.responses[0] as Float64Array, 1e30)],
      weights: Float64Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 2 : Number.NaN)),
      use: Uint8Array.from({ length: 2 * n }, (_, i) => (i % 2 === 0 ? 1 : 0)),
    };
    const { fit, refined } = fitInChunks(padded, 5);
    assert.equal(fit.nObs, n);
    // Weights 2 double the weighted residual sum of squares: sigma grows by sqrt(2), (X^T W X)^-1
    // halves, and the standard errors stay as certified.
    const certified = wampler5.spec.certified;
    const l = nistLre(refined, {
      ...certified,
      residual_standard_deviation: Math.SQRT2 * certified.residual_standard_deviation,
    });
    assert.ok(l.min >= 9, JSON.stringify(l));
  });
});

// ---------------------------------------------------------------------------------------------------
// Rank detection.

describe('least squares: aliased (collinear) columns, dropped in column order', () => {
  const n = 200;
  const random = seededRandom(11);
  const x1 = randomColumn(random, n, 4, 10);
  const x2 = randomColumn(random, n, 2, -3);
  const x4 = randomColumn(random, n, 1, 0);
  const y = Float64Array.from(
    { length: n },
    (_, i) => 1 + 2 * (x1[i] as number) - (x2[i] as number) + 0.5 * (x4[i] as number) + random(),
  );
  const exact = Float64Array.from(x1, (v, i) => v + (x2[i] as number));
  const noisy = Float64Array.from(exact, (v) => v * (1 + 1e-12 * (random() - 0.5)));

  for (const [name, x3] of [
    ['x3 = x1 + x2 exactly', exact],
    ['x3 = x1 + x2 with relative noise 1e-12', noisy],
  ] as const) {
    it(`${name}: x3 aliased, rank 3 with intercept, the rest equals the fit without x3`, () => {
      const { fit } = fitInChunks({ predictors: [x1, x2, x3], responses: [y] }, 7);
      assert.equal(fit.rank, 3);
      assert.deepEqual(
        fit.coefficients.map((c) => c.aliased),
        [false, false, false, true],
      );
      const aliased = fit.coefficients[3] as LeastSquaresFit['coefficients'][number];
      for (const v of [aliased.estimate, aliased.stdError, aliased.statistic, aliased.pValue])
        assert.ok(Number.isNaN(v));
      const reference = normalEquations({ predictors: [x1, x2], responses: [y] }, true);
      reference.beta.forEach((b, i) => {
        assert.ok(relDiff(fit.coefficients[i]?.estimate as number, b) < 1e-10);
        assert.ok(relDiff(fit.coefficients[i]?.stdError as number, reference.stdError[i] as number) < 1e-10);
      });
      assert.equal(fit.dfResidual, n - 3);
      assert.ok(relDiff(fit.sigma, reference.sigma) < 1e-12);
      assert.ok(relDiff(fit.rSquared, reference.rSquared) < 1e-12);
    });
  }

  it('drops the LATER column of a collinear set (column order decides), keeps later independent ones', () => {
    // [x1, x1 + x2, x2, x4]: x2 comes after the sum, so x2 is the one dropped; x4 stays.
    const { fit } = fitInChunks({ predictors: [x1, exact, x2, x4], responses: [y] }, 13);
    assert.deepEqual(
      fit.coefficients.map((c) => c.aliased),
      [false, false, false, true, false],
    );
    assert.equal(fit.rank, 4);
    const reference = normalEquations({ predictors: [x1, exact, x4], responses: [y] }, true);
    [0, 1, 2, 4].forEach((column, i) => {
      assert.ok(relDiff(fit.coefficients[column]?.estimate as number, reference.beta[i] as number) < 1e-10);
    });
    assert.equal(fit.fStatistic.numDf, 3);
  });

  it('a constant column is aliased with the intercept; an all-zero column is aliased without one', () => {
    const constant = new Float64Array(n).fill(1e6);
    const zero = new Float64Array(n);
    const withIntercept = fitInChunks({ predictors: [x1, constant], responses: [y] }, 50).fit;
    assert.deepEqual(
      withIntercept.coefficients.map((c) => c.aliased),
      [false, false, true],
    );
    const noIntercept = fitInChunks({ predictors: [zero, x1], responses: [y] }, 50, { intercept: false }).fit;
    assert.deepEqual(
      noIntercept.coefficients.map((c) => c.aliased),
      [true, false],
    );
    assert.equal(noIntercept.rank, 1);
  });

  it('a nearly-constant column (sd 1e-9 of its mean) is aliased with the intercept, as lm does', () => {
    const almost = Float64Array.from({ length: n }, () => 1000 * (1 + 1e-9 * (random() - 0.5)));
    const { fit } = fitInChunks({ predictors: [x1, almost], responses: [y] }, 20);
    assert.equal(fit.coefficients[2]?.aliased, true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Weights, no intercept, several responses, covariance.

describe('least squares: weights, no intercept, responses, covariance', () => {
  const n = 300;
  const random = seededRandom(5);
  const x1 = randomColumn(random, n, 10, 50);
  const x2 = randomColumn(random, n, 3, 0);
  const y = Float64Array.from(
    { length: n },
    (_, i) => 3 - 0.7 * (x1[i] as number) + 2 * (x2[i] as number) + 5 * random(),
  );

  it('weighted least squares (probability weights, some 0) equals the normal-equations solve', () => {
    const weights = Float64Array.from({ length: n }, (_, i) => (i % 17 === 0 ? 0 : 0.1 + 3 * random()));
    const design: Design = { predictors: [x1, x2], responses: [y], weights };
    const { fit, refined } = fitInChunks(design, 23, { covCoef: true });
    const reference = normalEquations(design, true);
    for (const f of [fit, refined]) {
      reference.beta.forEach((b, i) => {
        assert.ok(relDiff(f.coefficients[i]?.estimate as number, b) < 1e-10, `b${i}`);
        assert.ok(
          relDiff(f.coefficients[i]?.stdError as number, reference.stdError[i] as number) < 1e-10,
          `se${i}`,
        );
      });
      assert.ok(relDiff(f.sigma, reference.sigma) < 1e-12);
      assert.ok(relDiff(f.rSquared, reference.rSquared) < 1e-12);
    }
    // Zero-weight rows are not observations for the degrees of freedom (R's lm).
    assert.equal(fit.dfResidual, reference.df);
    assert.equal(fit.nObs, n - Math.ceil(n / 17));
    const cov = fit.covCoef as Float64Array;
    for (let a = 0; a < 3; a++)
      for (let b = 0; b < 3; b++)
        assert.ok(relDiff(cov[a * 3 + b] as number, reference.covariance.get(a, b)) < 1e-9);
  });

  it('frequency weights equal replicating the rows', () => {
    const counts = Int32Array.from({ length: n }, () => 1 + Math.floor(random() * 4));
    const replicate = (c: Float64Array) =>
      Float64Array.from([...c].flatMap((v, i) => Array(counts[i]).fill(v)));
    const weighted = fitInChunks(
      { predictors: [x1, x2], responses: [y], weights: Float64Array.from(counts) },
      31,
      { frequencyWeights: true },
    ).fit;
    const replicated = fitInChunks(
      { predictors: [x1, x2].map(replicate), responses: [replicate(y)] },
      31,
    ).fit;
    assert.equal(weighted.nObs, replicated.nObs);
    assert.equal(weighted.dfResidual, replicated.dfResidual);
    weighted.coefficients.forEach((c, i) => {
      assert.ok(relDiff(c.estimate, replicated.coefficients[i]?.estimate as number) < 1e-11);
      assert.ok(relDiff(c.stdError, replicated.coefficients[i]?.stdError as number) < 1e-11);
    });
    assert.ok(relDiff(weighted.sigma, replicated.sigma) < 1e-12);
    assert.ok(relDiff(weighted.adjRSquared, replicated.adjRSquared) < 1e-12);
  });

  it("no intercept: R's uncentred R-squared, adjusted R-squared with n, F on rank df", () => {
    const design: Design = { predictors: [x1, x2], responses: [y] };
    const { fit } = fitInChunks(design, 40, { intercept: false });
    const reference = normalEquations(design, false);
    assert.ok(relDiff(fit.coefficients[0]?.estimate as number, reference.beta[0] as number) < 1e-10);
    assert.ok(relDiff(fit.rSquared, reference.rSquared) < 1e-12);
    // summary.lm: adj = 1 - (1 - R2) * (n - df.int) / rdf with df.int = 0; F = (mss / p) / (rss / rdf).
    assert.ok(relDiff(fit.adjRSquared, 1 - ((1 - reference.rSquared) * n) / (n - 2)) < 1e-12);
    assert.equal(fit.fStatistic.numDf, 2);
    assert.equal(fit.fStatistic.denDf, n - 2);
    const expectedF = (reference.rSquared / (1 - reference.rSquared)) * ((n - 2) / 2);
    assert.ok(relDiff(fit.fStatistic.value, expectedF) < 1e-10);
  });

  it('cbind responses: each response fits as if it were alone', () => {
    const y2 = Float64Array.from({ length: n }, (_, i) => (x2[i] as number) ** 2 + random());
    const both = fitInChunks({ predictors: [x1, x2], responses: [y, y2] }, 37);
    const second = solveLeastSquares(both.partial, { response: 1 });
    const alone = fitInChunks({ predictors: [x1, x2], responses: [y2] }, 37).fit;
    second.coefficients.forEach((c, i) => {
      assert.ok(relDiff(c.estimate, alone.coefficients[i]?.estimate as number) < 1e-12);
      assert.ok(relDiff(c.stdError, alone.coefficients[i]?.stdError as number) < 1e-12);
    });
    assert.ok(relDiff(second.rSquared, alone.rSquared) < 1e-12);
    const first = solveLeastSquares(both.partial, { response: 0 });
    assert.ok(relDiff(first.sigma, both.fit.sigma) === 0);
  });

  it('masked rows are left out exactly as if they were not there', () => {
    const use = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 0 : 1));
    const withMask = fitInChunks({ predictors: [x1, x2], responses: [y], use }, 29).fit;
    const keep = (c: Float64Array) => c.filter((_, i) => i % 3 !== 0);
    const filtered = normalEquations({ predictors: [x1, x2].map(keep), responses: [keep(y)] }, true);
    filtered.beta.forEach((b, i) => {
      assert.ok(relDiff(withMask.coefficients[i]?.estimate as number, b) < 1e-10);
    });
    assert.equal(withMask.dfResidual, filtered.df);
  });
});

// ---------------------------------------------------------------------------------------------------
// Merging, codec, errors.

describe('least squares: partials', () => {
  const n = 90;
  const random = seededRandom(7);
  const x = randomColumn(random, n, 1, 1e4);
  const z = randomColumn(random, n, 5, 0);
  const y = Float64Array.from({ length: n }, (_, i) => 2 * (x[i] as number) - (z[i] as number) + random());
  const chunks = chunksOf({ predictors: [x, z], responses: [y], weights: randomColumn(random, n, 1, 1) }, 30);
  const [a, b, c] = chunks.map(qrPartial) as [QrPartial, QrPartial, QrPartial];

  it('merge is associative up to rounding', () => {
    const left = mergeQr(mergeQr(a, b), c);
    const right = mergeQr(a, mergeQr(b, c));
    assert.equal(left.numRows, right.numRows);
    assert.equal(left.sumWeights, right.sumWeights);
    left.means.forEach((m, j) => {
      assert.ok(relDiff(m, right.means[j] as number) < 1e-14);
    });
    const fl = solveLeastSquares(left);
    const fr = solveLeastSquares(right);
    fl.coefficients.forEach((co, i) => {
      assert.ok(relDiff(co.estimate, fr.coefficients[i]?.estimate as number) < 1e-11);
      assert.ok(relDiff(co.stdError, fr.coefficients[i]?.stdError as number) < 1e-11);
    });
  });

  it('an empty partial is the identity of merge, bit for bit', () => {
    const empty = emptyQrPartial(2, 1);
    assert.deepEqual(mergeQr(empty, a), a);
    assert.deepEqual(mergeQr(a, empty), a);
  });

  it('partials and refinement partials survive the codec bit for bit', () => {
    const merged = mergeQr(mergeQr(a, b), c);
    const decoded = decodePartial(encodePartial(merged)) as QrPartial;
    assert.deepEqual(decoded, merged);
    assert.deepEqual(solveLeastSquares(decoded), solveLeastSquares(merged));
    const plan = refinementPlan(merged, solveLeastSquares(merged));
    assert.deepEqual(JSON.parse(JSON.stringify(plan)), plan); // the plan is plain JSON (job state)
    const products = residualProducts(chunks[0] as QrChunkInput, plan);
    assert.deepEqual(decodePartial(encodePartial(products)), products);
  });

  it('bad input: no observations, negative weights, non-finite values', () => {
    const none = qrPartial({ ...(chunks[0] as QrChunkInput), use: new Uint8Array(30) });
    assert.equal(none.numRows, 0);
    assert.throws(
      () => solveLeastSquares(none),
      (e: unknown) => e instanceof EngineError && e.code === 'NO_VALID_OBSERVATIONS',
    );
    const negative = Float64Array.from({ length: 30 }, (_, i) => (i === 4 ? -1 : 1));
    assert.throws(
      () => qrPartial({ ...(chunks[0] as QrChunkInput), weights: negative }),
      (e: unknown) => e instanceof EngineError && e.code === 'INVALID_WEIGHT',
    );
    const withNaN = Float64Array.from(x.subarray(0, 30), (v, i) => (i === 3 ? Number.NaN : v));
    assert.throws(
      () => qrPartial({ ...(chunks[0] as QrChunkInput), predictors: [withNaN, z.slice(0, 30)] }),
      (e: unknown) => e instanceof EngineError && e.code === 'NON_FINITE_VALUE',
    );
  });

  it('p-values: the t and F statistics of a fit have the p-values of their distributions', () => {
    const fit = solveLeastSquares(mergeQr(mergeQr(a, b), c));
    for (const co of fit.coefficients) assert.equal(co.pValue, tTwoSidedPValue(co.statistic, fit.dfResidual));
    const { value, numDf, denDf, pValue } = fit.fStatistic;
    assert.equal(pValue, fUpperPValue(value, numDf, denDf));
    assert.ok(Math.abs(fit.adjRSquared - (1 - ((1 - fit.rSquared) * (n - 1)) / (n - 3))) < 1e-14);
  });
});

describe('t and F tail probabilities', () => {
  it('match closed forms (t with 1 and 2 df, F with 2 numerator df, F(1, d) = t^2)', () => {
    for (const t of [0, 0.3, 1, 2.5, 10, 1e3, 1e8]) {
      // t(1) is Cauchy: P(|T| > t) = (2 / pi) atan(1 / t); t(2): 1 - t / sqrt(2 + t^2) = 2 / (sqrt(2 + t^2) (sqrt(2 + t^2) + t)).
      const cauchy = t === 0 ? 1 : (2 / Math.PI) * Math.atan(1 / t);
      assert.ok(relDiff(tTwoSidedPValue(t, 1), cauchy) < 1e-13, `t=${t} df=1`);
      assert.ok(relDiff(tTwoSidedPValue(-t, 1), cauchy) < 1e-13);
      const s = Math.sqrt(2 + t * t);
      assert.ok(relDiff(tTwoSidedPValue(t, 2), 2 / (s * (s + t))) < 1e-13, `t=${t} df=2`);
    }
    for (const [f, d2] of [
      [0.5, 7],
      [3, 40],
      [50, 1000],
      [1e-6, 5],
    ] as const) {
      // F(2, d2): P(F > f) = (1 + 2 f / d2)^(-d2 / 2).
      assert.ok(
        relDiff(fUpperPValue(f, 2, d2), (1 + (2 * f) / d2) ** (-d2 / 2)) < 1e-12,
        `F(2, ${d2}) at ${f}`,
      );
      assert.ok(
        relDiff(fUpperPValue(f, 1, d2), tTwoSidedPValue(Math.sqrt(f), d2)) < 1e-13,
        `F(1, ${d2}) at ${f}`,
      );
    }
  });

  it('match printed tables at the usual quantiles (qt(0.975, 10), qf(0.95, 3, 20))', () => {
    assert.ok(Math.abs(tTwoSidedPValue(2.228138852, 10) - 0.05) < 1e-9);
    assert.ok(Math.abs(fUpperPValue(3.098391212, 3, 20) - 0.05) < 1e-9);
  });

  it('edge cases: infinite statistic, no degrees of freedom', () => {
    assert.equal(tTwoSidedPValue(Number.POSITIVE_INFINITY, 5), 0);
    assert.ok(Number.isNaN(tTwoSidedPValue(1, 0)));
    assert.ok(Number.isNaN(fUpperPValue(1, 2, 0)));
    assert.equal(fUpperPValue(0, 2, 3), 1);
  });
});
