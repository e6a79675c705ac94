import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  F_OTHER_LEVEL,
  fillModelMatrix,
  type ModelMatrixOptions,
  type ModelMatrixPlan,
  modelMatrixColumnsUsed,
  parseFormula,
  planModelMatrix,
} from '../../src/engine/formula/index.ts';
import { UserError } from '../../src/userError.ts';
import { makeDataset } from './helpers.ts';

/**
 * The model matrix against expectations written out by hand: for each formula the test lists every
 * column RevoScaleR would show (label, whether it is a Dropped reference level) and how to compute it
 * from one row, and which rows survive na.omit; then every cell of every chunk is compared.
 */

interface Row {
  y: number | null;
  x: number | null;
  z: number;
  a: string | null;
  b: string | null;
  age: number;
  w: number | null;
}

// a: levels p q r; b: levels u v; age spans 20..24 (F(age) has 5 levels, F(age, 20, 23) leaves 24 out).
const ROWS: Row[] = [
  { y: 1.5, x: 2, z: 1, a: 'p', b: 'u', age: 20.2, w: 1 },
  { y: 2.0, x: 3, z: 2, a: 'q', b: 'v', age: 21.7, w: 2 },
  { y: null, x: 1, z: 3, a: 'r', b: 'u', age: 22.0, w: 1 },
  { y: 4.1, x: 5, z: 1, a: 'p', b: 'v', age: 20.9, w: 0.5 },
  { y: 3.3, x: null, z: 2, a: 'q', b: 'u', age: 23.1, w: 1 },
  { y: 2.2, x: 4, z: 3, a: 'r', b: 'v', age: 21.0, w: 1 },
  { y: 5.0, x: 6, z: 1, a: null, b: 'u', age: 22.5, w: 1 },
  { y: 1.1, x: 7, z: 2, a: 'p', b: 'u', age: 23.9, w: null },
  { y: 0.7, x: 8, z: 3, a: 'q', b: 'v', age: 20.0, w: 2 },
  { y: 3.9, x: 9, z: 1, a: 'r', b: 'u', age: 24.0, w: 1 },
  { y: 2.8, x: 1.5, z: 2, a: 'p', b: 'v', age: 22.2, w: 3 },
  { y: 4.4, x: 2.5, z: 3, a: 'r', b: 'u', age: 21.5, w: 1 },
  { y: 3.0, x: 3.5, z: 1, a: 'q', b: null, age: 20.5, w: 1 },
];
const ROWS_PER_CHUNK = 4;

const ds = makeDataset(
  [
    { name: 'y', type: 'numeric', values: ROWS.map((r) => r.y) },
    { name: 'x', type: 'numeric', values: ROWS.map((r) => r.x) },
    { name: 'z', type: 'integer', values: ROWS.map((r) => r.z) },
    { name: 'a', type: 'factor', values: ROWS.map((r) => r.a), levels: ['p', 'q', 'r'] },
    { name: 'b', type: 'factor', values: ROWS.map((r) => r.b), levels: ['u', 'v'] },
    { name: 'age', type: 'numeric', values: ROWS.map((r) => r.age) },
    { name: 'w', type: 'numeric', values: ROWS.map((r) => r.w) },
    { name: 's', type: 'string', values: ROWS.map(() => 'text') },
  ],
  ROWS_PER_CHUNK,
);

const ind = (condition: boolean): number => (condition ? 1 : 0);

/** One expected column: its label, and its value in a row (absent = a Dropped reference column). */
type Expected = [label: string, value?: (row: Row) => number];

interface Case {
  formula: string;
  options?: ModelMatrixOptions;
  columns: Expected[];
  /** Rows na.omit keeps. */
  used: (row: Row) => boolean;
  responses?: Array<(row: Row) => number>;
  weights?: boolean;
}

function plan(formula: string, options: ModelMatrixOptions = {}): ModelMatrixPlan {
  return planModelMatrix(
    parseFormula(formula, ds.meta.variables, { allowCbind: true }),
    ds.meta.variables,
    options,
  );
}

