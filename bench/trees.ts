import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Dictionary,
  Int32,
  makeData,
  makeVector,
  Table,
  tableToIPC,
  Utf8,
  vectorFromArray,
} from 'apache-arrow';
import type { BTreesModelBody, DForestModelBody, DTreeModelBody } from '../src/engine/models/treeScore.ts';
import { predictBTrees, predictDForest, predictDTree } from '../src/engine/models/treeScore.ts';
import { chunkPath } from '../src/storage/chunkFiles.ts';
import type { DatasetMeta, VarInfo } from '../src/storage/datasetMeta.ts';
import type { DatasetStore } from '../src/storage/datasetStore.ts';
import { DatasetStore as Store } from '../src/storage/datasetStore.ts';
import { newId } from '../src/storage/ids.ts';
import { ModelStore } from '../src/storage/modelStore.ts';
import { seededRandom } from '../test/engine/helpers.ts';
import { runJob } from '../test/helpers/api.ts';
import { startServer } from '../test/helpers/server.ts';
import { fmt, report } from './stats.ts';
import { runXgboost } from './xgboostReference.ts';

/**
 * Tree analyses end to end (HTTP submit to result, real workers): rxDTree depth 6, rxBTrees
 * 100 trees x depth 6 and rxDForest 50 trees x depth 10 on BENCH_ROWS (default 1,000,000) generated
 * rows of 8 numeric and 2 factor
 * predictors (10 and 100 levels) with a binary target, with 1 and 2 workers. Reports seconds, passes,
 * rows/s per pass, and the AUC on 100,000 held-out rows generated the same way, beside XGBoost's
 * (bench/xgboostReference.ts) on the same rows and settings when its program is installed.
 * BENCH_TREES_BOOST overrides the boosting size as "trees,depth" (e.g. "20,4"); BENCH_TREES_BINS sets
 * maxNumBins (default: RevoScaleR's, 1000 for a million rows; LightGBM's default is 255);
 * BENCH_TREES_JOBS=bTrees,dForest runs only those jobs.
 */

const NUMERIC = 8;
const LEVELS = [10, 100];

interface Generated {
  columns: Record<string, Float64Array | Int32Array>;
  rows: number;
}

/** Rows of the benchmark's model: a logit with main effects, an interaction and factor effects. */
export function generate(rows: number, seed: number): Generated {
  const next = seededRandom(seed);
  const x = Array.from({ length: NUMERIC }, () => new Float64Array(rows));
  const f = LEVELS.map(() => new Int32Array(rows));
  const y = new Float64Array(rows);
  const effects = LEVELS.map((levels, k) => {
    const r = seededRandom(1000 + k);
    return Float64Array.from({ length: levels }, () => (r() - 0.5) * (k === 0 ? 2 : 1));
  });
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < NUMERIC; j++) (x[j] as Float64Array)[i] = next();
    for (let k = 0; k < LEVELS.length; k++)
      (f[k] as Int32Array)[i] = Math.floor(next() * (LEVELS[k] as number));
    const x1 = (x[0] as Float64Array)[i] as number;
    const x2 = (x[1] as Float64Array)[i] as number;
    const x3 = (x[2] as Float64Array)[i] as number;
    const x4 = (x[3] as Float64Array)[i] as number;
    const logit =
      3 * (x1 - 0.5) +
      2 * Math.sin(6 * x2) -
      3 * (x3 - 0.5) * (x4 - 0.5) * 4 +
      ((effects[0] as Float64Array)[(f[0] as Int32Array)[i] as number] as number) +
      ((effects[1] as Float64Array)[(f[1] as Int32Array)[i] as number] as number);
    y[i] = next() < 1 / (1 + Math.exp(-logit)) ? 1 : 0;
  }
  const columns: Generated['columns'] = { y };
  x.forEach((column, j) => {
    columns[`x${j + 1}`] = column;
  });
  f.forEach((column, k) => {
    columns[`f${k + 1}`] = column;
  });
  return { columns, rows };
}

function factor(codes: Int32Array, levels: readonly string[]) {
  return makeVector(
    makeData({
      type: new Dictionary(new Utf8(), new Int32()),
      length: codes.length,
      nullCount: 0,
      data: codes,
      dictionary: vectorFromArray([...levels], new Utf8()),
    }),
  );
}

const levelNames = (k: number) => Array.from({ length: LEVELS[k] as number }, (_, l) => `L${l}`);

