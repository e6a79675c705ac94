import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Float64, makeData, makeVector, Table, tableToIPC, type Vector } from 'apache-arrow';
import { chunkPath } from '../src/storage/chunkFiles.ts';
import type { DatasetMeta, VarInfo } from '../src/storage/datasetMeta.ts';
import { DatasetStore } from '../src/storage/datasetStore.ts';
import { newId } from '../src/storage/ids.ts';
import { dictionaryData, levelsVector } from '../src/storage/import/arrowChunk.ts';
import { seededRandom } from '../test/engine/helpers.ts';
import { submitJob, waitForJob } from '../test/helpers/api.ts';
import { startServer, type TestServer } from '../test/helpers/server.ts';
import { fmt, median, report, timeRuns } from './stats.ts';

/**
 * rxLinMod end to end (HTTP submit to result, real workers): y ~ x1 + ... + x10 + g on BENCH_ROWS
 * (default 10,000,000) generated rows, g a 7-level factor, with 1 and 2 workers; medians of BENCH_RUNS
 * (default 5) after warm-up runs that fill the workers' chunk caches. Also a predict job over the same
 * rows with 2 workers. BENCH_ONLY=models runs only this.
 */

export const MODEL_BENCH_LEVELS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/**
 * Writes the model benchmark's dataset straight into the store: x1..x10 = 10 u (u uniform), g a 7-level
 * factor, y = 1 + sum_j (j / 10) x_j + effect(g) + N-ish noise, and yb = 1 when y is above its
 * expected value (a 0/1 response for logit benchmarks).
 */
export async function writeModelDataset(
  store: DatasetStore,
  options: { rows: number; rowsPerChunk: number; seed?: number },
): Promise<DatasetMeta> {
  const staging = await store.createStaging();
  await mkdir(path.join(staging, 'chunks'), { recursive: true });
  const next = seededRandom(options.seed ?? 11);
  const p = 10;
  const names = Array.from({ length: p }, (_, j) => `x${j + 1}`);
  const effects = [0, 0.5, -0.3, 1.2, 0.8, -1, 0.1];
  const dictionary = levelsVector(MODEL_BENCH_LEVELS);
  const numeric = [...names, 'y', 'yb'];
  const low = new Array<number>(numeric.length).fill(Number.POSITIVE_INFINITY);
  const high = new Array<number>(numeric.length).fill(Number.NEGATIVE_INFINITY);
  const chunkRows: number[] = [];
  let bytes = 0;
  for (let start = 0; start < options.rows; start += options.rowsPerChunk) {
    const n = Math.min(options.rowsPerChunk, options.rows - start);
    const columns = numeric.map(() => new Float64Array(n));
    const codes = new Int32Array(n);
    const y = columns[p] as Float64Array;
    const yb = columns[p + 1] as Float64Array;
    for (let i = 0; i < n; i++) {
      const code = Math.floor(next() * 7);
      codes[i] = code;
      let mean = 1 + (effects[code] as number);
      for (let j = 0; j < p; j++) {
        const x = 10 * next();
        (columns[j] as Float64Array)[i] = x;
        mean += ((j + 1) / 10) * x;
      }
      const noise = next() + next() + next() - 1.5;
      y[i] = mean + noise;
      yb[i] = noise > 0 ? 1 : 0;
    }
    columns.forEach((column, c) => {
      for (let i = 0; i < n; i++) {
        const v = column[i] as number;
        if (v < (low[c] as number)) low[c] = v;
        if (v > (high[c] as number)) high[c] = v;
      }
    });
    const vectors: Record<string, Vector> = {};
    numeric.forEach((name, c) => {
      vectors[name] = makeVector(
        makeData({ type: new Float64(), length: n, data: columns[c] as Float64Array }),
      );
    });
    vectors['g'] = makeVector(
      dictionaryData(codes, { nullBitmap: undefined, nullCount: 0 }, n, 0, dictionary),
    );
    const ipc = tableToIPC(new Table(vectors), 'file');
    await writeFile(chunkPath(staging, chunkRows.length), ipc);
    bytes += ipc.byteLength;
    chunkRows.push(n);
  }
  const variables: VarInfo[] = [
    ...numeric.map(
      (name, c): VarInfo => ({
        name,
        type: 'numeric',
        low: low[c] as number,
        high: high[c] as number,
        missing: 0,
      }),
    ),
    { name: 'g', type: 'factor', low: 0, high: 6, missing: 0, levels: [...MODEL_BENCH_LEVELS] },
  ];
  const meta: DatasetMeta = {
    id: newId('ds'),
    name: `bench-models-${options.rows}`,
    tenant: 'local',
    createdAt: new Date().toISOString(),
    numRows: options.rows,
    numChunks: chunkRows.length,
    rowsPerChunk: options.rowsPerChunk,
    chunkRows,
    bytes,
    source: 'bench',
    variables,
  };
  await store.commit(staging, meta);
  return meta;
}

