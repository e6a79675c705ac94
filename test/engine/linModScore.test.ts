import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type LinModResult, type LinModState, linMod, qrInput } from '../../src/engine/analyses/linMod.ts';
import { groupedQrPartial, planGroups } from '../../src/engine/analyses/linModGroups.ts';
import { fillModelMatrix } from '../../src/engine/formula/index.ts';
import type { JobIO } from '../../src/engine/jobIO.ts';
import { qrPartial, solveLeastSquares } from '../../src/engine/linalg/index.ts';
import type { LinearModelBody } from '../../src/engine/models/body.ts';
import { rowsToTable } from '../../src/engine/models/jsonRows.ts';
import { defaultScoreOptions, planScoring, scoreChunk } from '../../src/engine/models/score.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import { tTwoSidedQuantile } from '../../src/engine/stats/quantiles.ts';
import type { StoredModel } from '../../src/storage/modelStore.ts';
import { type ColumnSpec, makeDataset, parseCsv, relDiff, seededRandom } from './helpers.ts';

/**
 * In-process checks of what HTTP tests see only from outside: when the refinement pass runs, scoring
 * through a non-identity link (the path logit/glm models take), JSON rows typed like the model.
 */

/** A JobIO that keeps saved models in memory (linMod's finalize saves one). */
function memoryIO(): JobIO & { saved: StoredModel[] } {
  const saved: StoredModel[] = [];
  const refuse = async (): Promise<never> => {
    throw new Error('not in this test');
  };
  return {
    saved,
    jobId: 'job_test',
    tenant: 'local',
    folder: refuse,
    datasetMeta: refuse,
    readChunk: refuse,
    writeChunk: refuse,
    publish: refuse,
    async saveModel(model) {
      const stored: StoredModel = {
        ...model,
        id: `mdl_${String(saved.length).padStart(20, '0')}`,
        tenant: 'local',
        createdAt: new Date(0).toISOString(),
        jobId: 'job_test',
        dataset: 'ds_test',
      };
      saved.push(stored);
      return stored;
    },
    loadModel: refuse,
  };
}

async function fit(columns: ColumnSpec[], formula: string, rowsPerChunk = 7) {
  const ds = makeDataset(columns, rowsPerChunk);
  const io = memoryIO();
  const outcome = await runInProcessDetailed(linMod, { formula }, ds.meta, ds.chunks, { io });
  return {
    result: outcome.result as LinModResult,
    rounds: outcome.rounds,
    body: io.saved[0]?.body as LinearModelBody,
  };
}

describe('linMod: the refinement pass runs when the error bound asks for it', () => {
  it('skips it for a well-conditioned fit, runs it for Wampler5 (huge residuals)', async () => {
    const random = seededRandom(4);
    const x = Array.from({ length: 100 }, () => random());
    const y = x.map((v) => 1 + 2 * v + 0.1 * random());
    const easy = await fit(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'numeric', values: x },
      ],
      'y ~ x',
    );
    assert.equal(easy.rounds, 1);

    const dir = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures/nist_strd');
    const { header, rows } = parseCsv(await readFile(path.join(dir, 'Wampler5.csv'), 'utf8'));
    const xs = rows.map((r) => Number(r[header.indexOf('x')]));
    const columns: ColumnSpec[] = [
      { name: 'y', type: 'numeric', values: rows.map((r) => Number(r[header.indexOf('y')])) },
      ...[1, 2, 3, 4, 5].map(
        (d): ColumnSpec => ({ name: `x${d}`, type: 'numeric', values: xs.map((v) => v ** d) }),
      ),
    ];
    const hard = await fit(columns, 'y ~ x1 + x2 + x3 + x4 + x5');
    assert.equal(hard.rounds, 2);
    // Certified: every coefficient is exactly 1.
    for (const c of hard.result.coefficients) assert.ok(relDiff(c.estimate as number, 1) < 1e-9, c.term);
  });
});