export function tableOf(data: Generated, from: number, to: number): Table {
  const vectors: Record<string, ReturnType<typeof makeVector>> = {};
  const y = (data.columns['y'] as Float64Array).subarray(from, to);
  vectors['y'] = makeVector(y);
  vectors['yf'] = factor(Int32Array.from(y), ['0', '1']);
  for (let j = 1; j <= NUMERIC; j++)
    vectors[`x${j}`] = makeVector((data.columns[`x${j}`] as Float64Array).subarray(from, to));
  LEVELS.forEach((_, k) => {
    vectors[`f${k + 1}`] = factor(
      (data.columns[`f${k + 1}`] as Int32Array).subarray(from, to),
      levelNames(k),
    );
  });
  return new Table(vectors);
}

/** Writes the rows straight into the store, chunk by chunk (import would take longer than the fits). */
export async function writeDatasetForTest(
  store: DatasetStore,
  data: Generated,
  rowsPerChunk: number,
): Promise<DatasetMeta> {
  return writeDataset(store, data, rowsPerChunk);
}
async function writeDataset(
  store: DatasetStore,
  data: Generated,
  rowsPerChunk: number,
): Promise<DatasetMeta> {
  const staging = await store.createStaging();
  await mkdir(path.join(staging, 'chunks'), { recursive: true });
  const chunkRows: number[] = [];
  let bytes = 0;
  for (let start = 0; start < data.rows; start += rowsPerChunk) {
    const end = Math.min(data.rows, start + rowsPerChunk);
    const ipc = tableToIPC(tableOf(data, start, end), 'file');
    await writeFile(chunkPath(staging, chunkRows.length), ipc);
    bytes += ipc.byteLength;
    chunkRows.push(end - start);
  }
  const variables: VarInfo[] = [
    { name: 'y', type: 'numeric', low: 0, high: 1, missing: 0 },
    { name: 'yf', type: 'factor', low: 0, high: 1, missing: 0, levels: ['0', '1'] },
    ...Array.from(
      { length: NUMERIC },
      (_, j): VarInfo => ({ name: `x${j + 1}`, type: 'numeric', low: 0, high: 1, missing: 0 }),
    ),
    ...LEVELS.map(
      (levels, k): VarInfo => ({
        name: `f${k + 1}`,
        type: 'factor',
        low: 0,
        high: levels - 1,
        missing: 0,
        levels: levelNames(k),
      }),
    ),
  ];
  const meta: DatasetMeta = {
    id: newId('ds'),
    name: `bench-trees-${data.rows}`,
    tenant: 'local',
    createdAt: new Date().toISOString(),
    numRows: data.rows,
    numChunks: chunkRows.length,
    rowsPerChunk,
    chunkRows,
    bytes,
    source: 'bench',
    variables,
  };
  await store.commit(staging, meta);
  return meta;
}

/** The response, then the predictors (factors as level codes), as XGBoost's CSV input takes them. */
function predictorColumns(data: Generated): Array<Float64Array | Int32Array> {
  const names = [
    ...Array.from({ length: NUMERIC }, (_, j) => `x${j + 1}`),
    ...LEVELS.map((_, k) => `f${k + 1}`),
  ];
  return [
    data.columns['y'] as Float64Array,
    ...names.map((name) => data.columns[name] as Float64Array | Int32Array),
  ];
}

/** Area under the ROC curve (ties counted half), by sorting. */
export function auc(scores: Float64Array, labels: Float64Array): number {
  const order = Array.from(scores.keys()).sort((a, b) => (scores[a] as number) - (scores[b] as number));
  let positives = 0;
  let rankSum = 0;
  let i = 0;
  while (i < order.length) {
    let j = i;
    while (j + 1 < order.length && scores[order[j + 1] as number] === scores[order[i] as number]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) {
      if (labels[order[k] as number] === 1) {
        positives++;
        rankSum += rank;
      }
    }
    i = j + 1;
  }
  const negatives = order.length - positives;
  return (rankSum - (positives * (positives + 1)) / 2) / (positives * negatives);
}

function load(): string {
  try {
    return execFileSync('uptime', { encoding: 'utf8' }).trim();
  } catch {
    return 'uptime unavailable';
  }
}

