import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileExpression, compileRowOps, EXPRESSION_LIMITS } from '../../src/engine/expr/index.ts';
import { parseExpression } from '../../src/engine/expr/parser.ts';
import type { VarInfo } from '../../src/storage/datasetMeta.ts';
import { evaluate, expectError, typeOf } from './exprHelpers.ts';

/** Syntax, name resolution and type errors of the expression language, each with its column. */

const VARS: VarInfo[] = [
  { name: 'delay', type: 'numeric', low: 0, high: 100, missing: 0 },
  { name: 'dist', type: 'integer', low: 0, high: 5000, missing: 0 },
  { name: 'carrier', type: 'factor', low: 0, high: 1, missing: 0, levels: ['AA', 'UA'] },
  { name: 'tail', type: 'string', low: null, high: null, missing: 0 },
  { name: 'day', type: 'date', low: null, high: null, missing: 0 },
  { name: 'Body Mass (g)', type: 'numeric', low: null, high: null, missing: 0 },
];

function rowSelection(text: string) {
  return () => compileRowOps({ rowSelection: text }, VARS);
}

function transform(name: string, text: string) {
  return () => compileRowOps({ transforms: { [name]: text } }, VARS);
}

function parse(text: string) {
  return parseExpression({ text, field: undefined, name: undefined });
}

describe('expression parser', () => {
  it('follows R precedence: ^ over unary minus, %% over * /, comparisons over !, & over |', () => {
    const shape = (text: string): string => {
      const show = (node: ReturnType<typeof parse>): string => {
        switch (node.kind) {
          case 'number':
            return String(node.value);
          case 'name':
            return node.name;
          case 'binary':
            return `(${show(node.left)} ${node.op} ${show(node.right)})`;
          case 'unary':
            return `(${node.op}${show(node.operand)})`;
          case 'paren':
            return show(node.expr);
          case 'call':
            return `${node.name}(${node.args.map((a) => (a.name ? `${a.name}=` : '') + show(a.value)).join(',')})`;
          default:
            return node.kind === 'string' ? JSON.stringify(node.value) : node.value;
        }
      };
      return show(parse(text));
    };
    assert.equal(shape('-2^2'), '(-(2 ^ 2))');
    assert.equal(shape('2^-1'), '(2 ^ (-1))');
    assert.equal(shape('2^3^2'), '(2 ^ (3 ^ 2))');
    assert.equal(shape('a * b %% c'), '(a * (b %% c))');
    assert.equal(shape('-a %% b'), '((-a) %% b)');
    assert.equal(shape('a + b * c - d / e'), '((a + (b * c)) - (d / e))');
    assert.equal(shape('!a == b'), '(!(a == b))');
    assert.equal(shape('a | b & c'), '(a | (b & c))');
    assert.equal(shape('a || b && !c'), '(a || (b && (!c)))');
    assert.equal(shape('x %in% c("a", "b")'), '(x %in% c("a","b"))');
    assert.equal(shape('cut(x, breaks = c(0, 1), right = FALSE)'), 'cut(x,breaks=c(0,1),right=FALSE)');
    assert.equal(shape('a %/% b'), '(a %/% b)');
  });

  it('reads numbers, strings with escapes, literals and backquoted names', () => {
    const num = parse('1e-3');
    assert.equal(num.kind === 'number' && num.value, 0.001);
    const half = parse('.5');
    assert.equal(half.kind === 'number' && half.value, 0.5);
    const hex = parse('0x1F');
    assert.equal(hex.kind === 'number' && hex.value, 31);
    const integer = parse('10L');
    assert.ok(integer.kind === 'number' && integer.integer && integer.value === 10);
    const text = parse(String.raw`"a\"b\n\u00e9\x41"`);
    assert.equal(text.kind === 'string' && text.value, 'a"b\néA');
    const single = parse(String.raw`'it\'s'`);
    assert.equal(single.kind === 'string' && single.value, "it's");
    const quoted = parse('`Body Mass (g)`');
    assert.ok(quoted.kind === 'name' && quoted.quoted && quoted.name === 'Body Mass (g)');
    const escaped = parse('`a\\`b`');
    assert.ok(escaped.kind === 'name' && escaped.name === 'a`b');
    for (const literal of ['TRUE', 'FALSE', 'NA', 'NA_real_', 'NA_integer_', 'NA_character_']) {
      const node = parse(literal);
      assert.ok(node.kind === 'literal' && node.value === literal, literal);
    }
    const dotted = parse('Infant.Mortality + x_1 + .hidden');
    assert.equal(dotted.kind, 'binary');
  });

  it('keeps 1-based columns on every node', () => {
    const node = parse('  log(x) + `y z`');
    assert.ok(node.kind === 'binary');
    assert.equal(node.column, 10);
    assert.ok(node.left.kind === 'call' && node.left.column === 3);
    assert.ok(node.left.kind === 'call' && node.left.args[0]?.column === 7);
    assert.equal(node.right.column, 12);
  });

  const syntaxErrors: [string, number, RegExp][] = [
    ['delay +', 8, /expected a value.*ended/],
    ['(delay', 7, /'\)' to close the '\(' at column 1/],
    ['delay )', 7, /expected an operator/],
    ['delay delay', 7, /expected an operator/],
    ['log(delay,)', 11, /argument is missing/],
    ['log(delay', 10, /',' or '\)'/],
    ['delay < dist < 3', 14, /cannot be chained/],
    ['"open', 1, /unterminated string/],
    ['`open', 1, /unterminated backquoted name/],
    ['1e', 1, /empty exponent/],
    ['2x', 2, /after the number/],
    ['1i', 2, /complex numbers/],
    ['delay # note', 7, /comments/],
    ['"\\q"', 2, /unrecognized escape/],
    ['``', 1, /empty backquoted name/],
    ['', 1, /empty/],
    ['   ', 1, /empty/],
    ['delay %o% 2', 7, /unknown operator '%o%'/],
    ['delay[1]', 6, /indexing is not supported/],
    ['carrier$code', 8, /member access/],
    ['delay; dist', 6, /only one expression/],
    ['{ delay }', 1, /blocks are not supported/],
    ['delay ~ dist', 7, /formulas/],
    ['1:10', 2, /sequences/],
    ['delay <- 1', 7, /assignment \('<-'\)/],
    ['delay<-1', 6, /assignment/],
    ['1 -> delay', 3, /assignment \('->'\)/],
    ['delay <<- 1', 7, /assignment \('<<-'\)/],
    ['delay = 1', 7, /assignment \('='\) is not allowed; use '=='/],
    ['if (delay > 1) 2', 1, /use ifelse/],
    ['function(x) x', 1, /function definitions/],
    ['delay |> log()', 7, /pipe/],
    ['log(delay)(2)', 11, /only a function name can be called/],
    ['`log`(delay)', 6, /only a function name can be called/],
    ['_x', 1, /cannot start with '_'/],
    ['NULL', 1, /NULL is not supported/],
    ['\\(x) x', 1, /function definitions/],
  ];
  for (const [text, column, pattern] of syntaxErrors) {
    it(`rejects ${JSON.stringify(text)} at column ${column}`, () => {
      const { message, details } = expectError(rowSelection(text), 'INVALID_EXPRESSION');
      assert.match(message, pattern);
      assert.match(message, new RegExp(`^rowSelection: .* at column ${column}$`));
      assert.equal(details['column'], column);
      assert.equal(details['expression'], text);
      assert.equal(details['field'], 'rowSelection');
    });
  }
});

