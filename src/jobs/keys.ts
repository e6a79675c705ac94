/**
 * Redis keys of rxserve's own job bookkeeping, apart from BullMQ's (whose retention we do not rely on
 * for anything a user reads). All start with QUEUE_PREFIX so instances and test runs stay apart.
 */
export class JobKeys {
  constructor(readonly prefix: string) {}

  /** Hash: the job record (status, progress counters, timestamps, error). */
  record(jobId: string): string {
    return `${this.prefix}:rx:job:${jobId}`;
  }
  /** String: the encoded result of a completed job. */
  result(jobId: string): string {
    return `${this.prefix}:rx:result:${jobId}`;
  }
  /** String: the analysis state of one round, read by every chunk task of that round. */
  state(jobId: string, round: number): string {
    return `${this.prefix}:rx:state:${jobId}:${round}`;
  }
  /** Set: chunk tasks of a round already counted in progress (a retried task is not counted twice). */
  tasksDone(jobId: string, round: number): string {
    return `${this.prefix}:rx:done:${jobId}:${round}`;
  }
  /** Sorted set: a tenant's job ids by creation time. */
  tenantJobs(tenant: string): string {
    return `${this.prefix}:rx:jobs:${tenant}`;
  }
  /** Set: ids of jobs not yet finished, watched by the watchdog. */
  get unfinished(): string {
    return `${this.prefix}:rx:unfinished`;
  }
  /** Pub/sub channel: a job id is published when the job reaches a final state. */
  get finishedChannel(): string {
    return `${this.prefix}:rx:finished`;
  }
  /** Sorted set: worker process ids scored by their last heartbeat (ms since the epoch). */
  get workers(): string {
    return `${this.prefix}:rx:workers`;
  }
  /** Counter: chunk tasks moved from one worker's queue to another's (taskStealer.ts), ever. */
  get tasksStolen(): string {
    return `${this.prefix}:rx:stolen`;
  }
  /** String with a TTL: the id of the live worker draining a dead worker's chunk queue. */
  drainer(workerId: string): string {
    return `${this.prefix}:rx:drainer:${workerId}`;
  }
}

/** Queue names; BullMQ's own keys live under `<QUEUE_PREFIX>:bull:<queue>`. */
export const COORDINATOR_QUEUE = 'coordinator';
/** The shared chunk queue, every worker's fallback (used when no worker is registered). */
export const CHUNK_QUEUE = 'chunks';

/** A worker's own chunk queue: the tasks of the chunks it is assigned (and caches). */
export function workerChunkQueue(workerId: string): string {
  return `${CHUNK_QUEUE}-${workerId}`;
}

export function bullPrefix(queuePrefix: string): string {
  return `${queuePrefix}:bull`;
}
