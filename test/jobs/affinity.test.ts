import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import request from 'supertest';
import { ChunkTaskRouter } from '../../src/jobs/chunkTaskRouter.ts';
import { DeadWorkerDrainer } from '../../src/jobs/deadWorkerDrainer.ts';
import { bullPrefix, CHUNK_QUEUE, JobKeys, workerChunkQueue } from '../../src/jobs/keys.ts';
import { connectRedis } from '../../src/jobs/redis.ts';
import { assignTasks } from '../../src/jobs/taskAffinity.ts';
import { registryTimings, WorkerRegistry } from '../../src/jobs/workerRegistry.ts';
import { runJob, submitJob, uploadCsv, waitForJob } from '../helpers/api.ts';
import { deleteKeys, kill, startServer, TEST_REDIS_URL, type TestServer } from '../helpers/server.ts';

const tasksOf = (count: number) => Array.from({ length: count }, (_, i) => ({ firstChunk: i * 2 }));
const workersOf = (count: number) => Array.from({ length: count }, (_, i) => `host-${100 + i}-a${i}f`);

function loads(owners: string[]): number[] {
  const counts = new Map<string, number>();
  for (const owner of owners) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  return [...counts.values()].sort((a, b) => b - a);
}

describe('assigning chunk tasks to workers', () => {
  it('is the same every time and whatever order the workers are listed in', () => {
    const workers = workersOf(3);
    const first = assignTasks(workers, 'ds_a', tasksOf(100));
    assert.deepEqual(assignTasks(workers, 'ds_a', tasksOf(100)), first);
    assert.deepEqual(assignTasks([...workers].reverse(), 'ds_a', tasksOf(100)), first);
    // Another dataset is placed independently (not the same pattern shifted onto the same workers).
    const other = assignTasks(workers, 'ds_b', tasksOf(100));
    assert.ok(other.some((owner, i) => owner !== first[i]));
  });

  it('gives no worker more than its even share', () => {
    for (const [taskCount, workerCount] of [
      [50, 2],
      [50, 3],
      [7, 4],
      [512, 5],
      [3, 8],
    ] as const) {
      const owners = assignTasks(workersOf(workerCount), 'ds_even', tasksOf(taskCount));
      assert.equal(owners.length, taskCount);
      assert.ok(loads(owners)[0]! <= Math.ceil(taskCount / workerCount), `${taskCount} on ${workerCount}`);
      assert.ok(owners.every((owner) => workersOf(workerCount).includes(owner)));
    }
  });

  it('moves about 1/n of the tasks when a worker joins, all of them to the new worker', () => {
    for (const n of [1, 2, 3, 7]) {
      const before = assignTasks(workersOf(n), 'ds_join', tasksOf(512));
      const afterJoin = assignTasks(workersOf(n + 1), 'ds_join', tasksOf(512));
      const newcomer = workersOf(n + 1)[n]!;
      const moved = before.filter((owner, i) => owner !== afterJoin[i]);
      const movedToNewcomer = before.filter(
        (owner, i) => owner !== afterJoin[i] && afterJoin[i] === newcomer,
      );
      // Rendezvous alone moves exactly the newcomer's 1/(n+1); the even-share bound adds a little.
      assert.ok(moved.length / 512 <= 1 / (n + 1) + 0.05, `n=${n}: moved ${moved.length} of 512`);
      assert.ok(movedToNewcomer.length >= Math.floor(512 / (n + 1)) - 1, `n=${n}`);
    }
  });

  it('moves only the leaving worker’s tasks, and a few to keep the shares even, when one leaves', () => {
    const workers = workersOf(4);
    const before = assignTasks(workers, 'ds_leave', tasksOf(512));
    const afterLeave = assignTasks(workers.slice(0, 3), 'ds_leave', tasksOf(512));
    const leaver = workers[3]!;
    const keptOwner = before.filter((owner, i) => owner !== leaver && afterLeave[i] === owner).length;
    const stayed = before.filter((owner) => owner !== leaver).length;
    assert.ok(keptOwner / stayed >= 0.9, `${keptOwner} of ${stayed} tasks kept their worker`);
  });
});

