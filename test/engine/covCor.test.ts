import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type CovCorParams,
  type CovCorPartial,
  type CovCorResult,
  CovCorResultSchema,
  type CovCorState,
  covCor,
} from '../../src/engine/analyses/covCor.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { UserError } from '../../src/userError.ts';
import {
  type ColumnSpec,
  makeDataset,
  parseCsv,
  referenceJson,
  referenceText,
  relDiff,
  seededRandom,
  type TestDataset,
} from './helpers.ts';

async function run(params: CovCorParams, dataset: TestDataset): Promise<CovCorResult> {
  const result = (await runInProcess(covCor, params, dataset.meta, dataset.chunks)) as CovCorResult;
  assert.ok(Value.Check(CovCorResultSchema, result), 'result fits the schema');
  return result;
}

async function longley(
  rowsPerChunk: number,
): Promise<{ dataset: TestDataset; names: string[]; columns: number[][] }> {
  const { header, rows } = parseCsv(await referenceText('r_reference/data/longley_R.csv'));
  const columns = header.map((_, j) => rows.map((r) => Number(r[j])));
  const specs = header.map(
    (name, j): ColumnSpec => ({ name, type: 'numeric', values: columns[j] as number[] }),
  );
  return { dataset: makeDataset(specs, rowsPerChunk), names: header, columns };
}

/** Textbook two-pass (weighted) covariance, computed independently of the engine. */
function twoPassCov(columns: readonly number[][], weights?: readonly number[]): number[][] {
  const n = (columns[0] as number[]).length;
  const w = weights ?? Array<number>(n).fill(1);
  const sw = w.reduce((a, b) => a + b, 0);
  const means = columns.map((c) => c.reduce((s, v, i) => s + (w[i] as number) * v, 0) / sw);
  return columns.map((a, j) =>
    columns.map(
      (b, k) =>
        a.reduce(
          (s, v, i) =>
            s + (w[i] as number) * (v - (means[j] as number)) * ((b[i] as number) - (means[k] as number)),
          0,
        ) /
        (sw - 1),
    ),
  );
}

/**
 * Entry-wise agreement relative to the entry's scale sqrt(|m_ii m_jj|): a covariance near 0 between
 * nearly independent variables is judged against the variances, not against itself.
 */
function assertMatrix(
  actual: ReadonlyArray<ReadonlyArray<number | null>>,
  expected: readonly number[][],
  tolerance: number,
  label: string,
) {
  assert.equal(actual.length, expected.length);
  expected.forEach((row, i) => {
    row.forEach((v, j) => {
      const a = actual[i]?.[j] as number;
      const scale = Math.sqrt(Math.abs((expected[i]?.[i] as number) * (expected[j]?.[j] as number)));
      assert.ok(
        Math.abs(a - v) <= tolerance * Math.max(scale, Math.abs(v)),
        `${label}[${i}][${j}]: ${a} vs ${v}`,
      );
    });
  });
}