describe('linMod: the chunk partial grouped by a factor equals the plain one', () => {
  const random = seededRandom(12);
  const n = 500;
  const x = Array.from({ length: n }, () => 100 + random());
  // Level 'd' never occurs (an empty indicator); 'c' is the reference (last) level.
  const g = Array.from({ length: n }, () => ['a', 'b', 'c'][Math.floor(3 * random())] as string);
  const y = x.map((v, i) => 2 * v + (g[i] === 'a' ? 1 : 0) + random());
  const w = Array.from({ length: n }, (_, i) => (i % 10 === 0 ? 0 : 0.5 + random()));
  for (const [label, formula, params] of [
    ['y ~ x + g', 'y ~ x + g', {}],
    ['y ~ g + x:g, pweights', 'y ~ g + x:g', { pweights: 'w' }],
    ['cube y ~ g + x', 'y ~ g + x', { cube: true }],
  ] as const) {
    it(label, () => {
      const ds = makeDataset(
        [
          { name: 'y', type: 'numeric', values: y },
          { name: 'x', type: 'numeric', values: x },
          { name: 'g', type: 'factor', values: g, levels: ['a', 'b', 'd', 'c'] },
          { name: 'w', type: 'numeric', values: w },
        ],
        n,
      );
      const state = linMod.init({ formula, ...params }, ds.meta) as LinModState;
      const groups = planGroups(state.plan);
      assert.ok(groups !== null && groups.length >= 2, 'a factor main effect to group by');
      const input = qrInput(state.plan, fillModelMatrix(state.plan, ds.chunks[0]!.table));
      const plain = qrPartial(input);
      const grouped = groupedQrPartial(input, groups);
      assert.equal(grouped.numRows, plain.numRows);
      assert.equal(grouped.sumWeights, plain.sumWeights);
      grouped.means.forEach((m, j) => {
        assert.ok(Math.abs(m - (plain.means[j] as number)) <= 1e-12 * Math.max(1, Math.abs(m)));
      });
      const options = { intercept: state.plan.intercept };
      const a = solveLeastSquares(plain, options);
      const b = solveLeastSquares(grouped, options);
      assert.deepEqual(
        b.coefficients.map((c) => c.aliased),
        a.coefficients.map((c) => c.aliased),
      );
      a.coefficients.forEach((c, i) => {
        if (c.aliased) return;
        assert.ok(relDiff(b.coefficients[i]?.estimate as number, c.estimate) < 1e-10, `${i}`);
        assert.ok(relDiff(b.coefficients[i]?.stdError as number, c.stdError) < 1e-10, `${i} se`);
      });
      assert.ok(relDiff(a.sigma, b.sigma) < 1e-12);
    });
  }
});

describe('scoring through a link function (the path of logit and glm models)', () => {
  /** A logit model body built by hand: eta = -1 + 0.8 x, covariance given. */
  function logitBody(base: LinearModelBody): LinearModelBody {
    return {
      ...base,
      family: 'binomial',
      link: 'logit',
      dispersionFixed: true,
      responses: [
        {
          ...(base.responses[0] as LinearModelBody['responses'][number]),
          coefficients: [
            { term: '(Intercept)', estimate: -1, stdError: 0.2, statistic: -5, pValue: 0, aliased: false },
            { term: 'x', estimate: 0.8, stdError: 0.1, statistic: 8, pValue: 0, aliased: false },
          ],
          dispersion: 1,
          covUnscaled: [0.04, -0.01, -0.01, 0.01],
        },
      ],
    };
  }

  it('response = plogis(eta), SE by the delta method, confidence limits mapped through the link', async () => {
    const { body } = await fit(
      [
        { name: 'y', type: 'numeric', values: [0, 1, 1, 0, 1, 1, 0, 1] },
        { name: 'x', type: 'numeric', values: [0.1, 2, 1.5, 0.3, 3, 2.2, 0.4, 1.9] },
      ],
      'y ~ x',
    );
    const model = logitBody(body);
    const { table, variables } = rowsToTable(model, [{ x: 0 }, { x: 1.25 }, { x: 4 }], false);
    const options = defaultScoreOptions({ computeStdErrors: true, interval: 'confidence' });
    const scored = scoreChunk(planScoring(model, variables, options), model, table);
    const out = scored.responses[0]!;
    const z = tTwoSidedQuantile(0.05, Number.POSITIVE_INFINITY);
    assert.ok(Math.abs(z - 1.959963984540054) < 1e-12, 'normal quantile for a fixed dispersion');
    [0, 1.25, 4].forEach((x, i) => {
      const eta = -1 + 0.8 * x;
      const mu = 1 / (1 + Math.exp(-eta));
      const seEta = Math.sqrt(0.04 - 2 * 0.01 * x + 0.01 * x * x);
      assert.ok(relDiff(out.prediction[i]!, mu) < 1e-14);
      assert.ok(relDiff(out.stdError![i]!, seEta * mu * (1 - mu)) < 1e-12);
      assert.ok(relDiff(out.lower![i]!, 1 / (1 + Math.exp(-(eta - z * seEta)))) < 1e-12);
      assert.ok(relDiff(out.upper![i]!, 1 / (1 + Math.exp(-(eta + z * seEta)))) < 1e-12);
    });
    const link = scoreChunk(planScoring(model, variables, { ...options, type: 'link' }), model, table);
    assert.ok(
      relDiff(link.responses[0]!.prediction[1]!, 0) < 1e-15 || link.responses[0]!.prediction[1] === 0,
    );
    assert.throws(
      () => planScoring(model, variables, { ...options, interval: 'prediction' }),
      (e: unknown) => (e as { code?: string }).code === 'INVALID_PARAMS',
    );
  });
});