describe('the worker registry', () => {
  let redis: Redis;
  let keys: JobKeys;
  const timings = { heartbeatMs: 40, staleMs: 200, graceMs: 200 };
  before(() => {
    redis = connectRedis(TEST_REDIS_URL, 'commands');
    keys = new JobKeys(`rxtest-${randomBytes(4).toString('hex')}`);
  });
  after(async () => {
    redis.disconnect();
    await deleteKeys(keys.prefix);
  });

  it('derives its timings from the lock duration, capped at 5 s', () => {
    assert.deepEqual(registryTimings(2000), { heartbeatMs: 400, staleMs: 2000, graceMs: 2000 });
    assert.deepEqual(registryTimings(30_000), { heartbeatMs: 1000, staleMs: 5000, graceMs: 5000 });
  });

  it('lists a worker as live while it beats, as stale once it stops, and forgets it on request', async () => {
    const registry = new WorkerRegistry(redis, keys, timings);
    const t = 1_000_000;
    await registry.beat('w1', t);
    await registry.beat('w2', t + 150);
    assert.deepEqual((await registry.live(t + 100)).sort(), ['w1', 'w2']);
    assert.deepEqual(await registry.stale(t + 100), []);
    // 250 ms after w1's last beat: stale (limit 200), w2 still live.
    assert.deepEqual(await registry.live(t + 250), ['w2']);
    assert.deepEqual(await registry.stale(t + 250), [{ workerId: 'w1', lastBeat: t }]);
    await registry.beat('w1', t + 260);
    assert.deepEqual((await registry.live(t + 300)).sort(), ['w1', 'w2']);
    await registry.forget('w1');
    await registry.forget('w2');
    assert.equal(await redis.zcard(keys.workers), 0);
  });

  it('takes a retiring worker out at once', async () => {
    const registry = new WorkerRegistry(redis, keys, timings);
    await registry.beat('leaving');
    assert.deepEqual(await registry.live(), ['leaving']);
    await registry.retire('leaving');
    assert.deepEqual(await registry.live(), []);
    assert.equal((await registry.stale()).length, 1);
    // Retiring a worker already forgotten does not bring it back.
    await registry.forget('leaving');
    await registry.retire('leaving');
    assert.equal(await redis.zcard(keys.workers), 0);
  });

  it('lets one worker at a time drain a dead one, until its claim lapses', async () => {
    const registry = new WorkerRegistry(redis, keys, timings);
    assert.equal(await registry.claimDrain('dead', 'a'), true);
    assert.equal(await registry.claimDrain('dead', 'b'), false);
    assert.equal(await registry.claimDrain('dead', 'a'), true, 'the holder renews');
    await sleep(timings.staleMs + 100);
    assert.equal(await registry.claimDrain('dead', 'b'), true, 'lapsed: another takes over');
    await registry.releaseDrain('dead', 'a');
    assert.equal(await registry.claimDrain('dead', 'a'), false, 'only the holder releases');
    await registry.releaseDrain('dead', 'b');
    assert.equal(await registry.claimDrain('dead', 'a'), true);
    await registry.releaseDrain('dead', 'a');
  });

  it('routes tasks to the live workers’ own queues, or to the shared queue when none is live', async () => {
    const registry = new WorkerRegistry(redis, keys, timings);
    const connection = connectRedis(TEST_REDIS_URL, 'bullmq');
    const router = new ChunkTaskRouter(registry, connection, bullPrefix(keys.prefix));
    try {
      const tasks = tasksOf(10);
      const nobody = await router.route('ds_r', tasks);
      assert.deepEqual(
        nobody.map((g) => [g.queue.name, g.tasks.length]),
        [[CHUNK_QUEUE, 10]],
      );
      await registry.beat('wa');
      await registry.beat('wb');
      const groups = await router.route('ds_r', tasks);
      const expected = assignTasks(['wa', 'wb'], 'ds_r', tasks);
      for (const group of groups) {
        for (const task of group.tasks) {
          assert.equal(group.queue.name, workerChunkQueue(expected[tasks.indexOf(task)]!));
        }
      }
      assert.deepEqual(groups.map((g) => g.tasks.length).sort(), [5, 5]);
    } finally {
      await router.close();
      connection.disconnect();
      await registry.forget('wa');
      await registry.forget('wb');
    }
  });
});

