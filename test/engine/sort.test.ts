import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sort } from '../../src/engine/dataOps/sort.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import {
  compareRows,
  isNA,
  type KeyRule,
  type Row,
  readRows,
  specRows,
  type Workspace,
  workspace,
} from './dataOpsHelpers.ts';
import { type ColumnSpec, makeDataset, seededRandom } from './helpers.ts';

/**
 * rxSort through runInProcess with real job files, checked row by row against a plain stable sort of
 * the same rows written in the test (compareRows). Small chunks make many runs and partitions.
 */

const LEVELS = ['mid', 'high', 'low']; // level order differs from alphabetical on purpose

function testColumns(n: number, seed: number): ColumnSpec[] {
  const random = seededRandom(seed);
  const pick = <T>(values: readonly T[]) => values[Math.floor(random() * values.length)]!;
  const words = ['apple', 'Apple', 'banana', 'Banana', 'b', 'B', 'é', 'z', 'Zebra', '𝔘nicode', ''];
  return [
    { name: 'id', type: 'integer', values: Array.from({ length: n }, (_, i) => i) },
    {
      name: 'g',
      type: 'factor',
      levels: LEVELS,
      values: Array.from({ length: n }, () => (random() < 0.1 ? null : pick(LEVELS))),
    },
    {
      name: 'x',
      type: 'integer',
      values: Array.from({ length: n }, () => (random() < 0.1 ? null : pick([1, 2, 3, -4]))),
    },
    {
      name: 'y',
      type: 'numeric',
      values: Array.from({ length: n }, () =>
        random() < 0.08
          ? null
          : pick([0.5, -1.25, Number.NaN, Number.POSITIVE_INFINITY, -0, 0, 7, -Infinity]),
      ),
    },
    {
      name: 's',
      type: 'string',
      values: Array.from({ length: n }, () => (random() < 0.1 ? null : pick(words))),
    },
    {
      name: 'd',
      type: 'date',
      values: Array.from({ length: n }, () => (random() < 0.1 ? null : pick([18000, 17000, 19000]))),
    },
    {
      name: 'flag',
      type: 'logical',
      values: Array.from({ length: n }, () => (random() < 0.1 ? null : random() < 0.5)),
    },
  ];
}

/** A stable sort of `rows` by `rules`, as R's order() does it. */
function reference(rows: Row[], rules: KeyRule[]): Row[] {
  return rows
    .map((row, i) => ({ row, i }))
    .sort((a, b) => compareRows(a.row, b.row, rules) || a.i - b.i)
    .map((e) => e.row);
}

function sameRows(actual: Row[], expected: Row[], message: string): void {
  assert.equal(actual.length, expected.length, `${message}: row count`);
  for (let i = 0; i < expected.length; i++) assert.deepEqual(actual[i], expected[i], `${message}: row ${i}`);
}

