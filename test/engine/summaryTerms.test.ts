import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Value } from 'typebox/value';
import {
  type SummaryParams,
  type SummaryResult,
  SummaryResultSchema,
  summary,
} from '../../src/engine/analyses/summary.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { UserError } from '../../src/userError.ts';
import { makeDataset, parseCsv, referenceText, type TestDataset } from './helpers.ts';

/** summary's terms from the full formula language: F(), N(), y ~ g, `.`, and what it refuses. */

async function run(params: SummaryParams, dataset: TestDataset): Promise<SummaryResult> {
  const result = (await runInProcess(summary, params, dataset.meta, dataset.chunks)) as SummaryResult;
  assert.ok(Value.Check(SummaryResultSchema, result), 'result fits the schema');
  return result;
}

const y = [1, 2, 3, 4, 5, 6, null, 8, 9.5, 10];
const age = [20.5, 21, 21.9, 23, 20, 22, 21, 23.2, 25.5, null];
const g = ['a', 'b', 'a', 'c', 'b', 'a', 'c', 'b', 'c', 'a'];
const w = [1, 2, 1, 1, 3, 1, 1, 2, 1, 1];
const ds = makeDataset(
  [
    { name: 'y', type: 'numeric', values: y },
    { name: 'age', type: 'numeric', values: age },
    { name: 'g', type: 'factor', values: g },
    { name: 'w', type: 'numeric', values: w },
    { name: 's', type: 'string', values: g },
    { name: 'empty', type: 'numeric', values: y.map(() => null) },
  ],
  3,
);

/** Mean and sample sd of plain numbers, computed the obvious way. */
function meanSd(values: number[]): { mean: number; sd: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const ss = values.reduce((a, v) => a + (v - mean) ** 2, 0);
  return { mean, sd: Math.sqrt(ss / (values.length - 1)) };
}

