import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatG, formatNumber } from '../../src/engine/expr/format.ts';
import { cutLabels } from '../../src/engine/expr/functions.ts';
import { rIntDiv, rMod, rRound } from '../../src/engine/expr/kernels.ts';
import { assertClose, type Cell, evaluate, run } from './exprHelpers.ts';
import type { ColumnSpec } from './helpers.ts';

/**
 * What expressions compute, checked against values worked out here independently (plain JavaScript
 * over the same inputs) or written down from R's documentation (?Arithmetic, ?Logic, ?NA, ?round, ?cut).
 */

const X: (number | null)[] = [4, -2.5, null, 0, 10, 7.25, -8];
const Y: (number | null)[] = [2, 3, 1, null, -4, 0.5, 0];
const NUMBERS: ColumnSpec[] = [
  { name: 'x', type: 'numeric', values: X },
  { name: 'y', type: 'numeric', values: Y },
];

/** Applies f to paired values, NA (null) when either is NA, and NaN results become NA (rxserve's rule). */
function pairwise(f: (x: number, y: number) => number): (number | null)[] {
  return X.map((x, i) => {
    const y = Y[i] ?? null;
    if (x === null || y === null) return null;
    const v = f(x, y);
    return Number.isNaN(v) ? null : v;
  });
}

describe('arithmetic (R semantics)', () => {
  it('+ - * / ^ propagate NA, and x / 0 is infinite', () => {
    assertClose(
      evaluate('x + y', NUMBERS),
      pairwise((x, y) => x + y),
      '+',
    );
    assertClose(
      evaluate('x - y', NUMBERS),
      pairwise((x, y) => x - y),
      '-',
    );
    assertClose(
      evaluate('x * y', NUMBERS),
      pairwise((x, y) => x * y),
      '*',
    );
    assertClose(
      evaluate('x / y', NUMBERS),
      pairwise((x, y) => x / y),
      '/',
    );
    assertClose(
      evaluate('x ^ 2', NUMBERS),
      X.map((x) => (x === null ? null : x * x)),
      '^2',
    );
    assertClose(
      evaluate('2 * x + y / 4 - 1', NUMBERS),
      pairwise((x, y) => 2 * x + y / 4 - 1),
      'mixed',
    );
    assertClose(
      evaluate('-x', NUMBERS),
      X.map((x) => (x === null ? null : -x)),
      'unary minus',
    );
    assert.deepEqual(evaluate('x / 0', NUMBERS).slice(0, 2), [
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
    ]);
  });

  it('%% has the sign of the divisor and x %% 0 is NA (NaN); %/% floors', () => {
    // ?Arithmetic: 5 %% 3 = 2, -5 %% 3 = 1, 5 %% -3 = -1, -5 %% -3 = -2; x %% 0 is NaN.
    const columns: ColumnSpec[] = [
      { name: 'a', type: 'numeric', values: [5, -5, 5, -5, 5.5, 7, 0.3] },
      { name: 'b', type: 'numeric', values: [3, 3, -3, -3, 2, 0, 0.1] },
    ];
    const mod = evaluate('a %% b', columns);
    assertClose(mod.slice(0, 6), [2, 1, -1, -2, 1.5, null]);
    // R's 0.3 %% 0.1 is 0.1 less a rounding error (0.09999999999999998), not 0.
    assert.ok(Math.abs((mod[6] as number) - 0.1) < 1e-15);
    assertClose(evaluate('a %/% b', columns).slice(0, 5), [1, -2, -2, 1, 2]);
    assert.equal(evaluate('a %/% b', columns)[5], Number.POSITIVE_INFINITY);
    // (a %/% b) * b + a %% b == a
    const back = evaluate('(a %/% b) * b + a %% b', columns);
    assertClose(back.slice(0, 5), [5, -5, 5, -5, 5.5]);
    assert.equal(rMod(5, Number.POSITIVE_INFINITY), 5);
    assert.equal(rMod(-5, Number.POSITIVE_INFINITY), Number.POSITIVE_INFINITY);
    assert.ok(Number.isNaN(rMod(Number.POSITIVE_INFINITY, 2)));
    assert.equal(rIntDiv(-1, 3), -1);
  });

  it('1 ^ NA and NA ^ 0 are 1, as R_pow has it', () => {
    const columns: ColumnSpec[] = [{ name: 'x', type: 'numeric', values: [null, 2] }];
    assert.deepEqual(evaluate('1 ^ x', columns), [1, 1]);
    assert.deepEqual(evaluate('x ^ 0', columns), [1, 1]);
    assert.deepEqual(evaluate('pow(x, 3)', columns), [null, 8]);
    assert.deepEqual(evaluate('(-8) ^ (1/3)', columns), [null, null], 'NaN is NA');
  });

  it('integer arithmetic stays integer and overflows to NA', () => {
    const columns: ColumnSpec[] = [{ name: 'n', type: 'integer', values: [2147483647, 5, null, -7] }];
    assert.deepEqual(evaluate('n + 1L', columns), [null, 6, null, -6]);
    assert.deepEqual(evaluate('n %/% 2L', columns), [1073741823, 2, null, -4]);
    assert.deepEqual(evaluate('n %% 0L', columns), [null, null, null, null]);
    assert.deepEqual(evaluate('n / 2L', columns), [1073741823.5, 2.5, null, -3.5]);
    assert.deepEqual(evaluate('TRUE + TRUE', columns), [2, 2, 2, 2]);
  });
});

