import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { runJob, submitJob, uploadCsv, waitForJob } from '../helpers/api.ts';
import { kill, startServer, type TestServer } from '../helpers/server.ts';

/** A numeric dataset whose exact mean and sum the tests know: x = 1..n. */
function sequenceCsv(n: number): string {
  const lines = ['x,g'];
  for (let i = 1; i <= n; i++) lines.push(`${i},${i % 3 === 0 ? 'a' : 'b'}`);
  return `${lines.join('\n')}\n`;
}

/** Waiting and active chunk tasks over every chunk queue (the shared one and each worker's own). */
async function queueCounts(server: TestServer): Promise<{ waiting: number; active: number }> {
  const counts = { waiting: 0, active: 0 };
  const pattern = `${server.config.queuePrefix}:bull:chunks*`;
  let cursor = '0';
  do {
    const [next, keys] = await server.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    for (const key of keys) {
      if (key.endsWith(':wait')) counts.waiting += await server.redis.llen(key);
      if (key.endsWith(':active')) counts.active += await server.redis.llen(key);
    }
    cursor = next;
  } while (cursor !== '0');
  return counts;
}

describe('job requests are validated before anything is queued', () => {
  let server: TestServer;
  let dataset: string;
  before(async () => {
    server = await startServer();
    dataset = (await uploadCsv(server.url, 'delay,carrier\n1,AA\n2,BB\n')).id;
  });
  after(() => server.close());

  const cases: [string, Record<string, unknown>, number, string][] = [
    ['unknown analysis', { type: 'regress', params: {} }, 400, 'UNKNOWN_ANALYSIS'],
    ['unknown variable', { type: 'summary', params: { formula: '~ dealy' } }, 400, 'UNKNOWN_VARIABLE'],
    ['malformed formula', { type: 'summary', params: { formula: '~ delay +' } }, 400, 'INVALID_FORMULA'],
    ['params of the wrong type', { type: 'summary', params: { formula: 42 } }, 400, 'INVALID_PARAMS'],
    [
      'bad blocksPerRead',
      { type: 'summary', params: { formula: '~ delay', blocksPerRead: 0 } },
      400,
      'INVALID_PARAMS',
    ],
  ];
  for (const [name, body, status, code] of cases) {
    it(`${name}: ${status} ${code}`, async () => {
      const res = await request(server.url)
        .post('/v1/jobs')
        .send({ dataset, ...body })
        .expect(status);
      assert.equal(res.body.error.code, code);
      assert.ok(res.body.error.message.length > 10);
    });
  }

  it('says which variable was meant', async () => {
    const res = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'summary', dataset, params: { formula: '~ dealy' } })
      .expect(400);
    assert.match(res.body.error.message, /did you mean 'delay'/);
  });

  it('unknown dataset: 404', async () => {
    const res = await request(server.url)
      .post('/v1/jobs')
      .send({ type: 'summary', dataset: 'ds_00000000000000000000', params: { formula: '~ x' } })
      .expect(404);
    assert.equal(res.body.error.code, 'DATASET_NOT_FOUND');
  });

  it('missing body fields list the offending fields', async () => {
    const res = await request(server.url).post('/v1/jobs').send({ type: 'summary' }).expect(400);
    assert.equal(res.body.error.code, 'VALIDATION_FAILED');
    assert.ok(JSON.stringify(res.body.error.details.fields).includes('dataset'));
  });

  it('nothing was queued by the rejected requests', async () => {
    const list = await request(server.url).get('/v1/jobs').expect(200);
    assert.equal(list.body.total, 0);
    assert.deepEqual(await queueCounts(server), { waiting: 0, active: 0 });
  });
});

