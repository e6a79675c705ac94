import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import {
  type DatasetView,
  datasetRows,
  fingerprint,
  runJob,
  submitJob,
  uploadCsv,
  waitForJob,
} from '../helpers/api.ts';
import { startServer, type TestServer } from '../helpers/server.ts';

/**
 * dataStep, factors and split through HTTP with real worker processes: outputs checked row by row
 * (through the rows endpoint) against the input's rows filtered in the test, the same output datasets
 * with 1 and 3 workers, bad params refused before anything is queued or written, and no job folder
 * left behind by a failed job.
 */

type Row = Record<string, unknown>;

const N = 120;

function inputCsv(): string {
  const lines = ['id,g,x,s,d,part'];
  for (let i = 1; i <= N; i++) {
    const g = i % 11 === 0 ? 'NA' : ['lo', 'mid', 'hi'][i % 3];
    const x = i % 7 === 0 ? 'NA' : String(i * 0.25 - 10);
    const s = i % 17 === 0 ? 'NA' : `s${i % 13}`;
    const day = new Date(Date.UTC(2020, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
    const part = (i * 7) % 10 < 7 ? 'train' : 'test';
    lines.push([i, g, x, s, day, part].join(','));
  }
  return `${lines.join('\n')}\n`;
}

const COL_INFO = JSON.stringify({
  g: { type: 'factor', levels: ['lo', 'mid', 'hi'] },
  s: { type: 'string' },
  d: { type: 'date' },
  part: { type: 'factor', levels: ['train', 'test'] },
});

async function datasetIds(url: string): Promise<string[]> {
  const res = await request(url).get('/v1/datasets?limit=1000').expect(200);
  return (res.body.items as DatasetView[]).map((d) => d.id).sort();
}

describe('data operations through the job engine', () => {
  let server: TestServer;
  let input: string;
  let inputRows: Row[];
  const jobs: Record<string, { type: string; params: Record<string, unknown> }> = {
    dataStep: {
      type: 'dataStep',
      params: { varsToDrop: ['s'], removeMissings: true, rowsPerChunk: 10, outName: 'clean' },
    },
    factors: {
      type: 'factors',
      params: {
        factorInfo: {
          band: { varName: 'g', newLevels: { low: 'lo', high: ['mid', 'hi'] } },
          sf: { varName: 's', sortLevels: true },
        },
      },
    },
    split: { type: 'split', params: { splitByFactor: 'part', rowsPerChunk: 8 } },
  };
  const first = new Map<string, unknown>();

  before(async () => {
    server = await startServer();
    await server.startWorkers(1);
    input = (await uploadCsv(server.url, inputCsv(), { rowsPerChunk: 7, colInfo: COL_INFO })).id;
    inputRows = await datasetRows(server.url, input);
    assert.equal(inputRows.length, N);
  });
  after(async () => server.close());

  async function outputsOf(type: string): Promise<DatasetView[]> {
    const result = await runJob<{ dataset?: DatasetView; datasets?: DatasetView[] }>(server.url, {
      type,
      dataset: input,
      params: jobs[type]!.params,
    });
    return result.datasets ?? [result.dataset!];
  }

  it('dataStep drops a variable and incomplete rows, in chunks of rowsPerChunk', async () => {
    const [out] = await outputsOf('dataStep');
    const expected = inputRows
      .filter((row) => ['id', 'g', 'x', 'd', 'part'].every((name) => row[name] !== null))
      .map(({ s: _s, ...rest }) => rest);
    assert.equal(out!.name, 'clean');
    assert.deepEqual(await datasetRows(server.url, out!.id), expected);
    assert.equal(out!.numRows, expected.length);
    assert.deepEqual(
      out!.chunkRows,
      Array.from({ length: Math.ceil(expected.length / 10) }, (_, i) =>
        Math.min(10, expected.length - i * 10),
      ),
    );
    first.set('dataStep', [await fingerprint(server.url, out!.id)]);
  });

  it('factors collapses levels and makes a sorted factor of a string', async () => {
    const [out] = await outputsOf('factors');
    const levels = (name: string) => out!.variables.find((v) => v.name === name)?.levels;
    assert.deepEqual(levels('band'), ['low', 'high']);
    const strings = [
      ...new Set(inputRows.map((r) => r['s']).filter((s): s is string => typeof s === 'string')),
    ].sort();
    assert.deepEqual(levels('sf'), strings);
    const expected = inputRows.map((row) => ({
      ...row,
      band: row['g'] === null ? null : row['g'] === 'lo' ? 'low' : 'high',
      sf: row['s'],
    }));
    assert.deepEqual(await datasetRows(server.url, out!.id), expected);
    first.set('factors', [await fingerprint(server.url, out!.id)]);
  });

  it('split makes a train and a test dataset', async () => {
    const outs = await outputsOf('split');
    assert.deepEqual(
      outs.map((d) => d.name),
      ['test.part.train', 'test.part.test'],
    );
    for (const [i, level] of ['train', 'test'].entries()) {
      const expected = inputRows.filter((row) => row['part'] === level);
      assert.deepEqual(await datasetRows(server.url, outs[i]!.id), expected);
      assert.ok(outs[i]!.chunkRows.slice(0, -1).every((n) => n === 8));
    }
    first.set('split', await Promise.all(outs.map((o) => fingerprint(server.url, o.id))));
  });

  it('writes the same datasets with 3 workers as with 1', async () => {
    await server.startWorkers(2);
    for (const type of Object.keys(jobs)) {
      const once = first.get(type);
      assert.ok(once, `${type} ran with one worker`);
      const outs = await outputsOf(type);
      assert.deepEqual(
        await Promise.all(outs.map((o) => fingerprint(server.url, o.id))),
        once,
        `${type} with 3 workers`,
      );
    }
  });

  it('refuses bad params with a 4xx and creates nothing', async () => {
    const datasetsBefore = await datasetIds(server.url);
    const jobsBefore = (await request(server.url).get('/v1/jobs').expect(200)).body.total;
    const bad: Array<[string, Record<string, unknown>, number, string]> = [
      ['dataStep', { varsToKeep: ['id', 'pat'] }, 400, 'UNKNOWN_VARIABLE'],
      ['dataStep', { varsToKeep: ['id'], varsToDrop: ['x'] }, 400, 'INVALID_PARAMS'],
      ['dataStep', { rowsPerChunk: -1 }, 400, 'INVALID_PARAMS'],
      ['factors', { factorInfo: { g: { newLevels: { L: 'low' } } } }, 400, 'UNKNOWN_LEVEL'],
      ['split', { splitByFactor: 'x' }, 422, 'WRONG_VARIABLE_TYPE'],
      ['split', { splitByFactor: 'part', numOut: 2 }, 400, 'INVALID_PARAMS'],
    ];
    for (const [type, params, status, code] of bad) {
      const res = await request(server.url).post('/v1/jobs').send({ type, dataset: input, params });
      assert.equal(res.status, status, `${type} ${JSON.stringify(params)}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.code, code);
    }
    const unknown = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'dataStep', dataset: input, params: { varsToKeep: ['pat'] } });
    assert.match(unknown.body.error.message, /did you mean 'part'/);
    assert.deepEqual(await datasetIds(server.url), datasetsBefore);
    assert.equal(
      (await request(server.url).get('/v1/jobs').expect(200)).body.total,
      jobsBefore,
      'no job recorded',
    );
  });
});

describe('a data operation that fails', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ TASK_DELAY_MS: '300' });
    await server.startWorkers(1);
  });
  after(async () => server.close());

  it('leaves no job folder and no dataset behind', async () => {
    const lines = ['x'];
    for (let i = 0; i < 80; i++) lines.push(String(i));
    const doomed = (await uploadCsv(server.url, `${lines.join('\n')}\n`, { rowsPerChunk: 2 })).id;
    const job = await submitJob(server.url, {
      type: 'dataStep',
      dataset: doomed,
      params: { rowsPerChunk: 3 },
    });
    // Let a few chunk tasks write their pieces, then pull the input away.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const view = (await request(server.url).get(`/v1/jobs/${job.id}`).expect(200)).body;
      if (view.progress.chunksDone >= 3) break;
      assert.ok(Date.now() < deadline, 'chunk tasks ran');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const jobsDir = path.join(server.config.dataDir, 'jobs');
    assert.ok((await readdir(jobsDir)).includes(job.id), 'the job wrote into its folder');
    await request(server.url).delete(`/v1/datasets/${doomed}`).expect(204);
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'DATASET_DELETED');
    // The folder goes with the failure (allow the failing task a moment to finish its clean-up).
    const gone = Date.now() + 5000;
    while ((await readdir(jobsDir)).includes(job.id) && Date.now() < gone) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(!(await readdir(jobsDir)).includes(job.id), 'no job folder left');
    assert.deepEqual(await datasetIds(server.url), []);
  });
});