function check(c: Case): ModelMatrixPlan {
  const p = plan(c.formula, c.options);
  assert.deepEqual(
    p.columns.map((col) => [col.label, col.dropped]),
    c.columns.map(([label, value]) => [label, value === undefined]),
    `${c.formula}: columns`,
  );
  const kept = c.columns.filter(([, value]) => value !== undefined) as Array<[string, (row: Row) => number]>;
  assert.deepEqual(
    p.kept.map((j) => p.columns[j]?.label),
    kept.map(([label]) => label),
  );
  let total = 0;
  ds.chunks.forEach((chunk, index) => {
    const rows = ROWS.slice(index * ROWS_PER_CHUNK, (index + 1) * ROWS_PER_CHUNK);
    const usedRows = rows.filter(c.used);
    const m = fillModelMatrix(p, chunk.table);
    const where = `${c.formula}, chunk ${index}`;
    assert.equal(m.numRows, rows.length, where);
    assert.equal(m.n, usedRows.length, `${where}: usable rows`);
    assert.equal(m.p, kept.length, where);
    assert.equal(m.x.length, m.n * m.p, where);
    if (m.usable !== null)
      assert.deepEqual(
        [...m.usable],
        rows.map((r) => ind(c.used(r))),
        `${where}: mask`,
      );
    else assert.ok(rows.every(c.used), `${where}: null mask means every row`);
    kept.forEach(([label, value], j) => {
      usedRows.forEach((row, r) => {
        assert.equal(m.x[j * m.n + r], value(row), `${where}: ${label}, row ${r}`);
      });
    });
    const responses = c.responses ?? [];
    assert.equal(m.q, responses.length, where);
    responses.forEach((response, k) => {
      usedRows.forEach((row, r) => {
        assert.equal(m.y[k * m.n + r], response(row), `${where}: response ${k}, row ${r}`);
      });
    });
    if (c.weights === true) {
      assert.deepEqual(
        m.weights === null ? null : [...m.weights],
        usedRows.map((row) => row.w),
        `${where}: weights`,
      );
    } else assert.equal(m.weights, null, where);
    total += m.n;
  });
  assert.equal(total, ROWS.filter(c.used).length, `${c.formula}: rows in all chunks`);
  return p;
}

const complete =
  (...keys: Array<keyof Row>) =>
  (row: Row) =>
    keys.every((k) => row[k] !== null);