describe('comparison and logic', () => {
  it('comparisons with NA are NA', () => {
    const expected = (f: (x: number, y: number) => boolean) =>
      X.map((x, i) => {
        const y = Y[i] ?? null;
        return x === null || y === null ? null : f(x, y);
      });
    assert.deepEqual(
      evaluate('x < y', NUMBERS),
      expected((x, y) => x < y),
    );
    assert.deepEqual(
      evaluate('x <= y', NUMBERS),
      expected((x, y) => x <= y),
    );
    assert.deepEqual(
      evaluate('x > y', NUMBERS),
      expected((x, y) => x > y),
    );
    assert.deepEqual(
      evaluate('x >= y', NUMBERS),
      expected((x, y) => x >= y),
    );
    assert.deepEqual(
      evaluate('x == y', NUMBERS),
      expected((x, y) => x === y),
    );
    assert.deepEqual(
      evaluate('x != y', NUMBERS),
      expected((x, y) => x !== y),
    );
    assert.deepEqual(
      evaluate('0 < x', NUMBERS),
      X.map((x) => (x === null ? null : 0 < x)),
    );
    assert.deepEqual(
      evaluate('x == NA', NUMBERS),
      X.map(() => null),
    );
    assert.deepEqual(
      evaluate('x != NA_real_', NUMBERS),
      X.map(() => null),
    );
  });

  it('& | ! follow three-valued logic as ?Logic documents', () => {
    // Every pair of TRUE, FALSE, NA: NA & FALSE is FALSE, NA | TRUE is TRUE, NA otherwise.
    const values = [true, false, null];
    const a = values.flatMap((v) => values.map(() => v));
    const b = values.flatMap(() => values);
    const columns: ColumnSpec[] = [
      { name: 'a', type: 'logical', values: a },
      { name: 'b', type: 'logical', values: b },
    ];
    const and = a.map((p, i) => {
      const q = b[i] ?? null;
      if (p === false || q === false) return false;
      return p === null || q === null ? null : true;
    });
    const or = a.map((p, i) => {
      const q = b[i] ?? null;
      if (p === true || q === true) return true;
      return p === null || q === null ? null : false;
    });
    assert.deepEqual(evaluate('a & b', columns), and);
    assert.deepEqual(evaluate('a && b', columns), and);
    assert.deepEqual(evaluate('a | b', columns), or);
    assert.deepEqual(evaluate('a || b', columns), or);
    assert.deepEqual(
      evaluate('!a', columns),
      a.map((p) => (p === null ? null : !p)),
    );
    assert.deepEqual(evaluate('NA & FALSE', columns)[0], false);
    assert.deepEqual(evaluate('NA | TRUE', columns)[0], true);
    assert.deepEqual(evaluate('NA & TRUE', columns)[0], null);
  });

  it('numbers in logical context: 0 is FALSE, others TRUE, NA stays NA', () => {
    assert.deepEqual(
      evaluate('x & TRUE', NUMBERS),
      X.map((x) => (x === null ? null : x !== 0)),
    );
    assert.deepEqual(
      evaluate('!x', NUMBERS),
      X.map((x) => (x === null ? null : x === 0)),
    );
  });

  it('is.na is never NA, and NaN from 0/0 counts as NA', () => {
    assert.deepEqual(
      evaluate('is.na(x)', NUMBERS),
      X.map((x) => x === null),
    );
    assert.deepEqual(
      evaluate('is.na(x / y)', NUMBERS),
      pairwise((x, y) => x / y).map((v) => v === null),
    );
    const zero: ColumnSpec[] = [{ name: 'z', type: 'numeric', values: [0, 1] }];
    assert.deepEqual(evaluate('is.na(z / 0 * 0)', zero), [true, true], '0/0 and Inf*0 are NaN');
    assert.deepEqual(evaluate('is.na(NaN)', zero), [true, true]);
    assert.deepEqual(evaluate('is.na(NA)', zero), [true, true]);
    const kinds: ColumnSpec[] = [
      { name: 'f', type: 'factor', values: ['a', null, 'b'], levels: ['a', 'b'] },
      { name: 's', type: 'string', values: [null, 'x', 'y'] },
      { name: 'l', type: 'logical', values: [true, false, null] },
      { name: 'n', type: 'numeric', values: [1, null, 0] },
    ];
    assert.deepEqual(evaluate('!is.na(f)', kinds), [true, false, true]);
    assert.deepEqual(evaluate('!is.na(s)', kinds), [false, true, true]);
    assert.deepEqual(evaluate('!is.na(l)', kinds), [true, true, false]);
    assert.deepEqual(evaluate('!(is.na(n))', kinds), [true, false, true]);
    assert.deepEqual(evaluate('!!is.na(n)', kinds), [false, true, false]);
  });
});

