import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { ExecService } from '../exec/service.ts';
import type { DatasetStore } from '../storage/datasetStore.ts';
import { runChunkTask } from './chunkTask.ts';
import { ChunkTaskRouter } from './chunkTaskRouter.ts';
import { runCoordinator } from './coordinator.ts';
import { DeadWorkerDrainer } from './deadWorkerDrainer.ts';
import { JobRecords } from './jobRecords.ts';
import { bullPrefix, CHUNK_QUEUE, COORDINATOR_QUEUE, JobKeys, workerChunkQueue } from './keys.ts';
import type { ChunkTaskData, CoordinatorData } from './messages.ts';
import { connectRedis } from './redis.ts';
import { RoundStates } from './roundState.ts';
import { TaskStealer } from './taskStealer.ts';
import { startWatchdog } from './watchdog.ts';
import { type RegistryTimings, registryTimings, WorkerRegistry } from './workerRegistry.ts';

export interface WorkerHost {
  /** This process's id in the worker registry; its own chunk queue is `chunks-<workerId>`. */
  readonly workerId: string;
  close(): Promise<void>;
}

/** A fresh id per start (queue names may not hold ':'); host and pid make logs and Redis readable. */
function newWorkerId(): string {
  const host =
    os
      .hostname()
      .replace(/[^A-Za-z0-9.-]/g, '')
      .slice(0, 32) || 'host';
  return `${host}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** Passes an iterative analysis may take. */
const MAX_ROUNDS = 10_000;
/** Coordinators mostly wait for their children; several may merge or plan at once in one process. */
const COORDINATOR_CONCURRENCY = 8;

/**
 * One worker process's share of the work: chunk tasks and coordinators. Scale out by running more
 * processes.
 */
export async function startWorkerHost(
  config: Config,
  store: DatasetStore,
  log: (message: string, error?: unknown) => void,
  timings: RegistryTimings = registryTimings(config.workerLockSeconds * 1000),
): Promise<WorkerHost> {
  const workerId = newWorkerId();
  const keys = new JobKeys(config.queuePrefix);
  const commands = connectRedis(config.redisUrl, 'commands');
  const records = new JobRecords(commands, keys, config.jobTtlSeconds);
  const states = new RoundStates(commands, keys, config.jobTtlSeconds);
  const registry = new WorkerRegistry(commands, keys, timings);
  const prefix = bullPrefix(config.queuePrefix);
  const queueConnection = connectRedis(config.redisUrl, 'bullmq');
  const chunkRouter = new ChunkTaskRouter(registry, queueConnection, prefix);
  const coordinatorQueue = new Queue<CoordinatorData>(COORDINATOR_QUEUE, {
    connection: queueConnection,
    prefix,
  });
  const lockDuration = config.workerLockSeconds * 1000;
  const exec = new ExecService(config);
  for (const problem of (await exec.load()).problems) log(`exec plugin left out: ${problem}`);
  // BullMQ leaves connections it was handed open on close; these are ours to close.
  const workerConnections = [
    connectRedis(config.redisUrl, 'bullmq'),
    connectRedis(config.redisUrl, 'bullmq'),
    connectRedis(config.redisUrl, 'bullmq'),
  ];

  const options = (connection: Redis, concurrency: number) => ({
    connection,
    prefix,
    concurrency,
    lockDuration,
    stalledInterval: lockDuration / 2,
    // A stalled job is re-run; twice lets it survive a killed worker and one slow retry.
    maxStalledCount: 2,
  });
  /** Retries exhausted on an unexpected error: the job cannot complete, so say so on its record. */
  const failJobWhenExhausted = (code: string, describe: (error: Error) => string) => {
    return (job: Job<{ jobId: string }> | undefined, error: Error) => {
      if (!job || job.attemptsMade < (job.opts.attempts ?? 1) || error.name === 'UnrecoverableError') return;
      records
        .fail(job.data.jobId, { code, message: describe(error) })
        .catch((e: unknown) => log(`could not record ${code}`, e));
    };
  };

  const startChunkWorker = (queueName: string, connection: Redis) => {
    const worker = new Worker<ChunkTaskData, string>(
      queueName,
      (job) =>
        runChunkTask(job, {
          store,
          dataDir: config.dataDir,
          records,
          states,
          delayMs: config.taskDelayMs,
          exec,
          log,
        }),
      // One task at a time: tasks are CPU-bound, more per process would only interleave them.
      options(connection, 1),
    );
    worker.on(
      'failed',
      failJobWhenExhausted(
        'CHUNK_TASK_FAILED',
        (error) => `a chunk task failed after its retries: ${error.message}`,
      ),
    );
    worker.on('error', (error) => log('worker error', error));
    return worker;
  };

  // Registered before it consumes anything, so the first coordinator that sees it finds its queue served.
  await registry.beat(workerId);
  // The tasks of the chunks this process caches (chunkTaskRouter.ts), and the shared fallback queue.
  const ownChunkWorker = startChunkWorker(workerChunkQueue(workerId), workerConnections[0]!);
  // Out of tasks of its own: take one from a peer that is behind (taskStealer.ts; TASK_STEALING).
  const stealer = config.taskStealing
    ? new TaskStealer({
        registry,
        selfId: workerId,
        connection: queueConnection,
        prefix,
        stolenCountKey: keys.tasksStolen,
        isChunkCached: (dataset, chunk) => store.isChunkCached(dataset, chunk),
        log,
      })
    : null;
  if (stealer !== null) ownChunkWorker.on('drained', () => stealer.onDrained());
  const sharedChunkWorker = startChunkWorker(CHUNK_QUEUE, workerConnections[2]!);
  const drainer = new DeadWorkerDrainer({
    registry,
    selfId: workerId,
    startWorker: (queueName) => startChunkWorker(queueName, queueConnection),
    openQueue: (queueName) =>
      new Queue(queueName, { connection: queueConnection, prefix, skipMetasUpdate: true }),
    log,
  });

  const coordinatorWorker = new Worker<CoordinatorData, string>(
    COORDINATOR_QUEUE,
    (job, token) =>
      runCoordinator(job, token, {
        store,
        dataDir: config.dataDir,
        records,
        states,
        chunkRouter,
        maxRounds: MAX_ROUNDS,
        exec,
        redis: commands,
      }),
    options(workerConnections[1]!, COORDINATOR_CONCURRENCY),
  );
  coordinatorWorker.on(
    'failed',
    failJobWhenExhausted('COORDINATOR_FAILED', (error) => `merging the partials failed: ${error.message}`),
  );
  coordinatorWorker.on('error', (error) => log('worker error', error));

  const stopWatchdog = startWatchdog(
    records,
    coordinatorQueue,
    config.jobStallSeconds * 1000,
    (error) => log('watchdog sweep failed', error),
    config.dataDir,
  );
  const stopHeartbeat = startHeartbeat(registry, workerId, drainer, timings.heartbeatMs, log);
  await Promise.all(
    [ownChunkWorker, sharedChunkWorker, coordinatorWorker].map((worker) => worker.waitUntilReady()),
  );

  return {
    workerId,
    async close() {
      stopWatchdog();
      await stopHeartbeat();
      // No new tasks for this worker from now on; what is left in its queue, the others drain.
      await registry.retire(workerId).catch((error: unknown) => log('could not retire', error));
      // Lets the tasks in hand finish (close waits for active jobs), so nothing is cut in half.
      await stealer?.close();
      await Promise.all([ownChunkWorker.close(), sharedChunkWorker.close(), coordinatorWorker.close()]);
      await drainer.close();
      await Promise.all([chunkRouter.close(), coordinatorQueue.close(), exec.close()]);
      for (const connection of [...workerConnections, queueConnection, commands]) connection.disconnect();
    },
  };
}

/**
 * Beats every `heartbeatMs`, and looks for dead workers to drain after each beat unless the last look
 * is still going (closing a drain worker waits for its task; the beats must not). Returns a stop
 * function that waits for a look in progress.
 */
function startHeartbeat(
  registry: WorkerRegistry,
  workerId: string,
  drainer: DeadWorkerDrainer,
  heartbeatMs: number,
  log: (message: string, error?: unknown) => void,
): () => Promise<void> {
  let sweeping: Promise<void> | null = null;
  let beating: Promise<void> | null = null;
  let stopped = false;
  const tick = () => {
    if (beating) return;
    beating = registry.beat(workerId).then(
      () => {
        beating = null;
        if (sweeping || stopped) return;
        sweeping = drainer
          .sweep()
          .catch((error: unknown) => log('could not drain dead workers', error))
          .finally(() => {
            sweeping = null;
          });
      },
      (error: unknown) => {
        beating = null;
        log('heartbeat failed', error);
      },
    );
  };
  tick();
  const timer = setInterval(tick, heartbeatMs);
  timer.unref();
  // A beat landing after the worker retired would make it look alive again: wait for it.
  return async () => {
    stopped = true;
    clearInterval(timer);
    await beating;
    await sweeping;
  };
}