describe('model matrix: coding as RevoScaleR', () => {
  it('numeric and factor main effects with an interaction: the last level is the reference', () => {
    check({
      formula: 'y ~ x + a + b + a:b',
      columns: [
        ['(Intercept)', () => 1],
        ['x', (r) => r.x as number],
        ['a=p', (r) => ind(r.a === 'p')],
        ['a=q', (r) => ind(r.a === 'q')],
        ['a=r'],
        ['b=u', (r) => ind(r.b === 'u')],
        ['b=v'],
        ['a=p, b=u', (r) => ind(r.a === 'p' && r.b === 'u')],
        ['a=q, b=u', (r) => ind(r.a === 'q' && r.b === 'u')],
        ['a=r, b=u'],
        ['a=p, b=v'],
        ['a=q, b=v'],
        ['a=r, b=v'],
      ],
      used: complete('y', 'x', 'a', 'b'),
      responses: [(r) => r.y as number],
    });
  });

  it('dropFirst makes the first level the reference (lm with dropMain = FALSE)', () => {
    check({
      formula: 'y ~ a*b',
      options: { dropFirst: true },
      columns: [
        ['(Intercept)', () => 1],
        ['a=p'],
        ['a=q', (r) => ind(r.a === 'q')],
        ['a=r', (r) => ind(r.a === 'r')],
        ['b=u'],
        ['b=v', (r) => ind(r.b === 'v')],
        ['a=p, b=u'],
        ['a=q, b=u'],
        ['a=r, b=u'],
        ['a=p, b=v'],
        ['a=q, b=v', (r) => ind(r.a === 'q' && r.b === 'v')],
        ['a=r, b=v', (r) => ind(r.a === 'r' && r.b === 'v')],
      ],
      used: complete('y', 'a', 'b'),
      responses: [(r) => r.y as number],
    });
  });

  it('numeric:factor without the factor main effect gives one slope per level', () => {
    check({
      formula: 'y ~ x + x:b',
      columns: [
        ['(Intercept)', () => 1],
        ['x', (r) => r.x as number],
        // x:b after x: b is coded by contrasts (x is an earlier term).
        ['x for b=u', (r) => (r.x as number) * ind(r.b === 'u')],
        ['x for b=v'],
      ],
      used: complete('y', 'x', 'b'),
      responses: [(r) => r.y as number],
    });
    check({
      formula: 'y ~ b:x',
      columns: [
        ['(Intercept)', () => 1],
        ['x for b=u', (r) => (r.x as number) * ind(r.b === 'u')],
        ['x for b=v', (r) => (r.x as number) * ind(r.b === 'v')],
      ],
      used: complete('y', 'x', 'b'),
      responses: [(r) => r.y as number],
    });
  });

  it('numeric:numeric is the product; N() gives 1-based codes', () => {
    check({
      formula: 'y ~ x:z + N(a)',
      columns: [
        ['(Intercept)', () => 1],
        ['x:z', (r) => (r.x as number) * r.z],
        ['N(a)', (r) => ['p', 'q', 'r'].indexOf(r.a as string) + 1],
      ],
      used: complete('y', 'x', 'a'),
      responses: [(r) => r.y as number],
    });
  });

  it('without an intercept the first factor is coded fully, later ones by contrasts', () => {
    check({
      formula: 'y ~ a + b - 1',
      columns: [
        ['a=p', (r) => ind(r.a === 'p')],
        ['a=q', (r) => ind(r.a === 'q')],
        ['a=r', (r) => ind(r.a === 'r')],
        ['b=u', (r) => ind(r.b === 'u')],
        ['b=v'],
      ],
      used: complete('y', 'a', 'b'),
      responses: [(r) => r.y as number],
    });
  });

  it("cube: no intercept, the first term's cells all kept (RevoScaleR's region*sex example)", () => {
    check({
      formula: 'y ~ a*b',
      options: { cube: true },
      columns: [
        ['a=p', (r) => ind(r.a === 'p')],
        ['a=q', (r) => ind(r.a === 'q')],
        ['a=r', (r) => ind(r.a === 'r')],
        ['b=u', (r) => ind(r.b === 'u')],
        ['b=v'],
        ['a=p, b=u', (r) => ind(r.a === 'p' && r.b === 'u')],
        ['a=q, b=u', (r) => ind(r.a === 'q' && r.b === 'u')],
        ['a=r, b=u'],
        ['a=p, b=v'],
        ['a=q, b=v'],
        ['a=r, b=v'],
      ],
      used: complete('y', 'a', 'b'),
      responses: [(r) => r.y as number],
    });
  });

  it('F() terms are factors with one level per integer; excluded values drop the row', () => {
    const p = check({
      formula: 'y ~ F(age)',
      columns: [
        ['(Intercept)', () => 1],
        ...[20, 21, 22, 23].map((k): Expected => [`F_age=${k}`, (r) => ind(Math.floor(r.age) === k)]),
        ['F_age=24'],
      ],
      used: complete('y'),
      responses: [(r) => r.y as number],
    });
    assert.deepEqual(p.terms[0]?.sources[0]?.role === 'factor' && p.terms[0].sources[0].levels, [
      '20',
      '21',
      '22',
      '23',
      '24',
    ]);
    check({
      formula: 'y ~ F(age, 20, 23):b',
      options: { coefLabelStyle: 'R' },
      columns: [
        ['(Intercept)', () => 1],
        ...['u', 'v'].flatMap((level) =>
          [20, 21, 22, 23].map(
            (k): Expected => [
              `F_age_20_23_T${k}:b${level}`,
              (r) => ind(Math.floor(r.age) === k && r.b === level),
            ],
          ),
        ),
      ],
      // age 24 is outside [20, 23]: with exclude = TRUE the row is dropped like a missing value.
      used: (r) => complete('y', 'b')(r) && r.age < 24,
      responses: [(r) => r.y as number],
    });
    check({
      formula: 'y ~ F(age, 21, 22, FALSE) - 1',
      columns: [
        ['F_age_21_22_F=21', (r) => ind(Math.floor(r.age) === 21)],
        ['F_age_21_22_F=22', (r) => ind(Math.floor(r.age) === 22)],
        [`F_age_21_22_F=${F_OTHER_LEVEL}`, (r) => ind(r.age < 21 || r.age >= 23)],
      ],
      used: complete('y'),
      responses: [(r) => r.y as number],
    });
    // On a factor, low and high are level numbers.
    check({
      formula: 'y ~ F(a, 2, 3)',
      columns: [['(Intercept)', () => 1], ['F_a_2_3_T=q', (r) => ind(r.a === 'q')], ['F_a_2_3_T=r']],
      used: (r) => complete('y')(r) && (r.a === 'q' || r.a === 'r'),
      responses: [(r) => r.y as number],
    });
  });

  it('R-style labels, factors in the order written', () => {
    const p = plan('y ~ x + a + b:a + x:b + z:x', { coefLabelStyle: 'R' });
    assert.deepEqual(
      p.columns.map((c) => `${c.label}${c.dropped ? ' (dropped)' : ''}`),
      [
        '(Intercept)',
        'x',
        'ap',
        'aq',
        'ar (dropped)',
        // b:a: without b it is {a}, an earlier term, so b has contrasts (v dropped); without a it is {b},
        // in no earlier term, so a keeps every level. b, written first, varies fastest.
        'bu:ap',
        'bv:ap (dropped)',
        'bu:aq',
        'bv:aq (dropped)',
        'bu:ar',
        'bv:ar (dropped)',
        'x:bu',
        'x:bv (dropped)',
        'z:x',
      ],
    );
  });
});