describe('covCor', () => {
  it("Longley: R's Pearson correlation matrix to the 7 printed decimals (3-row chunks)", async () => {
    const ref = await referenceJson<{ expected: { columns: string[]; matrix: number[][] } }>(
      'r_reference/cases/cor_longley_R_pearson_matrix.json',
    );
    const { dataset, names } = await longley(3);
    const result = await run(
      { formula: `~ ${names.map((n) => `\`${n}\``).join(' + ')}`, type: 'Cor' },
      dataset,
    );
    assert.deepEqual(result.variables, ref.expected.columns);
    ref.expected.matrix.forEach((row, i) => {
      row.forEach((v, j) => {
        assert.ok(Math.abs((result.matrix[i]?.[j] as number) - v) <= 5e-8, `[${i}][${j}]`);
      });
    });
    result.matrix.forEach((row, i) => {
      assert.equal(row[i], 1);
    });
    assert.equal(result.nValidObs, 16);
    assert.equal(result.sumOfWeights, null);
  });

  it('Longley: Cov equals an independent two-pass covariance; means and stdDevs match', async () => {
    const { dataset, names, columns } = await longley(3);
    const result = await run({ formula: `~ ${names.join(' + ')}`, type: 'cov' }, dataset);
    assert.equal(result.type, 'Cov');
    const expected = twoPassCov(columns);
    assertMatrix(result.matrix, expected, 1e-13, 'cov');
    columns.forEach((c, j) => {
      assert.ok(relDiff(result.means[j] as number, c.reduce((a, b) => a + b, 0) / c.length) <= 1e-14);
      assert.ok(relDiff(result.stdDevs[j] as number, Math.sqrt(expected[j]?.[j] as number)) <= 1e-13);
    });
  });

  it("SSCP: augmented with Constant (n and column sums), then X'X, exactly symmetric", async () => {
    const { dataset, names, columns } = await longley(5);
    const result = await run({ formula: `~ ${names.join(' + ')}`, type: 'SSCP' }, dataset);
    assert.deepEqual(result.variables, ['Constant', ...names]);
    const augmented = [Array<number>(16).fill(1), ...columns];
    const direct = augmented.map((a) =>
      augmented.map((b) => a.reduce((s, v, i) => s + v * (b[i] as number), 0)),
    );
    assertMatrix(result.matrix, direct, 1e-13, 'sscp');
    result.matrix.forEach((row, i) => {
      row.forEach((v, j) => {
        assert.equal(v, result.matrix[j]?.[i]);
      });
    });
  });

  it('drops rows with any missing value (listwise) and counts them', async () => {
    const x = [1, 2, null, 4, 5, 6, 7.5];
    const y = [2, Number.NaN, 1, 3, 8, 5, 4];
    const result = await run(
      { formula: '~ x + y' },
      makeDataset(
        [
          { name: 'x', type: 'numeric', values: x },
          { name: 'y', type: 'numeric', values: y },
        ],
        3,
      ),
    );
    assert.deepEqual([result.nValidObs, result.nMissingObs], [5, 2]);
    const keep = [0, 3, 4, 5, 6];
    assertMatrix(
      result.matrix,
      twoPassCov([keep.map((i) => x[i] as number), keep.map((i) => y[i] as number)]),
      1e-14,
      'cov',
    );
  });

  it('fweights equal replicated rows; pweights give sum(w d d) / (sum(w) - 1)', async () => {
    const random = seededRandom(41);
    const n = 40;
    const a = Array.from({ length: n }, () => random() * 10);
    const b = a.map((v) => 3 - 0.5 * v + random());
    const w = Array.from({ length: n }, () => 1 + Math.floor(random() * 3));
    const specs: ColumnSpec[] = [
      { name: 'a', type: 'numeric', values: a },
      { name: 'b', type: 'numeric', values: b },
      { name: 'w', type: 'integer', values: w },
    ];
    const rep = (xs: number[]) => xs.flatMap((v, i) => Array<number>(w[i] as number).fill(v));
    const replicated = makeDataset(
      [
        { name: 'a', type: 'numeric', values: rep(a) },
        { name: 'b', type: 'numeric', values: rep(b) },
      ],
      9,
    );
    for (const type of ['Cov', 'Cor', 'SSCP'] as const) {
      const weighted = await run({ formula: '~ a + b', type, fweights: 'w' }, makeDataset(specs, 7));
      const plain = await run({ formula: '~ a + b', type }, replicated);
      assertMatrix(weighted.matrix, plain.matrix as number[][], 1e-13, type);
      assert.equal(weighted.sumOfWeights, rep(a).length);
    }
    const pw = w.map((v) => v / 2.5);
    const pweighted = await run(
      { formula: '~ a + b', pweights: 'pw' },
      makeDataset([...specs, { name: 'pw', type: 'numeric', values: pw }], 7),
    );
    assertMatrix(pweighted.matrix, twoPassCov([a, b], pw), 1e-13, 'pweights');
  });

  it('keepAll: false drops constant and collinear variables in formula order; keepAll: true reports them', async () => {
    const random = seededRandom(43);
    const x = Array.from({ length: 30 }, () => random());
    const y = Array.from({ length: 30 }, () => random());
    const specs: ColumnSpec[] = [
      { name: 'x', type: 'numeric', values: x },
      { name: 'c', type: 'numeric', values: x.map(() => 4) },
      { name: 'y', type: 'numeric', values: y },
      { name: 'z', type: 'numeric', values: x.map((v, i) => v + 2 * (y[i] as number)) },
    ];
    const ds = makeDataset(specs, 8);
    const dropped = await run({ formula: '~ x + c + y + z', type: 'Cor', keepAll: false }, ds);
    assert.deepEqual(dropped.variables, ['x', 'y']);
    assert.deepEqual(dropped.droppedVariables, ['c', 'z']);
    assert.equal(dropped.matrix.length, 2);
    const kept = await run({ formula: '~ x + c + y + z', type: 'Cor' }, ds);
    assert.deepEqual(kept.variables, ['x', 'c', 'y', 'z']);
    assert.deepEqual(kept.matrix[1], [null, null, null, null]);
    assert.ok(kept.warnings.some((w) => /'c' has \(near-\)zero variance/.test(w)));
  });

  it('agrees across chunkings and merges associatively', async () => {
    const random = seededRandom(47);
    const n = 400;
    const specs: ColumnSpec[] = ['p', 'q', 'r'].map((name, j) => ({
      name,
      type: 'numeric',
      values: Array.from({ length: n }, () => (random() < 0.03 ? null : 10 * j + random() * (j + 1))),
    }));
    const results = await Promise.all(
      [1, 7, 100].map((rows) => run({ formula: '~ p + q + r', type: 'Cov' }, makeDataset(specs, rows))),
    );
    assertMatrix(results[1]?.matrix ?? [], results[0]?.matrix as number[][], 1e-13, '7 vs 1');
    assertMatrix(results[2]?.matrix ?? [], results[0]?.matrix as number[][], 1e-13, '100 vs 1');

    const ds = makeDataset(specs, 150);
    const state = covCor.init({ formula: '~ p + q + r', type: 'Cov' }, ds.meta) as CovCorState;
    const [a, b, c] = ds.chunks.map((chunk) => covCor.map(chunk, state)) as [
      CovCorPartial,
      CovCorPartial,
      CovCorPartial,
    ];
    const left = covCor.finalize(covCor.merge(covCor.merge(a, b), c), state);
    const right = covCor.finalize(covCor.merge(a, covCor.merge(b, c)), state);
    assert.ok(left.done && right.done);
    assertMatrix(left.result.matrix, right.result.matrix as number[][], 1e-15, 'associativity');
  });

  it('factors and F() give one 0/1 column per level; x:z is the product; N() the codes', async () => {
    const x = [1.5, 2, 3.5, 4, 5, 6.5, 7, 8, 9.5, 10];
    const z = [2, 1, 4, 3, 6, 5, 8, 7, 10, 9];
    const g = ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'a', 'c'];
    const k = [1, 1, 2, 2, 3, 3, 1, 2, 3, 4];
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values: x },
        { name: 'z', type: 'integer', values: z },
        { name: 'g', type: 'factor', values: g },
        { name: 'k', type: 'integer', values: k },
      ],
      3,
    );
    const result = await run({ formula: '~ x + g + x:z + F(k, 1, 3) + N(g)' }, ds);
    assert.deepEqual(result.variables, [
      'x',
      'g=a',
      'g=b',
      'g=c',
      'x:z',
      'F_k_1_3_T=1',
      'F_k_1_3_T=2',
      'F_k_1_3_T=3',
      'N(g)',
    ]);
    // F(k, 1, 3) excludes k = 4: that row is dropped (listwise), as a missing value.
    const keep = k.map((v, i) => (v <= 3 ? i : -1)).filter((i) => i >= 0);
    assert.deepEqual([result.nValidObs, result.nMissingObs], [keep.length, 1]);
    const pick = (f: (i: number) => number) => keep.map(f);
    const expected = twoPassCov([
      pick((i) => x[i] as number),
      ...['a', 'b', 'c'].map((level) => pick((i) => (g[i] === level ? 1 : 0))),
      pick((i) => (x[i] as number) * (z[i] as number)),
      ...[1, 2, 3].map((level) => pick((i) => (k[i] === level ? 1 : 0))),
      pick((i) => ['a', 'b', 'c'].indexOf(g[i] as string) + 1),
    ]);
    assertMatrix(result.matrix, expected, 1e-13, 'cov');
  });

  it('rejects formulas it cannot compute, with codes', () => {
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values: [1, 2] },
        { name: 'g', type: 'factor', values: ['a', 'b'] },
        { name: 'd', type: 'date', values: [1, 2] },
        { name: 's', type: 'string', values: ['p', 'q'] },
      ],
      2,
    );
    const code = (params: unknown, expected: string, status = 400) =>
      assert.throws(
        () => covCor.init(params as CovCorParams, ds.meta),
        (e: unknown) => e instanceof UserError && e.code === expected && e.status === status,
      );
    code({ formula: '~ x + d' }, 'WRONG_VARIABLE_TYPE', 422);
    code({ formula: '~ x + s' }, 'WRONG_VARIABLE_TYPE', 422);
    code({ formula: 'x ~ d' }, 'INVALID_FORMULA');
    code({ formula: '~ .' }, 'INVALID_FORMULA');
    code({ formula: '~ x + dd' }, 'UNKNOWN_VARIABLE');
    code({ formula: '~ x + log(x)' }, 'NOT_IMPLEMENTED', 501);
    code({ formula: '~ x', type: 'corr' }, 'INVALID_PARAMS');
    code({ formula: '~ x', pweights: 'x', fweights: 'x' }, 'INVALID_PARAMS');
  });
});