describe('ifelse and %in%', () => {
  it('ifelse takes yes where TRUE, no where FALSE and NA where the test is NA', () => {
    assert.deepEqual(
      evaluate('ifelse(x > 0, x, y)', NUMBERS),
      X.map((x, i) => (x === null ? null : x > 0 ? x : (Y[i] ?? null))),
    );
    assert.deepEqual(
      evaluate('ifelse(x > 0, "pos", "other")', NUMBERS),
      X.map((x) => (x === null ? null : x > 0 ? 'pos' : 'other')),
    );
    assert.deepEqual(
      evaluate('ifelse(NA, 1, 2)', NUMBERS),
      X.map(() => null),
    );
    assert.deepEqual(
      evaluate('ifelse(y == 0, NA, x / y)', NUMBERS),
      pairwise((x, y) => (y === 0 ? Number.NaN : x / y)),
    );
    assert.deepEqual(
      evaluate('ifelse(x > 0, TRUE, NA)', NUMBERS),
      X.map((x) => (x === null ? null : x > 0 ? true : null)),
    );
  });

  it('%in% matches numbers, strings and factor levels; NA %in% c(NA) is TRUE', () => {
    assert.deepEqual(
      evaluate('x %in% c(4, 0, -8)', NUMBERS),
      X.map((x) => x === 4 || x === 0 || x === -8),
    );
    assert.deepEqual(
      evaluate('x %in% c(4, NA)', NUMBERS),
      X.map((x) => x === 4 || x === null),
    );
    assert.deepEqual(
      evaluate('x %in% 10', NUMBERS),
      X.map((x) => x === 10),
    );
    const text: ColumnSpec[] = [
      { name: 'f', type: 'factor', values: ['AA', 'UA', null, 'DL'], levels: ['AA', 'DL', 'UA'] },
      { name: 's', type: 'string', values: ['x', null, 'y', 'z'] },
      { name: 'n', type: 'integer', values: [1, 2, null, 3] },
    ];
    assert.deepEqual(evaluate('f %in% c("AA", "DL", "ZZ")', text), [true, false, false, true]);
    assert.deepEqual(evaluate('f %in% c("UA", NA)', text), [false, true, true, false]);
    assert.deepEqual(evaluate('s %in% c("x", "z")', text), [true, false, false, true]);
    assert.deepEqual(evaluate('n %in% c(1, 3)', text), [true, false, false, true]);
    assert.deepEqual(evaluate('!(f %in% "AA")', text), [false, true, true, true]);
  });
});