describe('job lifecycle with real workers', () => {
  let server: TestServer;
  let small: string;
  let slow: string;
  before(async () => {
    // Each task pauses 150 ms so that a job is reliably "running" when cancelled, killed or restarted.
    server = await startServer({ TASK_DELAY_MS: '150', WORKER_LOCK_SECONDS: '2', JOB_TTL_SECONDS: '3' });
    await server.startWorkers(2);
    small = (await uploadCsv(server.url, sequenceCsv(100), { rowsPerChunk: 10 })).id;
    slow = (await uploadCsv(server.url, sequenceCsv(2000), { rowsPerChunk: 50 })).id;
  });
  after(() => server.close());

  it('reports progress and completes with the exact answer', async () => {
    const job = await submitJob(server.url, { type: 'summary', dataset: slow, params: { formula: '~ x' } });
    assert.equal(job.status, 'queued');
    await sleep(1000);
    const mid = await request(server.url).get(`/v1/jobs/${job.id}`).expect(200);
    assert.equal(mid.body.status, 'running');
    assert.equal(mid.body.progress.chunksTotal, 40);
    assert.ok(
      mid.body.progress.chunksDone > 0 && mid.body.progress.chunksDone < 40,
      JSON.stringify(mid.body.progress),
    );
    assert.ok(mid.body.progress.fraction > 0 && mid.body.progress.fraction < 1);
    assert.ok(mid.body.progress.etaMs > 0);
    const early = await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(409);
    assert.equal(early.body.error.code, 'JOB_NOT_COMPLETED');
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'completed');
    assert.equal(done.progress.rowsProcessed, 2000);
    assert.equal(done.progress.fraction, 1);
    const result = await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(200);
    const x = result.body.result.stats.find((s: { name: string }) => s.name === 'x');
    assert.equal(x.mean, 1000.5);
    assert.equal(x.sum, 2001000);
  });

  it('long-polls: waitSeconds returns as soon as the job ends', async () => {
    const job = await submitJob(server.url, { type: 'summary', dataset: small, params: { formula: '~ x' } });
    const started = Date.now();
    const res = await request(server.url).get(`/v1/jobs/${job.id}?waitSeconds=30`).expect(200);
    assert.equal(res.body.status, 'completed');
    assert.ok(Date.now() - started < 10_000);
  });

  it('long-polls: waitSeconds returns the running job when time is up', async () => {
    const job = await submitJob(server.url, { type: 'summary', dataset: slow, params: { formula: '~ x' } });
    const started = Date.now();
    const res = await request(server.url).get(`/v1/jobs/${job.id}?waitSeconds=1`).expect(200);
    assert.ok(['queued', 'running'].includes(res.body.status));
    assert.ok(Date.now() - started >= 900);
    await waitForJob(server.url, job.id);
  });

  it('cancel stops the work on every worker and leaves nothing queued', async () => {
    const job = await submitJob(server.url, { type: 'summary', dataset: slow, params: { formula: '~ x' } });
    await sleep(600);
    const res = await request(server.url).delete(`/v1/jobs/${job.id}`).expect(200);
    assert.equal(res.body.status, 'cancelled');
    assert.equal(res.body.error.code, 'JOB_CANCELLED');
    // Tasks already running finish their 150 ms; then the queue must be empty and stay so.
    await sleep(1500);
    assert.deepEqual(await queueCounts(server), { waiting: 0, active: 0 });
    const later = await request(server.url).get(`/v1/jobs/${job.id}`).expect(200);
    assert.equal(later.body.status, 'cancelled');
    assert.ok(later.body.progress.chunksDone < 40);
    const again = await request(server.url).delete(`/v1/jobs/${job.id}`).expect(409);
    assert.equal(again.body.error.code, 'JOB_FINISHED');
  });

  it('a worker killed with SIGKILL mid-job costs a retry, not the job; the result is unchanged', async () => {
    const body = { type: 'summary', dataset: slow, params: { formula: '~ x + x:g' } };
    const undisturbed = await runJob(server.url, body);
    const [victim] = await server.startWorkers(1);
    const job = await submitJob(server.url, body);
    await sleep(700);
    await kill(victim!, 'SIGKILL');
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const result = await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(200);
    assert.equal(JSON.stringify(result.body.result), JSON.stringify(undisturbed));
  });

  it('survives a restart of the API while the job runs', async () => {
    const job = await submitJob(server.url, { type: 'summary', dataset: slow, params: { formula: '~ x' } });
    await sleep(500);
    await server.restartApi();
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'completed');
  });

  it('a dataset deleted while its job runs fails the job with DATASET_DELETED', async () => {
    const doomed = (await uploadCsv(server.url, sequenceCsv(2000), { rowsPerChunk: 50 })).id;
    const job = await submitJob(server.url, { type: 'summary', dataset: doomed, params: { formula: '~ x' } });
    await sleep(500);
    await request(server.url).delete(`/v1/datasets/${doomed}`).expect(204);
    const done = await waitForJob(server.url, job.id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'DATASET_DELETED');
  });

  it('lists jobs filtered by status and type', async () => {
    const job = await submitJob(server.url, { type: 'quantile', dataset: small, params: { variable: 'x' } });
    await waitForJob(server.url, job.id);
    const ids = async (query: string) =>
      (await request(server.url).get(`/v1/jobs?${query}`).expect(200)).body.items.map(
        (j: { id: string }) => j.id,
      );
    assert.ok((await ids('status=completed&type=quantile')).includes(job.id));
    assert.ok(!(await ids('status=failed')).includes(job.id));
    assert.ok(!(await ids('type=summary')).includes(job.id));
    const all = (await request(server.url).get('/v1/jobs?limit=1').expect(200)).body;
    assert.equal(all.items.length, 1);
    assert.equal(all.items[0].id, job.id, 'newest first');
  });

  it('finished jobs and their results expire after JOB_TTL_SECONDS', async () => {
    const job = await submitJob(server.url, { type: 'summary', dataset: small, params: { formula: '~ x' } });
    await waitForJob(server.url, job.id);
    await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(200);
    await sleep(4000);
    await request(server.url).get(`/v1/jobs/${job.id}`).expect(404);
    await request(server.url).get(`/v1/jobs/${job.id}/result`).expect(404);
    const list = await request(server.url).get('/v1/jobs').expect(200);
    assert.ok(!list.body.items.some((j: { id: string }) => j.id === job.id));
  });
});