describe('draining a dead worker’s queue', () => {
  let redis: Redis;
  let connection: Redis;
  let keys: JobKeys;
  let prefix: string;
  const timings = { heartbeatMs: 50, staleMs: 300, graceMs: 300 };
  before(() => {
    redis = connectRedis(TEST_REDIS_URL, 'commands');
    connection = connectRedis(TEST_REDIS_URL, 'bullmq');
    keys = new JobKeys(`rxtest-${randomBytes(4).toString('hex')}`);
    prefix = bullPrefix(keys.prefix);
  });
  after(async () => {
    redis.disconnect();
    connection.disconnect();
    await deleteKeys(keys.prefix);
  });

  /** A drainer whose workers run a processor the test controls; records the queues it attached to. */
  function drainerFor(registry: WorkerRegistry, processor: (job: Job) => Promise<string>) {
    const attached: string[] = [];
    const drainer = new DeadWorkerDrainer({
      registry,
      selfId: 'survivor',
      startWorker: (queueName) => {
        attached.push(queueName);
        return new Worker(queueName, processor, {
          connection,
          prefix,
          stalledInterval: 200,
          lockDuration: 400,
        });
      },
      openQueue: (queueName) => new Queue(queueName, { connection, prefix, skipMetasUpdate: true }),
      log: () => undefined,
    });
    return { drainer, attached };
  }

  async function queueKeys(workerId: string): Promise<string[]> {
    return redis.keys(`${prefix}:${workerChunkQueue(workerId)}:*`);
  }

  it('runs the tasks left behind, keeps the queue while any is unfinished, then deletes it', async () => {
    const registry = new WorkerRegistry(redis, keys, timings);
    const t = Date.now();
    await registry.beat('dead', t - 400);
    const queue = new Queue(workerChunkQueue('dead'), { connection, prefix });
    await queue.add('task', { n: 1 }, { jobId: 'left-behind' });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const ran: string[] = [];
    const { drainer, attached } = drainerFor(registry, async (job) => {
      ran.push(job.id!);
      await gate;
      return 'done';
    });
    try {
      await drainer.sweep(t);
      assert.deepEqual(attached, [workerChunkQueue('dead')]);
      await until('the left-behind task starts', async () => ran.length === 1, 5);
      // Past stale + grace, but a task is still running: the queue stays.
      await drainer.sweep(t + 1000);
      assert.ok((await queueKeys('dead')).length > 0);
      assert.ok((await registry.stale(t + 1000)).some((e) => e.workerId === 'dead'));
      release();
      await until('the task completes', async () => (await queue.getCompletedCount()) === 1, 5);
      await drainer.sweep(t + 1000);
      assert.deepEqual(await queueKeys('dead'), [], 'the drained queue is deleted');
      assert.deepEqual(await redis.zrange(keys.workers, 0, -1), [], 'and forgotten');
      assert.deepEqual(ran, ['left-behind']);
    } finally {
      release();
      await drainer.close();
      await queue.close();
    }
  });

  it('lets a worker that beats again keep its queue', async () => {
    const registry = new WorkerRegistry(redis, keys, timings);
    const t = Date.now();
    await registry.beat('slow', t - 400);
    const { drainer, attached } = drainerFor(registry, async () => 'done');
    try {
      await drainer.sweep(t);
      assert.deepEqual(attached, [workerChunkQueue('slow')]);
      assert.equal(await registry.claimDrain('slow', 'someone-else'), false, 'claimed by the survivor');
      await registry.beat('slow', t + 50);
      await drainer.sweep(t + 100);
      assert.equal(await registry.claimDrain('slow', 'someone-else'), true, 'claim released');
      assert.deepEqual(await registry.live(t + 100), ['slow']);
    } finally {
      await drainer.close();
      await registry.releaseDrain('slow', 'someone-else');
      await registry.forget('slow');
    }
  });
});

/** x = 1..n, so the expected mean is known. */
function sequenceCsv(n: number): string {
  const lines = ['x'];
  for (let i = 1; i <= n; i++) lines.push(String(i));
  return `${lines.join('\n')}\n`;
}

/** Every chunk task id waiting or running, by the queue it is in. */
async function queuedTasks(server: TestServer): Promise<Map<string, string>> {
  const where = new Map<string, string>();
  const prefix = `${bullPrefix(server.config.queuePrefix)}:`;
  let cursor = '0';
  do {
    const [next, keys] = await server.redis.scan(cursor, 'MATCH', `${prefix}${CHUNK_QUEUE}*`, 'COUNT', 1000);
    for (const key of keys) {
      if (!key.endsWith(':wait') && !key.endsWith(':active')) continue;
      const queue = key.slice(prefix.length, key.lastIndexOf(':'));
      for (const id of await server.redis.lrange(key, 0, -1)) where.set(id, queue);
    }
    cursor = next;
  } while (cursor !== '0');
  return where;
}

/**
 * Runs a job and records, by polling, which queue each of its tasks was first seen in: where the
 * coordinator sent it (a worker that runs out of tasks may move one later, taskStealer.ts).
 */
async function placementOf(server: TestServer, dataset: string): Promise<Map<number, string>> {
  const job = await submitJob(server.url, { type: 'summary', dataset, params: { formula: '~ x' } });
  const placement = new Map<number, string>();
  let status = 'queued';
  while (status === 'queued' || status === 'running') {
    for (const [id, queue] of await queuedTasks(server)) {
      const match = new RegExp(`^${job.id}-r0-t(\\d+)$`).exec(id);
      if (match && !placement.has(Number(match[1]))) placement.set(Number(match[1]), queue);
    }
    status = (await request(server.url).get(`/v1/jobs/${job.id}`).expect(200)).body.status;
    await sleep(10);
  }
  assert.equal(status, 'completed');
  return placement;
}