describe('functions', () => {
  it('math functions match JavaScript Math over the same values', () => {
    const defined = (f: (x: number) => number) =>
      X.map((x) => {
        if (x === null) return null;
        const v = f(x);
        return Number.isNaN(v) ? null : v;
      });
    assertClose(evaluate('log(x)', NUMBERS), defined(Math.log), 'log');
    assertClose(evaluate('log(x, 2)', NUMBERS), defined(Math.log2), 'log base 2');
    assertClose(
      evaluate('log(x, base = 3)', NUMBERS),
      defined((x) => Math.log(x) / Math.log(3)),
      'log base 3',
    );
    assertClose(
      evaluate('log10(abs(x) + 1)', NUMBERS),
      defined((x) => Math.log10(Math.abs(x) + 1)),
      'log10',
    );
    assertClose(evaluate('log2(x)', NUMBERS), defined(Math.log2), 'log2');
    assertClose(
      evaluate('exp(x / 10)', NUMBERS),
      defined((x) => Math.exp(x / 10)),
      'exp',
    );
    assertClose(evaluate('sqrt(x)', NUMBERS), defined(Math.sqrt), 'sqrt');
    assertClose(evaluate('abs(x)', NUMBERS), defined(Math.abs), 'abs');
    assertClose(evaluate('floor(x)', NUMBERS), defined(Math.floor), 'floor');
    assertClose(evaluate('ceiling(x)', NUMBERS), defined(Math.ceil), 'ceiling');
    assertClose(evaluate('trunc(x)', NUMBERS), defined(Math.trunc), 'trunc');
    assertClose(
      evaluate('I(x * y)', NUMBERS),
      pairwise((x, y) => x * y),
      'I',
    );
    assert.equal(evaluate('log(0)', NUMBERS)[0], Number.NEGATIVE_INFINITY);
  });

  it('pmin and pmax are elementwise and NA when any argument is NA', () => {
    assertClose(evaluate('pmin(x, y)', NUMBERS), pairwise(Math.min));
    assertClose(
      evaluate('pmax(x, y, 1)', NUMBERS),
      pairwise((x, y) => Math.max(x, y, 1)),
    );
    assertClose(evaluate('pmax(x)', NUMBERS), X);
  });

  it('round uses R 4 rounding: exact halves to even, otherwise the nearer representable candidate', () => {
    const halves: ColumnSpec[] = [
      { name: 'h', type: 'numeric', values: [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5, 2.4999] },
    ];
    assertClose(evaluate('round(h)', halves), [0, 2, 2, -0, -2, -2, 4, 2]);
    assert.equal(rRound(2.567, 2), 2.57);
    assert.equal(rRound(-2.567, 2), -2.57);
    assert.equal(rRound(123.456, 1), 123.5);
    assert.equal(rRound(123.456, -1), 120);
    assert.equal(rRound(1250, -2), 1200, 'an exact tie at tens of hundreds goes to the even hundred');
    // 0.125 is exact in binary, so it is a true tie: R 4 gives 0.12. 2.675 is stored as 2.67499999...
    assert.equal(rRound(0.125, 2), 0.12);
    assert.equal(rRound(2.675, 2), 2.67);
    assert.equal(rRound(1e300, 2), 1e300);
    assert.deepEqual(evaluate('round(x, 1)', [{ name: 'x', type: 'numeric', values: [null, 1.26] }]), [
      null,
      1.3,
    ]);
  });

  it('cut bins right-closed intervals with R labels; outside the breaks is NA', () => {
    // ?cut: cut(c(1, 5, 10), breaks = c(0, 5, 10)) gives (0,5] (0,5] (5,10].
    const v: ColumnSpec[] = [{ name: 'v', type: 'numeric', values: [1, 5, 10, 0, 11, null, 0.5] }];
    assert.deepEqual(evaluate('cut(v, breaks = c(0, 5, 10))', v), [
      '(0,5]',
      '(0,5]',
      '(5,10]',
      null,
      null,
      null,
      '(0,5]',
    ]);
    assert.deepEqual(
      evaluate('cut(v, c(10, 0, 5))', v).slice(0, 3),
      ['(0,5]', '(0,5]', '(5,10]'],
      'breaks are sorted',
    );
    assert.deepEqual(evaluate('cut(v, c(0, 5, 10), include.lowest = TRUE)', v), [
      '[0,5]',
      '[0,5]',
      '(5,10]',
      '[0,5]',
      null,
      null,
      '[0,5]',
    ]);
    assert.deepEqual(evaluate('cut(v, c(0, 5, 10), right = FALSE)', v), [
      '[0,5)',
      '[5,10)',
      null,
      '[0,5)',
      null,
      null,
      '[0,5)',
    ]);
    assert.deepEqual(evaluate('cut(v, c(0, 5, 10), right = FALSE, include.lowest = TRUE)', v).slice(0, 3), [
      '[0,5)',
      '[5,10]',
      '[5,10]',
    ]);
    assert.deepEqual(evaluate('cut(v, c(0, 5, 10), labels = c("low", "high"))', v).slice(0, 3), [
      'low',
      'low',
      'high',
    ]);
    assert.deepEqual(evaluate('cut(v, c(0, 5, 10), labels = FALSE)', v), [1, 1, 2, null, null, null, 1]);
    assert.deepEqual(evaluate('cut(v, c(-Inf, 5, Inf))', v).slice(0, 5), [
      '(-Inf,5]',
      '(-Inf,5]',
      '(5, Inf]'.replace(' ', ''),
      '(-Inf,5]',
      '(5,Inf]',
    ]);
  });

  it("cut's labels use formatC's %g with 3 digits, more when breaks would read the same", () => {
    assert.deepEqual(cutLabels([0, 1000, 10000], true, false, 3), ['(0,1e+03]', '(1e+03,1e+04]']);
    assert.deepEqual(cutLabels([0, 0.5, 1.25], true, false, 3), ['(0,0.5]', '(0.5,1.25]']);
    assert.deepEqual(cutLabels([1.001, 1.002, 1.003], true, false, 3), ['(1.001,1.002]', '(1.002,1.003]']);
    assert.deepEqual(cutLabels([0.00001, 1, 123456], true, false, 3), ['(1e-05,1]', '(1,1.23e+05]']);
    assert.equal(formatG(0.0001, 3), '0.0001');
    assert.equal(formatG(100, 3), '100');
    assert.equal(formatG(-2.5, 3), '-2.5');
  });

  it('factor() maps values onto given levels and merges duplicated labels', () => {
    const columns: ColumnSpec[] = [
      { name: 's', type: 'string', values: ['b', 'a', 'z', null] },
      { name: 'n', type: 'integer', values: [1, 2, 3, null] },
      { name: 'f', type: 'factor', values: ['x', 'y', 'z', null], levels: ['x', 'y', 'z'] },
    ];
    assert.deepEqual(evaluate('factor(s, levels = c("a", "b"))', columns), ['b', 'a', null, null]);
    assert.deepEqual(evaluate('factor(n, levels = c(1, 2), labels = c("one", "two"))', columns), [
      'one',
      'two',
      null,
      null,
    ]);
    assert.deepEqual(evaluate('factor(f, levels = c("z", "y"))', columns), [null, 'y', 'z', null]);
    const merged = run(
      { transforms: { g: 'factor(f, levels = c("x", "y", "z"), labels = c("xy", "xy", "z"))' } },
      columns,
      ['g'],
    );
    assert.deepEqual(merged.values['g'], ['xy', 'xy', 'z', null]);
    assert.deepEqual(merged.variables.find((v) => v.name === 'g')?.levels, ['xy', 'z']);
  });

  it('conversions follow as.numeric, as.integer, as.character and as.logical', () => {
    const columns: ColumnSpec[] = [
      { name: 's', type: 'string', values: [' 1e3 ', 'abc', '0x1A', null, '-Inf', ''] },
      { name: 'x', type: 'numeric', values: [3.9, -3.9, 1e5, 123456, 0.1, 1 / 3] },
      { name: 'f', type: 'factor', values: ['b', 'a', 'b', null, 'a', 'a'], levels: ['a', 'b'] },
    ];
    assert.deepEqual(evaluate('as.numeric(s)', columns), [
      1000,
      null,
      26,
      null,
      Number.NEGATIVE_INFINITY,
      null,
    ]);
    assert.deepEqual(evaluate('as.integer(x)', columns).slice(0, 2), [3, -3]);
    assert.deepEqual(evaluate('as.character(x)', columns), [
      '3.9',
      '-3.9',
      '1e+05',
      '123456',
      '0.1',
      '0.333333333333333',
    ]);
    assert.deepEqual(evaluate('as.numeric(f)', columns), [2, 1, 2, null, 1, 1], 'the codes, as R');
    assert.deepEqual(evaluate('as.character(f)', columns), ['b', 'a', 'b', null, 'a', 'a']);
    assert.deepEqual(evaluate('as.logical(x > 1)', columns), [true, false, true, true, false, false]);
    assert.deepEqual(
      evaluate('as.logical(s)', [{ name: 's', type: 'string', values: ['TRUE', 'false', 'T', 'yes', null] }]),
      [true, false, true, null, null],
    );
    assert.equal(formatNumber(1e15), '1e+15');
    assert.equal(formatNumber(0.0001), '1e-04');
    assert.equal(formatNumber(0.001), '0.001');
    assert.equal(formatNumber(-1234.5), '-1234.5');
    assert.equal(formatNumber(100000.5), '100000.5');
  });
});

