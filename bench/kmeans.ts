import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { nearestCenters } from '../src/engine/kmeans/nearest.ts';
import { mix32 } from '../src/engine/kmeans/random.ts';
import { DatasetStore } from '../src/storage/datasetStore.ts';
import { runJob } from '../test/helpers/api.ts';
import { startServer } from '../test/helpers/server.ts';
import { writeNumericDataset } from './generatedDataset.ts';
import { fmt, median, report, timeRuns } from './stats.ts';

/**
 * rxKmeans end to end (submit over HTTP to result): k = 5 on BENCH_ROWS (default 10,000,000) rows of
 * 2 and of 10 dimensions, drawn from 5 Gaussian blobs (sd 5, centers 25 apart), with 1 and 2 workers.
 * A job is the k-means|| start (4 passes) plus the Lloyd iterations, so besides rows/s of the whole
 * job it prints row-passes/s, set against one Lloyd pass as a tight loop in one process (the same
 * nearest-center kernel over arrays already in memory). BENCH_RUNS repetitions (default 3), medians.
 */

const K = 5;

interface Result {
  iterations: number;
  passes: number;
  converged: boolean;
  totWithinSS: number;
}

/** Blob q's center on dimension j: 25 apart on dimension 0, shuffled on the others. */
function blobCenter(q: number, j: number): number {
  return 100 + 25 * (j === 0 ? q : (q * (j + 2)) % K);
}

/** Gaussian blob values: the row's blob from a hash of the row (so every column agrees), noise sd 5. */
function blobValue(row: number, column: number, random: () => number): number {
  const q = mix32(row ^ 0x2545f491) % K;
  const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return blobCenter(q, column) + 5 * gaussian;
}

/** One Lloyd assignment pass over in-memory column-major blocks, in this process: the kernel's ceiling. */
function baselinePass(blocks: Float64Array[], n: number, p: number): number {
  const centers = new Float64Array(K * p);
  for (let q = 0; q < K; q++) for (let j = 0; j < p; j++) centers[q * p + j] = blobCenter(q, j) + 1;
  const out = { cluster: new Int32Array(n), distance: new Float64Array(n) };
  let sink = 0;
  for (const x of blocks) {
    nearestCenters(x, n, p, centers, K, out);
    for (let i = 0; i < n; i++) sink += out.cluster[i]!;
  }
  return sink;
}

export async function benchKmeans(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 10_000_000);
  const runs = Number(process.env['BENCH_RUNS'] ?? 3);
  const server = await startServer();
  try {
    const store = new DatasetStore(server.config.dataDir);
    const cases: Array<{ p: number; id: string; baseline: number }> = [];
    for (const p of [2, 10]) {
      // Chunks of ~16 MB, as the importer aims for.
      const rowsPerChunk = Math.round(2_000_000 / p);
      const kept: Float64Array[] = [];
      const meta = await writeNumericDataset(
        store,
        { rows, columns: p, rowsPerChunk, seed: p, value: blobValue },
        (columns) => {
          // Keep up to 2M rows, column-major per chunk, for the in-process baseline.
          if (kept.length * rowsPerChunk >= 2_000_000 || columns[0]!.length !== rowsPerChunk) return;
          const x = new Float64Array(rowsPerChunk * p);
          columns.forEach((column, j) => {
            x.set(column, j * rowsPerChunk);
          });
          kept.push(x);
        },
      );
      const seconds = median(await timeRuns(5, () => baselinePass(kept, rowsPerChunk, p)));
      cases.push({ p, id: meta.id, baseline: (kept.length * rowsPerChunk) / seconds });
    }
    const load = os.loadavg().map((l) => l.toFixed(2));
    console.log(
      `\n# kmeans: k = ${K}, ${fmt(rows)} rows; ${os.cpus().length} CPUs, load average (uptime) ${load.join(' ')}`,
    );
    for (const c of cases) {
      report(`baseline: one Lloyd pass, tight loop, one process, p = ${c.p}`, `${fmt(c.baseline)} rows/s`);
    }

    const measure = async (workers: number) => {
      for (const c of cases) {
        const body = { type: 'kmeans', dataset: c.id, params: { formula: '', numClusters: K, seed: 1 } };
        body.params.formula = `~ ${Array.from({ length: c.p }, (_, j) => `x${j + 1}`).join(' + ')}`;
        // Warm the workers' JIT and chunk caches; the result is the same every run (same seed).
        const result = await runJob<Result>(server.url, body);
        const seconds = median(await timeRuns(runs, () => runJob(server.url, body)));
        const label = `kmeans p = ${c.p}, ${workers} worker${workers === 1 ? '' : 's'}, end to end`;
        report(
          label,
          `${fmt(rows / seconds)} rows/s  (${seconds.toFixed(1)} s, ${result.passes} passes = 4 + ${result.iterations} Lloyd, ` +
            `${fmt((rows * result.passes) / seconds)} row-passes/s)`,
        );
      }
    };
    await server.startWorkers(1);
    await measure(1);
    await server.startWorkers(1);
    await measure(2);
    console.log(
      `load average after: ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchKmeans();
