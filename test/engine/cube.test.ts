import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { type CubeResult, CubeResultSchema, cube } from '../../src/engine/analyses/cube.ts';
import { encodePartial } from '../../src/engine/codec.ts';
import { accumulateCells, type CellPartial, mergeCells } from '../../src/engine/cube/cells.ts';
import { keyGroupsOf } from '../../src/engine/cube/plan.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { UserError } from '../../src/userError.ts';
import { referenceDataset, rValues, ucbDataset } from './crossTabsData.ts';
import { makeDataset, seededRandom, type TestDataset } from './helpers.ts';

async function run(params: Record<string, unknown>, dataset: TestDataset): Promise<CubeResult> {
  const result = (await runInProcess(cube, params, dataset.meta, dataset.chunks)) as CubeResult;
  assert.ok(Value.Check(CubeResultSchema, result), 'result fits the schema');
  return result;
}

async function refusal(params: Record<string, unknown>, dataset: TestDataset): Promise<UserError> {
  try {
    await runInProcess(cube, params, dataset.meta, dataset.chunks);
  } catch (error) {
    assert.ok(error instanceof UserError, String(error));
    return error;
  }
  assert.fail('expected a refusal');
}

const KYPHOSIS_LEVELS = { Kyphosis: ['absent', 'present'] };

