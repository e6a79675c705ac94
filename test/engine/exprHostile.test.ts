import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileExpression, compileRowOps } from '../../src/engine/expr/index.ts';
import { expectError, run } from './exprHelpers.ts';
import { type ColumnSpec, makeDataset } from './helpers.ts';

/**
 * Hostile input: each must be refused with a 400 (never a 500, a hang or a stack overflow) and have no
 * effect. The language never reaches JavaScript evaluation, so "no effect" is checked by sentinels that
 * the attacks would set if they ran.
 */

const COLUMNS: ColumnSpec[] = [
  { name: 'x', type: 'numeric', values: [1, 2, 3] },
  { name: 'y', type: 'numeric', values: [4, 5, 6] },
];
const { meta } = makeDataset(COLUMNS, 3);

const ATTACKS: [string, string][] = [
  ['constructor.constructor("return process")()', 'INVALID_EXPRESSION'],
  ['constructor.constructor("globalThis.__pwned = 1")', 'UNKNOWN_FUNCTION'],
  ['__proto__', 'INVALID_EXPRESSION'],
  ['x.__proto__', 'UNKNOWN_VARIABLE'],
  ['toString()', 'UNKNOWN_FUNCTION'],
  ['valueOf(x)', 'UNKNOWN_FUNCTION'],
  ['hasOwnProperty("x")', 'UNKNOWN_FUNCTION'],
  ['this', 'UNKNOWN_VARIABLE'],
  ['require("fs")', 'UNKNOWN_FUNCTION'],
  ['process.exit()', 'UNKNOWN_FUNCTION'],
  ['process.exit(1)', 'UNKNOWN_FUNCTION'],
  ['globalThis', 'UNKNOWN_VARIABLE'],
  ['eval("1")', 'UNKNOWN_FUNCTION'],
  ['Function("return 1")()', 'INVALID_EXPRESSION'],
  ['import("fs")', 'UNKNOWN_FUNCTION'],
  ['x[0]', 'INVALID_EXPRESSION'],
  ['x["constructor"]', 'INVALID_EXPRESSION'],
  ['x.y()', 'UNKNOWN_FUNCTION'],
  ['x$y', 'INVALID_EXPRESSION'],
  ['function(){}', 'INVALID_EXPRESSION'],
  ['() => 1', 'INVALID_EXPRESSION'],
  ['x => 1', 'INVALID_EXPRESSION'],
  // biome-ignore lint/suspicious/noTemplateCurlyInString: JavaScript template syntax is the attack
  ['`${process.exit()}`', 'UNKNOWN_VARIABLE'],
  ['`x` + `constructor`', 'UNKNOWN_VARIABLE'],
  ['x; process.exit()', 'INVALID_EXPRESSION'],
  ['x <- 1', 'INVALID_EXPRESSION'],
  ['x = 1', 'INVALID_EXPRESSION'],
  ['{ x }', 'INVALID_EXPRESSION'],
  ['new Function("x")', 'INVALID_EXPRESSION'],
  ['"\\u{110000}"', 'INVALID_EXPRESSION'],
  ['x\u0000', 'INVALID_EXPRESSION'],
  ['x /* comment */', 'INVALID_EXPRESSION'],
];

