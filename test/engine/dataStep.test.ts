import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dataStep } from '../../src/engine/dataOps/dataStep.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import {
  assertChunking,
  type Cell,
  expectedStats,
  type Row,
  readRows,
  specRows,
  type Workspace,
  workspace,
} from './dataOpsHelpers.ts';
import { type ColumnSpec, makeDataset, seededRandom } from './helpers.ts';

interface Result {
  dataset: DatasetMeta;
  rowsRead: number;
  rowsWritten: number;
}

const COLUMNS: ColumnSpec[] = [
  { name: 'x', type: 'numeric', values: [1.5, null, Number.NaN, 4, -2, 6, null, 8, 9, 10, 11] },
  { name: 'n', type: 'integer', values: [1, 2, 3, null, 5, 6, 7, 8, 9, 10, -11] },
  {
    name: 'g',
    type: 'factor',
    values: ['a', 'b', null, 'a', 'b', 'b', 'a', null, 'a', 'b', 'a'],
    levels: ['b', 'a', 'c'],
  },
  { name: 's', type: 'string', values: ['u', 'é€', '', null, 'w', 'v', 'u', 'x', null, 'yy', 'z'] },
  { name: 'd', type: 'date', values: [0, 1, null, -3, 18000, 18001, 5, 6, 7, null, 9] },
  { name: 't', type: 'timestamp', values: [1000, null, 3000, 4000, 5000, 6000, 7e11, 8, 9, 10, 1.7e12] },
  {
    name: 'flag',
    type: 'logical',
    values: [true, false, null, true, true, false, false, true, null, true, true],
  },
];

/** Rows of the columns whose values are all present (NaN counts as missing), keeping `names`. */
function completeRows(rows: readonly Row[], names: readonly string[]): Row[] {
  return rows
    .filter((row) =>
      names.every((n) => row[n] !== null && !(typeof row[n] === 'number' && Number.isNaN(row[n]))),
    )
    .map((row) => Object.fromEntries(names.map((n) => [n, row[n] ?? null])));
}

function column(rows: readonly Row[], name: string): Cell[] {
  return rows.map((row) => row[name] ?? null);
}

