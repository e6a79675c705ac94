import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { type DTreeResult, dTree } from '../../src/engine/analyses/dTree.ts';
import { runInProcessDetailed } from '../../src/engine/runInProcess.ts';
import { makeDataset, seededRandom } from './helpers.ts';
import { modelIO } from './treeHelpers.ts';

/**
 * Histogram subtraction (trees/levelGrowth.ts): a split's larger child is derived from its parent's
 * kept histograms. On the queue they are kept as files in the job folder; in process, in memory; and
 * when they are lost the pass is run again with every histogram built.
 */

const roots: string[] = [];
after(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

/** A JobIO whose folder is a real directory: the same one each time, or a new one each call. */
async function folderIO(fresh: boolean) {
  const root = await mkdtemp(path.join(tmpdir(), 'rx-trees-'));
  roots.push(root);
  let calls = 0;
  const io = modelIO();
  io.folder = async (name: string) => {
    calls++;
    const dir = path.join(root, fresh ? `${name}-${calls}` : name);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir, { recursive: true });
    return dir;
  };
  return { io, root };
}

function regressionData() {
  const next = seededRandom(31);
  const n = 5000;
  const x = Array.from({ length: n }, () => next() * 10);
  const g = Array.from({ length: n }, () => 'abcde'[Math.floor(next() * 5)] as string);
  const y = x.map((v, i) => Math.sin(v) * 3 + ('ace'.includes(g[i] as string) ? 2 : 0) + next());
  return makeDataset(
    [
      { name: 'y', type: 'numeric', values: y },
      { name: 'x', type: 'numeric', values: x },
      { name: 'g', type: 'factor', values: g },
    ],
    1200,
  );
}

describe('tree histogram subtraction', () => {
  it('keeps parent histograms as files in the job folder and grows the same tree as in memory', async () => {
    const dataset = regressionData();
    const params = { formula: 'y ~ x + g', maxDepth: 6, xVal: 2 };
    const inMemory = await runInProcessDetailed(dTree, params, dataset.meta, dataset.chunks, {
      io: modelIO(),
    });
    const { io, root } = await folderIO(false);
    const onDisk = await runInProcessDetailed(dTree, params, dataset.meta, dataset.chunks, { io });
    assert.deepEqual((onDisk.result as DTreeResult).nodes, (inMemory.result as DTreeResult).nodes);
    assert.equal(onDisk.rounds, inMemory.rounds);
    // The folder is emptied once the trees are grown.
    assert.deepEqual(
      await readdir(root).then((names) => names.filter((n) => n.startsWith('treeHistograms'))),
      [],
    );
  });

  it('runs a pass again when a parent histogram is lost, and still grows the same tree', async () => {
    const dataset = regressionData();
    const params = { formula: 'y ~ x + g', maxDepth: 5, xVal: 0 };
    const kept = await runInProcessDetailed(dTree, params, dataset.meta, dataset.chunks, { io: modelIO() });
    // Every finalize sees a new, empty folder: no kept histogram is ever found.
    const { io } = await folderIO(true);
    const lost = await runInProcessDetailed(dTree, params, dataset.meta, dataset.chunks, { io });
    const a = (kept.result as DTreeResult).nodes;
    const b = (lost.result as DTreeResult).nodes;
    // Sums taken directly instead of by subtraction differ in their last bits only.
    assert.deepEqual(
      b.map((n) => [n.node, n.split, n.n]),
      a.map((n) => [n.node, n.split, n.n]),
    );
    b.forEach((n, i) => {
      const d = (a[i] as (typeof a)[number]).deviance;
      assert.ok(Math.abs(n.deviance - d) <= 1e-9 * d, `node ${n.node} deviance`);
    });
    assert.ok(lost.rounds > kept.rounds, `${lost.rounds} passes vs ${kept.rounds}`);
  });
});
