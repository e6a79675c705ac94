import { fileURLToPath } from 'node:url';
import { logit } from '../src/engine/analyses/logit.ts';
import { makeFamily } from '../src/engine/glm/families.ts';
import { mapPass } from '../src/engine/glm/pass.ts';
import { DatasetStore } from '../src/storage/datasetStore.ts';
import { submitJob, waitForJob } from '../test/helpers/api.ts';
import { startServer, type TestServer } from '../test/helpers/server.ts';
import { writeModelDataset } from './models.ts';
import { fmt, median, report, timeRuns } from './stats.ts';

/**
 * rxLogit end to end (HTTP submit to result, real workers): yb ~ x1 + ... + x10 + g on BENCH_ROWS
 * (default 10,000,000) generated rows (bench/models.ts's dataset: 10 numeric predictors, g a 7-level
 * factor, yb 0/1), with 1 and 2 workers. Each IRLS iteration is one pass over the data, so the figure
 * that matters is rows per second per pass: rows x passes / job seconds. Also the pass kernel alone
 * (one chunk, in process) as the ceiling. Medians of BENCH_RUNS (default 3) after warm-up jobs that fill
 * the workers' chunk caches. BENCH_ONLY=glm runs only this.
 */

interface JobOutcome {
  seconds: number;
  passes: number;
  iterations: number;
}

async function timedLogit(server: TestServer, body: Parameters<typeof submitJob>[1]): Promise<JobOutcome> {
  const start = process.hrtime.bigint();
  const job = await submitJob(server.url, body);
  const done = await waitForJob(server.url, job.id, 1800);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (done.status !== 'completed') throw new Error(`bench job failed: ${JSON.stringify(done.error)}`);
  const response = await fetch(`${server.url}/v1/jobs/${job.id}/result`);
  const { result } = (await response.json()) as { result: { iterations: number } };
  return { seconds, passes: done.progress.round + 1, iterations: result.iterations };
}

export async function benchGlm(): Promise<void> {
  const rows = Number(process.env['BENCH_ROWS'] ?? 10_000_000);
  const runs = Number(process.env['BENCH_RUNS'] ?? 3);
  const server = await startServer();
  try {
    const store = new DatasetStore(server.config.dataDir);
    const data = await writeModelDataset(store, { rows, rowsPerChunk: 200_000 });
    console.log(
      `\n# logit: ${fmt(rows)} rows (x1..x10 numeric, g 7 levels, yb 0/1) in ${data.numChunks} chunks`,
    );
    const formula = `yb ~ ${Array.from({ length: 10 }, (_, j) => `x${j + 1}`).join(' + ')} + g`;
    const body = { type: 'logit', dataset: data.id, params: { formula } };

    // The pass kernel alone on one chunk: model matrix, eta, deviance, Pearson, weighted TSQR.
    const state = logit.init({ formula }, data, { datasets: new Map() });
    const family = makeFamily(state.family);
    const table = await store.readChunk(data.id, 0);
    const plan = {
      ...state.plan,
      main: { kind: 'coefficients' as const, beta: new Array<number>(state.matrix.kept.length).fill(0.01) },
      pearsonBasis: {
        kind: 'coefficients' as const,
        beta: new Array<number>(state.matrix.kept.length).fill(0),
      },
    };
    for (let i = 0; i < 5; i++) mapPass(table, state.matrix, state.layout, family, plan);
    const kernel = median(await timeRuns(9, () => mapPass(table, state.matrix, state.layout, family, plan)));
    report('logit pass kernel, one chunk in process', `${fmt(table.numRows / kernel)} rows/s`);

    const measure = async (label: string) => {
      for (let i = 0; i < 2; i++) await timedLogit(server, body);
      const outcomes: JobOutcome[] = [];
      await timeRuns(runs, async () => outcomes.push(await timedLogit(server, body)));
      const seconds = median(outcomes.map((o) => o.seconds));
      const passes = outcomes[0]?.passes ?? 0;
      report(
        label,
        `${fmt((rows * passes) / seconds)} rows/s per pass  (median ${seconds.toFixed(1)} s, ${passes} passes, ${outcomes[0]?.iterations} iterations)`,
      );
      return seconds;
    };
    await server.startWorkers(1);
    const one = await measure('logit, 1 worker, end to end');
    await server.startWorkers(1);
    const two = await measure('logit, 2 workers, end to end');
    report('speed-up of 2 workers over 1: logit', `${(one / two).toFixed(2)}x`);
  } finally {
    await server.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await benchGlm();