describe('the watchdog', () => {
  let server: TestServer;
  before(async () => {
    // A task takes 4 s, the stall limit is 1 s: the job must be failed, not left hanging.
    server = await startServer({ TASK_DELAY_MS: '4000', JOB_STALL_SECONDS: '1' });
    await server.startWorkers(1);
  });
  after(() => server.close());

  it('fails a job whose progress stopped, with a clear error', async () => {
    const dataset = (await uploadCsv(server.url, sequenceCsv(20), { rowsPerChunk: 10 })).id;
    const job = await submitJob(server.url, { type: 'summary', dataset, params: { formula: '~ x' } });
    const done = await waitForJob(server.url, job.id, 30);
    assert.equal(done.status, 'failed');
    assert.equal(done.error?.code, 'JOB_STALLED');
    assert.match(done.error?.message ?? '', /JOB_STALL_SECONDS/);
  });
});

describe('tenants', () => {
  let server: TestServer;
  const alice = { key: 'alice-key' };
  const bob = { key: 'bob-key' };
  before(async () => {
    server = await startServer({ API_KEYS: 'alice-key:alice,bob-key:bob' });
    await server.startWorkers(1);
  });
  after(() => server.close());

  it('requires a known API key on /v1', async () => {
    const none = await request(server.url).get('/v1/datasets').expect(401);
    assert.equal(none.body.error.code, 'UNAUTHORIZED');
    await request(server.url).get('/v1/datasets').set('authorization', 'Bearer nope').expect(401);
    await request(server.url).get('/healthz').expect(200);
  });

  it("keeps each tenant's datasets and jobs to itself", async () => {
    const dataset = (await uploadCsv(server.url, sequenceCsv(30), { rowsPerChunk: 10 }, alice)).id;
    const result = await runJob<{ stats: { mean: number }[] }>(
      server.url,
      { type: 'summary', dataset, params: { formula: '~ x' } },
      alice,
    );
    assert.equal(result.stats[0]!.mean, 15.5);
    const asBob = (path: string) => request(server.url).get(path).set('authorization', `Bearer ${bob.key}`);
    const asAlice = (path: string) =>
      request(server.url).get(path).set('authorization', `Bearer ${alice.key}`);
    await asBob(`/v1/datasets/${dataset}`).expect(404);
    assert.equal((await asBob('/v1/datasets').expect(200)).body.total, 0);
    assert.equal((await asAlice('/v1/datasets').expect(200)).body.total, 1);
    const jobs = await asAlice('/v1/jobs').expect(200);
    assert.equal(jobs.body.total, 1);
    await asBob(`/v1/jobs/${jobs.body.items[0].id}`).expect(404);
    await asBob(`/v1/jobs/${jobs.body.items[0].id}/result`).expect(404);
    assert.equal((await asBob('/v1/jobs').expect(200)).body.total, 0);
    const submit = await request(server.url)
      .post('/v1/jobs')
      .set('authorization', `Bearer ${bob.key}`)
      .send({ type: 'summary', dataset, params: { formula: '~ x' } })
      .expect(404);
    assert.equal(submit.body.error.code, 'DATASET_NOT_FOUND');
  });
});
