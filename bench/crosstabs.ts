import { fileURLToPath } from 'node:url';
import { DatasetStore } from '../src/storage/datasetStore.ts';
import { runJob } from '../test/helpers/api.ts';
import { startServer } from '../test/helpers/server.ts';
import { writeFactorDataset } from './generatedDataset.ts';
import { fmt, median, report, timeRuns } from './stats.ts';

/**
 * crossTabs of two factors (200 x 7 levels) end to end (submit over HTTP to result), with 1 and 2
 * workers, against a plain loop counting the same codes into a dense table in one process.
 * BENCH_ROWS (default 10,000,000) rows; BENCH_RUNS repetitions (default 5), medians.
 */
export async function benchCrossTabs(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 10_000_000);
  const runs = Number(process.env['BENCH_RUNS'] ?? 5);
  const server = await startServer();
  try {
    const store = new DatasetStore(server.config.dataDir);
    const kept: Int32Array[][] = [];
    const meta = await writeFactorDataset(
      store,
      {
        rows,
        factors: [
          { name: 'a', levels: 200 },
          { name: 'b', levels: 7 },
        ],
        rowsPerChunk: 500_000,
      },
      (codes) => kept.push(codes),
    );
    console.log(`\n# crossTabs: ${fmt(rows)} rows, factors of 200 x 7 levels, in ${meta.numChunks} chunks`);

    let sink = 0;
    const baseline = median(
      await timeRuns(Math.max(5, runs), () => {
        const counts = new Float64Array(200 * 7);
        for (const [a, b] of kept) {
          for (let i = 0; i < a!.length; i++) {
            const c = a![i]! + 200 * b![i]!;
            counts[c] = counts[c]! + 1;
          }
        }
        sink += counts[0]!;
      }),
    );
    kept.length = 0;
    report('baseline: dense counting loop over the codes, one process', `${fmt(rows / baseline)} rows/s`);
    if (!Number.isFinite(sink)) console.log('(sink)');

    const body = {
      type: 'crossTabs',
      dataset: meta.id,
      params: { formula: '~ a:b', marginals: true, kendallTau: true },
    };
    const endToEnd = async (label: string) => {
      // Warm every worker's JIT and chunk cache (tasks land on workers at random).
      for (let i = 0; i < 8; i++) await runJob(server.url, body);
      const seconds = median(await timeRuns(runs, () => runJob(server.url, body)));
      report(label, `${fmt(rows / seconds)} rows/s  (${(seconds / baseline).toFixed(2)}x baseline time)`);
      return seconds;
    };
    await server.startWorkers(1);
    const one = await endToEnd('crossTabs ~ a:b, 1 worker, end to end');
    await server.startWorkers(1);
    const two = await endToEnd('crossTabs ~ a:b, 2 workers, end to end');
    report('speed-up of 2 workers over 1', `${(one / two).toFixed(2)}x`);
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchCrossTabs();