describe('model matrix: responses, weights, missing rows', () => {
  it('cbind responses, a 2-level factor response as 0/1, weights packed with the rows', () => {
    check({
      formula: 'cbind(y, z) ~ x',
      options: { weights: { kind: 'fweights', variable: 'w' } },
      columns: [
        ['(Intercept)', () => 1],
        ['x', (r) => r.x as number],
      ],
      used: complete('y', 'x', 'w'),
      responses: [(r) => r.y as number, (r) => r.z],
      weights: true,
    });
    check({
      formula: 'b ~ x',
      columns: [
        ['(Intercept)', () => 1],
        ['x', (r) => r.x as number],
      ],
      used: complete('b', 'x'),
      responses: [(r) => ind(r.b === 'v')],
    });
    assert.deepEqual(plan('b ~ x').responses[0]?.levels, ['u', 'v']);
  });

  it('factorCoding full keeps every level (covCor)', () => {
    check({
      formula: '~ a + b',
      options: { factorCoding: 'full', intercept: false },
      columns: [
        ['a=p', (r) => ind(r.a === 'p')],
        ['a=q', (r) => ind(r.a === 'q')],
        ['a=r', (r) => ind(r.a === 'r')],
        ['b=u', (r) => ind(r.b === 'u')],
        ['b=v', (r) => ind(r.b === 'v')],
      ],
      used: complete('a', 'b'),
    });
  });

  it('reads only the variables it needs', () => {
    assert.deepEqual(
      modelMatrixColumnsUsed(
        plan('y ~ x + F(age):a', { weights: { kind: 'pweights', variable: 'w' } }),
      ).sort(),
      ['a', 'age', 'w', 'x', 'y'],
    );
  });
});

describe('model matrix: refusals', () => {
  const code = (run: () => unknown, expected: string, status: number) =>
    assert.throws(run, (e: unknown) => e instanceof UserError && e.code === expected && e.status === status);

  it('refuses what it cannot build, with codes', () => {
    code(() => plan('a ~ x'), 'WRONG_VARIABLE_TYPE', 422); // 3-level factor response
    code(() => plan('y ~ s'), 'WRONG_VARIABLE_TYPE', 422);
    code(() => plan('y ~ x + a', { cube: true }), 'INVALID_FORMULA', 400);
    code(() => plan('y ~ a:b:F(age)', { maxColumns: 20 }), 'TOO_MANY_COLUMNS', 422);
    code(() => plan('y ~ F(a, 0, 2)'), 'INVALID_FORMULA', 400);
    code(() => plan('y ~ F(x, 0, 5000000)'), 'TOO_MANY_LEVELS', 422);
    code(() => plan('y ~ log(x)'), 'NOT_IMPLEMENTED', 501);
  });
});
