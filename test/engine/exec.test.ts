import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Table } from 'apache-arrow';
import { loadConfig } from '../../src/config.ts';
import { type ExecResult, exec } from '../../src/engine/analyses/exec.ts';
import { runRandom } from '../../src/engine/exec/random.ts';
import type { JobIO } from '../../src/engine/jobIO.ts';
import { noDatasetMeta } from '../../src/engine/noDataset.ts';
import { runInProcess } from '../../src/engine/runInProcess.ts';
import { ExecService } from '../../src/exec/service.ts';
import type { DatasetMeta } from '../../src/storage/datasetMeta.ts';
import { UserError } from '../../src/userError.ts';
import { makeDataset, type TestDataset } from './helpers.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const TEST_PLUGIN_DIRS = [path.join(ROOT, 'plugins'), path.join(ROOT, 'test', 'fixtures', 'plugins')].join(
  path.delimiter,
);

const service = new ExecService(
  loadConfig({ EXEC_PLUGINS_DIR: TEST_PLUGIN_DIRS, EXEC_MAX_TIMEOUT_MS: '30000' }),
);
await service.load();
after(() => service.close());

/** A JobIO over in-memory datasets of tenant `local` (exec reads through nothing else). */
function memoryIO(datasets: TestDataset[]): JobIO {
  const find = (id: string): TestDataset => {
    const found = datasets.find((d) => d.meta.id === id);
    if (!found) throw new UserError(404, 'DATASET_NOT_FOUND', `no dataset '${id}'`);
    return found;
  };
  const refuse = async (): Promise<never> => {
    throw new Error('not in this test');
  };
  return {
    jobId: 'job_test',
    tenant: 'local',
    folder: refuse,
    writeChunk: refuse,
    publish: refuse,
    saveModel: refuse,
    loadModel: refuse,
    datasetMeta: async (id: string): Promise<DatasetMeta> => find(id).meta,
    readChunk: async (id: string, index: number, columns?: readonly string[]): Promise<Table> => {
      const table = find(id).chunks[index]?.table;
      if (!table) throw new Error(`no chunk ${index}`);
      return columns ? table.select([...columns]) : table;
    },
  };
}

/** Runs an exec job on `data` (none: a job without a dataset); `readable` are what its JobIO serves. */
async function run(
  params: Record<string, unknown>,
  data?: TestDataset,
  readable: TestDataset[] = data ? [data] : [],
): Promise<ExecResult> {
  const meta = data?.meta ?? noDatasetMeta('local');
  return (await runInProcess(exec, params, meta, data?.chunks ?? [], {
    exec: service,
    io: memoryIO(readable),
  })) as ExecResult;
}

