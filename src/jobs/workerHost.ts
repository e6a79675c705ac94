import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { ExecService } from '../exec/service.ts';
import type { DatasetStore } from '../storage/datasetStore.ts';
import { runChunkTask } from './chunkTask.ts';
import { runCoordinator } from './coordinator.ts';
import { JobRecords } from './jobRecords.ts';
import { bullPrefix, CHUNK_QUEUE, COORDINATOR_QUEUE, JobKeys } from './keys.ts';
import type { ChunkTaskData, CoordinatorData } from './messages.ts';
import { connectRedis } from './redis.ts';
import { RoundStates } from './roundState.ts';
import { startWatchdog } from './watchdog.ts';

export interface WorkerHost {
  close(): Promise<void>;
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
): Promise<WorkerHost> {
  const keys = new JobKeys(config.queuePrefix);
  const commands = connectRedis(config.redisUrl, 'commands');
  const records = new JobRecords(commands, keys, config.jobTtlSeconds);
  const states = new RoundStates(commands, keys, config.jobTtlSeconds);
  const prefix = bullPrefix(config.queuePrefix);
  const queueConnection = connectRedis(config.redisUrl, 'bullmq');
  const chunkQueue = new Queue<ChunkTaskData>(CHUNK_QUEUE, { connection: queueConnection, prefix });
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

  const chunkWorker = new Worker<ChunkTaskData, string>(
    CHUNK_QUEUE,
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
    options(workerConnections[0]!, 1),
  );
  chunkWorker.on(
    'failed',
    failJobWhenExhausted(
      'CHUNK_TASK_FAILED',
      (error) => `a chunk task failed after its retries: ${error.message}`,
    ),
  );

  const coordinatorWorker = new Worker<CoordinatorData, string>(
    COORDINATOR_QUEUE,
    (job, token) =>
      runCoordinator(job, token, {
        store,
        dataDir: config.dataDir,
        records,
        states,
        chunkQueue,
        maxRounds: MAX_ROUNDS,
        exec,
      }),
    options(workerConnections[1]!, COORDINATOR_CONCURRENCY),
  );
  coordinatorWorker.on(
    'failed',
    failJobWhenExhausted('COORDINATOR_FAILED', (error) => `merging the partials failed: ${error.message}`),
  );
  for (const worker of [chunkWorker, coordinatorWorker])
    worker.on('error', (error) => log('worker error', error));

  const stopWatchdog = startWatchdog(
    records,
    coordinatorQueue,
    config.jobStallSeconds * 1000,
    (error) => log('watchdog sweep failed', error),
    config.dataDir,
  );
  await Promise.all([chunkWorker.waitUntilReady(), coordinatorWorker.waitUntilReady()]);

  return {
    async close() {
      stopWatchdog();
      // Lets the tasks in hand finish (close waits for active jobs), so nothing is cut in half.
      await Promise.all([chunkWorker.close(), coordinatorWorker.close()]);
      await Promise.all([chunkQueue.close(), coordinatorQueue.close(), exec.close()]);
      for (const connection of [...workerConnections, queueConnection, commands]) connection.disconnect();
    },
  };
}