describe('sort (rxSort)', () => {
  let ws: Workspace;
  before(async () => {
    ws = await workspace();
  });
  after(async () => ws.close());

  async function run(columns: ColumnSpec[], rowsPerChunk: number, params: Record<string, unknown>) {
    const ds = makeDataset(columns, rowsPerChunk);
    const io = ws.io();
    const result = (await runInProcess(sort, params, ds.meta, ds.chunks, { io })) as {
      dataset: DatasetMeta;
      rowsRead: number;
      rowsWritten: number;
    };
    await ws.endJob(io);
    const rows = await readRows(ws.store, result.dataset);
    return { result, rows, input: specRows(columns) };
  }

  it('sorts by several keys, decreasing per key, NA lowest, stably (ties keep input order)', async () => {
    const columns = testColumns(230, 1);
    const { result, rows, input } = await run(columns, 7, {
      sortByVars: ['g', 'x', 'y'],
      decreasing: [false, true, false],
    });
    const rules: KeyRule[] = [{ name: 'g', levels: LEVELS }, { name: 'x', decreasing: true }, { name: 'y' }];
    sameRows(rows, reference(input, rules), 'g, x desc, y');
    assert.deepEqual(
      result.dataset.variables.map((v) => v.name),
      ['g', 'x', 'y', 'id', 's', 'd', 'flag'],
      'sort keys first, then the rest in dataset order',
    );
    assert.equal(result.rowsRead, 230);
    assert.equal(result.rowsWritten, 230);
    assert.ok(result.dataset.numChunks > 10, `many partitions: ${result.dataset.numChunks} chunks`);
    assert.ok(
      result.dataset.chunkRows.every((n) => n > 0 && n <= 7 * 1.5),
      `chunk sizes ${result.dataset.chunkRows}`,
    );
  });

  it('puts missing values last with missingsLow false, and first when decreasing with it', async () => {
    const columns = testColumns(120, 2);
    for (const [missingsLow, decreasing] of [
      [false, false],
      [false, true],
      [true, true],
    ] as const) {
      const { rows, input } = await run(columns, 9, { sortByVars: 'y', missingsLow, decreasing });
      const expected = reference(input, [{ name: 'y', missingsLow, decreasing }]);
      sameRows(rows, expected, `missingsLow ${missingsLow}, decreasing ${decreasing}`);
      const missing = rows.map((r) => isNA(r.y ?? null));
      assert.ok(missing.includes(true) && missing.includes(false));
      if (missingsLow === decreasing) assert.equal(missing[rows.length - 1], true, 'NA at the end');
      else assert.equal(missing[0], true, 'NA at the start');
    }
  });

  it('sorts strings by code point, folding ASCII case unless caseSensitive', async () => {
    const columns = testColumns(150, 3);
    for (const caseSensitive of [false, true]) {
      const { rows, input } = await run(columns, 8, { sortByVars: ['s', 'flag'], caseSensitive });
      const expected = reference(input, [{ name: 's', foldCase: !caseSensitive }, { name: 'flag' }]);
      sameRows(rows, expected, `caseSensitive ${caseSensitive}`);
    }
  });

  it('removes duplicate keys keeping the first row, with dupFreqVar counts, across partitions', async () => {
    const n = 300;
    const random = seededRandom(4);
    // One key holds most rows, so it straddles many partitions.
    const columns: ColumnSpec[] = [
      { name: 'id', type: 'integer', values: Array.from({ length: n }, (_, i) => i) },
      {
        name: 'k',
        type: 'integer',
        values: Array.from({ length: n }, () =>
          random() < 0.7 ? 5 : random() < 0.2 ? null : Math.floor(random() * 6),
        ),
      },
      {
        name: 'g',
        type: 'factor',
        levels: ['u', 'v'],
        values: Array.from({ length: n }, () => (random() < 0.5 ? 'u' : 'v')),
      },
    ];
    for (const decreasing of [false, true]) {
      const { result, rows, input } = await run(columns, 6, {
        sortByVars: ['k', 'g'],
        decreasing,
        removeDupKeys: true,
        dupFreqVar: 'freq',
      });
      const rules: KeyRule[] = [
        { name: 'k', decreasing },
        { name: 'g', levels: ['u', 'v'], decreasing },
      ];
      const sorted = reference(input, rules);
      const expected: Row[] = [];
      for (const row of sorted) {
        const last = expected[expected.length - 1];
        if (last !== undefined && compareRows(last, row, rules) === 0) last.freq = (last.freq as number) + 1;
        else expected.push({ k: row.k!, g: row.g!, id: row.id!, freq: 1 });
      }
      sameRows(rows, expected, `removeDupKeys decreasing ${decreasing}`);
      assert.equal(result.rowsRead, n);
      assert.equal(result.rowsWritten, expected.length);
      const freq = result.dataset.variables.find((v) => v.name === 'freq')!;
      assert.equal(freq.type, 'integer');
      assert.equal(freq.high, Math.max(...expected.map((r) => r.freq as number)));
    }
  });

  it('keeps the variables asked for and records exact low/high/missing of what it wrote', async () => {
    const columns = testColumns(90, 5);
    const { result, rows, input } = await run(columns, 11, {
      sortByVars: 'd',
      varsToKeep: ['x', 'id'],
      outName: 'by-date',
    });
    assert.equal(result.dataset.name, 'by-date');
    assert.deepEqual(
      result.dataset.variables.map((v) => v.name),
      ['d', 'id', 'x'],
    );
    const expected = reference(input, [{ name: 'd' }]).map((r): Row => ({ d: r.d!, id: r.id!, x: r.x! }));
    sameRows(rows, expected, 'varsToKeep');
    const x = result.dataset.variables.find((v) => v.name === 'x')!;
    const xs = input.map((r) => r.x).filter((v): v is number => v !== null);
    assert.equal(x.low, Math.min(...xs));
    assert.equal(x.high, Math.max(...xs));
    assert.equal(x.missing, input.length - xs.length);
  });

  it('sorts a dataset of one chunk and one of one row', async () => {
    const columns = testColumns(40, 6);
    const { rows, input } = await run(columns, 1000, { sortByVars: ['x', 'id'], decreasing: true });
    sameRows(
      rows,
      reference(input, [
        { name: 'x', decreasing: true },
        { name: 'id', decreasing: true },
      ]),
      'one chunk',
    );
    const single = await run(testColumns(1, 7), 5, { sortByVars: 'g' });
    assert.equal(single.rows.length, 1);
  });

  it('refuses bad params with 400s that say what to fix', () => {
    const ds = makeDataset(testColumns(10, 8), 5);
    const init = (params: Record<string, unknown>) => () =>
      sort.init(params as never, ds.meta, { datasets: new Map() });
    assert.throws(init({ sortByVars: 'nope' }), { code: 'UNKNOWN_VARIABLE', status: 400 });
    assert.throws(init({ sortByVars: ['x', 'y'], decreasing: [true] }), { code: 'INVALID_PARAMS' });
    assert.throws(init({ sortByVars: 'x', dupFreqVar: 'n' }), { code: 'INVALID_PARAMS' });
    assert.throws(init({ sortByVars: 'x', removeDupKeys: true, dupFreqVar: 'y' }), {
      code: 'DUPLICATE_VARIABLE',
    });
    assert.throws(init({ sortByVars: ['x', 'x'] }), { code: 'DUPLICATE_VARIABLE' });
    assert.throws(init({ sortByVars: 'x', varsToKeep: ['id'], varsToDrop: ['y'] }), {
      code: 'INVALID_PARAMS',
    });
    assert.throws(init({ sortByVars: 'x', bogus: 1 }), { code: 'INVALID_PARAMS' });
  });
});
