import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Bool, Float64, Int32, Table, vectorFromArray } from 'apache-arrow';
import {
  cellIndex,
  countMissing,
  readFactorCodes,
  readNumeric,
  usableMask,
} from '../../src/engine/columns.ts';
import { factorVector, makeDataset } from './helpers.ts';

/** What a column should read as: value, or null where missing. */
function expectColumn(
  column: { values: Float64Array; valid: Uint8Array | null },
  expected: ReadonlyArray<number | null>,
) {
  assert.equal(column.values.length, expected.length);
  expected.forEach((v, i) => {
    const present = column.valid === null || column.valid[i] === 1;
    if (v === null) assert.equal(present, false, `row ${i} should be missing`);
    else {
      assert.equal(present, true, `row ${i} should be present`);
      assert.equal(column.values[i], v, `row ${i}`);
    }
  });
}

const numbers = Array.from({ length: 37 }, (_, i) => (i % 5 === 3 ? null : i * 1.5 - 7));
const integers = Array.from({ length: 37 }, (_, i) => (i % 7 === 2 ? null : i - 20));
const booleans = Array.from({ length: 37 }, (_, i) => (i % 6 === 5 ? null : i % 3 === 0));

function table(from: number, to: number): Table {
  return new Table({
    x: vectorFromArray(numbers.slice(from, to), new Float64()),
    n: vectorFromArray(integers.slice(from, to), new Int32()),
    b: vectorFromArray(booleans.slice(from, to), new Bool()),
  });
}

const asNumbers = (bools: ReadonlyArray<boolean | null>) => bools.map((b) => (b === null ? null : b ? 1 : 0));

describe('column readers', () => {
  it('read Float64, Int32 and Bool columns with nulls as doubles', () => {
    const t = table(0, 37);
    expectColumn(readNumeric(t, 'x'), numbers);
    expectColumn(readNumeric(t, 'n'), integers);
    expectColumn(readNumeric(t, 'b'), asNumbers(booleans));
  });

  it('read multi-batch tables in order', () => {
    const t = table(0, 11).concat(table(11, 20), table(20, 37));
    assert.equal(t.batches.length, 3);
    expectColumn(readNumeric(t, 'x'), numbers);
    expectColumn(readNumeric(t, 'n'), integers);
    expectColumn(readNumeric(t, 'b'), asNumbers(booleans));
  });

  it('honour slice offsets (unaligned validity and Bool bits) and sliced multi-batch tables', () => {
    const sliced = table(0, 37).slice(3, 30);
    expectColumn(readNumeric(sliced, 'x'), numbers.slice(3, 30));
    expectColumn(readNumeric(sliced, 'n'), integers.slice(3, 30));
    expectColumn(readNumeric(sliced, 'b'), asNumbers(booleans.slice(3, 30)));
    const multi = table(0, 20).concat(table(20, 37)).slice(13, 33);
    expectColumn(readNumeric(multi, 'x'), numbers.slice(13, 33));
    expectColumn(readNumeric(multi, 'b'), asNumbers(booleans.slice(13, 33)));
  });

  it('return a Float64 column without nulls as a zero-copy view with no mask', () => {
    const t = new Table({ x: vectorFromArray([1, 2, 3], new Float64()) });
    const column = readNumeric(t, 'x');
    assert.equal(column.valid, null);
    assert.equal(column.values.buffer, t.getChild('x')?.data[0]?.values.buffer);
  });

  it('read dates as days and timestamps as milliseconds', () => {
    const { chunks } = makeDataset(
      [
        { name: 'd', type: 'date', values: [0, 19000, null, -3] },
        { name: 't', type: 'timestamp', values: [1_700_000_000_123, null, 0, -5] },
      ],
      10,
    );
    const t = (chunks[0] as { table: Table }).table;
    expectColumn(readNumeric(t, 'd'), [0, 19000, null, -3]);
    expectColumn(readNumeric(t, 't'), [1_700_000_000_123, null, 0, -5]);
  });

  it('read factor codes against the dataset levels, remapping a chunk with its own dictionary', () => {
    const levels = ['a', 'b', 'c'];
    const values = ['c', null, 'a', 'b', 'c', 'a', null, 'b', 'b'];
    const full = new Table({ g: factorVector(values, levels) });
    const codes = readFactorCodes(full, 'g', levels);
    values.forEach((v, i) => {
      if (v === null) assert.equal(codes.valid?.[i], 0);
      else assert.equal(levels[codes.codes[i] as number], v);
    });
    // A chunk written with a dictionary in another order (and missing a level) still reads right.
    const own = new Table({ g: factorVector(values, ['c', 'b', 'a']) });
    const remapped = readFactorCodes(own, 'g', levels);
    values.forEach((v, i) => {
      if (v !== null) assert.equal(levels[remapped.codes[i] as number], v);
    });
    const sliced = readFactorCodes(full.slice(2, 8), 'g', levels);
    assert.deepEqual(
      Array.from(sliced.codes, (c, i) => (sliced.valid?.[i] === 0 ? null : levels[c])),
      values.slice(2, 8),
    );
  });

  it('fold NaN into the usable mask, count missing and cross factors first-fastest', () => {
    const column = { values: new Float64Array([1, Number.NaN, 3, 4]), valid: new Uint8Array([1, 1, 1, 0]) };
    assert.deepEqual([...(usableMask(column, 4) ?? [])], [1, 0, 1, 0]);
    assert.equal(usableMask({ values: new Float64Array([1, 2]), valid: null }, 2), null);
    assert.equal(countMissing(new Uint8Array([1, 0, 0, 1]), 4), 2);
    const g1 = { codes: new Int32Array([0, 1, 0, 1, 1]), valid: null };
    const g2 = { codes: new Int32Array([0, 0, 2, 2, 1]), valid: new Uint8Array([1, 1, 1, 1, 0]) };
    assert.deepEqual([...cellIndex([g1, g2], [2, 3], 5, null)], [0, 1, 4, 5, -1]);
    assert.deepEqual([...cellIndex([g1], [2], 5, new Uint8Array([0, 1, 1, 1, 1]))], [-1, 1, 0, 1, 1]);
  });
});
