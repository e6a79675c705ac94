import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { glm } from '../../src/engine/analyses/glm.ts';
import type { GlmResult } from '../../src/engine/analyses/glmCommon.ts';
import { logit } from '../../src/engine/analyses/logit.ts';
import {
  type Columns,
  close,
  clottingColumns,
  d93Columns,
  dataset,
  fitGlm,
  INFERT_GROUPED,
  infertColumns,
  type RFit,
  rReference,
} from './glmData.ts';

/**
 * Weights, grouped responses and row handling: frequency weights against replicated rows (and R's fit
 * of the replicated rows), probability weights against R's glm(weights =), cbind(successes, failures)
 * against the ungrouped fit, and rows dropped for missing values, zero weights or collinearity.
 */

const INFERT = 'case ~ spontaneous + induced';

function estimates(result: GlmResult): Array<number | null> {
  return result.coefficients.map((c) => c.estimate);
}

function assertEstimatesClose(a: GlmResult, b: { estimate: number | null }[], tolerance: number): void {
  assert.equal(a.coefficients.length, b.length);
  a.coefficients.forEach((c, i) => {
    const expected = b[i]?.estimate;
    if (expected === null || expected === undefined) assert.equal(c.estimate, null);
    else assert.ok(close(c.estimate, expected, tolerance), `${c.term}: ${c.estimate} vs ${expected}`);
  });
}

function assertLikeR(result: GlmResult, r: RFit, tolerance = 1e-9): void {
  const fitted = result.coefficients.filter((c) => !c.aliased);
  r.coefficients.forEach((e, i) => {
    const c = fitted[i];
    assert.ok(c !== undefined);
    assert.ok(close(c.estimate, e.estimate, tolerance), `${e.term} ${c.estimate} vs ${e.estimate}`);
    assert.ok(close(c.stdError, e.stdError, tolerance), `${e.term} SE ${c.stdError} vs ${e.stdError}`);
  });
  assert.ok(close(result.deviance, r.deviance, tolerance), `deviance ${result.deviance} vs ${r.deviance}`);
  assert.ok(
    close(result.nullDeviance, r.nullDeviance, tolerance),
    `null ${result.nullDeviance} vs ${r.nullDeviance}`,
  );
  if (r.aic !== null) assert.ok(close(result.aic, r.aic, tolerance), `AIC ${result.aic} vs ${r.aic}`);
  assert.ok(close(result.dispersion, r.dispersion, tolerance));
  assert.equal(result.dfResidual, r.dfResidual);
  assert.equal(result.dfNull, r.dfNull);
}

/** Each row repeated `times[i]` times. */
function replicate(columns: Columns, times: readonly number[]): Columns {
  const out: Columns = {};
  for (const [name, values] of Object.entries(columns))
    out[name] = values.flatMap((v, i) => new Array<typeof v>(times[i] ?? 0).fill(v));
  return out;
}