describe('expression names and types', () => {
  it('suggests the nearest variable for an unknown one, naming the transform', () => {
    const { message, details } = expectError(transform('logDelay', 'log(dealy + 1)'), 'UNKNOWN_VARIABLE');
    assert.equal(message, "transforms.logDelay: unknown variable 'dealy' at column 5; did you mean 'delay'?");
    assert.equal(details['name'], 'logDelay');
    assert.equal(details['variable'], 'dealy');
    assert.equal(details['suggestion'], 'delay');
    assert.equal(details['column'], 5);
  });

  it('suggests the nearest function for an unknown one', () => {
    const { message, details } = expectError(transform('y', 'lgo(delay)'), 'UNKNOWN_FUNCTION');
    assert.match(message, /^transforms\.y: unknown function 'lgo' at column 1; did you mean 'log'\?$/);
    assert.equal(details['suggestion'], 'log');
  });

  it('explains per-chunk aggregates instead of suggesting a near name', () => {
    const { message } = expectError(rowSelection('delay > mean(delay)'), 'UNKNOWN_FUNCTION');
    assert.match(message, /unknown function 'mean' at column 9 \(it would be computed over each chunk/);
    assert.match(expectError(rowSelection('max(delay) > 1'), 'UNKNOWN_FUNCTION').message, /use pmax\(\)/);
  });

  const typeErrors: [string, number, RegExp][] = [
    ['log(carrier)', 5, /log\(\) needs a number, got factor 'carrier'/],
    ['delay + carrier', 9, /'\+' needs a number, got factor 'carrier'/],
    ['carrier & TRUE', 1, /'&' needs a logical value, got factor 'carrier'/],
    ['carrier < "AA"', 9, /'<' cannot order factor 'carrier'; text compares only with == and !=/],
    ['tail > "b"', 6, /cannot order string 'tail'/],
    ['delay == tail', 1, /cannot compare string 'tail' with numeric 'delay'/],
    ['day * 2', 5, /'\*' is not defined for date 'day'/],
    ['day + day', 5, /'\+' is not defined for date 'day' and date 'day'/],
    ['year(delay)', 6, /year\(\) needs a date or a timestamp, got numeric 'delay'/],
    ['ifelse(delay > 1, carrier, 2)', 28, /ifelse\(\) branches must both be text or both numbers/],
    ['delay %in% c("a", "b")', 7, /%in% cannot match numeric 'delay' against text/],
    ['-carrier', 2, /unary '-' needs a number, got factor 'carrier'/],
    ['cut(day, c(1, 2))', 5, /cut\(\) needs a number, got date 'day'/],
    ['!tail', 2, /'!' needs a logical value, got string 'tail'/],
  ];
  for (const [text, column, pattern] of typeErrors) {
    it(`types ${JSON.stringify(text)} as an error at column ${column}`, () => {
      const { message, details } = expectError(transform('t', text), 'WRONG_VARIABLE_TYPE');
      assert.match(message, pattern);
      assert.match(message, new RegExp(`^transforms\\.t: .* at column ${column}$`));
      assert.equal(details['column'], column);
    });
  }

  it('refuses a rowSelection that is not logical', () => {
    const { message } = expectError(rowSelection('carrier'), 'WRONG_VARIABLE_TYPE');
    assert.match(message, /rowSelection needs a logical value, got factor 'carrier' at column 1/);
  });

  const argumentErrors: [string, RegExp][] = [
    ['log(x = delay, y = 2)', /log\(\) has no argument 'y'/],
    ['ifelse(delay > 1, 2)', /ifelse\(\) needs its argument 'no'/],
    ['sqrt(delay, 2)', /too many arguments to sqrt\(\)/],
    ['round(delay, digits = delay)', /round\(\)'s 'digits' must be a number constant/],
    ['pmin()', /pmin\(\) needs at least one argument/],
    ['c(1, 2)', /c\(\) only lists constants/],
    ['delay %in% c(dist, 2)', /must be constants/],
    ['cut(delay, 3)', /at least two cut points/],
    ['cut(delay, c(1, 1, 2))', /breaks are not unique/],
    ['cut(delay, c(0, 1, 2), labels = c("a"))', /2 intervals but 1 labels/],
    ['factor(tail)', /needs levels = c\(\.\.\.\)/],
    ['day == "2020-13-01"', /is not a date/],
    ['log(delay, base = delay, base = 2)', /given twice/],
  ];
  for (const [text, pattern] of argumentErrors) {
    it(`rejects the arguments of ${JSON.stringify(text)}`, () => {
      const { message } = expectError(transform('t', text), 'INVALID_EXPRESSION');
      assert.match(message, pattern);
    });
  }

  it('gives each expression a type, and factor levels known at compile time', () => {
    const columns = [
      { name: 'x', type: 'numeric' as const, values: [1] },
      { name: 'n', type: 'integer' as const, values: [1] },
      { name: 'f', type: 'factor' as const, values: ['b'], levels: ['a', 'b'] },
      { name: 'd', type: 'date' as const, values: [0] },
    ];
    const cases: [string, string, string[]?][] = [
      ['n + 1L', 'integer'],
      ['n + 1', 'numeric'],
      ['n / 2L', 'numeric'],
      ['TRUE + TRUE', 'integer'],
      ['abs(n)', 'integer'],
      ['x > 1', 'logical'],
      ['d + 1', 'date'],
      ['d - d', 'numeric'],
      ['year(d)', 'integer'],
      [
        'dayOfWeek(d)',
        'factor',
        ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'],
      ],
      ['cut(x, c(0, 5, 10))', 'factor', ['(0,5]', '(5,10]']],
      ['cut(x, c(0, 5, 10), labels = FALSE)', 'integer'],
      ['ifelse(x > 1, "hi", "lo")', 'factor', ['hi', 'lo']],
      ['ifelse(x > 1, f, "c")', 'factor', ['a', 'b', 'c']],
      ['ifelse(x > 1, as.character(x), "c")', 'string'],
      ['as.character(f)', 'string'],
      ['factor(x, levels = c(1, 2))', 'factor', ['1', '2']],
      ['ifelse(x > 1, NA, d)', 'date'],
      ['pmax(n, 2L)', 'integer'],
      ['I(f)', 'factor', ['a', 'b']],
    ];
    for (const [text, type, levels] of cases) {
      const info = typeOf(text, columns);
      assert.equal(info.type, type, text);
      if (levels !== undefined) assert.deepEqual(info.levels, levels, text);
      else assert.equal(info.levels, undefined, text);
    }
  });

  it('reads T, F and Inf as constants unless the data has variables of those names', () => {
    assert.deepEqual(evaluate('T & !F', [{ name: 'x', type: 'numeric', values: [1] }]), [true]);
    assert.deepEqual(
      evaluate('T + 1', [{ name: 'T', type: 'numeric', values: [41] }]),
      [42],
      'a variable named T shadows TRUE',
    );
    assert.deepEqual(evaluate('-Inf < x', [{ name: 'x', type: 'numeric', values: [1] }]), [true]);
    assert.deepEqual(evaluate('`TRUE` + 1', [{ name: 'TRUE', type: 'numeric', values: [1] }]), [2]);
  });
});

describe('expression limits', () => {
  it('refuses an expression longer than the limit before parsing it', () => {
    const long = `delay${' + 1'.repeat(EXPRESSION_LIMITS.expressionLength)}`;
    const { message, details } = expectError(rowSelection(long), 'INVALID_EXPRESSION');
    assert.match(message, /characters long; the limit is 10000/);
    assert.equal(details['limit'], EXPRESSION_LIMITS.expressionLength);
  });

  it('refuses nesting deeper than the limit with the column where it happens', () => {
    const deep = `${'('.repeat(EXPRESSION_LIMITS.nesting + 1)}delay${')'.repeat(EXPRESSION_LIMITS.nesting + 1)}`;
    const { message } = expectError(rowSelection(deep), 'INVALID_EXPRESSION');
    assert.match(message, /nested deeper than 100 levels at column 101/);
    const ok = `${'('.repeat(EXPRESSION_LIMITS.nesting)}delay${')'.repeat(EXPRESSION_LIMITS.nesting)} > 1`;
    assert.ok(compileRowOps({ rowSelection: ok }, VARS) !== null);
    const calls = `${'abs('.repeat(101)}delay${')'.repeat(101)}`;
    expectError(transform('t', calls), 'INVALID_EXPRESSION');
    expectError(transform('t', `${'-'.repeat(200)}delay`), 'INVALID_EXPRESSION');
  });

  it('refuses operator chains taller than the limit, and accepts long but shallow ones', () => {
    const tall = Array.from({ length: EXPRESSION_LIMITS.height + 5 }, () => 'delay').join('+');
    assert.match(expectError(transform('t', tall), 'INVALID_EXPRESSION').message, /too deep/);
    const fine = Array.from({ length: 900 }, () => '1').join('+');
    const ops = compileRowOps({ transforms: { t: `delay * 0 + ${fine}` } }, VARS);
    assert.equal(ops?.outputs[0]?.type, 'numeric');
  });

  it('refuses too many transforms and bad transform names', () => {
    const many: Record<string, string> = {};
    for (let i = 0; i <= EXPRESSION_LIMITS.transforms; i++) many[`v${i}`] = '1';
    expectError(() => compileRowOps({ transforms: many }, VARS), 'TOO_MANY_TRANSFORMS');
    for (const name of ['', 'x'.repeat(256), '__proto__', 'constructor', 'prototype', 'a\nb']) {
      const transforms = JSON.parse(`{${JSON.stringify(name)}: "1"}`) as Record<string, string>;
      expectError(() => compileRowOps({ transforms }, VARS), 'INVALID_TRANSFORM_NAME');
    }
  });

  it('refuses transforms and rowSelection of the wrong JSON shape', () => {
    const bad = [
      { transforms: ['log(delay)'] },
      { transforms: 'log(delay)' },
      { transforms: { t: 3 } },
      { rowSelection: 1 },
      { rowSelection: { x: 1 } },
    ];
    for (const spec of bad) {
      expectError(() => compileRowOps(spec as never, VARS), 'INVALID_EXPRESSION');
    }
  });
});

describe('compileExpression', () => {
  it('compiles an in-line formula term and reports its inputs and type', () => {
    const expression = compileExpression('pow(delay, 2) + log(`Body Mass (g)`)', VARS);
    assert.deepEqual(expression.inputs, ['delay', 'Body Mass (g)']);
    assert.equal(expression.type, 'numeric');
    assert.equal(compileExpression('I(dist * 2L)', VARS).type, 'integer');
    assert.deepEqual(compileExpression('cut(delay, c(0, 10, 100))', VARS).levels, ['(0,10]', '(10,100]']);
  });

  it('refuses text results and reports errors without a field prefix', () => {
    const { message } = expectError(
      () => compileExpression('as.character(delay)', VARS),
      'WRONG_VARIABLE_TYPE',
    );
    assert.match(message, /^the expression must give numbers, not a string at column 1$/);
    assert.equal(
      expectError(() => compileExpression('log(dely)', VARS), 'UNKNOWN_VARIABLE').message,
      "unknown variable 'dely' at column 5; did you mean 'delay'?",
    );
  });
});