describe('summary terms', () => {
  it('~ y:F(age): statistics per integer level from the stored low to high, empty levels included', async () => {
    const result = await run({ formula: '~ y:F(age)' }, ds);
    const group = result.byGroup[0];
    assert.ok(group);
    assert.equal(group.name, 'y');
    assert.deepEqual(group.groups, ['F_age']);
    // Stored low/high are 20 and 25.5: levels 20..25.
    assert.deepEqual(
      group.cells.map((c) => c.levels['F_age']),
      ['20', '21', '22', '23', '24', '25'],
    );
    for (const cell of group.cells) {
      const level = Number(cell.levels['F_age']);
      const values = y.filter(
        (v, i) => v !== null && age[i] !== null && Math.floor(age[i] as number) === level,
      );
      assert.equal(cell.validObs, values.length, `level ${level}`);
      if (values.length === 0) {
        assert.equal(cell.mean, null, `level ${level} is empty`);
        continue;
      }
      const { mean, sd } = meanSd(values as number[]);
      assert.ok(Math.abs((cell.mean as number) - mean) <= 1e-14 * Math.abs(mean), `level ${level} mean`);
      if (values.length > 1)
        assert.ok(Math.abs((cell.stdDev as number) - sd) <= 1e-13 * sd, `level ${level} sd`);
    }
    // y ~ F(age) is the same term written with a response.
    const viaResponse = await run({ formula: 'y ~ F(age)' }, ds);
    assert.deepEqual(viaResponse.byGroup, result.byGroup);
  });

  it('~ F(age, low, high): counts; exclude = TRUE drops the rest, FALSE counts them as Other', async () => {
    const result = await run({ formula: '~ F(age, 21, 23) + F(age, 21, 22, FALSE) + F(g, 2, 3)' }, ds);
    const [inRange, withOther, factorSlice] = result.categorical;
    const count = (pred: (a: number) => boolean) => age.filter((a) => a !== null && pred(a)).length;
    assert.equal(inRange?.name, 'F_age_21_23_T');
    assert.deepEqual(
      inRange?.counts.map((c) => [c.level, c.count]),
      [21, 22, 23].map((k) => [String(k), count((a) => Math.floor(a) === k)]),
    );
    assert.equal(
      inRange?.validObs,
      count((a) => a >= 21 && a < 24),
    );
    assert.equal(inRange?.missingObs, age.length - count((a) => a >= 21 && a < 24));
    assert.deepEqual(
      withOther?.counts.map((c) => [c.level, c.count]),
      [
        ['21', count((a) => Math.floor(a) === 21)],
        ['22', count((a) => Math.floor(a) === 22)],
        ['Other', count((a) => a < 21 || a >= 23)],
      ],
    );
    // On a factor, low and high are level numbers: levels 2..3 of (a, b, c).
    assert.equal(factorSlice?.name, 'F_g_2_3_T');
    assert.deepEqual(
      factorSlice?.counts.map((c) => [c.level, c.count]),
      [
        ['b', g.filter((v) => v === 'b').length],
        ['c', g.filter((v) => v === 'c').length],
      ],
    );
  });

  it("kyphosis: Kyphosis:F(Number) counts as RevoScaleR's rxCube prints them (level 8 empty)", async () => {
    const { header, rows } = parseCsv(await referenceText('r_reference/data/kyphosis.csv'));
    const column = (name: string) => rows.map((r) => r[header.indexOf(name)] as string);
    const kyphosis = makeDataset(
      [
        { name: 'Kyphosis', type: 'factor', values: column('Kyphosis') },
        { name: 'Number', type: 'integer', values: column('Number').map(Number) },
      ],
      10,
    );
    const result = await run({ formula: '~ Kyphosis:F(Number)' }, kyphosis);
    // REVOSCALER.md section 6 (RevoScaleR docs): absent/present for Number 2..10.
    const published = [
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
    const counts = result.categorical[0]?.counts ?? [];
    assert.equal(counts.length, 18);
    published.forEach(([absent, present], i) => {
      const number = String(i + 2);
      const find = (k: string) =>
        counts.find((c) => c.levels['Kyphosis'] === k && c.levels['F_Number'] === number)?.count;
      assert.equal(find('absent'), absent, `absent, Number ${number}`);
      assert.equal(find('present'), present, `present, Number ${number}`);
    });
    assert.equal(counts[0]?.level, 'Kyphosis=absent, F_Number=2');
  });

  it('N(g) is summarized as the 1-based codes', async () => {
    const result = await run({ formula: '~ N(g)' }, ds);
    const codes = g.map((v) => ['a', 'b', 'c'].indexOf(v) + 1);
    const { mean, sd } = meanSd(codes);
    const entry = result.stats[0];
    assert.equal(entry?.name, 'N(g)');
    assert.ok(Math.abs((entry?.mean as number) - mean) <= 1e-15);
    assert.ok(Math.abs((entry?.stdDev as number) - sd) <= 1e-14);
    assert.deepEqual([entry?.min, entry?.max], [1, 3]);
  });

  it('~ . takes every variable but strings and the weight', async () => {
    const result = await run({ formula: '~ .', fweights: 'w' }, ds);
    assert.deepEqual(
      result.stats.map((s) => s.name),
      ['y', 'age', 'empty'],
    );
    assert.deepEqual(
      result.categorical.map((c) => c.name),
      ['g'],
    );
  });

  it('refuses what it cannot summarize, with codes and positions', async () => {
    const fails = async (formula: string, code: string, status: number, message?: RegExp) => {
      await assert.rejects(
        () => run({ formula }, ds),
        (e: unknown) => {
          assert.ok(e instanceof UserError, String(e));
          assert.equal(e.code, code, e.message);
          assert.equal(e.status, status, e.message);
          if (message) assert.match(e.message, message);
          return true;
        },
      );
    };
    await fails('~ s', 'WRONG_VARIABLE_TYPE', 422, /'s' at column 3 is a string/);
    await fails('~ y:age', 'WRONG_VARIABLE_TYPE', 422, /one numeric per term.*'y:F\(age\)'/);
    await fails('y ~ .', 'INVALID_FORMULA', 400, /'\.' cannot be used with a response/);
    await fails('~ 1', 'INVALID_FORMULA', 400, /no terms/);
    await fails('~ F(empty)', 'NO_VALID_VALUES', 422, /give them as F\(empty, low, high\)/);
    await fails('~ y + aeg', 'UNKNOWN_VARIABLE', 400, /'aeg' at column 7; did you mean 'age'\?/);
    await fails('~ y +', 'INVALID_FORMULA', 400, /column 6/);
    await fails('~ log(y)', 'NOT_IMPLEMENTED', 501);
  });
});