describe('text and factors', () => {
  const columns: ColumnSpec[] = [
    { name: 'carrier', type: 'factor', values: ['AA', 'UA', null, 'AA', 'DL'], levels: ['AA', 'DL', 'UA'] },
    { name: 'origin', type: 'factor', values: ['AA', 'JFK', 'JFK', null, 'DL'], levels: ['DL', 'JFK', 'AA'] },
    { name: 'tail', type: 'string', values: ['N1', 'N2', 'N1', null, 'AA'] },
    { name: 'code', type: 'factor', values: ['1', '2', '10', '1', null], levels: ['1', '10', '2'] },
  ];

  it('compares factors with level labels; a label that is not a level is FALSE, not an error', () => {
    assert.deepEqual(evaluate('carrier == "AA"', columns), [true, false, null, true, false]);
    assert.deepEqual(evaluate('"AA" != carrier', columns), [false, true, null, false, true]);
    assert.deepEqual(evaluate('carrier == "ZZ"', columns), [false, false, null, false, false]);
    assert.deepEqual(evaluate('carrier == NA', columns), [null, null, null, null, null]);
    assert.deepEqual(
      evaluate('code == 10', columns),
      [false, false, true, false, null],
      'numbers compare as R writes them',
    );
  });

  it('compares factors with different level lists, and with strings, by label', () => {
    assert.deepEqual(evaluate('carrier == origin', columns), [true, false, null, null, true]);
    assert.deepEqual(evaluate('tail == carrier', columns), [false, false, null, null, false]);
    assert.deepEqual(evaluate('tail != "N1"', columns), [false, true, false, null, true]);
    assert.deepEqual(evaluate('tail == tail', columns), [true, true, true, null, true]);
  });

  it('keeps string transforms as strings and factor transforms with their levels', () => {
    const result = run(
      { transforms: { label: 'ifelse(carrier == "AA", "American", "Other")', t: 'as.character(carrier)' } },
      columns,
      ['label', 't'],
    );
    assert.deepEqual(result.values['label'], ['American', 'Other', null, 'American', 'Other']);
    assert.deepEqual(result.values['t'], ['AA', 'UA', null, 'AA', 'DL']);
    assert.deepEqual(result.variables.find((v) => v.name === 'label')?.levels, ['American', 'Other']);
  });
});

