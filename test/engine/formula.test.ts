import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EngineError } from '../../src/engine/errors.ts';
import {
  type Expr,
  editDistance,
  type FormulaVariable,
  MAX_NESTING,
  parseFormula,
  parseFormulaAst,
  type TermFactor,
} from '../../src/engine/formula/index.ts';

const VARS: FormulaVariable[] = [
  { name: 'y', type: 'numeric' },
  { name: 'y2', type: 'numeric' },
  { name: 'a', type: 'factor' },
  { name: 'b', type: 'factor' },
  { name: 'c', type: 'factor' },
  { name: 'd', type: 'factor' },
  { name: 'x', type: 'numeric' },
  { name: 'z', type: 'integer' },
  { name: 'age', type: 'integer' },
  { name: 'delay', type: 'numeric' },
  { name: 'Infant.Mortality', type: 'numeric' },
  { name: 'x_1', type: 'numeric' },
  { name: 'Body Mass (g)', type: 'numeric' },
  { name: 'label', type: 'string' },
];

type Options = Parameters<typeof parseFormula>[2];

function labels(formula: string, options?: Options): string[] {
  return parseFormula(formula, VARS, options).terms.map((t) => t.label);
}

function fails(formula: string, code: string, message?: RegExp, options?: Options): EngineError {
  try {
    parseFormula(formula, VARS, options);
  } catch (error) {
    assert.ok(error instanceof EngineError, `${formula}: ${String(error)}`);
    assert.equal(error.code, code, `${formula}: ${error.message}`);
    if (message) assert.match(error.message, message);
    return error;
  }
  assert.fail(`${formula}: expected ${code}`);
}