describe('a logit model fitted by the logit analysis scores through the same path', () => {
  it('response = plogis(X beta) from its stored coefficients, link = X beta; an offset is added', async () => {
    const { logit } = await import('../../src/engine/analyses/logit.ts');
    const random = seededRandom(31);
    const n = 200;
    const x = Array.from({ length: n }, () => 4 * random() - 2);
    const g = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 'u' : 'v'));
    const y = x.map((v, i) => (random() < 1 / (1 + Math.exp(-(0.5 + v - (g[i] === 'u' ? 1 : 0)))) ? 1 : 0));
    const ds = makeDataset(
      [
        { name: 'y', type: 'numeric', values: y },
        { name: 'x', type: 'numeric', values: x },
        { name: 'g', type: 'factor', values: g },
      ],
      50,
    );
    const io = memoryIO();
    await runInProcessDetailed(logit, { formula: 'y ~ x + g' }, ds.meta, ds.chunks, { io });
    const body = io.saved[0]?.body as LinearModelBody;
    assert.equal(body.link, 'logit');
    const [b0, bx, bu] = body.responses[0]!.coefficients.map((c) => c.estimate) as [number, number, number];
    const rows = [
      { x: -1, g: 'u' },
      { x: 0.3, g: 'v' },
      { x: 1.7, g: 'u' },
    ];
    const { table, variables } = rowsToTable(body, rows, false);
    for (const type of ['response', 'link'] as const) {
      const options = defaultScoreOptions({ type });
      const scored = scoreChunk(planScoring(body, variables, options), body, table);
      rows.forEach((row, i) => {
        const eta = b0 + bx * row.x + (row.g === 'u' ? bu : 0);
        const want = type === 'link' ? eta : 1 / (1 + Math.exp(-eta));
        assert.ok(relDiff(scored.responses[0]!.prediction[i]!, want) < 1e-13, `${type} row ${i}`);
      });
    }
    // The same body with an offset: eta grows by the offset variable's value; a missing one gives NA.
    const withOffset = { ...body, offset: 'off' };
    const shifted = rowsToTable(
      withOffset,
      [
        { x: 0.3, g: 'v', off: 2 },
        { x: 0.3, g: 'v', off: null },
      ],
      false,
    );
    const options = defaultScoreOptions({ type: 'link' });
    const scored = scoreChunk(planScoring(withOffset, shifted.variables, options), withOffset, shifted.table);
    assert.ok(relDiff(scored.responses[0]!.prediction[0]!, b0 + 0.3 * bx + 2) < 1e-13);
    assert.ok(Number.isNaN(scored.responses[0]!.prediction[1]!));
    assert.equal(scored.predicted, 1);
    assert.throws(
      () => planScoring(withOffset, variables, options),
      (e: unknown) => (e as { code?: string }).code === 'MISSING_VARIABLES',
    );
  });
});

describe('JSON rows typed like the model', () => {
  it('numbers, logicals, dates and factor labels; wrong kinds are 400 naming row and field', async () => {
    const { body } = await fit(
      [
        { name: 'y', type: 'numeric', values: [1, 3, 2, 5, 4, 6, 8, 7, 9, 10] },
        {
          name: 'flag',
          type: 'logical',
          values: [true, false, true, false, true, true, false, false, true, false],
        },
        { name: 'day', type: 'date', values: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] },
        { name: 'g', type: 'factor', values: ['a', 'b', 'a', 'b', 'a', 'b', 'a', 'b', 'a', 'b'] },
      ],
      'y ~ flag + day + g',
    );
    const { table } = rowsToTable(
      body,
      [
        { flag: true, day: '1970-01-03', g: 'b' },
        { flag: 0, day: 5, g: null },
      ],
      false,
    );
    assert.equal(table.numRows, 2);
    assert.deepEqual([...(table.getChild('day')?.toArray() ?? [])], [2, 5]);
    assert.deepEqual([...(table.getChild('flag')?.toArray() ?? [])], [1, 0]);
    assert.equal(table.getChild('g')?.get(1), null);
    for (const [row, field] of [
      [{ flag: 'yes', day: 1, g: 'a' }, 'flag'],
      [{ flag: true, day: 'tomorrow', g: 'a' }, 'day'],
      [{ flag: true, day: 1, g: { level: 'a' } }, 'g'],
    ] as const) {
      assert.throws(
        () => rowsToTable(body, [{ flag: true, day: 1, g: 'a' }, row], false),
        (e: unknown) => {
          const error = e as { code?: string; status?: number; details?: { row: number; field: string } };
          return (
            error.code === 'INVALID_ROW_VALUE' &&
            error.status === 400 &&
            error.details?.row === 1 &&
            error.details.field === field
          );
        },
      );
    }
  });
});