export async function benchTrees(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 1_000_000);
  const [boostTrees, boostDepth] = (process.env['BENCH_TREES_BOOST'] ?? '100,6').split(',').map(Number) as [
    number,
    number,
  ];
  const bins: { maxNumBins?: number } =
    process.env['BENCH_TREES_BINS'] === undefined
      ? {}
      : { maxNumBins: Number(process.env['BENCH_TREES_BINS']) };
  const server = await startServer();
  try {
    const store = new Store(server.config.dataDir);
    const data = generate(rows, 1);
    const meta = await writeDataset(store, data, 250_000);
    const holdout = generate(100_000, 2);
    const holdoutTable = tableOf(holdout, 0, holdout.rows);
    const labels = holdout.columns['y'] as Float64Array;
    const models = new ModelStore(server.config.dataDir);
    console.log(
      `\n# trees: ${fmt(rows)} rows (${NUMERIC} numeric + ${LEVELS.length} factor predictors, binary target) in ${meta.numChunks} chunks`,
    );
    console.log(`# maxNumBins: ${bins.maxNumBins ?? 'default'}; load before: ${load()}`);
    const predictors = [...Array.from({ length: NUMERIC }, (_, j) => `x${j + 1}`), 'f1', 'f2'].join(' + ');
    const jobs = [
      {
        label: 'dTree depth 6',
        body: {
          type: 'dTree',
          dataset: meta.id,
          params: { formula: `yf ~ ${predictors}`, maxDepth: 6, xVal: 0, cp: 0 },
        },
        score: async (id: string) => {
          const model = await models.get('local', id);
          const predicted = predictDTree(model?.body as DTreeModelBody, holdoutTable);
          return auc((predicted.perClass ?? [])[1] as Float64Array, labels);
        },
      },
      {
        label: `bTrees ${boostTrees} trees depth ${boostDepth}`,
        body: {
          type: 'bTrees',
          dataset: meta.id,
          params: {
            formula: `y ~ ${predictors}`,
            lossFunction: 'bernoulli',
            nTree: boostTrees,
            maxDepth: boostDepth,
            learningRate: 0.1,
            seed: 1,
            ...bins,
          },
        },
        score: async (id: string) => {
          const model = await models.get('local', id);
          const predicted = predictBTrees(model?.body as BTreesModelBody, holdoutTable);
          return auc(predicted.value as Float64Array, labels);
        },
      },
      {
        label: 'dForest 50 trees depth 10',
        body: {
          type: 'dForest',
          dataset: meta.id,
          params: { formula: `yf ~ ${predictors}`, nTree: 50, maxDepth: 10, seed: 1, ...bins },
        },
        score: async (id: string) => {
          const model = await models.get('local', id);
          const predicted = predictDForest(model?.body as DForestModelBody, holdoutTable, 'prob');
          return auc((predicted.perClass ?? [])[1] as Float64Array, labels);
        },
      },
    ];
    // BENCH_TREES_JOBS=bTrees,dForest runs only the jobs of those types (all by default).
    const only = process.env['BENCH_TREES_JOBS']?.split(',');
    if (only !== undefined)
      jobs.splice(0, jobs.length, ...jobs.filter((job) => only.includes(job.body.type)));
    // Per-round overhead: a 1-chunk, 1000-row dataset, where each pass costs almost nothing.
    const tiny = await writeDataset(store, generate(1000, 3), 1000);
    for (const workers of [1, 2]) {
      await server.startWorkers(1);
      const tinyBody = {
        type: 'dTree',
        dataset: tiny.id,
        params: { formula: `yf ~ ${predictors}`, maxDepth: 8, xVal: 0, minSplit: 2, minBucket: 1 },
      };
      await runJob(server.url, tinyBody);
      const tinyStart = process.hrtime.bigint();
      const tinyResult = await runJob<{ passes: number }>(server.url, tinyBody);
      const tinySeconds = Number(process.hrtime.bigint() - tinyStart) / 1e9;
      report(
        `${workers} worker(s): time per pass, 1000-row dataset`,
        `${((tinySeconds / tinyResult.passes) * 1000).toFixed(1)} ms (${tinyResult.passes} passes)`,
      );
      for (const job of jobs) {
        const start = process.hrtime.bigint();
        // Up to an hour: 10 million rows take minutes.
        const result = await runJob<{ passes: number; modelId: string }>(server.url, job.body, {}, 3600);
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        const area = await job.score(result.modelId);
        report(
          `${workers} worker(s): ${job.label}`,
          `${seconds.toFixed(2)} s, ${result.passes} passes, ${fmt((rows * result.passes) / seconds)} rows/s per pass, held-out AUC ${area.toFixed(4)}`,
        );
      }
      console.log(`# load after ${workers} worker(s): ${load()}`);
    }
    const reference = jobs.some((job) => job.body.type === 'bTrees')
      ? await runXgboost(predictorColumns(data), predictorColumns(holdout), {
          trees: boostTrees,
          depth: boostDepth,
          learningRate: 0.1,
          sampRate: 0.632,
          maxBins: bins.maxNumBins ?? 1000,
        })
      : undefined;
    if (reference === null)
      console.log('# reference: the xgboost program is not installed (apt install xgboost)');
    else if (reference !== undefined) {
      report(
        `reference: ${reference.program} (C++, hist, ${os.availableParallelism()} threads), ${boostTrees} trees depth ${boostDepth}`,
        `${reference.trainSeconds} s of rounds (${reference.totalSeconds.toFixed(1)} s with CSV parsing), held-out AUC ${auc(reference.predictions, labels).toFixed(4)}`,
      );
    }
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  await benchTrees();
  process.exit(0);
}