interface JobOutcome {
  seconds: number;
  /** Passes over the data the job took (2 when linMod ran its refinement pass). */
  rounds: number;
}

async function timedJob(server: TestServer, body: Parameters<typeof submitJob>[1]): Promise<JobOutcome> {
  const start = process.hrtime.bigint();
  const job = await submitJob(server.url, body);
  const done = await waitForJob(server.url, job.id, 600);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (done.status !== 'completed') throw new Error(`bench job failed: ${JSON.stringify(done.error)}`);
  return { seconds, rounds: done.progress.round + 1 };
}

export async function benchModels(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 10_000_000);
  const runs = Number(process.env['BENCH_RUNS'] ?? 5);
  const server = await startServer();
  try {
    const store = new DatasetStore(server.config.dataDir);
    const started = process.hrtime.bigint();
    const data = await writeModelDataset(store, { rows, rowsPerChunk: 200_000 });
    const written = Number(process.hrtime.bigint() - started) / 1e9;
    console.log(
      `\n# models: ${fmt(rows)} rows (x1..x10 numeric, g 7 levels) in ${data.numChunks} chunks, written in ${written.toFixed(1)} s`,
    );
    const formula = `y ~ ${Array.from({ length: 10 }, (_, j) => `x${j + 1}`).join(' + ')} + g`;
    const linModBody = { type: 'linMod', dataset: data.id, params: { formula } };

    const measure = async (label: string, body: Parameters<typeof submitJob>[1], count: number) => {
      // Warm every worker's JIT and chunk cache (tasks land on workers at random).
      for (let i = 0; i < 4; i++) await timedJob(server, body);
      const outcomes: JobOutcome[] = [];
      await timeRuns(count, async () => outcomes.push(await timedJob(server, body)));
      const seconds = median(outcomes.map((o) => o.seconds));
      const rounds = outcomes[0]?.rounds ?? 0;
      report(
        label,
        `${fmt(rows / seconds)} rows/s  (median ${seconds.toFixed(2)} s, ${rounds} pass${rounds === 1 ? '' : 'es'})`,
      );
      return seconds;
    };

    await server.startWorkers(1);
    const one = await measure('linMod, 1 worker, end to end', linModBody, runs);
    await server.startWorkers(1);
    const two = await measure('linMod, 2 workers, end to end', linModBody, runs);
    report('speed-up of 2 workers over 1: linMod', `${(one / two).toFixed(2)}x`);

    const fitted = await submitJob(server.url, linModBody);
    await waitForJob(server.url, fitted.id, 600);
    const result = (await (await fetch(`${server.url}/v1/jobs/${fitted.id}/result`)).json()) as {
      result: { modelId: string };
    };
    await measure(
      'predict job (writes y_Pred), 2 workers, end to end',
      { type: 'predict', dataset: data.id, params: { modelId: result.result.modelId } },
      Math.min(runs, 3),
    );
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchModels();