describe('dates and timestamps', () => {
  const days = [0, 18262, 19000, null, -1, 11016];
  const ms = [0, 1577880000000, 1641664800999, null, 951782400000, -1];
  const columns: ColumnSpec[] = [
    { name: 'd', type: 'date', values: days },
    { name: 't', type: 'timestamp', values: ms },
  ];
  const utc = (value: number | null, f: (date: Date) => number | string): Cell =>
    value === null ? null : f(new Date(value));
  const weekdays = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

  it('year, month, day and dayOfWeek of dates match JavaScript Date in UTC', () => {
    const dayMs = (d: number | null) => (d === null ? null : d * 86_400_000);
    assert.deepEqual(
      evaluate('year(d)', columns),
      days.map((d) => utc(dayMs(d), (x) => x.getUTCFullYear())),
    );
    assert.deepEqual(
      evaluate('month(d)', columns),
      days.map((d) => utc(dayMs(d), (x) => x.getUTCMonth() + 1)),
    );
    assert.deepEqual(
      evaluate('day(d)', columns),
      days.map((d) => utc(dayMs(d), (x) => x.getUTCDate())),
    );
    assert.deepEqual(
      evaluate('dayOfWeek(d)', columns),
      days.map((d) => utc(dayMs(d), (x) => weekdays[x.getUTCDay()] as string)),
    );
    assert.deepEqual(
      evaluate('hour(d)', columns),
      days.map((d) => (d === null ? null : 0)),
    );
  });

  it('parts of timestamps are UTC', () => {
    assert.deepEqual(
      evaluate('year(t)', columns),
      ms.map((v) => utc(v, (x) => x.getUTCFullYear())),
    );
    assert.deepEqual(
      evaluate('hour(t)', columns),
      ms.map((v) => utc(v, (x) => x.getUTCHours())),
    );
    assert.deepEqual(
      evaluate('minute(t)', columns),
      ms.map((v) => utc(v, (x) => x.getUTCMinutes())),
    );
    assert.deepEqual(
      evaluate('second(t)', columns),
      ms.map((v) => utc(v, (x) => x.getUTCSeconds())),
    );
    assert.deepEqual(
      evaluate('dayOfWeek(t)', columns),
      ms.map((v) => utc(v, (x) => weekdays[x.getUTCDay()] as string)),
    );
  });

  it('date arithmetic: +- days, date - date in days, timestamps +- seconds, compared with text', () => {
    assert.deepEqual(
      evaluate('d + 1', columns),
      days.map((d) => (d === null ? null : d + 1)),
    );
    assert.deepEqual(
      evaluate('d - d', columns),
      days.map((d) => (d === null ? null : 0)),
    );
    assert.deepEqual(
      evaluate('d - as.Date("1970-01-11")', columns),
      days.map((d) => (d === null ? null : d - 10)),
    );
    assert.deepEqual(
      evaluate('t + 60', columns),
      ms.map((v) => (v === null ? null : v + 60_000)),
    );
    assert.deepEqual(
      evaluate('d >= "2020-01-01"', columns),
      days.map((d) => (d === null ? null : d >= 18262)),
    );
    assert.deepEqual(
      evaluate('t < "2020-01-01 12:00:00"', columns),
      ms.map((v) => (v === null ? null : v < 1577880000000)),
    );
    assert.deepEqual(evaluate('as.Date(t) == d', columns), [true, true, true, null, false, false]);
    assert.deepEqual(evaluate('as.character(d)', columns).slice(0, 3), [
      '1970-01-01',
      '2020-01-01',
      '2022-01-08',
    ]);
    assert.deepEqual(evaluate('as.numeric(t)', columns).slice(0, 2), [0, 1577880000]);
    assert.deepEqual(evaluate('d %in% c("2020-01-01", "1970-01-01")', columns), [
      true,
      true,
      false,
      false,
      false,
      false,
    ]);
  });
});

