import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { type SplitResult, split, uniformParts } from '../../src/engine/dataOps/split.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import {
  assertChunking,
  expectedStats,
  type Row,
  readRows,
  specRows,
  type Workspace,
  workspace,
} from './dataOpsHelpers.ts';
import { type ColumnSpec, makeDataset } from './helpers.ts';

const COLUMNS: ColumnSpec[] = [
  { name: 'id', type: 'integer', values: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10] },
  {
    name: 'part',
    type: 'factor',
    values: ['train', 'test', 'train', null, 'train', 'train', 'test', 'train', 'test', 'train'],
    levels: ['train', 'test', 'unused'],
  },
  { name: 'x', type: 'numeric', values: [0.5, null, 2, 3, -4, 5, 6, null, 8, 9] },
  { name: 's', type: 'string', values: ['a', 'b', null, 'd', 'e', 'f', 'g', 'h', 'i', 'j'] },
];

describe('split', () => {
  let ws: Workspace;
  before(async () => {
    ws = await workspace();
  });
  after(async () => ws.close());

  async function run(params: Record<string, unknown>, columns = COLUMNS, rowsPerChunk = 3) {
    const ds = makeDataset(columns, rowsPerChunk);
    const io = ws.io();
    const result = (await runInProcess(split, params, ds.meta, ds.chunks, { io })) as SplitResult;
    await ws.endJob(io);
    const outputs: Row[][] = [];
    for (const meta of result.datasets) {
      assert.deepEqual(await ws.store.get(meta.id), meta);
      outputs.push(await readRows(ws.store, meta));
    }
    return { result, outputs, input: ds.meta };
  }

  it('makes one dataset per level, in input order, empty for an unused level', async () => {
    const { result, outputs, input } = await run({ splitByFactor: 'part' });
    assert.deepEqual(
      result.datasets.map((d) => d.name),
      ['test.part.train', 'test.part.test', 'test.part.unused'],
    );
    const all = specRows(COLUMNS);
    assert.deepEqual(
      outputs[0],
      all.filter((r) => r['part'] === 'train'),
    );
    assert.deepEqual(
      outputs[1],
      all.filter((r) => r['part'] === 'test'),
    );
    assert.deepEqual(outputs[2], []);
    assert.equal(result.datasets[2]!.numChunks, 0);
    assert.equal(result.rowsRead, 10);
    assert.equal(result.rowsWritten, 9, 'the row with a missing level goes nowhere');
    for (const meta of result.datasets.slice(0, 2)) assertChunking(meta, 3);
    // updateLowHigh false (the default): the input's low/high; missing counts are the output's own.
    const x = result.datasets[0]!.variables.find((v) => v.name === 'x')!;
    const inputX = input.variables.find((v) => v.name === 'x')!;
    assert.deepEqual([x.low, x.high], [inputX.low, inputX.high]);
    assert.equal(x.missing, 1);
    assert.deepEqual(result.datasets[0]!.variables.find((v) => v.name === 'part')?.levels, [
      'train',
      'test',
      'unused',
    ]);
  });

  it('gives each output its own low/high with updateLowHigh', async () => {
    const { result, outputs } = await run({
      splitByFactor: 'part',
      updateLowHigh: true,
      varsToKeep: ['x', 's'],
    });
    result.datasets.forEach((meta, i) => {
      assert.deepEqual(
        meta.variables.map((v) => v.name),
        ['x', 's'],
      );
      const x = meta.variables[0]!;
      assert.deepEqual(
        { low: x.low, high: x.high, missing: x.missing },
        expectedStats(
          outputs[i]!.map((r) => r['x'] ?? null),
          'numeric',
        ),
      );
    });
  });

  it('splits rows into contiguous runs as equal as possible, the extra rows last', async () => {
    assert.deepEqual(uniformParts(15, 6, 'left'), [3, 3, 3, 2, 2, 2]);
    assert.deepEqual(uniformParts(15, 6, 'center'), [2, 3, 3, 3, 2, 2]);
    assert.deepEqual(uniformParts(15, 6, 'right'), [2, 2, 2, 3, 3, 3]);
    const all = specRows(COLUMNS);
    const { result, outputs } = await run({ numOut: 3, rowsPerChunk: 2 });
    assert.deepEqual(
      result.datasets.map((d) => d.name),
      ['test.rows.1', 'test.rows.2', 'test.rows.3'],
    );
    assert.deepEqual(outputs, [all.slice(0, 3), all.slice(3, 6), all.slice(6, 10)]);
    for (const meta of result.datasets) assertChunking(meta, 2);
    const left = await run({ numOut: 3, fill: 'left' });
    assert.deepEqual(left.outputs, [all.slice(0, 4), all.slice(4, 7), all.slice(7, 10)]);
  });

  it('splits whole input chunks with splitBy blocks', async () => {
    const all = specRows(COLUMNS);
    // 10 rows in chunks of 3: blocks 3, 3, 3, 1; three outputs get 1, 1 and 2 blocks.
    const { result, outputs } = await run({ numOut: 3, splitBy: 'blocks' });
    assert.deepEqual(outputs, [all.slice(0, 3), all.slice(3, 6), all.slice(6, 10)]);
    assert.deepEqual(
      result.datasets.map((d) => d.name),
      ['test.blocks.1', 'test.blocks.2', 'test.blocks.3'],
    );
  });

  it('removes missings, keeps variables and names outputs from outFilesBase and outFileSuffixes', async () => {
    const keep = ['id', 'x'];
    const complete = specRows(COLUMNS)
      .filter((r) => r['x'] !== null)
      .map((r) => ({ id: r['id'] ?? null, x: r['x'] ?? null }));
    const { result, outputs } = await run({
      outFilesBase: 'cv',
      outFileSuffixes: ['a', 'b'],
      varsToKeep: keep,
      removeMissings: true,
    });
    assert.deepEqual(
      result.datasets.map((d) => d.name),
      ['cv.a', 'cv.b'],
    );
    assert.deepEqual(outputs, [complete.slice(0, 4), complete.slice(4)]);
    assert.equal(result.rowsWritten, 8);
  });

  it('rejects bad params before anything runs', () => {
    const ds = makeDataset(COLUMNS, 3);
    const init = (params: Record<string, unknown>) => () =>
      split.init(params as never, ds.meta, { datasets: new Map() });
    assert.throws(init({ splitByFactor: 'prt' }), {
      status: 400,
      code: 'UNKNOWN_VARIABLE',
      message: "splitByFactor: unknown variable 'prt'; did you mean 'part'?",
    });
    assert.throws(init({ splitByFactor: 'x' }), { status: 422, code: 'WRONG_VARIABLE_TYPE' });
    assert.throws(init({ splitByFactor: 'part', numOut: 2 }), { status: 400, code: 'INVALID_PARAMS' });
    assert.throws(init({}), { status: 400, code: 'INVALID_PARAMS' });
    assert.throws(init({ numOut: 3, outFileSuffixes: ['a', 'b'] }), { status: 400, code: 'INVALID_PARAMS' });
    assert.throws(init({ numOut: 2, outFileSuffixes: ['a', 'a'] }), { status: 400, code: 'INVALID_PARAMS' });
    assert.throws(init({ splitByFactor: 'part', outFileSuffixes: ['a', 'b'] }), {
      status: 400,
      code: 'INVALID_PARAMS',
    });
    assert.throws(init({ numOut: 0 }), { status: 400, code: 'INVALID_PARAMS' });
  });
});