describe('glm weights', async () => {
  const reference = await rReference();

  it('fweights give the fit of the replicated rows (and R’s fit of them)', async () => {
    const columns = await infertColumns();
    const parity = columns['parity'] as number[];
    const weighted = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial', fweights: 'parity' },
      dataset(columns, 20, { education: null }),
    );
    const replicated = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial' },
      dataset(replicate(columns, parity), 20, { education: null }),
    );
    // Same IRLS path (starting values per row, as if replicated): equal up to summation order.
    assertEstimatesClose(weighted.result, replicated.result.coefficients, 1e-12);
    for (const key of ['deviance', 'nullDeviance', 'aic', 'dispersion'] as const)
      assert.ok(close(weighted.result[key], replicated.result[key] as number, 1e-12), key);
    assert.equal(weighted.result.dfResidual, replicated.result.dfResidual);
    assert.equal(weighted.result.dfNull, replicated.result.dfNull);
    assert.equal(weighted.result.iterations, replicated.result.iterations);
    weighted.result.coefficients.forEach((c, i) => {
      assert.ok(close(c.stdError, replicated.result.coefficients[i]?.stdError as number, 1e-10));
    });
    // RevoScaleR counts rows: 248 valid observations stand for sum(parity) = 519.
    assert.equal(weighted.result.nValidObs, 248);
    assert.equal(weighted.result.dfNull, parity.reduce((a, b) => a + b, 0) - 1);
    assertLikeR(weighted.result, reference.get('infert fweights parity') as RFit);
  });

  it('fweights on a poisson model match replication too (AIC included)', async () => {
    const columns = await d93Columns();
    const times = columns['w'] as number[];
    const factors = { outcome: ['1', '2', '3'], treatment: ['1', '2', '3'] };
    const params = { formula: 'counts ~ outcome + treatment', family: 'poisson' };
    const weighted = await fitGlm(glm, { ...params, fweights: 'w' }, dataset(columns, 2, factors));
    const replicated = await fitGlm(glm, params, dataset(replicate(columns, times), 2, factors));
    assertEstimatesClose(weighted.result, replicated.result.coefficients, 1e-12);
    assert.ok(close(weighted.result.aic, replicated.result.aic as number, 1e-12));
    assert.equal(weighted.result.dfResidual, replicated.result.dfResidual);
  });

  it("pweights are R's glm(weights =): binomial with non-integer weights", async () => {
    const { result } = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial', pweights: 'w' },
      dataset(await infertColumns(), 25, { education: null }),
    );
    assertLikeR(result, reference.get('infert pweights age/30') as RFit);
  });

  it("pweights are R's glm(weights =): poisson, gaussian and Gamma", async () => {
    const d93 = dataset(await d93Columns(), 2, { outcome: ['1', '2', '3'], treatment: ['1', '2', '3'] });
    const poisson = await fitGlm(
      glm,
      { formula: 'counts ~ outcome + treatment', family: 'poisson', pweights: 'w', dropFirst: true },
      d93,
    );
    assertLikeR(poisson.result, reference.get('d93 poisson pweights') as RFit);
    const clotting = dataset(await clottingColumns(), 2);
    const gaussian = await fitGlm(
      glm,
      { formula: 'lot1 ~ logu', family: 'gaussian', pweights: 'w' },
      clotting,
    );
    assertLikeR(gaussian.result, reference.get('clot gaussian gauss weights') as RFit);
    const gamma = await fitGlm(glm, { formula: 'lot1 ~ logu', family: 'Gamma', pweights: 'w' }, clotting);
    assertLikeR(gamma.result, reference.get('clot Gamma weights') as RFit);
  });

  it('zero weights: the rows stay valid observations but leave the fit and its degrees of freedom', async () => {
    const columns = await infertColumns();
    const keep = (columns['age'] as number[]).map((a) => (a < 30 ? 1 : 0));
    const weighted = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial', pweights: 'keep' },
      dataset({ ...columns, keep }, 30, { education: null }),
    );
    const kept = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial' },
      dataset(replicate(columns, keep), 30, { education: null }),
    );
    assertEstimatesClose(weighted.result, kept.result.coefficients, 1e-10);
    assert.equal(weighted.result.dfResidual, kept.result.dfResidual);
    assert.equal(weighted.result.nValidObs, 248);
    assert.ok(close(weighted.result.deviance, kept.result.deviance as number, 1e-10));
  });
});

