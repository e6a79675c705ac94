import { fileURLToPath } from 'node:url';
import { DatasetStore } from '../src/storage/datasetStore.ts';
import { runJob, submitJob, waitForJob } from '../test/helpers/api.ts';
import { startServer } from '../test/helpers/server.ts';
import { writeNumericDataset } from './generatedDataset.ts';
import { fmt, median, percentile, report, timeRuns } from './stats.ts';

/**
 * The job engine end to end (submit over HTTP to result), against the practical limit of JavaScript
 * here: a plain loop summing the same Float64Arrays in one process.
 * BENCH_ROWS (default 10,000,000) x 10 numeric columns; BENCH_RUNS repetitions (default 5), medians.
 */
export async function benchJobs(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 10_000_000);
  const runs = Number(process.env['BENCH_RUNS'] ?? 5);
  const columns = 10;
  const values = rows * columns;
  const server = await startServer();
  try {
    const store = new DatasetStore(server.config.dataDir);
    const kept: Float64Array[] = [];
    const big = await writeNumericDataset(store, { rows, columns, rowsPerChunk: 200_000 }, (c) =>
      kept.push(...c),
    );
    const names = big.variables.map((v) => v.name);
    console.log(`\n# job engine: ${fmt(rows)} rows x ${columns} columns in ${big.numChunks} chunks`);

    let sink = 0;
    const baseline = median(
      await timeRuns(Math.max(5, runs), () => {
        let sum = 0;
        for (const column of kept) for (let i = 0; i < column.length; i++) sum += column[i]!;
        sink += sum;
      }),
    );
    kept.length = 0;
    report('baseline: tight sum loop, one process', `${fmt(values / baseline)} values/s`);
    if (!Number.isFinite(sink)) console.log('(sink)');

    const summary = { type: 'summary', dataset: big.id, params: { formula: `~ ${names.join(' + ')}` } };
    const covCor = {
      type: 'covCor',
      dataset: big.id,
      params: { formula: `~ ${names.join(' + ')}`, type: 'Cov' },
    };
    const endToEnd = async (label: string, body: typeof summary, warmUps = 8) => {
      // Warm every worker's JIT and chunk cache. Each worker is sent the tasks of its own share of the
      // chunks, the same share job after job (src/jobs/taskAffinity.ts), and caches what it reads.
      for (let i = 0; i < warmUps; i++) await runJob(server.url, body);
      const seconds = median(await timeRuns(runs, () => runJob(server.url, body)));
      report(label, `${fmt(values / seconds)} values/s  (${(seconds / baseline).toFixed(2)}x baseline time)`);
      return seconds;
    };

    await server.startWorkers(1);
    // Cold: the first job after start-up reads every chunk from disk.
    const cold = median(await timeRuns(1, () => runJob(server.url, summary)));
    report('summary, 1 worker, first job (chunks read from disk)', `${fmt(values / cold)} values/s`);
    const summary1 = await endToEnd('summary, 1 worker, end to end', summary);
    const covCor1 = await endToEnd('covCor, 1 worker, end to end', covCor);

    // Per-task overhead: 500 chunks of 10 rows, one task each (under the 512-task cap).
    const tiny = await writeNumericDataset(store, { rows: 5000, columns: 1, rowsPerChunk: 10, seed: 2 });
    const tinyBody = { type: 'summary', dataset: tiny.id, params: { formula: '~ x1' } };
    await runJob(server.url, tinyBody);
    const tinySeconds = median(await timeRuns(runs, () => runJob(server.url, tinyBody)));
    report(
      'queue overhead per chunk task (500 tiny tasks, 1 worker)',
      `${((tinySeconds / tiny.numChunks) * 1000).toFixed(2)} ms`,
    );

    const one = await writeNumericDataset(store, { rows: 100, columns: 1, rowsPerChunk: 100, seed: 3 });
    const latencies: number[] = [];
    for (let i = 0; i < 200; i++) {
      const start = process.hrtime.bigint();
      const job = await submitJob(server.url, {
        type: 'summary',
        dataset: one.id,
        params: { formula: '~ x1' },
      });
      await waitForJob(server.url, job.id);
      latencies.push(Number(process.hrtime.bigint() - start) / 1e6);
    }
    report(
      'job latency, 1-chunk dataset, submit to completed (200 jobs)',
      `median ${median(latencies).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
    );

    await server.startWorkers(1);
    // A worker that joins late fills its cache more slowly than its share suggests: while it reads its
    // chunks from disk (16 MB each, ~40 ms) the warm worker steals most of its tasks, so it reads only a
    // few a job. Traced here, its share of the tasks reached half only at the ninth job.
    const summary2 = await endToEnd('summary, 2 workers, end to end', summary, 16);
    const covCor2 = await endToEnd('covCor, 2 workers, end to end', covCor);
    report('speed-up of 2 workers over 1: summary', `${(summary1 / summary2).toFixed(2)}x`);
    report('speed-up of 2 workers over 1: covCor', `${(covCor1 / covCor2).toFixed(2)}x`);
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchJobs();