describe('formula: responses and terms', () => {
  it('parses a two-sided formula, keeping term order as written', () => {
    const f = parseFormula('y ~ a:b + x + a', VARS);
    assert.deepEqual(
      f.response?.map((r) => r.label),
      ['y'],
    );
    assert.equal(f.intercept, true);
    assert.deepEqual(
      f.terms.map((t) => t.label),
      ['a:b', 'x', 'a'],
    );
    assert.deepEqual(f.variables, ['y', 'a', 'b', 'x']);
    assert.equal(f.text, 'y ~ a:b + x + a');
  });

  it('parses a one-sided formula', () => {
    const f = parseFormula('~ a + x', VARS);
    assert.equal(f.response, null);
    assert.deepEqual(
      f.terms.map((t) => t.label),
      ['a', 'x'],
    );
  });

  it('keeps the factors of an interaction in the order written (factor:factor, numeric:factor, numeric:numeric)', () => {
    const f = parseFormula('y ~ a:b + x:a + x:z', VARS);
    assert.deepEqual(
      f.terms.map((t) => t.factors.map((g) => g.label)),
      [
        ['a', 'b'],
        ['x', 'a'],
        ['x', 'z'],
      ],
    );
    assert.deepEqual(f.terms[1]?.factors[0], { kind: 'variable', name: 'x', label: 'x', column: 11 });
  });

  it('expands a*b into a + b + a:b', () => {
    assert.deepEqual(labels('y ~ a*b'), ['a', 'b', 'a:b']);
  });

  it("expands a*b*c into 7 terms in R's order", () => {
    assert.deepEqual(labels('y ~ a*b*c'), ['a', 'b', 'c', 'a:b', 'a:c', 'b:c', 'a:b:c']);
  });

  it('keeps a * expansion in place among other terms', () => {
    assert.deepEqual(labels('y ~ x + a*b + z'), ['x', 'a', 'b', 'a:b', 'z']);
  });

  it('crosses sums: (a+b):(c+d) and (a+b)*c', () => {
    assert.deepEqual(labels('y ~ (a+b):(c+d)'), ['a:c', 'b:c', 'a:d', 'b:d']);
    assert.deepEqual(labels('y ~ (a+b)*c'), ['a', 'b', 'c', 'a:c', 'b:c']);
  });

  it('expands ^ and / as R does', () => {
    assert.deepEqual(labels('y ~ (a+b+c)^2'), ['a', 'b', 'c', 'a:b', 'a:c', 'b:c']);
    assert.deepEqual(labels('y ~ (a+b+c)^3'), ['a', 'b', 'c', 'a:b', 'a:c', 'b:c', 'a:b:c']);
    assert.deepEqual(labels('y ~ a/b'), ['a', 'a:b']);
    assert.deepEqual(labels('y ~ (a+b)/c'), ['a', 'b', 'a:b:c']);
  });

  it('removes terms with -', () => {
    assert.deepEqual(labels('y ~ a*b - a'), ['b', 'a:b']);
    assert.deepEqual(labels('y ~ a*b - a:b'), ['a', 'b']);
    assert.deepEqual(labels('y ~ a*b - b:a'), ['a', 'b']);
    assert.deepEqual(labels('y ~ a + b - c'), ['a', 'b']);
    // A leading `-x` removes from nothing, as in R.
    assert.deepEqual(labels('~ -x + a'), ['a']);
  });

  it('handles the intercept: + 0, - 1, 0 +, -1 +, and the last mention wins', () => {
    assert.equal(parseFormula('y ~ a', VARS).intercept, true);
    assert.equal(parseFormula('y ~ a + 0', VARS).intercept, false);
    assert.equal(parseFormula('y ~ a - 1', VARS).intercept, false);
    assert.equal(parseFormula('y ~ 0 + a', VARS).intercept, false);
    assert.equal(parseFormula('y ~ -1 + a', VARS).intercept, false);
    assert.equal(parseFormula('y ~ a - 1 + 1', VARS).intercept, true);
    assert.equal(parseFormula('y ~ a + 0 - 0', VARS).intercept, true);
    const onlyIntercept = parseFormula('y ~ 1', VARS);
    assert.equal(onlyIntercept.intercept, true);
    assert.deepEqual(onlyIntercept.terms, []);
    assert.deepEqual(labels('y ~ a + 0'), ['a']);
  });

  it('removes duplicate terms, keeping the first place (b:a = a:b)', () => {
    assert.deepEqual(labels('y ~ a + x + a'), ['a', 'x']);
    assert.deepEqual(labels('y ~ b:a + x + a:b'), ['b:a', 'x']);
    assert.deepEqual(labels('y ~ a:a'), ['a']);
    assert.deepEqual(labels('y ~ a + a*b'), ['a', 'b', 'a:b']);
  });

  it('expands . to every non-string variable but the response, when allowed', () => {
    const f = parseFormula('y ~ .', VARS, { allowDot: true });
    assert.deepEqual(
      f.terms.map((t) => t.label),
      VARS.filter((v) => v.type !== 'string' && v.name !== 'y').map((v) => v.name),
    );
    assert.equal(f.dotColumn, 5);
    assert.equal(parseFormula('~ .', VARS, { allowDot: true }).terms.length, VARS.length - 1);
    assert.deepEqual(labels('~ . - x', { allowDot: true }).includes('x'), false);
    fails('y ~ .', 'INVALID_FORMULA', /'\.' .*summary at column 5/);
  });

  it('accepts cbind responses when allowed', () => {
    const f = parseFormula('cbind(y, y2) ~ a + x', VARS, { allowCbind: true });
    assert.deepEqual(
      f.response?.map((r) => r.label),
      ['y', 'y2'],
    );
    assert.deepEqual(f.variables, ['y', 'y2', 'a', 'x']);
    fails('cbind(y, y2) ~ a', 'INVALID_FORMULA', /cbind\(\).*linMod at column 1/);
    fails('y ~ cbind(a, b)', 'INVALID_FORMULA', /only as the response at column 5/, { allowCbind: true });
  });

  it('accepts an in-line function as the response', () => {
    const f = parseFormula('log(y) ~ x', VARS);
    assert.equal(f.response?.[0]?.kind, 'expression');
    assert.equal(f.response?.[0]?.label, 'log(y)');
  });
});

