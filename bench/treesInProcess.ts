import { fileURLToPath } from 'node:url';
import { bTrees } from '../src/engine/analyses/bTrees.ts';
import { dForest } from '../src/engine/analyses/dForest.ts';
import type { AnyAnalysis, Chunk } from '../src/engine/analysis.ts';
import { runInProcessDetailed } from '../src/engine/runInProcess.ts';
import { setLocalTreeLimit } from '../src/engine/trees/localData.ts';
import { setTreeThreads, warmTreeThreads } from '../src/engine/trees/treeThreads.ts';
import type { DatasetMeta, VarInfo } from '../src/storage/datasetMeta.ts';
import { modelIO } from '../test/engine/treeHelpers.ts';
import { generate, tableOf } from './trees.ts';

/**
 * One tree fit in this process, without queue or workers, on the tree benchmark's generated rows: the
 * engine's own time, for profiling (`node --import tsx --cpu-prof bench/treesInProcess.ts`).
 * WHICH=bTrees|dForest (default bTrees), NTREE, DEPTH, ROWS (default 1,000,000); LOCAL=0 grows in
 * level passes instead of a local fit; THREADS sets the boosting threads (default: the cores, at most 4).
 */
export async function fitInProcess(): Promise<void> {
  const rows = Number(process.env['ROWS'] ?? 1_000_000);
  if (process.env['LOCAL'] === '0') setLocalTreeLimit(0);
  if (process.env['THREADS'] !== undefined) setTreeThreads(Number(process.env['THREADS']));
  // As a worker process does at its start.
  warmTreeThreads();
  const rowsPerChunk = 250_000;
  const data = generate(rows, 1);
  const chunks: Chunk[] = [];
  for (let start = 0; start < rows; start += rowsPerChunk) {
    const table = tableOf(data, start, Math.min(rows, start + rowsPerChunk));
    chunks.push({ index: chunks.length, numRows: table.numRows, startRow: start, table });
  }
  const levels = (name: string) => {
    const count = name === 'yf' ? 2 : name === 'f1' ? 10 : 100;
    return name === 'yf' ? ['0', '1'] : Array.from({ length: count }, (_, l) => `L${l}`);
  };
  const variables = (chunks[0] as Chunk).table.schema.fields.map(
    (field): VarInfo =>
      field.name === 'yf' || field.name.startsWith('f')
        ? { name: field.name, type: 'factor', low: 0, high: 1, missing: 0, levels: levels(field.name) }
        : { name: field.name, type: 'numeric', low: 0, high: 1, missing: 0 },
  );
  const meta: DatasetMeta = {
    id: 'ds_inprocess',
    name: 'in-process',
    tenant: 'local',
    createdAt: new Date().toISOString(),
    numRows: rows,
    numChunks: chunks.length,
    rowsPerChunk,
    chunkRows: chunks.map((c) => c.numRows),
    bytes: 0,
    source: 'bench',
    variables,
  };
  const predictors = 'x1 + x2 + x3 + x4 + x5 + x6 + x7 + x8 + f1 + f2';
  const boosting = (process.env['WHICH'] ?? 'bTrees') === 'bTrees';
  const analysis = (boosting ? bTrees : dForest) as unknown as AnyAnalysis;
  const params = boosting
    ? {
        formula: `y ~ ${predictors}`,
        lossFunction: 'bernoulli',
        nTree: Number(process.env['NTREE'] ?? 20),
        maxDepth: Number(process.env['DEPTH'] ?? 6),
        seed: 1,
      }
    : {
        formula: `yf ~ ${predictors}`,
        nTree: Number(process.env['NTREE'] ?? 50),
        maxDepth: Number(process.env['DEPTH'] ?? 10),
        seed: 1,
      };
  const started = performance.now();
  const outcome = await runInProcessDetailed(analysis, params, meta, chunks, {
    io: modelIO(),
    maxRounds: 5000,
  });
  const seconds = (performance.now() - started) / 1000;
  console.log(
    `${analysis.name} ${JSON.stringify(params)}: ${seconds.toFixed(2)} s in ${outcome.rounds} rounds`,
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await fitInProcess();
