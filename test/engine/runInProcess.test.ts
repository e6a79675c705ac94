import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Type } from 'typebox';
import type { Analysis, Chunk } from '../../src/engine/analysis.ts';
import { analyses, getAnalysis } from '../../src/engine/registry.ts';
import { runInProcess, runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import { makeDataset } from './helpers.ts';

/** A toy iterative analysis: counts rows per round and records the order partials were merged in. */
const probe: Analysis<
  { rounds: number },
  { round: number; rounds: number },
  { order: number[]; rows: number },
  string
> = {
  name: 'probe',
  paramsSchema: Type.Object({ rounds: Type.Integer() }),
  resultSchema: Type.String(),
  init: (params) => ({ round: 0, rounds: params.rounds }),
  columnsUsed: () => ['x'],
  map: (chunk: Chunk, _state, context) => ({
    order: [chunk.index * 10 + context.round],
    rows: chunk.numRows,
  }),
  merge: (a, b) => ({ order: [...a.order, ...b.order], rows: a.rows + b.rows }),
  finalize: (partial, state) =>
    state.round + 1 < state.rounds
      ? { done: false, state: { ...state, round: state.round + 1 } }
      : { done: true, result: `${partial.order.join(',')} rows=${partial.rows}` },
};

describe('runInProcess', () => {
  const ds = makeDataset([{ name: 'x', type: 'numeric', values: [1, 2, 3, 4, 5, 6, 7] }], 3);

  it('folds partials left to right in chunk order and loops rounds until done', async () => {
    const outcome = await runInProcessDetailed(probe, { rounds: 3 }, ds.meta, ds.chunks);
    assert.equal(outcome.rounds, 3);
    assert.equal(outcome.result, '2,12,22 rows=7');
  });

  it('takes a chunk loader instead of an array', async () => {
    const loads: number[] = [];
    const loader = async (index: number) => {
      loads.push(index);
      return ds.chunks[index] as Chunk;
    };
    assert.equal(await runInProcess(probe, { rounds: 1 }, ds.meta, loader), '0,10,20 rows=7');
    assert.deepEqual(loads, [0, 1, 2]);
  });

  it('stops an analysis that never finishes', async () => {
    await assert.rejects(
      runInProcess(probe, { rounds: 1000 }, ds.meta, ds.chunks, { maxRounds: 5 }),
      /within 5 rounds/,
    );
  });
});

describe('registry', () => {
  it('holds every analysis by its job type', () => {
    // More join as they are written; these must stay.
    for (const type of [
      'covCor',
      'quantile',
      'summary',
      'dataStep',
      'factors',
      'split',
      'sort',
      'merge',
      'cube',
      'crossTabs',
      'linMod',
      'logit',
      'glm',
      'predict',
      'kmeans',
      'naiveBayes',
      'exec',
      'dTree',
      'dForest',
      'bTrees',
    ]) {
      assert.ok(Object.hasOwn(analyses, type), `${type} is registered`);
    }
    for (const [type, analysis] of Object.entries(analyses)) assert.equal(analysis.name, type);
    assert.equal(getAnalysis('summary'), analyses['summary']);
    assert.equal(getAnalysis('regress'), undefined);
    assert.equal(getAnalysis('toString'), undefined);
  });
});
