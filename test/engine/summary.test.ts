import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type SummaryParams,
  type SummaryPartial,
  type SummaryResult,
  SummaryResultSchema,
  type SummaryState,
  summary,
} from '../../src/engine/analyses/summary.ts';
import { decodePartial, encodePartial } from '../../src/engine/codec.ts';
import { EngineError } from '../../src/engine/errors.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import {
  type ColumnSpec,
  irisDataset,
  lre,
  makeDataset,
  parseCsv,
  referenceJson,
  referenceText,
  relDiff,
  seededRandom,
  type TestDataset,
  type7Reference,
} from './helpers.ts';

async function run(params: SummaryParams, dataset: TestDataset): Promise<SummaryResult> {
  const result = (await runInProcess(summary, params, dataset.meta, dataset.chunks)) as SummaryResult;
  assert.ok(
    Value.Check(SummaryResultSchema, result),
    `result fits the schema: ${JSON.stringify([...Value.Errors(SummaryResultSchema, result)].slice(0, 2))}`,
  );
  return result;
}

function stat(result: SummaryResult, name: string) {
  const entry = result.stats.find((s) => s.name === name);
  assert.ok(entry, `stats for ${name}`);
  return entry;
}

/** Every number in two results agrees to `tolerance` relative (nulls and strings exactly). */
function assertClose(a: unknown, b: unknown, tolerance: number, where = 'result'): void {
  if (typeof a === 'number' && typeof b === 'number') {
    assert.ok(relDiff(a, b, 1e-300) <= tolerance, `${where}: ${a} vs ${b}`);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    assert.equal(a.length, b.length, `${where}: length`);
    a.forEach((x, i) => {
      assertClose(x, b[i], tolerance, `${where}[${i}]`);
    });
    return;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort(), `${where}: keys`);
    for (const key of Object.keys(a)) {
      assertClose(
        (a as Record<string, unknown>)[key],
        (b as Record<string, unknown>)[key],
        tolerance,
        `${where}.${key}`,
      );
    }
    return;
  }
  assert.deepEqual(a, b, where);
}

const NIST = ['Lew', 'Michelso', 'NumAcc1', 'NumAcc2'];