describe('formula: in-line functions, F() and N()', () => {
  it('keeps in-line functions as expression factors with canonical labels', () => {
    const f = parseFormula(
      '~ log(x) + log10(x) + log2(x) + exp(x) + sqrt(x) + abs(x) + pow(x,2) + I(x*z) + log( x+1 )',
      VARS,
    );
    assert.deepEqual(
      f.terms.map((t) => t.label),
      ['log(x)', 'log10(x)', 'log2(x)', 'exp(x)', 'sqrt(x)', 'abs(x)', 'pow(x, 2)', 'I(x * z)', 'log(x + 1)'],
    );
    const inline = f.terms[7]?.factors[0];
    assert.equal(inline?.kind, 'expression');
    if (inline?.kind === 'expression') {
      assert.deepEqual(inline.variables, ['x', 'z']);
      assert.equal(inline.expr.kind, 'call');
    }
  });

  it('accepts arithmetic inside I() and nested functions', () => {
    assert.deepEqual(labels('~ I(x^2 - 3/z) + sqrt(abs(x)) + I(-x)'), [
      'I(x^2 - 3/z)',
      'sqrt(abs(x))',
      'I(-x)',
    ]);
  });

  it('interacts in-line functions with factors', () => {
    assert.deepEqual(labels('y ~ log(x):a + F(age):b'), ['log(x):a', 'F_age:b']);
  });

  it('names F() columns as RevoScaleR does', () => {
    const f = parseFormula(
      '~ F(age) + F(age, low=30, high=39) + F(age, 30, 39) + F(age, 30, 39, FALSE) + F(age, exclude = F, high = 9)',
      VARS,
    );
    assert.deepEqual(
      f.terms.map((t) => t.label),
      ['F_age', 'F_age_30_39_T', 'F_age_30_39_F', 'F_age_NA_9_F'],
    );
    const explicit = f.terms[1]?.factors[0];
    assert.deepEqual(explicit, {
      kind: 'F',
      variable: 'age',
      low: 30,
      high: 39,
      exclude: true,
      label: 'F_age_30_39_T',
      column: 12,
    });
    const plain = f.terms[0]?.factors[0];
    assert.equal(plain?.kind === 'F' && plain.low === null && plain.high === null && plain.exclude, true);
    assert.deepEqual(labels('~ F(x, -5, 5)'), ['F_x_-5_5_T']);
    assert.deepEqual(labels('~ F(a)'), ['F_a'], 'F() on a factor (low/high are level indexes)');
  });

  it('turns N(f) into a codes factor', () => {
    const f = parseFormula('y ~ N(a)', VARS);
    assert.deepEqual(f.terms[0]?.factors[0], { kind: 'N', variable: 'a', label: 'N(a)', column: 5 });
  });

  it('rejects F() and N() on the wrong types with 422', () => {
    const e = fails('~ F(label)', 'WRONG_VARIABLE_TYPE', /F\(\).*'label' at column 3 is string/);
    assert.equal(e.status, 422);
    assert.equal(fails('~ N(x)', 'WRONG_VARIABLE_TYPE', /N\(\).*factor/).status, 422);
  });

  it('rejects bad F() arguments', () => {
    fails('~ F(age, lo = 3)', 'INVALID_FORMULA', /no argument 'lo'.* at column 10/);
    fails('~ F(age, low = 3, low = 4)', 'INVALID_FORMULA', /given twice at column 19/);
    fails('~ F(age, 1, 2, TRUE, 5)', 'INVALID_FORMULA', /at most 4 arguments at column 22/);
    fails('~ F(age, x)', 'INVALID_FORMULA', /expected a number for F\(\) low at column 10/);
    fails('~ F(age, 1, 2, yes)', 'INVALID_FORMULA', /TRUE or FALSE.* at column 16/);
    fails('~ F(age, 9, 2)', 'INVALID_FORMULA', /low \(9\) is greater than high \(2\) at column 3/);
    fails('~ F(log(age))', 'INVALID_FORMULA', /expected a variable name in F\(\) at column 5/);
    fails('~ F()', 'INVALID_FORMULA', /F\(\) needs a variable at column 3/);
    fails('~ N(a, b)', 'INVALID_FORMULA', /N\(\) takes 1 argument, not 2, at column 3/);
  });
});