describe('cube (rxCube)', () => {
  it('UCBAdmissions Freq ~ Gender:Admit: the means and Counts RevoScaleR prints, first factor fastest', async () => {
    // RevoScaleR's rxCube help example (REVOSCALER.md section 6): 199.66667 (Counts 6), 92.83333,
    // 248.83333, 213.00000; R's aggregate(Freq ~ Gender + Admit, mean) gives the full digits.
    const ref = await rValues();
    const result = await run({ formula: 'Freq ~ Gender:Admit' }, await ucbDataset(5));
    assert.deepEqual(result.columns, ['Gender', 'Admit', 'Freq', 'Counts']);
    assert.deepEqual(
      result.rows.map((r) => [r['Gender'], r['Admit'], r['Counts']]),
      [
        ['Male', 'Admitted', 6],
        ['Female', 'Admitted', 6],
        ['Male', 'Rejected', 6],
        ['Female', 'Rejected', 6],
      ],
    );
    const printed = [199.66667, 92.83333, 248.83333, 213.0];
    result.rows.forEach((row, i) => {
      assert.ok(Math.abs((row['Freq'] as number) - (printed[i] as number)) <= 1e-5, `row ${i}`);
      const r = ref.ucb_cube_means[i];
      assert.equal(r?.Gender, row['Gender']);
      assert.ok(Math.abs((row['Freq'] as number) - (r?.Freq as number)) <= 1e-12 * (r?.Freq as number));
    });
    assert.equal(result.nValidObs, 24);
    assert.equal(result.nMissingObs, 0);
  });

  it('kyphosis ~ Kyphosis:F(Number): the counts RevoScaleR documents, empty level 8 included', async () => {
    // REVOSCALER.md section 6: absent/present for Number 2..10: 12/0, 19/4, 16/2, 12/5, 2/2, 2/3, 0/0, 1/0, 0/1.
    const expected = [
      [12, 0],
      [19, 4],
      [16, 2],
      [12, 5],
      [2, 2],
      [2, 3],
      [0, 0],
      [1, 0],
      [0, 1],
    ];
    const ds = await referenceDataset('kyphosis.csv', KYPHOSIS_LEVELS, 7);
    const result = await run({ formula: '~ Kyphosis:F(Number)' }, ds);
    assert.deepEqual(result.columns, ['Kyphosis', 'F_Number', 'Counts']);
    assert.equal(result.rows.length, 18);
    result.rows.forEach((row, i) => {
      assert.equal(row['Kyphosis'], i % 2 === 0 ? 'absent' : 'present');
      assert.equal(row['F_Number'], String(2 + Math.floor(i / 2)));
      assert.equal(row['Counts'], expected[Math.floor(i / 2)]?.[i % 2], `row ${i}`);
    });
    const sparse = await run({ formula: '~ Kyphosis:F(Number)', removeZeroCounts: true }, ds);
    assert.deepEqual(
      sparse.rows,
      result.rows.filter((r) => (r['Counts'] as number) > 0),
    );
    // useSparseCube sets removeZeroCounts' default, as in RevoScaleR.
    assert.deepEqual(
      (await run({ formula: '~ Kyphosis:F(Number)', useSparseCube: true }, ds)).rows,
      sparse.rows,
    );
  });

  it('sums with means: false; means and counts with pweights and fweights; missing values left out', async () => {
    const next = seededRandom(11);
    const n = 200;
    const g = Array.from({ length: n }, () => ['a', 'b', 'c'][Math.floor(next() * 3)] as string);
    const h = Array.from({ length: n }, () => ['x', 'y'][Math.floor(next() * 2)] as string);
    const y = Array.from({ length: n }, (_, i) => (i % 17 === 0 ? null : Math.round(next() * 1000) / 10));
    const w = Array.from({ length: n }, (_, i) => (i % 23 === 0 ? null : 1 + Math.floor(next() * 4)));
    const gm = g.map((v, i) => (i % 31 === 0 ? null : v));
    const ds = makeDataset(
      [
        { name: 'g', type: 'factor', values: gm, levels: ['a', 'b', 'c'] },
        { name: 'h', type: 'factor', values: h, levels: ['x', 'y'] },
        { name: 'y', type: 'numeric', values: y },
        { name: 'w', type: 'numeric', values: w },
      ],
      13,
    );
    for (const weighting of ['none', 'pweights', 'fweights'] as const) {
      const params: Record<string, unknown> = { formula: 'y ~ g:h' };
      if (weighting !== 'none') params[weighting] = 'w';
      const means = await run(params, ds);
      const sums = await run({ ...params, means: false }, ds);
      let used = 0;
      means.rows.forEach((row, c) => {
        let count = 0;
        let sum = 0;
        for (let i = 0; i < n; i++) {
          if (gm[i] !== row['g'] || h[i] !== row['h'] || y[i] === null) continue;
          if (weighting !== 'none' && w[i] === null) continue;
          const weight = weighting === 'none' ? 1 : (w[i] as number);
          count += weight;
          sum += weight * (y[i] as number);
          used++;
        }
        assert.equal(row['Counts'], count, `${weighting} counts cell ${c}`);
        assert.ok(
          Math.abs((sums.rows[c]?.['y'] as number) - sum) <= 1e-9 * Math.abs(sum),
          `${weighting} sum`,
        );
        assert.ok(
          Math.abs((row['y'] as number) - sum / count) <= 1e-12 * Math.abs(sum / count),
          `${weighting} mean`,
        );
      });
      assert.equal(means.nValidObs, used);
      assert.equal(means.nMissingObs, n - used);
    }
    // fweights are replications: the cube of the replicated rows, as RevoScaleR's own example checks.
    const keep = w.map((v, i) => v !== null && y[i] !== null && gm[i] !== null);
    const rep = (values: ReadonlyArray<string | number | null>) =>
      values.flatMap((v, i) => (keep[i] ? Array<string | number | null>(w[i] as number).fill(v) : []));
    const replicated = makeDataset(
      [
        { name: 'g', type: 'factor', values: rep(gm) as string[], levels: ['a', 'b', 'c'] },
        { name: 'h', type: 'factor', values: rep(h) as string[], levels: ['x', 'y'] },
        { name: 'y', type: 'numeric', values: rep(y) as number[] },
      ],
      50,
    );
    const weighted = await run({ formula: 'y ~ g:h', fweights: 'w' }, ds);
    const plain = await run({ formula: 'y ~ g:h' }, replicated);
    weighted.rows.forEach((row, c) => {
      assert.equal(row['Counts'], plain.rows[c]?.['Counts']);
      assert.ok(
        Math.abs((row['y'] as number) - (plain.rows[c]?.['y'] as number)) <= 1e-12 * (row['y'] as number),
      );
    });
  });

  it('an empty cell has Counts 0 and a null mean, said in a warning', async () => {
    const ds = makeDataset(
      [
        { name: 'g', type: 'factor', values: ['a', 'a', 'b'], levels: ['a', 'b', 'c'] },
        { name: 'y', type: 'numeric', values: [1, 2, 3] },
      ],
      2,
    );
    const result = await run({ formula: 'y ~ g' }, ds);
    assert.deepEqual(result.rows, [
      { g: 'a', y: 1.5, Counts: 2 },
      { g: 'b', y: 3, Counts: 1 },
      { g: 'c', y: null, Counts: 0 },
    ]);
    assert.match(result.warnings.join('\n'), /1 of 3 cells have no observations/);
    // Sums of empty cells are 0, as a sum over nothing.
    assert.deepEqual((await run({ formula: 'y ~ g', means: false }, ds)).rows[2], {
      g: 'c',
      y: 0,
      Counts: 0,
    });
  });

  it('refuses + and other operators, numeric factors, categorical responses and clashing names', async () => {
    const ds = await ucbDataset(24);
    const plus = await refusal({ formula: 'Freq ~ Gender + Admit' }, ds);
    assert.equal(plus.status, 400);
    assert.equal(plus.code, 'INVALID_FORMULA');
    assert.match(plus.message, /':' only.*'\+' is not allowed at column 15/);
    for (const formula of ['~ Gender*Admit', '~ Gender:Admit - 1', '~ .']) {
      assert.equal((await refusal({ formula }, ds)).code, 'INVALID_FORMULA', formula);
    }
    const numeric = await refusal({ formula: '~ Gender:Freq' }, ds);
    assert.equal(numeric.status, 422);
    assert.equal(numeric.code, 'WRONG_VARIABLE_TYPE');
    assert.match(numeric.message, /F\(Freq\)/);
    const response = await refusal({ formula: 'Admit ~ Gender' }, ds);
    assert.equal(response.code, 'WRONG_VARIABLE_TYPE');
    const counts = makeDataset([{ name: 'Counts', type: 'factor', values: ['a'] }], 1);
    assert.equal((await refusal({ formula: '~ Counts' }, counts)).code, 'INVALID_FORMULA');
    assert.equal((await refusal({ formula: '~ Gender', means: 'yes' }, ds)).code, 'INVALID_PARAMS');
    assert.equal((await refusal({ formula: '~ Gender', pweights: 'Admit' }, ds)).status, 422);
  });

  it('the F() and factor columns of a cube with a __proto__ factor stay own properties', async () => {
    const ds = makeDataset([{ name: '__proto__', type: 'factor', values: ['a', 'b', 'a'] }], 2);
    const result = await run({ formula: '~ `__proto__`' }, ds);
    assert.deepEqual(result.columns, ['__proto__', 'Counts']);
    assert.ok(Object.hasOwn(result.rows[0] as object, '__proto__'));
    assert.equal(JSON.stringify(result.rows), '[{"__proto__":"a","Counts":2},{"__proto__":"b","Counts":1}]');
  });

  it('two 5000-level factors over 1M rows: partials hold only the cells the rows fall in', async () => {
    const levels = Array.from({ length: 5000 }, (_, i) => `L${i}`);
    const n = 1_000_000;
    // Pairs (i mod 5000, 7i mod 5000): 5000 distinct cells out of 25M, each hit 200 times.
    const a = Array.from({ length: n }, (_, i) => levels[i % 5000] as string);
    const b = Array.from({ length: n }, (_, i) => levels[(7 * i) % 5000] as string);
    const ds = makeDataset(
      [
        { name: 'a', type: 'factor', values: a, levels },
        { name: 'b', type: 'factor', values: b, levels },
      ],
      100_000,
    );
    const state = JSON.parse(
      JSON.stringify(cube.init({ formula: '~ a:b', removeZeroCounts: true }, ds.meta)),
    );
    const partial = cube.map(ds.chunks[0]!, state) as CellPartial;
    assert.equal(partial.counts.length, 5000);
    assert.equal(partial.keys.length, 5000);
    // The encoded partial is about 3 x 5000 doubles, nowhere near 25M cells.
    assert.ok(encodePartial(partial).length < 300_000, `${encodePartial(partial).length} bytes`);
    const result = await run({ formula: '~ a:b', removeZeroCounts: true }, ds);
    assert.equal(result.rows.length, 5000);
    assert.ok(result.rows.every((r) => r['Counts'] === 200));
    // Level order, first factor fastest: sorted by (b, a).
    const order = result.rows.map((r) => [Number(String(r['b']).slice(1)), Number(String(r['a']).slice(1))]);
    for (let k = 1; k < order.length; k++) {
      const [b0, a0] = order[k - 1] as number[];
      const [b1, a1] = order[k] as number[];
      assert.ok(
        (b0 as number) < (b1 as number) || (b0 === b1 && (a0 as number) < (a1 as number)),
        `row ${k}`,
      );
    }
    for (const row of result.rows.slice(0, 50)) {
      const i = Number(String(row['a']).slice(1));
      assert.equal(row['b'], levels[(7 * i) % 5000]);
    }
    // Every combination would be 25M rows: refused before reading anything, with the way out.
    const refused = await refusal({ formula: '~ a:b' }, { meta: ds.meta, chunks: ds.chunks.slice(0, 1) });
    assert.equal(refused.code, 'TOO_MANY_CELLS');
    assert.match(refused.message, /removeZeroCounts: true/);
  });

  it('crossings past 2^53 cells key cells by groups of factors, in the same order', async () => {
    assert.deepEqual(
      keyGroupsOf([10_000, 10_000, 10_000, 10_000]).map((g) => [g.first, g.count]),
      [
        [0, 3],
        [3, 1],
      ],
    );
    const levels = Array.from({ length: 10_000 }, (_, i) => `v${i}`);
    const next = seededRandom(5);
    const n = 300;
    const cols = ['p', 'q', 'r', 's'].map((name) => ({
      name,
      values: Array.from({ length: n }, () => levels[Math.floor(next() * 3) * 4999] as string),
    }));
    const ds = makeDataset(
      cols.map((c) => ({ name: c.name, type: 'factor' as const, values: c.values, levels })),
      37,
    );
    const result = await run({ formula: '~ p:q:r:s', removeZeroCounts: true }, ds);
    // Independent: count the distinct combinations, sort by s, r, q, p codes.
    const counts = new Map<string, number>();
    for (let i = 0; i < n; i++) {
      const key = cols.map((c) => c.values[i]).join('|');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const code = (v: string) => Number(v.slice(1));
    const expected = [...counts.entries()]
      .map(([key, count]) => ({ parts: key.split('|'), count }))
      .sort((x, y) => {
        for (let f = 3; f >= 0; f--) {
          const d = code(x.parts[f] as string) - code(y.parts[f] as string);
          if (d !== 0) return d;
        }
        return 0;
      });
    assert.deepEqual(
      result.rows.map((r) => [r['p'], r['q'], r['r'], r['s'], r['Counts']]),
      expected.map((e) => [...e.parts, e.count]),
    );
  });

  it('merge is associative and the result does not depend on the chunking', async () => {
    const next = seededRandom(3);
    const n = 120;
    const g = Array.from({ length: n }, () => ['a', 'b', 'c', 'd'][Math.floor(next() * 4)] as string);
    const h = Array.from({ length: n }, () => ['x', 'y', 'z'][Math.floor(next() * 3)] as string);
    const y = Array.from({ length: n }, () => Math.floor(next() * 100));
    const specs = [
      { name: 'g', type: 'factor' as const, values: g, levels: ['a', 'b', 'c', 'd'] },
      { name: 'h', type: 'factor' as const, values: h, levels: ['x', 'y', 'z'] },
      { name: 'y', type: 'numeric' as const, values: y },
    ];
    const whole = await run({ formula: 'y ~ g:h', means: false }, makeDataset(specs, n));
    for (const size of [1, 7, 40]) {
      assert.deepEqual(
        await run({ formula: 'y ~ g:h', means: false }, makeDataset(specs, size)),
        whole,
        `chunks of ${size}`,
      );
    }
    const ds = makeDataset(specs, 40);
    const state = JSON.parse(JSON.stringify(cube.init({ formula: 'y ~ g:h' }, ds.meta)));
    const [p0, p1, p2] = ds.chunks.map((c) => accumulateCells(c, state.plan, 'cube'));
    assert.deepEqual(
      mergeCells(p0!, mergeCells(p1!, p2!, 'cube'), 'cube'),
      mergeCells(mergeCells(p0!, p1!, 'cube'), p2!, 'cube'),
    );
  });
});
