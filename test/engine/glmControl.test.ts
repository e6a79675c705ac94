import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { glm } from '../../src/engine/analyses/glm.ts';
import { logit } from '../../src/engine/analyses/logit.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { makeFamily } from '../../src/engine/glm/families.ts';
import { mapPass, mergePassPartials, type PassPartial } from '../../src/engine/glm/pass.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import {
  type Columns,
  close,
  dataset,
  fitGlm,
  INFERT_GROUPED,
  infertColumns,
  memoryIO,
  type RFit,
  rReference,
} from './glmData.ts';

/**
 * Iteration control (maxIterations, tolerances, initialValues), the pass partial's merge, and the
 * errors users get for input glm cannot fit: each with its code and status.
 */

const INFERT = 'case ~ spontaneous + induced';

async function rejects(
  params: Record<string, unknown>,
  columns: Columns,
  code: string,
  status: number,
  factors: Record<string, readonly string[] | null> = {},
): Promise<void> {
  const data = dataset(columns, 4, factors);
  await assert.rejects(
    runInProcess(glm, params, data.meta, data.chunks, { io: memoryIO() }),
    (error: unknown) => {
      assert.ok(error instanceof EngineError, String(error));
      assert.equal(error.code, code, error.message);
      assert.equal(error.status, status);
      return true;
    },
  );
}

describe('glm iteration control', async () => {
  const reference = await rReference();
  const infert = await infertColumns();
  const data = dataset(infert, 50, { education: null });
  const r = reference.get('infert binomial') as RFit;

  it('maxIterations: stops, says so in R words, and keeps the last coefficients', async () => {
    const { result, passes } = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial', maxIterations: 2 },
      data,
    );
    assert.equal(result.converged, false);
    assert.equal(result.iterations, 2);
    assert.equal(passes, 3);
    assert.deepEqual(result.warnings, ['glm.fit: algorithm did not converge']);
    // Two IRLS steps from mustart are close to, but not at, the maximum.
    const estimate = result.coefficients[1]?.estimate as number;
    assert.ok(Math.abs(estimate - (r.coefficients[1]?.estimate as number)) < 1e-2);
    assert.notEqual(estimate, r.coefficients[1]?.estimate);
  });

  it('coeffTolerance alone (objectiveFunctionTolerance 0) also converges to the maximum', async () => {
    const { result } = await fitGlm(
      glm,
      { formula: INFERT, family: 'binomial', objectiveFunctionTolerance: 0, coeffTolerance: 1e-10 },
      data,
    );
    assert.equal(result.converged, true);
    r.coefficients.forEach((e, i) => {
      assert.ok(close(result.coefficients[i]?.estimate ?? null, e.estimate, 1e-12));
    });
  });

  it('with both tests off, the fit runs maxIterations and reports no convergence', async () => {
    const { result } = await fitGlm(
      glm,
      {
        formula: INFERT,
        family: 'binomial',
        objectiveFunctionTolerance: 0,
        coeffTolerance: 0,
        maxIterations: 7,
      },
      data,
    );
    assert.equal(result.iterations, 7);
    assert.equal(result.converged, false);
    r.coefficients.forEach((e, i) => {
      assert.ok(close(result.coefficients[i]?.estimate ?? null, e.estimate, 1e-12));
    });
  });

  it('initialValues: a scalar, a vector, or R’s mustart all reach the same maximum', async () => {
    const starts = [0, [-1, 1, 0.5], null];
    for (const initialValues of starts) {
      const { result } = await fitGlm(glm, { formula: INFERT, family: 'binomial', initialValues }, data);
      r.coefficients.forEach((e, i) => {
        assert.ok(
          close(result.coefficients[i]?.estimate ?? null, e.estimate, 1e-7),
          JSON.stringify(initialValues),
        );
      });
    }
  });

  it('initialValues may list dropped reference levels too (RevoScaleR: one per coefficient)', async () => {
    const columns = { ...infert, education: infert['education'] as string[] };
    const params = { formula: 'case ~ spontaneous + education', family: 'binomial' };
    const fitted = await fitGlm(glm, params, dataset(columns, 50, { education: null }));
    const all = fitted.result.coefficients.map((c) => c.estimate ?? 123);
    const restarted = await fitGlm(
      glm,
      { ...params, initialValues: all },
      dataset(columns, 50, { education: null }),
    );
    assert.equal(restarted.result.iterations, 1);
    fitted.result.coefficients.forEach((c, i) => {
      assert.ok(
        c.estimate === null || close(restarted.result.coefficients[i]?.estimate ?? null, c.estimate, 1e-9),
      );
    });
  });

  it('covCoef: the dispersion-scaled covariance, squared standard errors on its diagonal', async () => {
    const columns = { ...infert, education: infert['education'] as string[] };
    const { result } = await fitGlm(
      glm,
      { formula: 'case ~ spontaneous + education', family: 'quasibinomial', covCoef: true },
      dataset(columns, 50, { education: null }),
    );
    const cov = result.covCoef as Array<Array<number | null>>;
    assert.equal(cov.length, result.coefficients.length);
    result.coefficients.forEach((c, i) => {
      if (c.aliased) {
        assert.ok(cov[i]?.every((v) => v === null));
        return;
      }
      assert.ok(close(cov[i]?.[i] ?? null, (c.stdError as number) ** 2, 1e-13), c.term);
      cov[i]?.forEach((v, j) => {
        assert.equal(v, cov[j]?.[i]);
      });
    });
    assert.ok(result.coefficients.some((c) => c.aliased));
  });

  it('pass partials merge associatively (to rounding) and in chunk order', async () => {
    const state = glm.init({ formula: INFERT, family: 'binomial' }, data.meta, { datasets: new Map() });
    const family = makeFamily(state.family);
    const parts = data.chunks.map((c) => mapPass(c.table, state.matrix, state.layout, family, state.plan));
    const [a, b, c] = parts as [PassPartial, PassPartial, PassPartial];
    const left = mergePassPartials(mergePassPartials(a, b), c);
    const right = mergePassPartials(a, mergePassPartials(b, c));
    assert.equal(left.usableRows, right.usableRows);
    assert.ok(close(left.deviance, right.deviance, 1e-14));
    assert.ok(close(left.aic[0] as number, right.aic[0] as number, 1e-14));
    left.wls?.r.forEach((v, i) => {
      assert.ok(Math.abs(v - (right.wls?.r[i] as number)) <= 1e-12 * Math.max(1, Math.abs(v)));
    });
  });
});