async function rejects(params: Record<string, unknown>, code: string, message: RegExp, data?: TestDataset) {
  await assert.rejects(run(params, data), (error: UserError) => {
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}

describe('exec with registered functions (in process)', () => {
  it('timesToRun: piEstimate draws each run from its own seeded stream', async () => {
    const samples = 20_000;
    const result = await run({ function: 'piEstimate', args: { samples }, timesToRun: 8, seed: 5 });
    assert.equal(result.numRuns, 8);
    assert.equal(result.numFailed, 0);
    assert.equal(result.seed, 5);
    let inside = 0;
    result.results.forEach((entry, i) => {
      // The run's count, recomputed here from the run's stream.
      const random = runRandom(5, i);
      let expected = 0;
      for (let k = 0; k < samples; k++) {
        const x = random();
        const y = random();
        if (x * x + y * y <= 1) expected++;
      }
      assert.deepEqual(entry, {
        ok: true,
        value: { samples, inside: expected, estimate: (4 * expected) / samples },
      });
      inside += expected;
    });
    // 160000 points: the estimate's standard error is about 0.0041.
    assert.ok(Math.abs((4 * inside) / (8 * samples) - Math.PI) < 0.02);
  });

  it('elemArgs: each run gets its entry merged over args, results in run order', async () => {
    const result = await run({
      function: 'testProbe',
      args: { value: 'shared', draws: 2 },
      elemArgs: [{ value: 1 }, {}, { value: { a: [1, null] } }, { draws: 0 }],
      seed: 9,
    });
    const values = result.results.map((r) => (r.ok ? r.value : r.error));
    const draws = (i: number, n: number) => {
      const random = runRandom(9, i);
      return Array.from({ length: n }, () => random());
    };
    assert.deepEqual(values, [
      { runIndex: 0, value: 1, draws: draws(0, 2) },
      { runIndex: 1, value: 'shared', draws: draws(1, 2) },
      { runIndex: 2, value: { a: [1, null] }, draws: draws(2, 2) },
      { runIndex: 3, value: 'shared', draws: [] },
    ]);
  });

  it('taskChunkSize changes how runs are grouped into tasks, never the result', async () => {
    const params = { function: 'testProbe', args: { draws: 3 }, timesToRun: 7, seed: 1234 };
    const one = await run({ ...params, taskChunkSize: 1 });
    for (const size of [2, 3, 7, 100]) assert.deepEqual(await run({ ...params, taskChunkSize: size }), one);
    assert.equal(one.results.length, 7);
  });

  it('continueOnFailure (default): a failed run holds its error, the others their values', async () => {
    const result = await run({
      function: 'testProbe',
      elemArgs: [{ value: 0 }, { failWith: 'boom in run 1' }, { value: 2 }],
      seed: 1,
    });
    assert.equal(result.numFailed, 1);
    assert.deepEqual(result.results[1], {
      ok: false,
      error: { code: 'RUN_FAILED', message: 'Error: boom in run 1' },
    });
    assert.deepEqual([result.results[0]?.ok, result.results[2]?.ok], [true, true]);
  });

  it('continueOnFailure false: the first failure fails the job with that error', async () => {
    await rejects(
      {
        function: 'testProbe',
        elemArgs: [{ value: 0 }, { failWith: 'boom' }, { value: 2 }],
        continueOnFailure: false,
        seed: 1,
      },
      'RUN_FAILED',
      /run 1 failed: Error: boom/,
    );
  });

  it('timeouts: a spinning or sleeping run is stopped, and the next run works', async () => {
    const started = Date.now();
    const result = await run({
      function: 'testProbe',
      elemArgs: [{ spin: true }, { value: 'after spin' }, { sleepMs: 5000 }, { value: 'after sleep' }],
      timeoutMs: 400,
      seed: 1,
    });
    const timeout = { code: 'RUN_TIMEOUT', message: 'the run took longer than its timeoutMs of 400 ms' };
    assert.deepEqual(result.results[0], { ok: false, error: timeout });
    assert.deepEqual(result.results[2], { ok: false, error: timeout });
    assert.deepEqual(
      [result.results[1], result.results[3]].map((r) => r?.ok && (r.value as { value: unknown }).value),
      ['after spin', 'after sleep'],
    );
    // Two timeouts plus two plugin host restarts, not the 5 s sleep.
    assert.ok(Date.now() - started < 4500);
  });

  it('a run that ends its process fails alone', async () => {
    const result = await run({
      function: 'testProbe',
      elemArgs: [{ crash: true }, { value: 'next' }],
      seed: 1,
    });
    assert.equal(result.results[0]?.ok, false);
    assert.equal(!result.results[0]?.ok && result.results[0]?.error.code, 'RUN_CRASHED');
    assert.equal(result.results[1]?.ok, true);
  });

  it('values past EXEC_MAX_RESULT_BYTES fail their run; past EXEC_MAX_JOB_RESULT_BYTES the job', async () => {
    const big = await run({
      function: 'testProbe',
      elemArgs: [{ bytes: 2_000_000 }, { bytes: 10 }],
      seed: 1,
    });
    assert.equal(!big.results[0]?.ok && big.results[0]?.error.code, 'RESULT_TOO_LARGE');
    assert.deepEqual(big.results[1], { ok: true, value: 'x'.repeat(10) });

    const small = new ExecService(
      loadConfig({
        EXEC_PLUGINS_DIR: TEST_PLUGIN_DIRS,
        EXEC_MAX_RESULT_BYTES: '1024',
        EXEC_MAX_JOB_RESULT_BYTES: '2048',
      }),
    );
    await small.load();
    try {
      const params = { function: 'testProbe', args: { bytes: 600 }, timesToRun: 5, seed: 1 };
      await assert.rejects(
        runInProcess(exec, params, noDatasetMeta('local'), [], { exec: small }),
        (error: UserError) =>
          error.code === 'RESULT_TOO_LARGE' && /EXEC_MAX_JOB_RESULT_BYTES/.test(error.message),
      );
    } finally {
      await small.close();
    }
  });

  it('a task stops between runs once the job is no longer running (cancel), asking at most each run', async () => {
    const state = exec.init(
      { function: 'testProbe', timesToRun: 6, taskChunkSize: 6, seed: 1 },
      noDatasetMeta('local'),
      { datasets: new Map(), exec: service },
    );
    let asked = 0;
    const partial = exec.mapPartition?.(0, state, {
      round: 0,
      io: memoryIO([]),
      exec: service,
      stillRunning: async () => ++asked < 3,
    });
    await assert.rejects(Promise.resolve(partial), (error: UserError) => error.code === 'JOB_ENDED');
    // Asked before runs 1, 2 and 3; told to stop before run 3, so runs 3..5 never started.
    assert.equal(asked, 3);
  });

  it('refuses bad requests before any run, saying what to fix', async () => {
    await rejects({ function: 'piEstimat', timesToRun: 1 }, 'UNKNOWN_FUNCTION', /did you mean 'piEstimate'/);
    await rejects(
      { function: 'piEstimate', timesToRun: 1 },
      'INVALID_ARGS',
      /params\/args must have required properties samples/,
    );
    await assert.rejects(
      run({ function: 'piEstimate', args: { samples: 10 }, elemArgs: [{}, { samples: -1 }, { sample: 3 }] }),
      (error: UserError) => {
        assert.equal(error.code, 'INVALID_ARGS');
        const fields = ((error.details?.['fields'] ?? []) as { field: string }[]).map((f) => f.field);
        assert.ok(fields.includes('params/elemArgs/1/samples'), JSON.stringify(fields));
        assert.ok(fields.includes('params/elemArgs/2/sample'), JSON.stringify(fields));
        assert.ok(!fields.some((f) => f.startsWith('params/elemArgs/0')), JSON.stringify(fields));
        return true;
      },
    );
    await rejects({ function: 'testProbe' }, 'NO_RUNS', /elemArgs .* or timesToRun/);
    await rejects(
      { function: 'testProbe', elemArgs: [{}, {}], timesToRun: 3 },
      'RUNS_MISMATCH',
      /timesToRun is 3/,
    );
    await rejects({ function: 'testProbe', code: '() => 1', timesToRun: 1 }, 'INVALID_PARAMS', /either/);
    await rejects({ function: 'testProbe', timesToRun: 1, timeoutMs: 60_000 }, 'TIMEOUT_TOO_LONG', /30000/);
    await rejects({ function: 'testProbe', timesToRun: 100_001 }, 'TOO_MANY_RUNS', /EXEC_MAX_RUNS/);
    await rejects({ function: 'testProbe', timesToRun: 1, keys: ['g'] }, 'DATASET_REQUIRED', /dataset/);
  });
});

describe('rxExecBy: one run per partition of a dataset', () => {
  // x = 1..23 with x missing where x % 7 == 0; g cycles a, b, c (level d never occurs).
  const n = 23;
  const xs = Array.from({ length: n }, (_, i) => ((i + 1) % 7 === 0 ? null : i + 1));
  const gs = Array.from({ length: n }, (_, i) => ['a', 'b', 'c'][i % 3] as string);
  const data = makeDataset(
    [
      { name: 'x', type: 'numeric', values: xs },
      { name: 'g', type: 'factor', values: gs, levels: ['a', 'b', 'c', 'd'] },
    ],
    5,
  );
  const expected = (rows: number[]) => {
    const present = rows.map((i) => xs[i]).filter((v): v is number => v !== null);
    const sum = present.reduce((a, b) => a + b, 0);
    return {
      rows: rows.length,
      n: present.length,
      sum,
      mean: present.length > 0 ? sum / present.length : null,
    };
  };

  it('per chunk', async () => {
    const result = await run({ function: 'partitionSummary', args: { variable: 'x' } }, data);
    assert.equal(result.numRuns, 5);
    result.results.forEach((entry, chunk) => {
      const rows = Array.from({ length: Math.min(5, n - chunk * 5) }, (_, k) => chunk * 5 + k);
      assert.deepEqual(entry, { ok: true, value: expected(rows), chunk });
    });
  });

  it('per level of keys, including a level with no rows', async () => {
    const result = await run({ function: 'partitionSummary', args: { variable: 'x' }, keys: ['g'] }, data);
    assert.deepEqual(
      result.results,
      ['a', 'b', 'c', 'd'].map((level, code) => ({
        ok: true,
        value: expected(gs.flatMap((g, i) => (g === ['a', 'b', 'c', 'd'][code] ? [i] : []))),
        keys: { g: level },
      })),
    );
  });

  it("plugins read only datasets the job may: others fail the run with the reader's code", async () => {
    const result = await run(
      {
        function: 'testProbe',
        elemArgs: [{ readDataset: 'ds_test' }, { readDataset: 'ds_someone_else' }],
        seed: 1,
      },
      undefined,
      [data],
    );
    assert.deepEqual(result.results[0], { ok: true, value: { rows: 23, firstChunkRows: 5 } });
    assert.deepEqual(result.results[1], {
      ok: false,
      error: { code: 'DATASET_NOT_FOUND', message: "no dataset 'ds_someone_else'" },
    });
  });

  it('refuses what does not fit a dataset', async () => {
    await rejects(
      { function: 'partitionSummary', args: { variable: 'x' }, keys: ['h'] },
      'UNKNOWN_VARIABLE',
      /'h'/,
      data,
    );
    await rejects(
      { function: 'partitionSummary', args: { variable: 'x' }, keys: ['x'] },
      'WRONG_VARIABLE_TYPE',
      /factor/,
      data,
    );
    await rejects(
      { function: 'partitionSummary', args: { variable: 'x' }, timesToRun: 2 },
      'RUNS_FROM_DATASET',
      /one run per chunk/,
      data,
    );
    await rejects({ code: '() => 1' }, 'SANDBOX_NO_DATA', /cannot read datasets/, data);
  });
});