describe('summary', () => {
  it('NIST StRD univariate (7-row chunks): mean LRE >= 13, standard deviation LRE >= 9', async () => {
    for (const name of NIST) {
      const { rows } = parseCsv(await referenceText(`nist_strd/univariate/${name}.csv`));
      const ref = await referenceJson<{ certified: { mean: number; std_dev_sample: number } }>(
        `nist_strd/univariate/${name}.json`,
      );
      const y = stat(
        await run(
          { formula: '~ y' },
          makeDataset([{ name: 'y', type: 'numeric', values: rows.map((r) => Number(r[0])) }], 7),
        ),
        'y',
      );
      assert.ok(
        lre(y.mean as number, ref.certified.mean) >= 13,
        `${name} mean LRE ${lre(y.mean as number, ref.certified.mean)}`,
      );
      assert.ok(
        lre(y.stdDev as number, ref.certified.std_dev_sample) >= 9,
        `${name} stdDev LRE ${lre(y.stdDev as number, ref.certified.std_dev_sample)}`,
      );
      assert.equal(y.validObs, rows.length);
    }
  });

  it("iris: overall statistics, quartiles (type 7) and counts as R's summary(iris) prints them", async () => {
    const ref = await referenceJson<{
      expected: {
        overall_summary_R_type7_quantiles: Record<string, Record<string, number>>;
        counts_by_species: Record<string, number>;
      };
    }>('r_reference/cases/summary_iris.json');
    const iris = await irisDataset(7);
    const result = await run({ formula: '~ .', quantiles: true }, iris);
    for (const [name, expected] of Object.entries(ref.expected.overall_summary_R_type7_quantiles)) {
      const s = stat(result, name);
      // summary() prints 4 significant digits: within one unit of the last one.
      const unit = 10 ** (Math.floor(Math.log10(Math.abs(expected['mean'] as number))) - 3);
      assert.ok(
        Math.abs((s.mean as number) - (expected['mean'] as number)) <= unit,
        `${name} mean ${s.mean}`,
      );
      for (const key of ['min', 'q1', 'median', 'q3', 'max'] as const) {
        assert.ok(
          Math.abs((s[key] as number) - (expected[key] as number)) <= 1e-12,
          `${name} ${key}: ${s[key]} vs ${expected[key]}`,
        );
      }
      assert.equal(s.validObs, 150);
    }
    const species = result.categorical.find((c) => c.name === 'Species');
    assert.deepEqual(
      species?.counts.map((c) => [c.level, c.count]),
      Object.entries(ref.expected.counts_by_species),
    );
    assert.equal(result.nValidObs, 150);
    assert.deepEqual(result.warnings, []);
  });

  it('iris: means and standard deviations by species (y ~ g and ~ y:g agree)', async () => {
    const ref = await referenceJson<{
      expected: {
        mean_by_species: Record<string, Record<string, number>>;
        sd_by_species_n_minus_1: Record<string, Record<string, number>>;
      };
    }>('r_reference/cases/summary_iris.json');
    const iris = await irisDataset(7);
    const result = await run(
      {
        formula: '~ Sepal.Length:Species + Sepal.Width:Species + Petal.Length:Species + Petal.Width:Species',
      },
      iris,
    );
    for (const group of result.byGroup) {
      assert.deepEqual(group.groups, ['Species']);
      assert.deepEqual(
        group.cells.map((c) => c.levels['Species']),
        ['setosa', 'versicolor', 'virginica'],
      );
      for (const cell of group.cells) {
        const species = cell.levels['Species'] as string;
        // Species means are exact to 3 decimals; SDs are printed to 7 significant digits.
        const mean = ref.expected.mean_by_species[species]?.[group.name] as number;
        const sd = ref.expected.sd_by_species_n_minus_1[species]?.[group.name] as number;
        assert.ok(
          Math.abs((cell.mean as number) - mean) <= 1e-12,
          `${group.name} ${species} mean ${cell.mean}`,
        );
        const unit = 10 ** (Math.floor(Math.log10(sd)) - 6);
        assert.ok(
          Math.abs((cell.stdDev as number) - sd) <= unit,
          `${group.name} ${species} sd ${cell.stdDev} vs ${sd}`,
        );
        assert.equal(cell.validObs, 50);
      }
    }
    const viaResponse = await run({ formula: 'Sepal.Length ~ Species' }, iris);
    assert.deepEqual(viaResponse.byGroup[0], result.byGroup[0]);
  });

  it('crosses two groups with the first varying fastest; empty cells are null with one warning', async () => {
    const ds = makeDataset(
      [
        { name: 'y', type: 'numeric', values: [1, 2, 3, 4, 5, 6] },
        { name: 'g', type: 'factor', values: ['a', 'b', 'a', 'b', 'a', 'a'], levels: ['a', 'b'] },
        { name: 'h', type: 'factor', values: ['x', 'x', 'y', 'y', 'x', 'x'], levels: ['x', 'y', 'z'] },
      ],
      4,
    );
    const result = await run({ formula: '~ y:g:h + g:h' }, ds);
    const cells = result.byGroup[0]?.cells ?? [];
    assert.deepEqual(
      cells.map((c) => `${c.levels['g']}${c.levels['h']}`),
      ['ax', 'bx', 'ay', 'by', 'az', 'bz'],
    );
    assert.deepEqual(
      cells.map((c) => c.mean),
      [4, 2, 3, 4, null, null],
    );
    assert.deepEqual(
      cells.map((c) => c.validObs),
      [3, 1, 1, 1, 0, 0],
    );
    // One observation: no standard deviation, said once for the term's cells.
    assert.deepEqual(
      cells.map((c) => c.stdDev),
      [Math.sqrt(7), null, null, null, null, null],
    );
    assert.ok(
      result.warnings.some((w) => /2 of 6 cells of 'y:g:h' have no observations/.test(w)),
      result.warnings.join('\n'),
    );
    assert.ok(
      result.warnings.some((w) => /stdDev .* fewer than 2 observations \(3 times\)/.test(w)),
      result.warnings.join('\n'),
    );
    const counts = result.categorical[0];
    assert.deepEqual(
      counts?.counts.map((c) => [c.level, c.count]),
      [
        ['g=a, h=x', 3],
        ['g=b, h=x', 1],
        ['g=a, h=y', 1],
        ['g=b, h=y', 1],
        ['g=a, h=z', 0],
        ['g=b, h=z', 0],
      ],
    );
  });

  it('counts missing values (nulls and NaN) per term, or listwise with byTerm: false', async () => {
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values: [1, null, 3, Number.NaN, 5, 6] },
        { name: 'k', type: 'integer', values: [10, 20, null, 40, 50, 60] },
        { name: 'g', type: 'factor', values: ['a', 'b', 'a', null, 'b', 'a'] },
      ],
      4,
    );
    const byTerm = await run({ formula: '~ x + k + g' }, ds);
    assert.deepEqual([stat(byTerm, 'x').validObs, stat(byTerm, 'x').missingObs], [4, 2]);
    assert.equal(stat(byTerm, 'x').mean, 15 / 4);
    assert.deepEqual([stat(byTerm, 'k').validObs, stat(byTerm, 'k').missingObs], [5, 1]);
    assert.equal(stat(byTerm, 'k').sum, 180);
    assert.deepEqual([byTerm.categorical[0]?.validObs, byTerm.categorical[0]?.missingObs], [5, 1]);
    // Rows 1, 2 and 4 have no missing value anywhere.
    assert.deepEqual([byTerm.nValidObs, byTerm.nMissingObs], [3, 3]);

    const listwise = await run({ formula: '~ x + k + g', byTerm: false }, ds);
    assert.equal(stat(listwise, 'x').validObs, 3);
    assert.equal(stat(listwise, 'x').mean, 4); // rows 1, 5, 6: (1 + 5 + 6) / 3
    assert.equal(stat(listwise, 'k').mean, 40); // (10 + 50 + 60) / 3
    assert.deepEqual(
      listwise.categorical[0]?.counts.map((c) => c.count),
      [2, 1],
    );
    assert.deepEqual([listwise.nValidObs, listwise.nMissingObs], [3, 3]);
  });

  it('reports non-finite statistics as null with a warning saying why', async () => {
    const one = await run(
      { formula: '~ x + e', quantiles: true },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: [42, null] },
          { name: 'e', type: 'numeric', values: [null, null] },
        ],
        1,
      ),
    );
    assert.equal(stat(one, 'x').mean, 42);
    assert.equal(stat(one, 'x').stdDev, null);
    assert.ok(one.warnings.some((w) => /stdDev of 'x' is undefined with fewer than 2 observations/.test(w)));
    assert.deepEqual([stat(one, 'e').mean, stat(one, 'e').min, stat(one, 'e').median], [null, null, null]);
    assert.ok(one.warnings.some((w) => /'e' has no valid observations/.test(w)));

    const infinite = await run(
      { formula: '~ x' },
      makeDataset([{ name: 'x', type: 'numeric', values: [1, Number.POSITIVE_INFINITY, 3] }], 2),
    );
    assert.equal(stat(infinite, 'x').mean, null);
    assert.equal(stat(infinite, 'x').max, null);
    assert.equal(stat(infinite, 'x').min, 1);
    assert.ok(infinite.warnings.some((w) => /mean of 'x' is not finite/.test(w)));
    assert.ok(JSON.stringify(infinite).length > 0);
  });

  // Well-conditioned data: with |mean| / sd ~ 1e9 (NumAcc-like) any summation order differs in the
  // ~9th digit, which the NIST test above bounds instead.
  it('agrees across chunkings (1, 7, 100 rows per chunk) to 1e-13 relative', async () => {
    const random = seededRandom(7);
    const n = 500;
    const columns: ColumnSpec[] = [
      {
        name: 'x',
        type: 'numeric',
        values: Array.from({ length: n }, () => (random() < 0.05 ? null : 50 + random() * 10)),
      },
      { name: 'k', type: 'integer', values: Array.from({ length: n }, () => Math.floor(random() * 50) - 10) },
      { name: 'w', type: 'numeric', values: Array.from({ length: n }, () => 1 + Math.floor(random() * 4)) },
      {
        name: 'g',
        type: 'factor',
        values: Array.from({ length: n }, () =>
          random() < 0.1 ? null : (['p', 'q', 'r'][Math.floor(random() * 3)] as string),
        ),
      },
    ];
    for (const params of [{ formula: '~ x + k + g + x:g' }, { formula: '~ x + k + x:g', fweights: 'w' }]) {
      const results = await Promise.all([1, 7, 100].map((rows) => run(params, makeDataset(columns, rows))));
      assertClose(results[1], results[0], 1e-13);
      assertClose(results[2], results[0], 1e-13);
    }
  });

  it('merges associatively: merge(a, merge(b, c)) = merge(merge(a, b), c) to 1e-15', () => {
    const random = seededRandom(11);
    const values = Array.from({ length: 300 }, () => 100 + random() * 3);
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values },
        {
          name: 'g',
          type: 'factor',
          values: values.map((v) => (v % 1 < 0.5 ? 'lo' : 'hi')),
          levels: ['lo', 'hi'],
        },
      ],
      100,
    );
    const state = summary.init({ formula: '~ x + x:g + g' }, ds.meta) as SummaryState;
    const [a, b, c] = ds.chunks.map((chunk) => summary.map(chunk, state)) as [
      SummaryPartial,
      SummaryPartial,
      SummaryPartial,
    ];
    const left = summary.finalize(summary.merge(summary.merge(a, b), c), state);
    const right = summary.finalize(summary.merge(a, summary.merge(b, c)), state);
    assert.ok(left.done && right.done);
    assertClose(left.result, right.result, 1e-15);
    // The partial survives the codec bit for bit.
    assert.equal(encodePartial(decodePartial(encodePartial(a))), encodePartial(a));
  });

  it('fweights give the statistics of the replicated rows', async () => {
    const x = [3.5, -1, 2, 8.25, 0, 4];
    const w = [1, 3, 2, 1, 4, 2];
    const g = ['a', 'b', 'a', 'b', 'b', 'a'];
    const weighted = await run(
      { formula: '~ x + g + x:g', fweights: 'w' },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: x },
          { name: 'w', type: 'integer', values: w },
          { name: 'g', type: 'factor', values: g },
        ],
        4,
      ),
    );
    const replicatedX = x.flatMap((v, i) => Array<number>(w[i] as number).fill(v));
    const replicatedG = g.flatMap((v, i) => Array<string>(w[i] as number).fill(v));
    const replicated = await run(
      { formula: '~ x + g + x:g' },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: replicatedX },
          { name: 'g', type: 'factor', values: replicatedG },
        ],
        5,
      ),
    );
    const ws = stat(weighted, 'x');
    const rs = stat(replicated, 'x');
    for (const key of ['mean', 'stdDev', 'min', 'max', 'sum', 'median', 'q1', 'q3'] as const) {
      assert.ok(relDiff(ws[key] as number, rs[key] as number) <= 1e-14, `${key}: ${ws[key]} vs ${rs[key]}`);
    }
    assert.equal(ws.sumOfWeights, rs.validObs);
    assert.equal(ws.validObs, x.length);
    assert.deepEqual(weighted.categorical[0]?.counts, replicated.categorical[0]?.counts);
    weighted.byGroup[0]?.cells.forEach((cell, i) => {
      const other = replicated.byGroup[0]?.cells[i];
      assert.ok(relDiff(cell.mean as number, other?.mean as number) <= 1e-14);
      assert.ok(relDiff(cell.stdDev as number, other?.stdDev as number) <= 1e-14);
      assert.equal(cell.sumOfWeights, other?.validObs);
    });
  });

  it('pweights: weighted mean and sum(w (x - m)^2) / (sum(w) - 1), as RevoScaleR prints', async () => {
    const x = [2, 4, 4, 5, 7, 9, null];
    const w = [0.5, 2.5, 1, 3, 0.25, 1.75, 2];
    const result = await run(
      { formula: '~ x', pweights: 'pw' },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: x },
          { name: 'pw', type: 'numeric', values: w },
        ],
        3,
      ),
    );
    const valid = x
      .map((v, i) => [v, w[i]] as const)
      .filter((p): p is readonly [number, number] => p[0] !== null);
    const sw = valid.reduce((s, [, wi]) => s + wi, 0);
    const mean = valid.reduce((s, [v, wi]) => s + wi * v, 0) / sw;
    const variance = valid.reduce((s, [v, wi]) => s + wi * (v - mean) ** 2, 0) / (sw - 1);
    const s = stat(result, 'x');
    assert.ok(relDiff(s.mean as number, mean) <= 1e-15);
    assert.ok(relDiff(s.stdDev as number, Math.sqrt(variance)) <= 1e-14);
    assert.equal(s.sumOfWeights, sw);
    assert.equal(s.missingWeights, 2);
    assert.deepEqual([s.validObs, s.missingObs], [6, 1]);
  });

  it('returns only the statistics asked for', async () => {
    const result = await run(
      { formula: '~ x', summaryStats: ['Mean', 'ValidObs'], quantiles: false },
      makeDataset([{ name: 'x', type: 'numeric', values: [1, 2, 3] }], 2),
    );
    assert.deepEqual(result.stats[0], { name: 'x', mean: 2, validObs: 3 });
  });

  it('quartiles: exact for integer data and within a bin for continuous data past the values cap', async () => {
    const random = seededRandom(3);
    const n = 60_000;
    const k = Array.from({ length: n }, () => Math.floor(random() * 2000) - 700);
    const u = Array.from({ length: n }, () => random() ** 3 * 100);
    const result = await run(
      { formula: '~ k + u', quantiles: true },
      makeDataset(
        [
          { name: 'k', type: 'integer', values: k },
          { name: 'u', type: 'numeric', values: u },
        ],
        20_000,
      ),
    );
    for (const [key, p] of [
      ['q1', 0.25],
      ['median', 0.5],
      ['q3', 0.75],
    ] as const) {
      assert.equal(stat(result, 'k')[key], type7Reference(k, p), `k ${key}`);
      // 2048 bins over [0, 100]: each estimate lies within one bin of the truth.
      assert.ok(
        Math.abs((stat(result, 'u')[key] as number) - type7Reference(u, p)) <= 100 / 2048,
        `u ${key}`,
      );
    }
  });

  it('rejects bad params with codes: both weights, unknown params, negative weights', async () => {
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values: [1, 2] },
        { name: 'w', type: 'numeric', values: [1, -2] },
        { name: 's', type: 'string', values: ['a', 'b'] },
      ],
      2,
    );
    const code = async (params: unknown, expected: string, status?: number) => {
      await assert.rejects(runInProcess(summary, params, ds.meta, ds.chunks), (error: unknown) => {
        assert.ok(error instanceof EngineError, String(error));
        assert.equal(error.code, expected, error.message);
        if (status !== undefined) assert.equal(error.status, status);
        return true;
      });
    };
    await code({ formula: '~ x', pweights: 'w', fweights: 'w' }, 'INVALID_PARAMS', 400);
    await code({ formula: '~ x', formla: 'typo' }, 'INVALID_PARAMS', 400);
    await code({}, 'INVALID_PARAMS', 400);
    await code({ formula: '~ x', fweights: 'w' }, 'INVALID_WEIGHTS', 422);
    await code({ formula: '~ x', fweights: 's' }, 'WRONG_VARIABLE_TYPE', 422);
    await code({ formula: '~ x', fweights: 'ww' }, 'UNKNOWN_VARIABLE', 400);
    await code({ formula: '~ s' }, 'WRONG_VARIABLE_TYPE', 422);
  });
});
