import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DataType, type Table } from 'apache-arrow';
import { compileRowOps } from '../../src/engine/expr/index.ts';
import { BLOCK_ROWS } from '../../src/engine/expr/nodes.ts';
import { cells, expectError, run } from './exprHelpers.ts';
import { type ColumnSpec, makeDataset, seededRandom } from './helpers.ts';

/** The RowOps contract: outputs, variables, inputsFor, and apply's tables chunk by chunk. */

const BASE: ColumnSpec[] = [
  { name: 'x', type: 'numeric', values: [1, 2, null, 4, 5, 6, 7] },
  { name: 'n', type: 'integer', values: [10, null, 30, 40, 50, 60, 70] },
  { name: 'f', type: 'factor', values: ['a', 'b', 'c', null, 'a', 'b', 'c'], levels: ['a', 'b', 'c', 'd'] },
  { name: 's', type: 'string', values: ['p', 'q', null, 'r', 's', 't', 'u'] },
  { name: 'ok', type: 'logical', values: [true, false, true, null, true, true, false] },
  { name: 'd', type: 'date', values: [0, 1, 2, 3, null, 5, 6] },
  { name: 't', type: 'timestamp', values: [0, 1000, 2000, null, 4000, 5000, 6000] },
];

describe('compileRowOps', () => {
  it('returns null without transforms or rowSelection', () => {
    const { meta } = makeDataset(BASE, 3);
    assert.equal(compileRowOps({}, meta.variables), null);
    assert.equal(compileRowOps({ transforms: {} }, meta.variables), null);
  });

  it('lists outputs in order, replaces variables in place and appends new ones', () => {
    const { meta } = makeDataset(BASE, 3);
    const ops = compileRowOps(
      { transforms: { y: 'x * 2', x: 'as.character(x)', g: 'cut(n, c(0, 35, 100))' } },
      meta.variables,
    );
    assert.ok(ops !== null);
    assert.deepEqual(ops.outputs, [
      { name: 'y', type: 'numeric', low: null, high: null, missing: 0 },
      { name: 'x', type: 'string', low: null, high: null, missing: 0 },
      { name: 'g', type: 'factor', low: null, high: null, missing: 0, levels: ['(0,35]', '(35,100]'] },
    ]);
    assert.deepEqual(
      ops.variables.map((v) => `${v.name}:${v.type}`),
      [
        'x:string',
        'n:integer',
        'f:factor',
        's:string',
        'ok:logical',
        'd:date',
        't:timestamp',
        'y:numeric',
        'g:factor',
      ],
    );
  });

  it('lets transforms use earlier ones in key order, and a replaced variable its stored value', () => {
    const result = run({ transforms: { x: 'x * 10', y: 'x + 1', z: 'y * 2' } }, BASE, ['x', 'y', 'z']);
    assert.deepEqual(result.values['x'], [10, 20, null, 40, 50, 60, 70]);
    assert.deepEqual(result.values['y'], [11, 21, null, 41, 51, 61, 71]);
    assert.deepEqual(result.values['z'], [22, 42, null, 82, 102, 122, 142]);
    const { meta } = makeDataset(BASE, 3);
    const error = expectError(
      () => compileRowOps({ transforms: { a: 'b + 1', b: 'x' } }, meta.variables),
      'UNKNOWN_VARIABLE',
    );
    assert.match(error.message, /^transforms\.a: unknown variable 'b' at column 1/);
  });

  it('names the stored variables needed, in dataset order, including rowSelection inputs', () => {
    const { meta } = makeDataset(BASE, 3);
    const ops = compileRowOps(
      { transforms: { a: 'n + 1', b: 'a * x', c: 'year(d)', x: 'x + 1' }, rowSelection: 'ok & s != "q"' },
      meta.variables,
    );
    assert.ok(ops !== null);
    assert.deepEqual(ops.inputsFor(['b']), ['x', 'n', 's', 'ok']);
    assert.deepEqual(ops.inputsFor(['c', 'f']), ['f', 's', 'ok', 'd']);
    assert.deepEqual(ops.inputsFor(['x']), ['x', 's', 'ok']);
    assert.deepEqual(ops.inputsFor([]), ['s', 'ok']);
    const error = expectError(() => ops.inputsFor(['bb']), 'UNKNOWN_VARIABLE');
    assert.match(error.message, /did you mean 'b'\?/);
  });

  it('returns exactly the columns asked for, in the storage Arrow types', () => {
    const { meta, chunks } = makeDataset(BASE, 3);
    const ops = compileRowOps(
      {
        transforms: {
          num: 'x / 2',
          int: 'n + 1L',
          lgl: 'x > 2',
          fac: 'cut(x, c(0, 3, 10))',
          str: 'as.character(n)',
          day: 'd + 1',
          time: 't + 1',
        },
      },
      meta.variables,
    );
    assert.ok(ops !== null);
    const columns = ['time', 'f', 'num', 'int', 'lgl', 'fac', 'str', 'day', 's', 'x'];
    const table = ops.apply((chunks[0] as { table: Table }).table, columns);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      columns,
    );
    const type = (name: string) => table.getChild(name)?.type;
    assert.ok(DataType.isTimestamp(type('time')));
    assert.ok(DataType.isFloat(type('num')));
    assert.ok(DataType.isInt(type('int')));
    assert.ok(DataType.isBool(type('lgl')));
    assert.ok(DataType.isDictionary(type('fac')));
    assert.ok(DataType.isUtf8(type('str')));
    assert.ok(DataType.isDate(type('day')));
    // Dictionary ids are unique within the table (IPC writers key dictionaries by id).
    const ids = table.schema.fields
      .filter((f) => DataType.isDictionary(f.type))
      .map((f) => (f.type as { id: number }).id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(cells(table, 'time'), [1000, 2000, 3000]);
    assert.deepEqual(cells(table, 'day'), [1, 2, 3]);
    assert.deepEqual(cells(table, 'str'), ['10', null, '30']);
    assert.deepEqual(cells(table, 'lgl'), [false, false, null]);
  });

  it('gives every chunk the full level list as its dictionary, kept rows or not', () => {
    const result = run({ transforms: { g: 'cut(x, c(0, 2, 4, 8))' }, rowSelection: 'x > 4' }, BASE, [
      'g',
      'f',
    ]);
    for (const table of result.tables) {
      for (const [name, levels] of [
        ['g', ['(0,2]', '(2,4]', '(4,8]']],
        ['f', ['a', 'b', 'c', 'd']],
      ] as const) {
        const data = table.getChild(name)?.data[0];
        const dictionary = data?.dictionary;
        assert.ok(dictionary !== undefined, name);
        assert.deepEqual([...dictionary.toArray()], levels, name);
      }
    }
    assert.deepEqual(result.values['g'], ['(4,8]', '(4,8]', '(4,8]']);
    assert.deepEqual(result.values['f'], ['a', 'b', 'c']);
  });

  it('filters every column type, and keeps columns of the kept rows aligned', () => {
    const result = run(
      {
        transforms: { big: 'x > 3', lab: 'ifelse(ok, "yes", "no")', txt: 'as.character(f)' },
        rowSelection: 'big | is.na(x)',
      },
      BASE,
      ['x', 'n', 'f', 's', 'ok', 'd', 't', 'big', 'lab', 'txt'],
    );
    const kept = [2, 3, 4, 5, 6];
    const pick = <T>(values: readonly T[]) => kept.map((i) => values[i] as T);
    for (const spec of BASE) {
      assert.deepEqual(result.values[spec.name], pick(spec.values as unknown[]), spec.name);
    }
    assert.deepEqual(result.values['big'], [null, true, true, true, true]);
    assert.deepEqual(result.values['lab'], ['yes', null, 'yes', 'yes', 'no']);
    assert.deepEqual(result.values['txt'], ['c', null, 'a', 'b', 'c']);
  });

  it('hands unchanged stored columns back without copying when nothing is filtered', () => {
    const { meta, chunks } = makeDataset(BASE, 7);
    const ops = compileRowOps({ transforms: { y: 'x + 1' } }, meta.variables);
    assert.ok(ops !== null);
    const input = (chunks[0] as { table: Table }).table;
    const table = ops.apply(input, ['x', 's', 'y']);
    assert.equal(table.getChild('x')?.data[0], input.getChild('x')?.data[0]);
    assert.equal(table.getChild('s')?.data[0], input.getChild('s')?.data[0]);
  });

  it('handles chunks larger than a block, with nulls, against a plain loop', () => {
    const random = seededRandom(7);
    const rows = BLOCK_ROWS * 3 + 17;
    const a = Array.from({ length: rows }, () =>
      random() < 0.1 ? null : Math.round((random() - 0.4) * 1000) / 10,
    );
    const b = Array.from({ length: rows }, () => (random() < 0.1 ? null : Math.round(random() * 50)));
    const g = Array.from({ length: rows }, () =>
      random() < 0.05 ? null : (['u', 'v', 'w'][Math.floor(random() * 3)] as string),
    );
    const columns: ColumnSpec[] = [
      { name: 'a', type: 'numeric', values: a },
      { name: 'b', type: 'integer', values: b },
      { name: 'g', type: 'factor', values: g, levels: ['u', 'v', 'w'] },
    ];
    const result = run(
      {
        transforms: { ratio: 'a / (b + 1)', logA: 'log(abs(a) + 1)', w: 'ifelse(g == "v", b, 0L)' },
        rowSelection: 'ratio > 0.5 & !is.na(b) | g %in% "w"',
      },
      columns,
      ['ratio', 'logA', 'w', 'g'],
      BLOCK_ROWS * 2 + 5,
    );
    const expected = {
      ratio: [] as (number | null)[],
      logA: [] as (number | null)[],
      w: [] as (number | null)[],
      g: [] as (string | null)[],
    };
    for (let i = 0; i < rows; i++) {
      const x = a[i] ?? null;
      const y = b[i] ?? null;
      const level = g[i] ?? null;
      const ratio = x === null || y === null ? null : x / (y + 1);
      // (ratio > 0.5 & !is.na(b)) | g %in% "w", in three-valued logic; keep only TRUE.
      const left = y === null ? false : ratio === null ? null : ratio > 0.5;
      const right = level === 'w';
      if (!(right || left === true)) continue;
      expected.ratio.push(ratio);
      expected.logA.push(x === null ? null : Math.log(Math.abs(x) + 1));
      expected.w.push(level === null ? null : level === 'v' ? y : 0);
      expected.g.push(level);
    }
    assert.ok(expected.ratio.length > 1000 && expected.ratio.length < rows - 1000);
    assert.deepEqual(result.values['ratio'], expected.ratio);
    assert.deepEqual(result.values['logA'], expected.logA);
    assert.deepEqual(result.values['w'], expected.w);
    assert.deepEqual(result.values['g'], expected.g);
  });

  it('computes a transform only for the columns asked for, and an empty chunk gives an empty table', () => {
    const { meta, chunks } = makeDataset(BASE, 3);
    const ops = compileRowOps({ transforms: { y: 'x + 1' }, rowSelection: 'x > 100' }, meta.variables);
    assert.ok(ops !== null);
    const table = ops.apply((chunks[0] as { table: Table }).table, ['y', 'f']);
    assert.equal(table.numRows, 0);
    assert.deepEqual(
      table.schema.fields.map((f) => f.name),
      ['y', 'f'],
    );
    // Only x is needed; the chunk need not hold the other columns.
    const narrow = makeDataset([BASE[0] as ColumnSpec], 3);
    const only = compileRowOps({ transforms: { y: 'x + 1', z: 'n * 2' } }, meta.variables);
    assert.deepEqual(only?.inputsFor(['y']), ['x']);
    assert.deepEqual(cells(only?.apply((narrow.chunks[0] as { table: Table }).table, ['y']) as Table, 'y'), [
      2,
      3,
      null,
    ]);
  });

  it('rejects an unknown column in apply', () => {
    const { meta, chunks } = makeDataset(BASE, 3);
    const ops = compileRowOps({ rowSelection: 'TRUE' }, meta.variables);
    assert.ok(ops !== null);
    expectError(() => ops.apply((chunks[0] as { table: Table }).table, ['nope']), 'UNKNOWN_VARIABLE');
  });
});
