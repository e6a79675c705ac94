import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Type } from 'typebox';
import type { Analysis } from '../../src/engine/analysis.ts';
import { readNumeric } from '../../src/engine/columns.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import { DatasetStore } from '../../src/storage/datasetStore.ts';
import { JobFiles, jobDir, removeJobFiles } from '../../src/storage/jobFiles.ts';
import { ModelStore } from '../../src/storage/modelStore.ts';
import { makeDataset } from './helpers.ts';

/**
 * A toy data operation using every part of JobIO and every kind of round: round 0 copies the input's
 * chunks into a new dataset, round 1 runs partition tasks, round 2 reads the copy back as another
 * dataset's chunks and sums it.
 */
type State = { round: number; copy?: DatasetMeta; parts?: number[] };
type Partial = { rows: number; sum: number; parts: number[] };
const copier: Analysis<
  Record<string, never>,
  State,
  Partial,
  { copy: DatasetMeta; sum: number; parts: number[] }
> = {
  name: 'copier',
  paramsSchema: Type.Object({}),
  resultSchema: Type.Unknown(),
  init: () => ({ round: 0 }),
  columnsUsed: () => ['x'],
  roundInput: (state) =>
    state.round === 1
      ? { kind: 'partitions', count: 3 }
      : state.round === 2 && state.copy
        ? { kind: 'chunks', dataset: state.copy.id }
        : null,
  async map(chunk, state, context) {
    if (state.round === 0) await context.io.writeChunk('out', chunk.index, chunk.table);
    const x = readNumeric(chunk.table, 'x').values;
    let sum = 0;
    for (const v of x) sum += v;
    return { rows: chunk.numRows, sum, parts: [] };
  },
  mapPartition: (p) => ({ rows: 0, sum: 0, parts: [p * 10] }),
  merge: (a, b) => ({ rows: a.rows + b.rows, sum: a.sum + b.sum, parts: [...a.parts, ...b.parts] }),
  async finalize(partial, state, context) {
    if (state.round === 0) {
      const copy = await context.io.publish('out', {
        name: 'copy',
        numRows: partial.rows,
        numChunks: 3,
        rowsPerChunk: 2,
        chunkRows: [2, 2, 1],
        source: 'job',
        variables: [{ name: 'x', type: 'numeric', low: 1, high: 5, missing: 0 }],
      });
      return { done: false, state: { round: 1, copy } };
    }
    if (state.round === 1) return { done: false, state: { ...state, round: 2, parts: partial.parts } };
    return { done: true, result: { copy: state.copy!, sum: partial.sum, parts: state.parts ?? [] } };
  },
};

describe('job files and round inputs', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('writes, publishes and reads back a dataset through JobIO, with partition rounds between', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'rxserve-jobfiles-'));
    dirs.push(dataDir);
    const store = new DatasetStore(dataDir);
    await store.open({ clearStaging: true });
    const jobId = 'job_0123456789abcdef0123';
    const io = new JobFiles(store, dataDir, jobId, 'alice');
    const ds = makeDataset([{ name: 'x', type: 'numeric', values: [1, 2, 3, 4, 5] }], 2);
    const result = (await runInProcess(copier, {}, ds.meta, ds.chunks, { io })) as {
      copy: DatasetMeta;
      sum: number;
      parts: number[];
    };
    assert.equal(result.sum, 15, 'round 2 read the published copy');
    assert.deepEqual(result.parts, [0, 10, 20], 'partition partials merged in partition order');
    const stored = await store.get(result.copy.id);
    assert.equal(stored?.tenant, 'alice');
    assert.equal(stored?.numRows, 5);
    const back = await store.readChunk(result.copy.id, 2);
    assert.deepEqual([...readNumeric(back, 'x').values], [5]);
    // Publishing again (a finalizer re-run) returns the same dataset instead of failing.
    const again = await io.publish('out', { ...stored!, name: 'copy' });
    assert.equal(again.id, result.copy.id);

    await assert.rejects(new JobFiles(store, dataDir, jobId, 'bob').datasetMeta(result.copy.id), {
      code: 'DATASET_NOT_FOUND',
    });
    await removeJobFiles(dataDir, jobId);
    assert.deepEqual(await readdir(path.dirname(jobDir(dataDir, jobId))), []);
    await assert.rejects(io.folder('../escape'), /plain name/);
  });
});

describe('output stats', () => {
  it('gives the low, high and missing of written data, merged across chunks', async () => {
    const { describeTable, mergeStats, withStats } = await import('../../src/engine/dataOps/outputStats.ts');
    const ds = makeDataset(
      [
        { name: 'x', type: 'numeric', values: [3, null, -2, 7, null] },
        { name: 'g', type: 'factor', values: ['b', 'a', null, 'b', 'a'] },
        { name: 's', type: 'string', values: ['u', null, 'w', 'v', 'u'] },
        { name: 'flag', type: 'logical', values: [true, true, null, true, true] },
      ],
      2,
    );
    const parts = ds.chunks.map((c) => describeTable(c.table, ds.meta.variables));
    const merged = parts.reduce((a, b) => mergeStats(a, b));
    assert.deepEqual(merged, [
      { low: -2, high: 7, missing: 2 },
      { low: 0, high: 1, missing: 1 },
      { low: null, high: null, missing: 1 },
      { low: 1, high: 1, missing: 1 },
    ]);
    assert.equal(withStats(ds.meta.variables, merged)[0]?.low, -2);
  });
});

describe('model store', () => {
  it('saves a job model once per job and name, scoped to its tenant', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'rxserve-models-'));
    try {
      const store = new DatasetStore(dataDir);
      const alice = new JobFiles(
        store,
        dataDir,
        'job_00000000000000000001',
        'alice',
        'ds_00000000000000000001',
      );
      const first = await alice.saveModel({ type: 'linMod', formula: 'y ~ x', body: { b: [1, 2] } });
      const again = await alice.saveModel({ type: 'linMod', formula: 'y ~ x', body: { b: [1, 3] } });
      assert.equal(again.id, first.id, 'a re-run overwrites the same model');
      assert.deepEqual((await alice.loadModel(first.id)).body, { b: [1, 3] });
      assert.equal((await alice.loadModel(first.id)).dataset, 'ds_00000000000000000001');
      const other = await alice.saveModel({ type: 'linMod', formula: null, body: null }, 'second');
      assert.notEqual(other.id, first.id);
      const bob = new JobFiles(store, dataDir, 'job_00000000000000000002', 'bob');
      await assert.rejects(bob.loadModel(first.id), { code: 'MODEL_NOT_FOUND' });
      const models = new ModelStore(dataDir);
      assert.equal((await models.list('alice')).length, 2);
      assert.equal((await models.list('bob')).length, 0);
      assert.equal(await models.delete('bob', first.id), false);
      assert.equal(await models.delete('alice', first.id), true);
      assert.equal(await models.get('alice', first.id), null);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
