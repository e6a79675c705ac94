import type { Redis } from 'ioredis';
import type { JobKeys } from './keys.ts';

/** How worker processes tell each other they are alive. */
export interface RegistryTimings {
  /** Time between two heartbeats of a worker. */
  heartbeatMs: number;
  /**
   * A worker whose last heartbeat is older than this is taken for dead: coordinators stop giving it
   * tasks and a live worker drains its queue. A worker that was only slow (a long task blocking its
   * event loop) loses nothing by it: it beats again and keeps its queue, and the helper leaves.
   */
  staleMs: number;
  /**
   * How long a dead worker's emptied queue is kept before it is deleted: a coordinator that read the
   * registry just before the worker went stale may still be adding tasks to it. Deleting it under
   * such a late add would lose those tasks (the watchdog would then fail the job).
   */
  graceMs: number;
}

/** Upper bound of staleMs: tasks waiting in a dead worker's queue wait this long before others run them. */
const MAX_STALE_MS = 5000;

/**
 * Timings that follow WORKER_LOCK_SECONDS: a worker silent for its lock duration has lost its task to
 * BullMQ's stalled-job check anyway, so it is taken for dead then, or after 5 s if the lock is longer
 * (heartbeats 5 times as often; grace as long as staleness).
 */
export function registryTimings(lockDurationMs: number): RegistryTimings {
  const staleMs = Math.min(MAX_STALE_MS, lockDurationMs);
  return { heartbeatMs: staleMs / 5, staleMs, graceMs: staleMs };
}

/** Refreshes the drainer claim when this worker holds it, takes it when nobody does. */
const CLAIM_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0
`;

/** Deletes the drainer claim only if this worker holds it. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * The live worker processes, as a Redis sorted set of worker ids scored by their last heartbeat. Ids
 * are made fresh at every start (a restarted worker is a new member; its old id goes stale and is
 * drained like any dead worker's).
 */
export class WorkerRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: JobKeys,
    readonly timings: RegistryTimings,
  ) {}

  /** Says `workerId` is alive now (adds it if it was dropped meanwhile). */
  async beat(workerId: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(this.keys.workers, now, workerId);
  }

  /**
   * Marks a worker that is shutting down as stale at once, so no coordinator gives it more tasks and
   * the tasks still in its queue are drained by the others. Its grace period starts now.
   */
  async retire(workerId: string, now = Date.now()): Promise<void> {
    await this.redis.zadd(this.keys.workers, 'XX', now - this.timings.staleMs - 1, workerId);
  }

  /** Workers whose heartbeat is fresh. */
  async live(now = Date.now()): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.workers, now - this.timings.staleMs, '+inf');
  }

  /** Workers taken for dead, with the time they went silent. */
  async stale(now = Date.now()): Promise<{ workerId: string; lastBeat: number }[]> {
    const flat = await this.redis.zrangebyscore(
      this.keys.workers,
      '-inf',
      `(${now - this.timings.staleMs}`,
      'WITHSCORES',
    );
    const entries: { workerId: string; lastBeat: number }[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      entries.push({ workerId: flat[i]!, lastBeat: Number(flat[i + 1]) });
    return entries;
  }

  /** Drops a dead worker whose queue is gone. */
  async forget(workerId: string): Promise<void> {
    await this.redis.zrem(this.keys.workers, workerId);
  }

  /**
   * Claims (or keeps) the right to drain a dead worker's queue, so that one survivor does it; the claim
   * lapses after staleMs unless renewed, so a drainer that dies is replaced.
   */
  async claimDrain(deadWorkerId: string, drainerId: string): Promise<boolean> {
    const taken = await this.redis.eval(
      CLAIM_SCRIPT,
      1,
      this.keys.drainer(deadWorkerId),
      drainerId,
      String(this.timings.staleMs),
    );
    return taken === 1;
  }

  async releaseDrain(deadWorkerId: string, drainerId: string): Promise<void> {
    await this.redis.eval(RELEASE_SCRIPT, 1, this.keys.drainer(deadWorkerId), drainerId);
  }
}
