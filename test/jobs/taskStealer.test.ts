import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { FlowProducer, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { CHUNK_TASK_OPTIONS } from '../../src/jobs/chunkTaskOptions.ts';
import { bullPrefix, COORDINATOR_QUEUE, JobKeys, workerChunkQueue } from '../../src/jobs/keys.ts';
import { type ChunkTaskData, chunkTaskId, parseChunkTaskKey } from '../../src/jobs/messages.ts';
import { connectRedis } from '../../src/jobs/redis.ts';
import { TaskStealer } from '../../src/jobs/taskStealer.ts';
import { WorkerRegistry } from '../../src/jobs/workerRegistry.ts';
import { runJob, uploadCsv } from '../helpers/api.ts';
import { deleteKeys, startServer, TEST_REDIS_URL, type TestServer } from '../helpers/server.ts';

const timings = { heartbeatMs: 1000, staleMs: 5000, graceMs: 5000 };

function taskData(jobId: string, taskIndex: number): ChunkTaskData {
  return {
    jobId,
    tenant: 't',
    type: 'summary',
    dataset: 'ds_steal',
    input: 'chunks',
    ownInput: true,
    round: 0,
    taskIndex,
    firstChunk: taskIndex,
    chunkCount: 1,
    rows: 10,
  };
}

describe('stealing chunk tasks from a peer that is behind', () => {
  let redis: Redis;
  let connection: Redis;
  let keys: JobKeys;
  let prefix: string;
  let registry: WorkerRegistry;
  let flows: FlowProducer;
  let victimQueue: Queue<ChunkTaskData>;
  let thiefQueue: Queue<ChunkTaskData>;
  let coordinators: Queue;
  before(async () => {
    redis = connectRedis(TEST_REDIS_URL, 'commands');
    connection = connectRedis(TEST_REDIS_URL, 'bullmq');
    keys = new JobKeys(`rxtest-${randomBytes(4).toString('hex')}`);
    prefix = bullPrefix(keys.prefix);
    registry = new WorkerRegistry(redis, keys, timings);
    await registry.beat('victim');
    await registry.beat('thief');
    flows = new FlowProducer({ connection, prefix });
    victimQueue = new Queue(workerChunkQueue('victim'), { connection, prefix });
    thiefQueue = new Queue(workerChunkQueue('thief'), { connection, prefix });
    coordinators = new Queue(COORDINATOR_QUEUE, { connection, prefix });
  });
  after(async () => {
    await Promise.all([flows.close(), victimQueue.close(), thiefQueue.close(), coordinators.close()]);
    redis.disconnect();
    connection.disconnect();
    await deleteKeys(keys.prefix);
  });

  /** A coordinator waiting on `count` tasks, all in the victim's queue (nobody runs them yet). */
  async function roundOf(count: number): Promise<string> {
    const jobId = `job_${randomBytes(4).toString('hex')}`;
    await flows.add({
      name: 'summary',
      queueName: COORDINATOR_QUEUE,
      data: { jobId, step: 'wait', round: 0 },
      opts: { jobId },
      prefix,
      children: Array.from({ length: count }, (_, i) => ({
        name: 'summary',
        queueName: workerChunkQueue('victim'),
        data: taskData(jobId, i),
        opts: { ...CHUNK_TASK_OPTIONS, jobId: chunkTaskId(jobId, 0, i) },
        prefix,
      })),
    });
    return jobId;
  }

  function stealer(cached: ReadonlySet<number>, selfId = 'thief'): TaskStealer {
    return new TaskStealer({
      registry,
      selfId,
      connection,
      prefix,
      stolenCountKey: keys.tasksStolen,
      isChunkCached: (_dataset, chunk) => cached.has(chunk),
      log: () => undefined,
    });
  }

  async function stealOnce(cached: ReadonlySet<number>, selfId = 'thief'): Promise<boolean> {
    const thief = stealer(cached, selfId);
    try {
      return await thief.stealOne();
    } finally {
      await thief.close();
    }
  }

  async function dependenciesOf(jobId: string): Promise<string[]> {
    return (await redis.smembers(`${prefix}:${COORDINATOR_QUEUE}:${jobId}:dependencies`)).sort();
  }

  /** Runs both queues until the coordinator leaves waiting-children; returns its partials by task. */
  async function finishRound(jobId: string): Promise<Map<number, { key: string; value: string }>> {
    const processor = async (job: Job<ChunkTaskData>) => `partial ${job.data.taskIndex}`;
    const options = { connection, prefix };
    const workers = [
      new Worker(workerChunkQueue('victim'), processor, options),
      new Worker(workerChunkQueue('thief'), processor, options),
    ];
    try {
      const parent = (await coordinators.getJob(jobId))!;
      const deadline = Date.now() + 10_000;
      while ((await parent.getState()) === 'waiting-children') {
        assert.ok(Date.now() < deadline, 'the round did not finish');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const values = await parent.getChildrenValues<string>();
      return new Map(
        Object.entries(values).map(([key, value]) => [parseChunkTaskKey(key)!.taskIndex, { key, value }]),
      );
    } finally {
      await Promise.all(workers.map((worker) => worker.close()));
    }
  }

  async function waitingIds(queue: Queue): Promise<string[]> {
    return (await queue.getWaiting()).map((job) => job.id!).sort();
  }

  async function pendingOf(jobId: string): Promise<number> {
    const parent = await coordinators.getJob(jobId);
    return (await parent!.getDependenciesCount()).unprocessed ?? -1;
  }

  it('moves the task the peer would run last into its own queue, with its data and parent', async () => {
    const jobId = await roundOf(7);
    const thief = stealer(new Set());
    try {
      assert.equal(await thief.stealOne(), true);
    } finally {
      await thief.close();
    }
    const last = chunkTaskId(jobId, 0, 6);
    assert.deepEqual(await waitingIds(thiefQueue), [last]);
    assert.ok(!(await waitingIds(victimQueue)).includes(last));
    assert.equal((await waitingIds(victimQueue)).length, 6);
    const copy = (await thiefQueue.getJob(last)) as Job<ChunkTaskData>;
    assert.deepEqual(copy.data, { ...taskData(jobId, 6), stolen: true });
    assert.equal(copy.parentKey, `${prefix}:${COORDINATOR_QUEUE}:${jobId}`);
    assert.equal(copy.opts.attempts, CHUNK_TASK_OPTIONS.attempts);
    // The coordinator still waits for seven tasks: six originals and the copy.
    assert.equal(await pendingOf(jobId), 7);
    await thiefQueue.obliterate({ force: true });
    await victimQueue.obliterate({ force: true });
  });

  it('prefers a task whose chunks it caches, and takes an uncached one only from a peer far behind', async () => {
    const jobId = await roundOf(5);
    const uncached = stealer(new Set());
    try {
      assert.equal(await uncached.stealOne(), false, 'five waiting tasks are not worth a disk read');
    } finally {
      await uncached.close();
    }
    const cached = stealer(new Set([0]));
    try {
      assert.equal(await cached.stealOne(), false);
    } finally {
      await cached.close();
    }
    // Cached, but further from the end than the peer's last four tasks it looks at: left alone.
    assert.deepEqual(await waitingIds(thiefQueue), []);
    const near = stealer(new Set([0, 2]));
    try {
      assert.equal(await near.stealOne(), true);
    } finally {
      await near.close();
    }
    assert.deepEqual(await waitingIds(thiefQueue), [chunkTaskId(jobId, 0, 2)]);
    assert.equal((await waitingIds(victimQueue)).length, 4);
    assert.equal(await pendingOf(jobId), 5);
    await thiefQueue.obliterate({ force: true });
    await victimQueue.obliterate({ force: true });
  });

  it('leaves alone a peer with nothing waiting, and its own tasks', async () => {
    await registry.beat('idle-peer');
    const thief = stealer(new Set([0, 1, 2]));
    try {
      assert.equal(await thief.stealOne(), false);
    } finally {
      await thief.close();
      await registry.forget('idle-peer');
    }
  });

  it('lets the round finish with every partial, the stolen one from the thief’s queue', async () => {
    const jobId = await roundOf(6);
    assert.equal(await stealOnce(new Set([5, 4])), true);
    assert.equal(await stealOnce(new Set([5, 4])), true);
    const byTask = await finishRound(jobId);
    assert.deepEqual([...byTask.keys()].sort(), [0, 1, 2, 3, 4, 5], 'one partial per task, none lost');
    for (const [task, { key, value }] of byTask) {
      assert.equal(value, `partial ${task}`);
      const queue = task >= 4 ? 'thief' : 'victim';
      assert.ok(key.includes(`:${workerChunkQueue(queue)}:`), `task ${task} ran in ${key}`);
    }
  });

  it('moves the task and its dependency in one step: the parent always waits on exactly one key for it', async () => {
    const jobId = await roundOf(3);
    const before = await dependenciesOf(jobId);
    const counted = Number((await redis.get(keys.tasksStolen)) ?? 0);
    assert.equal(await stealOnce(new Set([2])), true);
    const task = chunkTaskId(jobId, 0, 2);
    const victimKey = `${prefix}:${workerChunkQueue('victim')}:${task}`;
    const thiefKey = `${prefix}:${workerChunkQueue('thief')}:${task}`;
    assert.deepEqual(
      await dependenciesOf(jobId),
      before.map((key) => (key === victimKey ? thiefKey : key)).sort(),
    );
    assert.equal(await redis.exists(victimKey), 0, 'nothing of the task is left in the victim’s queue');
    assert.equal(Number(await redis.get(keys.tasksStolen)), counted + 1);
    // Back to the victim (it caches the chunk too), and once more to the thief: one key each time.
    assert.equal(await stealOnce(new Set([2]), 'victim'), true);
    assert.deepEqual(await dependenciesOf(jobId), before);
    assert.equal(await stealOnce(new Set([2])), true);
    assert.equal((await dependenciesOf(jobId)).filter((key) => key.endsWith(`:${task}`)).length, 1);
    const byTask = await finishRound(jobId);
    assert.deepEqual([...byTask.keys()].sort(), [0, 1, 2]);
  });

  it('leaves a task where it is while a job of its id is in its own queue (a move back not finished)', async () => {
    // The failing interleaving of the old add-then-remove steal: worker A had added its copy of a task
    // of B's but not yet removed B's original when B stole the copy back; B's add then met the original
    // (same id), added nothing, and the two removals left the parent with no key for the task.
    const jobId = await roundOf(2);
    const task = chunkTaskId(jobId, 0, 1);
    const parent = { id: jobId, queue: `${prefix}:${COORDINATOR_QUEUE}` };
    await connection.lrem(`${prefix}:${workerChunkQueue('victim')}:wait`, 1, task);
    await thiefQueue.add('summary', taskData(jobId, 1), { ...CHUNK_TASK_OPTIONS, jobId: task, parent });
    const before = await dependenciesOf(jobId);
    assert.equal(before.length, 3, 'the original and the copy');
    assert.equal(await stealOnce(new Set([1]), 'victim'), false);
    assert.deepEqual(await dependenciesOf(jobId), before);
    assert.deepEqual(await waitingIds(thiefQueue), [task], 'the copy is still waiting where it was');
    await victimQueue.remove(task);
    const byTask = await finishRound(jobId);
    assert.deepEqual([...byTask.keys()].sort(), [0, 1]);
  });

  it('gives a stolen task what BullMQ gives a task added to the thief’s queue (a canary for upgrades)', async () => {
    const jobId = await roundOf(2);
    assert.equal(await stealOnce(new Set([1])), true);
    const parent = { id: jobId, queue: `${prefix}:${COORDINATOR_QUEUE}` };
    const fresh = await thiefQueue.add('summary', taskData(jobId, 9), {
      ...CHUNK_TASK_OPTIONS,
      jobId: chunkTaskId(jobId, 0, 9),
      parent,
    });
    const stolenHash = await redis.hgetall(
      `${prefix}:${workerChunkQueue('thief')}:${chunkTaskId(jobId, 0, 1)}`,
    );
    const freshHash = await redis.hgetall(`${prefix}:${workerChunkQueue('thief')}:${fresh.id}`);
    assert.deepEqual(Object.keys(stolenHash).sort(), Object.keys(freshHash).sort());
    for (const field of ['name', 'delay', 'priority', 'parentKey', 'parent'])
      assert.equal(stolenHash[field], freshHash[field], field);
    const options = (hash: Record<string, string>) => {
      const { jobId: _id, ...rest } = JSON.parse(hash['opts']!) as Record<string, unknown>;
      return rest;
    };
    assert.deepEqual(options(stolenHash), options(freshHash));
    assert.equal(await redis.zscore(`${prefix}:${workerChunkQueue('thief')}:marker`, '0'), '0');
    const byTask = await finishRound(jobId);
    assert.deepEqual([...byTask.keys()].sort(), [0, 1, 9]);
  });
});

describe('a slow worker among real workers, with TASK_STEALING=1', () => {
  let server: TestServer;
  before(async () => {
    server = await startServer({ TASK_STEALING: '1' });
  });
  after(() => server.close());

  it('does not make the job wait for its share: a peer runs the tasks left in its queue', async () => {
    const lines = ['x', ...Array.from({ length: 120 }, (_, i) => String((i * 37) % 101))];
    const dataset = (await uploadCsv(server.url, `${lines.join('\n')}\n`, { rowsPerChunk: 10 })).id;
    const body = { type: 'summary', dataset, params: { formula: '~ x' } };
    // A fast worker alone runs (and caches) all 12 chunks.
    await server.startWorkers(1);
    const alone = await runJob(server.url, body);
    // A second worker that takes 2 s per task now owns half of them: without stealing, 12 s.
    await server.startWorkers(1, { env: { TASK_DELAY_MS: '2000' } });
    const started = Date.now();
    const together = await runJob(server.url, body);
    const seconds = (Date.now() - started) / 1000;
    assert.ok(seconds < 6, `took ${seconds} s: the slow worker's waiting tasks were not taken over`);
    assert.deepEqual(together, alone, 'the same answer, wherever the tasks ran');
  });
});