async function registered(server: TestServer): Promise<string[]> {
  return server.redis.zrange(new JobKeys(server.config.queuePrefix).workers, 0, -1);
}

async function chunkQueueKeys(server: TestServer, workerId: string): Promise<string[]> {
  const pattern = `${bullPrefix(server.config.queuePrefix)}:${workerChunkQueue(workerId)}:*`;
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await server.redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

async function until(what: string, check: () => Promise<boolean>, seconds: number): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

describe('chunk-to-worker affinity with real workers', () => {
  let server: TestServer;
  let dataset: string;
  let restarted: ChildProcess | undefined;
  before(async () => {
    // Tasks pause 150 ms so each one is seen in its queue; a 2 s lock makes a dead worker stale after 2 s.
    server = await startServer({ TASK_DELAY_MS: '150', WORKER_LOCK_SECONDS: '2' });
    await server.startWorkers(2);
    dataset = (await uploadCsv(server.url, sequenceCsv(240), { rowsPerChunk: 10 })).id;
  });
  after(() => server.close());

  it('sends the tasks of a dataset to the same worker job after job, evenly', async () => {
    const workers = await registered(server);
    assert.equal(workers.length, 2);
    const first = await placementOf(server, dataset);
    const second = await placementOf(server, dataset);
    assert.equal(first.size, 24, 'every task was seen in a queue');
    assert.deepEqual([...second].sort(), [...first].sort());
    const queues = new Set(first.values());
    assert.deepEqual([...queues].sort(), workers.map(workerChunkQueue).sort());
    for (const queue of queues) assert.equal([...first.values()].filter((q) => q === queue).length, 12);
  });

  it('drains a killed worker’s queue on a survivor, then deletes it; a restarted one joins under a new id', async () => {
    const expected = await runJob<{ stats: { mean: number }[] }>(server.url, {
      type: 'summary',
      dataset,
      params: { formula: '~ x' },
    });
    assert.equal(expected.stats[0]!.mean, 120.5);
    const [victim] = await server.startWorkers(1);
    const victimId = (await registered(server)).find((id) => id.includes(`-${victim!.pid}-`));
    assert.ok(victimId, 'the new worker registered');
    const job = await submitJob(server.url, { type: 'summary', dataset, params: { formula: '~ x' } });
    await sleep(400);
    const victimWaiting = `${bullPrefix(server.config.queuePrefix)}:${workerChunkQueue(victimId)}:wait`;
    assert.ok((await server.redis.llen(victimWaiting)) > 0, 'the victim had tasks waiting');
    await kill(victim!, 'SIGKILL');
    const done = await waitForJob(server.url, job.id, 60);
    assert.equal(done.status, 'completed', JSON.stringify(done.error));
    const result = await runJob<{ stats: { mean: number }[] }>(server.url, {
      type: 'summary',
      dataset,
      params: { formula: '~ x' },
    });
    assert.deepEqual(result, expected);
    // Stale after 2 s, deleted after 2 s more of grace once empty.
    await until(
      'the dead worker is forgotten',
      async () => !(await registered(server)).includes(victimId),
      20,
    );
    assert.deepEqual(await chunkQueueKeys(server, victimId), [], 'its queue is gone from Redis');

    restarted = (await server.startWorkers(1))[0];
    const ids = await registered(server);
    assert.equal(ids.length, 3);
    assert.ok(ids.some((id) => id.includes(`-${restarted!.pid}-`) && id !== victimId));
  });

  it('takes a worker that shuts down out of the registry at once, and its queue away after the grace', async () => {
    const leaving = restarted ?? (await server.startWorkers(1))[0];
    const leavingId = (await registered(server)).find((id) => id.includes(`-${leaving!.pid}-`))!;
    await runJob(server.url, { type: 'summary', dataset, params: { formula: '~ x' } });
    assert.ok((await chunkQueueKeys(server, leavingId)).length > 0, 'it had a queue');
    await kill(leaving!, 'SIGTERM');
    const score = Number(
      await server.redis.zscore(new JobKeys(server.config.queuePrefix).workers, leavingId),
    );
    assert.ok(score < Date.now() - 2000, 'stale as soon as it closed');
    await until(
      'the closed worker is forgotten',
      async () => !(await registered(server)).includes(leavingId),
      20,
    );
    assert.deepEqual(await chunkQueueKeys(server, leavingId), []);
    assert.equal((await registered(server)).length, 2);
  });
});