describe('glm input errors', async () => {
  const infert = await infertColumns();

  it('a link the family does not take: 400 INVALID_PARAMS', async () => {
    await rejects({ formula: INFERT, family: 'binomial', link: 'identity' }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
    await rejects({ formula: INFERT, family: 'poisson', link: 'logit' }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
  });

  it('tweedie takes its powers, other families do not; unknown params are refused', async () => {
    await rejects({ formula: INFERT, family: 'tweedie', link: 'log' }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
    await rejects({ formula: INFERT, family: 'poisson', variancePower: 1 }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
    await rejects({ formula: INFERT, family: 'tweedie', variancePower: 0.5 }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
    await rejects({ formula: INFERT, family: 'binomial', maxIter: 3 }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
    await rejects({ formula: INFERT, family: 'Binomial' }, infert, 'INVALID_PARAMS', 400, {
      education: null,
    });
  });

  it('responses outside the family’s range: 422 INVALID_RESPONSE, with the value', async () => {
    const y = (infert['parity'] as number[]).map((p) => p - 1);
    await rejects(
      { formula: 'y ~ spontaneous', family: 'binomial' },
      { ...infert, y },
      'INVALID_RESPONSE',
      422,
      { education: null },
    );
    const negative = y.map((v) => v - 3);
    await rejects(
      { formula: 'y ~ spontaneous', family: 'poisson' },
      { ...infert, y: negative },
      'INVALID_RESPONSE',
      422,
      { education: null },
    );
    await rejects(
      { formula: 'y ~ spontaneous', family: 'Gamma' },
      { ...infert, y },
      'INVALID_RESPONSE',
      422,
      { education: null },
    );
    await rejects(
      { formula: 'cbind(s, f) ~ induced', family: 'binomial' },
      { ...INFERT_GROUPED, f: [60, -1, 11, 33, 11, 1, 20, 4] },
      'INVALID_RESPONSE',
      422,
    );
  });

  it('cbind is for the binomial families, with two columns', async () => {
    await rejects(
      { formula: 'cbind(s, f) ~ induced', family: 'poisson' },
      INFERT_GROUPED,
      'INVALID_FORMULA',
      400,
    );
    await rejects(
      { formula: 'cbind(s, f, induced) ~ spontaneous', family: 'binomial' },
      INFERT_GROUPED,
      'INVALID_FORMULA',
      400,
    );
  });

  it('factor responses: binomial families only, and with two levels', async () => {
    const columns = { ...infert, education: infert['education'] as string[] };
    await rejects(
      { formula: 'education ~ spontaneous', family: 'binomial' },
      columns,
      'WRONG_VARIABLE_TYPE',
      422,
      { education: null },
    );
    const two = (infert['case'] as number[]).map((c) => (c ? 'yes' : 'no'));
    await rejects(
      { formula: 'two ~ spontaneous', family: 'poisson' },
      { ...infert, two },
      'WRONG_VARIABLE_TYPE',
      422,
      { education: null, two: null },
    );
  });

  it('initialValues of the wrong length, a bad offset, no coefficients: 400 / 422', async () => {
    const f = { education: null };
    await rejects(
      { formula: INFERT, family: 'binomial', initialValues: [1, 2] },
      infert,
      'INVALID_PARAMS',
      400,
      f,
    );
    await rejects(
      { formula: INFERT, family: 'binomial', offset: 'nope' },
      infert,
      'UNKNOWN_VARIABLE',
      400,
      f,
    );
    await rejects(
      { formula: INFERT, family: 'binomial', offset: 'education' },
      infert,
      'WRONG_VARIABLE_TYPE',
      422,
      f,
    );
    await rejects(
      { formula: INFERT, family: 'binomial', offset: 'age + parity' },
      infert,
      'INVALID_PARAMS',
      400,
      f,
    );
    await rejects({ formula: 'case ~ 0', family: 'binomial' }, infert, 'INVALID_FORMULA', 400, f);
    await rejects({ formula: '~ spontaneous', family: 'binomial' }, infert, 'INVALID_FORMULA', 400, f);
  });

  it('no usable row: 422 NO_VALID_OBSERVATIONS', async () => {
    const spontaneous = (infert['spontaneous'] as number[]).map(() => null);
    await rejects(
      { formula: INFERT, family: 'binomial' },
      { ...infert, spontaneous },
      'NO_VALID_OBSERVATIONS',
      422,
      { education: null },
    );
  });

  it('no valid start (gaussian log link with y <= 0, as R): 422 NO_VALID_START; initialValues fix it', async () => {
    const y = (infert['spontaneous'] as number[]).map((v) => v);
    const columns = { ...infert, y };
    await rejects({ formula: 'y ~ age', family: 'gaussian', link: 'log' }, columns, 'NO_VALID_START', 422, {
      education: null,
    });
    const { result } = await fitGlm(
      glm,
      { formula: 'y ~ age', family: 'gaussian', link: 'log', initialValues: [-0.5, 0] },
      dataset(columns, 50, { education: null }),
    );
    assert.equal(result.converged, true);
  });

  it('logit refuses a family', async () => {
    const data = dataset(infert, 50, { education: null });
    await assert.rejects(
      runInProcess(logit, { formula: INFERT, family: 'poisson' }, data.meta, data.chunks, { io: memoryIO() }),
      { code: 'INVALID_PARAMS' },
    );
  });
});