describe('glm responses and rows', async () => {
  const reference = await rReference();

  it('cbind(successes, failures) gives the ungrouped coefficients, and R’s grouped deviance and AIC', async () => {
    const grouped = await fitGlm(
      logit,
      { formula: 'cbind(s, f) ~ spontaneous + induced' },
      dataset(INFERT_GROUPED, 3),
    );
    const ungrouped = await fitGlm(
      logit,
      { formula: INFERT },
      dataset(await infertColumns(), 40, { education: null }),
    );
    assertEstimatesClose(grouped.result, ungrouped.result.coefficients, 1e-9);
    assertLikeR(grouped.result, reference.get('infert cbind') as RFit);
  });

  it('a logical response is 0/1; a 2-level factor response codes its first level as 0', async () => {
    const columns = await infertColumns();
    const cases = columns['case'] as number[];
    const numeric = await fitGlm(logit, { formula: INFERT }, dataset(columns, 40, { education: null }));
    const logical = await fitGlm(
      logit,
      { formula: 'yes ~ spontaneous + induced' },
      dataset({ ...columns, yes: cases.map((c) => c === 1) }, 40, { education: null }),
    );
    const factor = await fitGlm(
      logit,
      { formula: 'status ~ spontaneous + induced' },
      dataset({ ...columns, status: cases.map((c) => (c === 1 ? 'case' : 'control')) }, 40, {
        education: null,
        status: ['control', 'case'],
      }),
    );
    assert.deepEqual(estimates(logical.result), estimates(numeric.result));
    assert.deepEqual(estimates(factor.result), estimates(numeric.result));
  });

  it('rows with a missing value are dropped and counted; results as without them', async () => {
    const columns = await infertColumns();
    const spontaneous = (columns['spontaneous'] as number[]).map((v, i) => (i % 7 === 3 ? null : v));
    const withMissing = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial' },
      dataset({ ...columns, spontaneous }, 16, { education: null }),
    );
    const present = spontaneous.map((v) => (v === null ? 0 : 1));
    const without = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial' },
      dataset(replicate({ ...columns, spontaneous }, present), 16, { education: null }),
    );
    const missing = present.filter((p) => p === 0).length;
    assert.equal(withMissing.result.nMissingObs, missing);
    assert.equal(withMissing.result.nValidObs, 248 - missing);
    assertEstimatesClose(withMissing.result, without.result.coefficients, 1e-12);
  });

  it('a collinear column is aliased (no estimate) and the rest is the fit without it', async () => {
    const columns = await infertColumns();
    const twice = (columns['induced'] as number[]).map((v) => 2 * v + 1);
    const collinear = await fitGlm(
      glm,
      { formula: 'case ~ spontaneous + induced + twice', family: 'binomial' },
      dataset({ ...columns, twice }, 30, { education: null }),
    );
    const plain = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial' },
      dataset(columns, 30, { education: null }),
    );
    assert.equal(collinear.result.rank, 3);
    const last = collinear.result.coefficients[3];
    assert.deepEqual(last, {
      term: 'twice',
      estimate: null,
      stdError: null,
      statistic: null,
      pValue: null,
      aliased: true,
    });
    assertEstimatesClose(
      { ...collinear.result, coefficients: collinear.result.coefficients.slice(0, 3) },
      plain.result.coefficients,
      1e-10,
    );
    assert.equal(collinear.result.dfResidual, plain.result.dfResidual);
  });

  it('a factor level present in one chunk only: same fit as in one chunk', async () => {
    const columns = await infertColumns();
    const data = { ...columns, education: columns['education'] as string[] };
    const params = {
      formula: 'case ~ spontaneous + induced + education',
      family: 'binomial',
      dropFirst: true,
    };
    // Sorted by education, the 12 '0-5yrs' rows fall in the first chunk only.
    const order = (data.education as string[])
      .map((e, i) => [e, i] as const)
      .sort((a, b) => a[0].localeCompare(b[0]));
    const sorted: Columns = {};
    for (const [name, values] of Object.entries(data)) sorted[name] = order.map(([, i]) => values[i] ?? null);
    const chunked = await fitGlm(glm, params, dataset(sorted, 12, { education: null }));
    const whole = await fitGlm(glm, params, dataset(sorted, 1000, { education: null }));
    assertEstimatesClose(chunked.result, whole.result.coefficients, 1e-12);
    assert.deepEqual(
      chunked.result.coefficients.map((c) => c.term),
      ['(Intercept)', 'spontaneous', 'induced', 'education=0-5yrs', 'education=12+ yrs', 'education=6-11yrs'],
    );
  });

  it('the stored model carries what scoring needs: plan, family, link, coefficients, covariance', async () => {
    const { result, model } = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial', link: 'probit' },
      dataset(await infertColumns(), 40, { education: null }),
    );
    assert.equal(model.id, result.modelId);
    assert.equal(model.type, 'glm');
    const body = model.body as {
      family: string;
      link: string;
      dispersionFixed: boolean;
      responses: { response: string; coefficients: unknown[]; covUnscaled: number[] | null }[];
      plan: { responses: unknown[] };
    };
    assert.equal(body.family, 'binomial');
    assert.equal(body.link, 'probit');
    assert.equal(body.dispersionFixed, true);
    assert.equal(body.responses[0]?.response, 'case');
    assert.deepEqual(body.responses[0]?.coefficients, result.coefficients);
    // Var(beta) = dispersion * covUnscaled: its diagonal gives the standard errors.
    const cov = body.responses[0]?.covUnscaled as number[];
    result.coefficients.forEach((c, i) => {
      assert.ok(close(Math.sqrt(cov[i * 3 + i] as number), c.stdError as number, 1e-14));
    });
  });
});