describe('hostile expressions', () => {
  for (const [text, code] of ATTACKS) {
    it(`refuses ${JSON.stringify(text)} with ${code}`, () => {
      for (const attempt of [
        () => compileRowOps({ rowSelection: text }, meta.variables),
        () => compileRowOps({ transforms: { t: text } }, meta.variables),
        () => compileExpression(text, meta.variables),
      ]) {
        expectError(attempt, code);
      }
      assert.equal((globalThis as Record<string, unknown>)['__pwned'], undefined);
    });
  }

  it('refuses a 1 MB expression quickly', () => {
    const big = `x${' + x'.repeat(250_000)}`;
    const start = performance.now();
    expectError(() => compileRowOps({ rowSelection: big }, meta.variables), 'INVALID_EXPRESSION');
    assert.ok(performance.now() - start < 100);
  });

  it('refuses 10,000 nested parentheses and 100,000 + terms without a stack overflow', () => {
    const nested = `${'('.repeat(10_000)}x${')'.repeat(10_000)}`;
    expectError(() => compileRowOps({ rowSelection: nested }, meta.variables), 'INVALID_EXPRESSION');
    const nestedShort = `${'('.repeat(4_000)}x${')'.repeat(4_000)}`;
    expectError(() => compileRowOps({ rowSelection: nestedShort }, meta.variables), 'INVALID_EXPRESSION');
    const calls = `${'log('.repeat(2_000)}x${')'.repeat(2_000)}`;
    expectError(() => compileRowOps({ transforms: { t: calls } }, meta.variables), 'INVALID_EXPRESSION');
    const terms = Array.from({ length: 100_000 }, () => 'x').join('+');
    expectError(() => compileRowOps({ transforms: { t: terms } }, meta.variables), 'INVALID_EXPRESSION');
    const bangs = `${'!'.repeat(5_000)}x`;
    expectError(() => compileRowOps({ rowSelection: bangs }, meta.variables), 'INVALID_EXPRESSION');
    const powers = Array.from({ length: 3_000 }, () => 'x').join('^');
    expectError(() => compileRowOps({ transforms: { t: powers } }, meta.variables), 'INVALID_EXPRESSION');
  });

  it('refuses a name of 1,000,000 characters, in an expression or as a transform name', () => {
    const name = 'a'.repeat(1_000_000);
    expectError(() => compileRowOps({ rowSelection: name }, meta.variables), 'INVALID_EXPRESSION');
    expectError(() => compileRowOps({ rowSelection: `\`${name}\`` }, meta.variables), 'INVALID_EXPRESSION');
    const error = expectError(
      () => compileRowOps({ transforms: { [name]: 'x' } }, meta.variables),
      'INVALID_TRANSFORM_NAME',
    );
    assert.ok(error.message.length < 500, 'the message does not echo the whole name');
  });

  it('refuses transform names that are JavaScript object machinery', () => {
    for (const name of ['__proto__', 'constructor', 'prototype']) {
      const transforms = JSON.parse(`{"${name}": "x + 1"}`) as Record<string, string>;
      expectError(() => compileRowOps({ transforms }, meta.variables), 'INVALID_TRANSFORM_NAME');
    }
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
  });

  it('reads dataset variables named constructor, __proto__ and toString as ordinary columns', () => {
    const columns: ColumnSpec[] = [
      { name: 'constructor', type: 'numeric', values: [1, 2, null] },
      { name: '__proto__', type: 'numeric', values: [10, 20, 30] },
      { name: 'toString', type: 'factor', values: ['a', 'b', 'a'], levels: ['a', 'b'] },
      { name: 'hasOwnProperty', type: 'string', values: ['p', null, 'q'] },
    ];
    const result = run(
      {
        transforms: { sum: 'constructor + `__proto__`', same: '`constructor` * 1' },
        rowSelection: 'toString == "a" | is.na(hasOwnProperty)',
      },
      columns,
      ['sum', 'same', '__proto__', 'toString', 'hasOwnProperty', 'constructor'],
    );
    assert.deepEqual(result.values['sum'], [11, 22, null]);
    assert.deepEqual(result.values['same'], [1, 2, null]);
    const byName = new Map(Object.entries(result.values));
    assert.deepEqual(byName.get('__proto__'), [10, 20, 30]);
    assert.deepEqual(result.values['toString'], ['a', 'b', 'a']);
    assert.deepEqual(result.values['hasOwnProperty'], ['p', null, 'q']);
    assert.deepEqual(result.values['constructor'], [1, 2, null]);
    const expression = compileExpression('`__proto__` * 2', makeDataset(columns, 3).meta.variables);
    assert.deepEqual(expression.inputs, ['__proto__']);
  });

  it('treats unknown names that exist on Object.prototype as unknown', () => {
    for (const name of ['toString', 'valueOf', 'constructor', 'hasOwnProperty', 'isPrototypeOf']) {
      expectError(() => compileRowOps({ rowSelection: `${name} > 1` }, meta.variables), 'UNKNOWN_VARIABLE');
      expectError(
        () => compileRowOps({ rowSelection: `\`${name}\` > 1` }, meta.variables),
        'UNKNOWN_VARIABLE',
      );
    }
  });
});