describe('formula: names', () => {
  it('accepts dotted and underscored names and backquoted names', () => {
    assert.deepEqual(labels('y ~ Infant.Mortality + x_1 + `Body Mass (g)`'), [
      'Infant.Mortality',
      'x_1',
      'Body Mass (g)',
    ]);
    assert.deepEqual(labels('~ log(`Body Mass (g)`) + F(`Body Mass (g)`)'), [
      'log(`Body Mass (g)`)',
      'F_Body Mass (g)',
    ]);
    assert.deepEqual(labels('~ `x`'), ['x']);
  });

  it('computes edit distance with transpositions', () => {
    assert.equal(editDistance('dealy', 'delay'), 1);
    assert.equal(editDistance('', 'abc'), 3);
    assert.equal(editDistance('kitten', 'sitting'), 3);
  });
});

describe('formula: errors with their column', () => {
  it('UNKNOWN_VARIABLE with the nearest name', () => {
    const e = fails(
      'y ~ a + dealy',
      'UNKNOWN_VARIABLE',
      /^unknown variable 'dealy' at column 9; did you mean 'delay'\?$/,
    );
    assert.deepEqual(e.details, { variable: 'dealy', column: 9, suggestion: 'delay' });
    assert.equal(e.status, 400);
    const far = fails('~ qqqqqqqq', 'UNKNOWN_VARIABLE', /^unknown variable 'qqqqqqqq' at column 3$/);
    assert.deepEqual(far.details, { variable: 'qqqqqqqq', column: 3 });
    fails('dealy ~ x', 'UNKNOWN_VARIABLE', /at column 1; did you mean 'delay'/);
    fails('~ log(dealy)', 'UNKNOWN_VARIABLE', /at column 7/);
    fails('~ F(Age)', 'UNKNOWN_VARIABLE', /at column 5; did you mean 'age'/);
    fails('~ `body mass (g)`', 'UNKNOWN_VARIABLE', /did you mean 'Body Mass \(g\)'/);
  });

  it('UNKNOWN_FUNCTION with a suggestion', () => {
    const e = fails(
      'y ~ lgo(x)',
      'UNKNOWN_FUNCTION',
      /^unknown function 'lgo' at column 5; did you mean 'log'\?/,
    );
    assert.equal(e.details?.['column'], 5);
    fails('y ~ x + sin(x)', 'UNKNOWN_FUNCTION', /'sin' at column 9/);
    fails('~ I(foo(x))', 'UNKNOWN_FUNCTION', /'foo' at column 5/);
  });

  it('INVALID_FORMULA names what was expected and where', () => {
    fails('y ~ a +', 'INVALID_FORMULA', /^expected a variable name at column 8$/);
    fails('y ~ a + )', 'INVALID_FORMULA', /^expected a variable name but found '\)' at column 9$/);
    fails('y + a', 'INVALID_FORMULA', /^expected '~' at column 6$/);
    fails('y ~ a ~ b', 'INVALID_FORMULA', /only one '~' at column 7/);
    fails('y ~ a b', 'INVALID_FORMULA', /expected an operator .* but found 'b' at column 7/);
    fails('y ~ a $ b', 'INVALID_FORMULA', /unexpected character '\$' at column 7/);
    fails('y ~ (a + b', 'INVALID_FORMULA', /expected '\)' \(for the '\(' of column 5\) at column 11/);
    fails('y ~ log(x', 'INVALID_FORMULA', /expected ',' or '\)'.* at column 10/);
    fails('y ~ `a', 'INVALID_FORMULA', /unterminated backquoted name starting at column 5/);
    fails('y ~ ``', 'INVALID_FORMULA', /empty backquoted name at column 5/);
    fails('y ~ 2', 'INVALID_FORMULA', /found the number 2 at column 5/);
    fails('y ~ 2x', 'INVALID_FORMULA', /after number '2' at column 6/);
    fails('y ~ (a+b)^x', 'INVALID_FORMULA', /positive whole number after '\^'.* at column 11/);
    fails('y ~ a:1', 'INVALID_FORMULA', /0 or 1 cannot be used with ':' at column 6/);
    fails('~ I(a:b)', 'INVALID_FORMULA', /':' cannot be used inside an expression at column 6/);
    fails('~ pow(x)', 'INVALID_FORMULA', /pow\(\) takes 2 arguments, not 1, at column 3/);
    fails('~ log(x = y)', 'INVALID_FORMULA', /no named arguments at column 7/);
    fails('~ log(F(x))', 'INVALID_FORMULA', /F\(\) cannot be used inside an expression at column 7/);
  });

  it('refuses formulas over 10,000 characters', () => {
    const long = `y ~ ${Array.from({ length: 2600 }, () => 'x').join(' + ')}`;
    assert.ok(long.length > 10_000);
    const e = fails(long, 'INVALID_FORMULA', /limit is 10000/);
    assert.equal(e.status, 400);
  });

  it('refuses nesting deeper than 100 levels', () => {
    assert.equal(MAX_NESTING, 100);
    const ok = `y ~ ${'('.repeat(100)}x${')'.repeat(100)}`;
    assert.deepEqual(labels(ok), ['x']);
    const deep = `y ~ ${'('.repeat(101)}x${')'.repeat(101)}`;
    fails(deep, 'INVALID_FORMULA', /nested deeper than 100 levels at column 105/);
    fails(`~ ${'log('.repeat(101)}x${')'.repeat(101)}`, 'INVALID_FORMULA', /nested deeper than 100/);
    fails(`~ ${'-'.repeat(200)}x`, 'INVALID_FORMULA', /nested deeper than 100/);
  });

  it('refuses expansions with too many terms', () => {
    const names = Array.from({ length: 16 }, (_, i) => `v${i}`);
    const vars = names.map((name) => ({ name, type: 'factor' }));
    assert.throws(
      () => parseFormula(`~ ${names.join('*')}`, vars),
      (e: unknown) =>
        e instanceof EngineError && e.code === 'INVALID_FORMULA' && /more than 10000 terms/.test(e.message),
    );
  });
});