describe('rowSelection', () => {
  it('keeps a row of a & b & c only when all three are TRUE (NA drops it)', () => {
    const columns: ColumnSpec[] = [
      { name: 'p', type: 'logical', values: [true, true, true, null, false, true, true, null] },
      { name: 'q', type: 'logical', values: [true, true, null, true, true, false, true, null] },
      { name: 'v', type: 'numeric', values: [1, null, 1, 1, 1, 1, 5, 1] },
      { name: 'i', type: 'integer', values: [0, 1, 2, 3, 4, 5, 6, 7] },
    ];
    const result = run({ rowSelection: 'p & q & v < 2' }, columns, ['i'], 3);
    assert.deepEqual(result.values['i'], [0]);
    const either = run({ rowSelection: '(p & v < 2) & (q | is.na(q))' }, columns, ['i'], 3);
    assert.deepEqual(either.values['i'], [0, 2]);
  });

  it('keeps only rows where the condition is TRUE (NA and FALSE dropped), after the transforms', () => {
    const result = run({ transforms: { ratio: 'x / y' }, rowSelection: 'ratio > 1 | is.na(y)' }, NUMBERS, [
      'x',
      'ratio',
    ]);
    const keptRows = X.map((x, i) => {
      const y = Y[i] ?? null;
      if (y === null) return true;
      if (x === null) return false;
      return x / y > 1;
    });
    assert.deepEqual(
      result.values['x'],
      X.filter((_, i) => keptRows[i]),
    );
    assertClose(
      result.values['ratio'] as Cell[],
      X.map((x, i) => (x === null || Y[i] === null ? null : x / (Y[i] as number))).filter(
        (_, i) => keptRows[i],
      ),
    );
  });
});