describe('dataStep', () => {
  let ws: Workspace;
  before(async () => {
    ws = await workspace();
  });
  after(async () => ws.close());

  async function run(params: Record<string, unknown>, columns = COLUMNS, rowsPerChunk = 4) {
    const ds = makeDataset(columns, rowsPerChunk);
    const io = ws.io();
    const { result, rounds } = await runInProcessDetailed(dataStep, params, ds.meta, ds.chunks, { io });
    await ws.endJob(io);
    const out = result as Result;
    const stored = await ws.store.get(out.dataset.id);
    assert.deepEqual(stored, out.dataset, 'the result is the stored meta');
    return { out, rounds, rows: await readRows(ws.store, out.dataset), input: ds.meta };
  }

  it('keeps variables, removes rows with missings and re-chunks, in input order', async () => {
    const keep = ['x', 'g', 's'];
    const { out, rounds, rows, input } = await run({
      varsToKeep: ['s', 'x', 'g'],
      removeMissings: true,
      rowsPerChunk: 3,
      outName: 'complete',
    });
    const expected = completeRows(specRows(COLUMNS), keep);
    assert.equal(expected.length, 5);
    assert.deepEqual(rows, expected);
    assert.equal(out.rowsRead, 11);
    assert.equal(out.rowsWritten, 5);
    assert.equal(out.dataset.name, 'complete');
    assert.equal(out.dataset.numRows, 5);
    assertChunking(out.dataset, 3);
    assert.equal(rounds, 2, 'pieces of 1, 2 and 2 rows need an assembly round');
    assert.deepEqual(
      out.dataset.variables.map((v) => v.name),
      keep,
      'input order, not varsToKeep order',
    );
    assert.deepEqual(out.dataset.variables[1]?.levels, ['b', 'a', 'c'], 'levels kept as they were');
    for (const variable of out.dataset.variables) {
      const source = input.variables.find((v) => v.name === variable.name)!;
      assert.equal(variable.type, source.type);
      const { name, type, levels } = variable;
      assert.deepEqual(
        { low: variable.low, high: variable.high, missing: variable.missing },
        expectedStats(column(expected, name), type, levels),
        name,
      );
    }
  });

  it('copies every type exactly and publishes full pieces without another pass', async () => {
    const { out, rounds, rows, input } = await run({});
    assert.deepEqual(rows, specRows(COLUMNS));
    assert.equal(rounds, 1, 'pieces of 4, 4, 3 rows are the output chunks as they are');
    assert.deepEqual(out.dataset.chunkRows, [4, 4, 3]);
    assert.equal(out.dataset.name, 'test-dataStep');
    assert.deepEqual(
      out.dataset.variables,
      input.variables,
      'same low, high, missing and levels as the input',
    );
  });

  it('drops variables with varsToDrop', async () => {
    const { rows } = await run({ varsToDrop: ['s', 't'] });
    const expected = specRows(COLUMNS).map(({ s: _s, t: _t, ...rest }) => rest);
    assert.deepEqual(rows, expected);
  });

  it('drops an emptied chunk and keeps the others as they are when they still fit', async () => {
    const columns: ColumnSpec[] = [
      { name: 'x', type: 'numeric', values: [1, 2, null, null, 5, 6, 7] },
      { name: 'y', type: 'string', values: ['a', 'b', 'c', 'd', 'e', 'f', 'g'] },
    ];
    const { out, rounds, rows } = await run({ removeMissings: true }, columns, 2);
    assert.equal(rounds, 1);
    assert.deepEqual(out.dataset.chunkRows, [2, 2, 1]);
    assert.deepEqual(rows, completeRows(specRows(columns), ['x', 'y']));
  });

  it('writes a valid dataset with no rows when every row is removed', async () => {
    const columns: ColumnSpec[] = [
      { name: 'x', type: 'numeric', values: [null, Number.NaN, null] },
      { name: 'g', type: 'factor', values: ['a', 'b', null], levels: ['a', 'b'] },
    ];
    const { out, rows } = await run({ removeMissings: true }, columns, 2);
    assert.deepEqual(rows, []);
    assert.equal(out.rowsWritten, 0);
    assert.equal(out.dataset.numRows, 0);
    assert.equal(out.dataset.numChunks, 0);
    assert.deepEqual(out.dataset.chunkRows, []);
    assert.deepEqual(
      out.dataset.variables.map((v) => [v.name, v.low, v.high, v.missing, v.levels]),
      [
        ['x', null, null, 0, undefined],
        ['g', null, null, 0, ['a', 'b']],
      ],
    );
  });

  it('re-chunks larger data to smaller and larger chunks than the input', async () => {
    const random = seededRandom(7);
    const n = 1000;
    const maybe = <T>(value: T): T | null => (random() < 0.1 ? null : value);
    const columns: ColumnSpec[] = [
      { name: 'a', type: 'numeric', values: Array.from({ length: n }, (_, i) => maybe(i + random())) },
      { name: 'b', type: 'integer', values: Array.from({ length: n }, (_, i) => maybe(i)) },
      {
        name: 'f',
        type: 'factor',
        values: Array.from({ length: n }, () => maybe(['p', 'q', 'r'][Math.floor(random() * 3)]!)),
        levels: ['p', 'q', 'r'],
      },
      { name: 'w', type: 'string', values: Array.from({ length: n }, (_, i) => maybe(`w${i}`)) },
    ];
    const expected = completeRows(specRows(columns), ['a', 'b', 'f', 'w']);
    for (const rowsPerChunk of [10, 250, 5000]) {
      const { out, rows } = await run({ removeMissings: true, rowsPerChunk }, columns, 37);
      assert.deepEqual(rows, expected, `rowsPerChunk ${rowsPerChunk}`);
      assertChunking(out.dataset, rowsPerChunk);
    }
  });

  it('publishes the same dataset when a finalizer runs again (after a crash)', async () => {
    const ds = makeDataset(COLUMNS, 4);
    for (const params of [{}, { rowsPerChunk: 5 }]) {
      const io = ws.io();
      const context = { round: 0, io };
      let state = dataStep.init(params, ds.meta, { datasets: new Map() });
      const fold = async (partials: ReadonlyArray<unknown>) => {
        const all = await Promise.all(partials);
        return all.slice(1).reduce((a, b) => dataStep.merge(a as never, b as never), all[0]) as never;
      };
      const written = await fold(ds.chunks.map((chunk) => dataStep.map(chunk, state, context)));
      const copy = () => JSON.parse(JSON.stringify(written));
      let outcome = await dataStep.finalize(copy(), state, { io });
      const again = await dataStep.finalize(copy(), state, { io });
      if (!outcome.done) {
        assert.deepEqual(again, outcome, 'the same assembly plan');
        state = outcome.state;
        const input = dataStep.roundInput?.(state);
        assert.equal(input?.kind, 'partitions');
        const count = input?.kind === 'partitions' ? input.count : 0;
        const parts = Array.from({ length: count }, (_, p) =>
          dataStep.mapPartition!(p, state, { round: 1, io }),
        );
        const assembled = await fold(parts);
        outcome = await dataStep.finalize(assembled, state, { io });
        const twice = await dataStep.finalize(assembled, state, { io });
        assert.ok(outcome.done && twice.done);
        assert.equal(twice.result.dataset.id, outcome.result.dataset.id);
      } else {
        assert.ok(again.done);
        assert.equal(again.result.dataset.id, outcome.result.dataset.id);
      }
      assert.ok(outcome.done);
      const dataset = outcome.result.dataset;
      assert.deepEqual(await readRows(ws.store, dataset), specRows(COLUMNS));
      assertChunking(dataset, (params as { rowsPerChunk?: number }).rowsPerChunk ?? 4);
      await ws.endJob(io);
    }
  });

  it('rejects bad params before anything runs', async () => {
    const ds = makeDataset(COLUMNS, 4);
    assert.throws(() => dataStep.init({ varsToKeep: ['flg'] }, ds.meta, { datasets: new Map() }), {
      status: 400,
      code: 'UNKNOWN_VARIABLE',
      message: "varsToKeep: unknown variable 'flg'; did you mean 'flag'?",
    });
    assert.throws(
      () => dataStep.init({ varsToKeep: ['x'], varsToDrop: ['g'] }, ds.meta, { datasets: new Map() }),
      {
        status: 400,
        code: 'INVALID_PARAMS',
      },
    );
    assert.throws(
      () => dataStep.init({ varsToDrop: COLUMNS.map((c) => c.name) }, ds.meta, { datasets: new Map() }),
      { status: 400, code: 'NO_VARIABLES' },
    );
    assert.throws(() => dataStep.init({ rowsPerChunk: 0 }, ds.meta, { datasets: new Map() }), {
      status: 400,
      code: 'INVALID_PARAMS',
    });
    assert.throws(() => dataStep.init({ removeMisings: true } as never, ds.meta, { datasets: new Map() }), {
      status: 400,
      code: 'INVALID_PARAMS',
    });
  });
});