describe('formula: AST positions', () => {
  it('puts a 1-based column on every node', () => {
    const ast = parseFormulaAst('y ~ a:b + log(`x y`, 2)');
    assert.equal(ast.column, 3);
    assert.deepEqual(ast.lhs, { kind: 'var', name: 'y', quoted: false, column: 1 });
    const columns: number[] = [];
    const walk = (e: Expr): void => {
      columns.push(e.column);
      if (e.kind === 'binary') {
        walk(e.left);
        walk(e.right);
      } else if (e.kind === 'call') {
        for (const arg of e.args) walk(arg.value);
      } else if (e.kind === 'paren') walk(e.expr);
      else if (e.kind === 'unary') walk(e.operand);
    };
    walk(ast.rhs);
    // '+' node starts at a, then a:b (5), a (5), b (7), log (11), `x y` (15), 2 (22).
    assert.deepEqual(columns, [5, 5, 5, 7, 11, 15, 22]);
    assert.equal(ast.rhs.kind === 'binary' && ast.rhs.opColumn, 9);
  });

  it('parses R precedence: ^ over unary minus, : over *, * over +', () => {
    const ast = parseFormulaAst('~ a + b*c:d^2');
    const rhs = ast.rhs;
    assert.ok(rhs.kind === 'binary' && rhs.op === '+');
    const right = rhs.right;
    assert.ok(right.kind === 'binary' && right.op === '*');
    assert.ok(right.right.kind === 'binary' && right.right.op === ':');
    assert.ok(right.right.right.kind === 'binary' && right.right.right.op === '^');
  });
});

// Keeps TermFactor's exported shape checked by the compiler.
const _factor: TermFactor = { kind: 'variable', name: 'x', label: 'x', column: 1 };
void _factor;
