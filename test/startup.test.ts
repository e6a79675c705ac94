import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { access, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import request from 'supertest';
import { redisAnswers, startEmbeddedRedis } from '../src/embeddedRedis.ts';
import { runJob, submitJob, uploadCsv } from './helpers/api.ts';
import { deleteKeys, TEST_REDIS_URL } from './helpers/server.ts';

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('npm start: the API and its worker processes in one command', () => {
  let child: ChildProcess;
  let url: string;
  let dataDir: string;
  let stderr = '';
  const queuePrefix = `rxstart-${randomBytes(4).toString('hex')}`;

  before(async () => {
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-start-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: {
        ...process.env,
        PORT: String(port),
        DATA_DIR: dataDir,
        WORKERS: '1',
        REDIS_URL: TEST_REDIS_URL,
        QUEUE_PREFIX: queuePrefix,
        LOG_LEVEL: 'warn',
        // Holds a job running long enough to be long-polled across the shutdown.
        TASK_DELAY_MS: '1500',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    child.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    for (let i = 0; i < 100; i++) {
      const ready = await request(url)
        .get('/readyz')
        .then((r) => r.status === 200)
        .catch(() => false);
      if (ready) return;
      await sleep(200);
    }
    assert.fail(`npm start did not become ready: ${stderr}`);
  });
  after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await deleteKeys(queuePrefix);
    await rm(dataDir, { recursive: true, force: true });
  });

  it('serves uploads and runs jobs on its own workers', async () => {
    const dataset = await uploadCsv(url, 'x\n1\n2\n3\n4\n', { rowsPerChunk: 2 });
    const result = await runJob<{ stats: { mean: number }[] }>(url, {
      type: 'summary',
      dataset: dataset.id,
      params: { formula: '~ x' },
    });
    assert.equal(result.stats[0]!.mean, 2.5);
  });

  it('stops cleanly on SIGTERM, answering long-polls instead of waiting them out', async () => {
    const dataset = await uploadCsv(url, 'x\n1\n2\n3\n4\n5\n6\n', { rowsPerChunk: 1 });
    const job = await submitJob(url, { type: 'summary', dataset: dataset.id, params: { formula: '~ x' } });
    const poll = request(url)
      .get(`/v1/jobs/${job.id}?waitSeconds=60`)
      .then((r) => r.status);
    await sleep(300);
    const started = Date.now();
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    assert.equal(await poll, 200);
    assert.equal(await exited, 0, stderr);
    // The job needs ~9 s more; a shutdown that waited for the long-poll would take that long.
    assert.ok(Date.now() - started < 6_000, 'shutdown waited out the long-poll');
  });
});

describe('the embedded Redis of npm start', () => {
  it('starts a private redis-server with append-only files under the data folder, and stops it', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-redis-'));
    const port = await freePort();
    const embedded = await startEmbeddedRedis(dataDir, port);
    try {
      assert.ok(embedded, 'redis-server is on the PATH here');
      assert.equal(embedded.url, `redis://127.0.0.1:${port}`);
      assert.equal(await redisAnswers(embedded.url), true);
      await access(path.join(dataDir, 'redis', 'appendonlydir'));
    } finally {
      await embedded?.stop();
    }
    assert.equal(await redisAnswers(`redis://127.0.0.1:${port}`, 500), false);
    await rm(dataDir, { recursive: true, force: true });
  });
});
