import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import request from 'supertest';
import type { ExecResult } from '../../src/engine/analyses/exec.ts';
import { runRandom } from '../../src/engine/exec/random.ts';
import { runJob, submitJob, uploadCsv, waitForJob } from '../helpers/api.ts';
import { kill, startServer, type TestServer } from '../helpers/server.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const PLUGIN_DIRS = [path.join(ROOT, 'plugins'), path.join(ROOT, 'test', 'fixtures', 'plugins')].join(
  path.delimiter,
);

const alice = { key: 'alice-key' };
const bob = { key: 'bob-key' };

/** The draws testProbe returns for run `i` of a job seeded with `seed`, computed here. */
function draws(seed: number, i: number, n: number): number[] {
  const random = runRandom(seed, i);
  return Array.from({ length: n }, () => random());
}

describe('exec jobs through the API and real workers', () => {
  let server: TestServer;
  let data: string;
  const xs = Array.from({ length: 30 }, (_, i) => i + 1);
  const gs = xs.map((x) => (x % 3 === 0 ? 'c' : x % 2 === 0 ? 'b' : 'a'));

  before(async () => {
    server = await startServer({
      API_KEYS: 'alice-key:alice,bob-key:bob',
      EXEC_PLUGINS_DIR: PLUGIN_DIRS,
      EXEC_SANDBOX: '1',
      EXEC_SANDBOX_TENANTS: 'alice',
      EXEC_MAX_TIMEOUT_MS: '20000',
      WORKER_LOCK_SECONDS: '2',
    });
    await server.startWorkers(1);
    const csv = ['x,g', ...xs.map((x, i) => `${x},${gs[i]}`)].join('\n');
    data = (await uploadCsv(server.url, `${csv}\n`, { rowsPerChunk: 8 }, alice)).id;
  });
  after(() => server.close());

  const post = (body: Record<string, unknown>, auth = alice) =>
    request(server.url).post('/v1/jobs').set('authorization', `Bearer ${auth.key}`).send(body);

  describe('checks at submit', () => {
    const cases: [string, Record<string, unknown>, typeof alice, number, string, RegExp][] = [
      [
        'unknown function',
        { function: 'piEstimat', timesToRun: 2 },
        alice,
        400,
        'UNKNOWN_FUNCTION',
        /did you mean 'piEstimate'/,
      ],
      [
        'args that do not fit the schema',
        { function: 'piEstimate', args: { samples: 'many' }, timesToRun: 1 },
        alice,
        400,
        'INVALID_ARGS',
        /params\/args\/samples/,
      ],
      ['no runs', { function: 'piEstimate', args: { samples: 1 } }, alice, 400, 'NO_RUNS', /timesToRun/],
      ['neither function nor code', { timesToRun: 1 }, alice, 400, 'INVALID_PARAMS', /either/],
      [
        'params off the schema',
        { function: 'piEstimate', timesToRun: 1, sped: 3 },
        alice,
        400,
        'INVALID_PARAMS',
        /sped/,
      ],
      [
        'code from a tenant not allowed to',
        { code: 'x => x', timesToRun: 1 },
        bob,
        403,
        'SANDBOX_NOT_ALLOWED',
        /EXEC_SANDBOX_TENANTS/,
      ],
      [
        'code that does not compile',
        { code: '(a) => a +', timesToRun: 1 },
        alice,
        400,
        'INVALID_CODE',
        /Unexpected/,
      ],
      [
        'transforms',
        { function: 'piEstimate', args: { samples: 1 }, timesToRun: 1, transforms: { y: 'x' } },
        alice,
        400,
        'NOT_SUPPORTED',
        /transforms/,
      ],
      [
        'a timeout above the cap',
        { function: 'piEstimate', args: { samples: 1 }, timesToRun: 1, timeoutMs: 50_000 },
        alice,
        400,
        'TIMEOUT_TOO_LONG',
        /20000/,
      ],
    ];
    for (const [name, params, auth, status, code, message] of cases) {
      it(`${name}: ${status} ${code}`, async () => {
        const res = await post({ type: 'exec', params }, auth).expect(status);
        assert.equal(res.body.error.code, code, JSON.stringify(res.body));
        assert.match(res.body.error.message, message);
      });
    }

    it('argument errors list the fields, named where they were written', async () => {
      const res = await post({
        type: 'exec',
        params: { function: 'piEstimate', args: { samples: 5 }, elemArgs: [{}, { samples: 0 }] },
      }).expect(400);
      assert.deepEqual(
        res.body.error.details.fields.map((f: { field: string }) => f.field),
        ['params/elemArgs/1/samples'],
      );
    });

    it("another tenant's dataset: 404", async () => {
      const res = await post(
        { type: 'exec', dataset: data, params: { function: 'partitionSummary', args: { variable: 'x' } } },
        bob,
      ).expect(404);
      assert.equal(res.body.error.code, 'DATASET_NOT_FOUND');
    });

    it('every other analysis still needs a dataset', async () => {
      const res = await post({ type: 'summary', params: { formula: '~ x' } }).expect(400);
      assert.equal(res.body.error.code, 'VALIDATION_FAILED');
    });

    it('an accepted job has no dataset and records the seed it was given', async () => {
      const job = await submitJob(
        server.url,
        { type: 'exec', params: { function: 'testProbe', timesToRun: 1 } },
        alice,
      );
      const record = await request(server.url)
        .get(`/v1/jobs/${job.id}`)
        .set('authorization', `Bearer ${alice.key}`)
        .expect(200);
      assert.equal(record.body.dataset, null);
      assert.ok(Number.isInteger(record.body.params.seed));
      await waitForJob(server.url, job.id, 60, alice);
    });
  });

  describe('sandboxed code on one worker', () => {
    it('escape attempts fail run by run with clear errors; the other runs complete', async () => {
      const code = `(args, ctx) => {
        switch (args.attack) {
          case 'process': return constructor.constructor('return process')().env;
          case 'this': return (function () { return this.constructor.constructor('return require')() })()('fs');
          case 'proto': Object.prototype.polluted = true; return 'polluted';
          case 'clean': return ({}).polluted === undefined ? 'clean' : 'dirty';
          case 'loop': for (;;) {}
          case 'memory': { const keep = []; for (;;) keep.push(new Array(1e6).fill(0.5)); }
          case 'huge': return 'x'.repeat(3e6);
          case 'import': return import('node:child_process');
          default: return { run: ctx.runIndex, u: ctx.random() };
        }
      }`;
      const attacks = ['process', 'this', 'proto', 'clean', 'loop', 'memory', 'huge', 'import', 'fine'];
      const result = await runJob<ExecResult>(
        server.url,
        {
          type: 'exec',
          params: { code, elemArgs: attacks.map((attack) => ({ attack })), timeoutMs: 1000, seed: 3 },
        },
        alice,
      );
      const byAttack = Object.fromEntries(
        attacks.map((attack, i) => {
          const r = result.results[i]!;
          return [attack, r.ok ? { value: r.value } : { code: r.error.code, message: r.error.message }];
        }),
      );
      assert.equal(byAttack['process']?.code, 'RUN_FAILED');
      assert.match(byAttack['process']?.message ?? '', /process is not defined/);
      assert.match(byAttack['this']?.message ?? '', /require is not defined/);
      assert.deepEqual(byAttack['proto'], { value: 'polluted' });
      assert.deepEqual(byAttack['clean'], { value: 'clean' });
      assert.equal(byAttack['loop']?.code, 'RUN_TIMEOUT');
      assert.equal(byAttack['memory']?.code, 'RUN_MEMORY_LIMIT');
      assert.equal(byAttack['huge']?.code, 'RESULT_TOO_LARGE');
      assert.equal(byAttack['import']?.code, 'RUN_FAILED');
      assert.deepEqual(byAttack['fine'], { value: { run: 8, u: draws(3, 8, 1)[0] } });
      assert.equal(result.numFailed, 6);
    });

    it('the worker stays healthy: the next jobs on it succeed', async () => {
      const summary = await runJob<{ stats: { name: string; mean: number }[] }>(
        server.url,
        { type: 'summary', dataset: data, params: { formula: '~ x' } },
        alice,
      );
      assert.equal(summary.stats[0]?.mean, 15.5);
      const again = await runJob<ExecResult>(
        server.url,
        {
          type: 'exec',
          params: { code: '(a, ctx) => a.k * 2 + ctx.runIndex', elemArgs: [{ k: 1 }, { k: 5 }] },
        },
        alice,
      );
      assert.deepEqual(
        again.results.map((r) => r.ok && r.value),
        [2, 11],
      );
    });

    it('continueOnFailure false: the first failed run fails the job with its error', async () => {
      const job = await submitJob(
        server.url,
        {
          type: 'exec',
          params: {
            code: '(a) => { if (a.bad) throw new TypeError("bad input " + a.k); return a.k }',
            elemArgs: [{ k: 0 }, { k: 1, bad: true }, { k: 2 }],
            continueOnFailure: false,
          },
        },
        alice,
      );
      const done = await waitForJob(server.url, job.id, 60, alice);
      assert.equal(done.status, 'failed');
      assert.equal(done.error?.code, 'RUN_FAILED');
      assert.match(done.error?.message ?? '', /run 1 failed: TypeError: bad input 1/);
    });
  });

  describe('registered functions across workers', () => {
    const bodies = [
      {
        type: 'exec',
        params: { function: 'piEstimate', args: { samples: 5000 }, timesToRun: 12, seed: 2024 },
      },
      {
        type: 'exec',
        params: {
          function: 'testProbe',
          args: { draws: 4 },
          elemArgs: Array.from({ length: 25 }, (_, i) => ({ value: i * i })),
          taskChunkSize: 3,
          seed: 99,
        },
      },
    ];
    const onOneWorker: ExecResult[] = [];

    it('on one worker: every run as computed here', async () => {
      for (const body of bodies) onOneWorker.push(await runJob<ExecResult>(server.url, body, alice));
      const [pi, probe] = onOneWorker as [ExecResult, ExecResult];
      assert.equal(pi.results.length, 12);
      pi.results.forEach((r, i) => {
        const random = runRandom(2024, i);
        let inside = 0;
        for (let k = 0; k < 5000; k++) {
          const x = random();
          const y = random();
          if (x * x + y * y <= 1) inside++;
        }
        assert.deepEqual(r, { ok: true, value: { samples: 5000, inside, estimate: (4 * inside) / 5000 } });
      });
      assert.deepEqual(
        probe.results,
        Array.from({ length: 25 }, (_, i) => ({
          ok: true,
          value: { runIndex: i, value: i * i, draws: draws(99, i, 4) },
        })),
      );
    });

    it('on three workers: identical results', async () => {
      await server.startWorkers(2);
      for (const [i, body] of bodies.entries()) {
        const result = await runJob<ExecResult>(server.url, body, alice);
        assert.equal(JSON.stringify(result), JSON.stringify(onOneWorker[i]));
      }
    });

    it('timeouts: a spinning run is stopped, its neighbours are not', async () => {
      const result = await runJob<ExecResult>(
        server.url,
        {
          type: 'exec',
          params: {
            function: 'testProbe',
            elemArgs: [{ value: 'a' }, { spin: true }, { value: 'c' }],
            timeoutMs: 500,
          },
        },
        alice,
      );
      assert.deepEqual(
        result.results.map((r) => (r.ok ? (r.value as { value: string }).value : r.error.code)),
        ['a', 'RUN_TIMEOUT', 'c'],
      );
    });

    it('rxExecBy: one run per level of keys, and per chunk', async () => {
      const byLevel = await runJob<ExecResult>(
        server.url,
        {
          type: 'exec',
          dataset: data,
          params: { function: 'partitionSummary', args: { variable: 'x' }, keys: ['g'] },
        },
        alice,
      );
      assert.deepEqual(
        byLevel.results,
        ['a', 'b', 'c'].map((level) => {
          const mine = xs.filter((_, i) => gs[i] === level);
          const sum = mine.reduce((s, x) => s + x, 0);
          return {
            ok: true,
            value: { rows: mine.length, n: mine.length, sum, mean: sum / mine.length },
            keys: { g: level },
          };
        }),
      );
      const byChunk = await runJob<ExecResult>(
        server.url,
        { type: 'exec', dataset: data, params: { function: 'partitionSummary', args: { variable: 'x' } } },
        alice,
      );
      assert.deepEqual(
        byChunk.results.map((r) => [r.chunk, r.ok && (r.value as { rows: number }).rows]),
        [
          [0, 8],
          [1, 8],
          [2, 8],
          [3, 6],
        ],
      );
    });

    it("a plugin reads only the job tenant's datasets", async () => {
      const result = await runJob<ExecResult>(
        server.url,
        { type: 'exec', params: { function: 'testProbe', elemArgs: [{ readDataset: data }] } },
        bob,
      );
      assert.equal(!result.results[0]?.ok && result.results[0]?.error.code, 'DATASET_NOT_FOUND');
      const own = await runJob<ExecResult>(
        server.url,
        { type: 'exec', params: { function: 'testProbe', elemArgs: [{ readDataset: data }] } },
        alice,
      );
      assert.deepEqual(own.results[0], { ok: true, value: { rows: 30, firstChunkRows: 8 } });
    });

    it('a worker killed with SIGKILL mid-job: every run is there, in order, as without the kill', async () => {
      const body = {
        type: 'exec',
        params: {
          function: 'testProbe',
          args: { sleepMs: 150, draws: 2 },
          elemArgs: Array.from({ length: 48 }, (_, i) => ({ value: `run ${i}` })),
          taskChunkSize: 2,
          seed: 5,
        },
      };
      const undisturbed = await runJob<ExecResult>(server.url, body, alice);
      const [victim] = await server.startWorkers(1);
      const job = await submitJob(server.url, body, alice);
      // 24 tasks of 300 ms on 4 workers: each worker is mid-task for the first ~1.8 s.
      await sleep(900);
      await kill(victim!, 'SIGKILL');
      const done = await waitForJob(server.url, job.id, 120, alice);
      assert.equal(done.status, 'completed', JSON.stringify(done.error));
      const res = await request(server.url)
        .get(`/v1/jobs/${job.id}/result`)
        .set('authorization', `Bearer ${alice.key}`)
        .expect(200);
      const result = res.body.result as ExecResult;
      assert.equal(result.numRuns, 48);
      assert.deepEqual(
        result.results.map((r) => r.ok && (r.value as { runIndex: number }).runIndex),
        Array.from({ length: 48 }, (_, i) => i),
      );
      assert.equal(JSON.stringify(result), JSON.stringify(undisturbed));
    });
  });
});
