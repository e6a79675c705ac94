import assert from 'node:assert/strict';
import type { Table } from 'apache-arrow';
import { compileRowOps, type RowOpsSpec } from '../../src/engine/expr/index.ts';
import type { VarInfo } from '../../src/storage/datasetMeta.ts';
import { type ColumnSpec, makeDataset } from './helpers.ts';

export type Cell = number | string | boolean | null;

/** A column's values as plain JS (dates in days, timestamps in ms, factors as labels). */
export function cells(table: Table, name: string): Cell[] {
  const vector = table.getChild(name);
  assert.ok(vector !== null, `column ${name} is in the table`);
  const isDate = String(vector.type).startsWith('Date');
  const out: Cell[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const v: unknown = vector.get(i);
    if (v === null || v === undefined) out.push(null);
    else if (typeof v === 'bigint') out.push(Number(v));
    else if (typeof v === 'number') out.push(isDate ? v / 86_400_000 : v);
    else if (typeof v === 'string' || typeof v === 'boolean') out.push(v);
    else throw new Error(`unexpected cell ${String(v)}`);
  }
  return out;
}

/** Runs spec over `columns` split in chunks of `rowsPerChunk` rows and returns `wanted` concatenated. */
export function run(
  spec: RowOpsSpec,
  columns: readonly ColumnSpec[],
  wanted: readonly string[],
  rowsPerChunk = 3,
): { values: Record<string, Cell[]>; variables: VarInfo[]; tables: Table[] } {
  const dataset = makeDataset(columns, rowsPerChunk);
  const ops = compileRowOps(spec, dataset.meta.variables);
  assert.ok(ops !== null);
  // No prototype: a column may be called __proto__.
  const values = Object.create(null) as Record<string, Cell[]>;
  for (const name of wanted) values[name] = [];
  const tables: Table[] = [];
  for (const chunk of dataset.chunks) {
    const table = ops.apply(chunk.table, wanted);
    tables.push(table);
    for (const name of wanted) values[name]?.push(...cells(table, name));
  }
  return { values, variables: ops.variables, tables };
}

/** The values of one expression, as transform `out`, over the given columns. */
export function evaluate(expression: string, columns: readonly ColumnSpec[]): Cell[] {
  return run({ transforms: { out: expression } }, columns, ['out']).values['out'] as Cell[];
}

/** The type (and levels) the checker gives one expression. */
export function typeOf(expression: string, columns: readonly ColumnSpec[]): VarInfo {
  const dataset = makeDataset(columns, 10);
  const ops = compileRowOps({ transforms: { out: expression } }, dataset.meta.variables);
  assert.ok(ops !== null);
  return ops.outputs[0] as VarInfo;
}

/** Numbers compared to 1e-12 relative; nulls must match exactly. */
export function assertClose(
  actual: readonly Cell[],
  expected: readonly (number | null)[],
  message?: string,
): void {
  assert.equal(actual.length, expected.length, message);
  expected.forEach((e, i) => {
    const a = actual[i];
    if (e === null) {
      assert.equal(a, null, `${message ?? ''} row ${i}: expected NA, got ${String(a)}`);
      return;
    }
    assert.equal(typeof a, 'number', `${message ?? ''} row ${i}: expected ${e}, got ${String(a)}`);
    const diff = Math.abs((a as number) - e);
    assert.ok(
      diff <= 1e-12 * Math.max(1, Math.abs(e)) || a === e,
      `${message ?? ''} row ${i}: expected ${e}, got ${String(a)}`,
    );
  });
}

/** Asserts that `fn` throws an EngineError with `code` (and `status`), returning it for more checks. */
export function expectError(
  fn: () => unknown,
  code: string,
  status = code === 'WRONG_VARIABLE_TYPE' ? 422 : 400,
): { message: string; details: Record<string, unknown> } {
  try {
    fn();
  } catch (error) {
    const e = error as { code?: string; status?: number; message: string; details?: Record<string, unknown> };
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    assert.equal(e.status, status, e.message);
    return { message: e.message, details: e.details ?? {} };
  }
  throw new assert.AssertionError({ message: `expected ${code}, nothing was thrown` });
}
