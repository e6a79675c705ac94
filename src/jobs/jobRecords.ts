import type { Redis } from 'ioredis';
import type { JobKeys } from './keys.ts';

export const JOB_STATUSES = ['queued', 'running', 'completed', 'failed', 'cancelled'] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];

export interface JobError {
  code: string;
  message: string;
  details?: Record<string, unknown>;
}

export interface JobProgress {
  /** Share of the current round's chunks done, 0..1 (1 once completed). */
  fraction: number;
  chunksDone: number;
  chunksTotal: number;
  /** 0-based pass over the data (IRLS iteration, k-means step, tree level). */
  round: number;
  rowsProcessed: number;
  elapsedMs: number;
  /** Estimated time left in the current round; null before anything was measured. */
  etaMs: number | null;
  message: string;
}

export interface JobRecord {
  id: string;
  tenant: string;
  type: string;
  /** The input dataset; null for a job that reads none (exec). */
  dataset: string | null;
  params: Record<string, unknown>;
  status: JobStatus;
  progress: JobProgress;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  error: JobError | null;
}

/** Moves a job to a final state once: later attempts (a late failure after a cancel, say) are no-ops. */
const FINISH_SCRIPT = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'finishedAt', ARGV[2], 'updatedAt', ARGV[2])
if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'error', ARGV[3]) end
if ARGV[1] == 'completed' then
  -- Chunk tasks report progress without waiting for it, so the last counts may still be in flight.
  redis.call('HSET', KEYS[1], 'chunksDone', redis.call('HGET', KEYS[1], 'chunksTotal') or '0',
    'rowsProcessed', ARGV[8])
  redis.call('SET', KEYS[3], ARGV[7], 'EX', ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('SREM', KEYS[2], ARGV[5])
redis.call('PUBLISH', ARGV[6], ARGV[5])
return 1
`;

/** Counts a finished chunk task once, however often it ran, and marks the job as alive. */
const TASK_DONE_SCRIPT = `
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 1 then
  redis.call('HINCRBY', KEYS[1], 'chunksDone', ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'rowsProcessed', ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[4])
return 1
`;

/** Marks a running job as alive (the watchdog's clock); says whether it is still running. */
const TOUCH_SCRIPT = `
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
return 1
`;

/** Starts a round: only a queued or running job may (a cancelled one stays cancelled). */
const START_ROUND_SCRIPT = `
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
if status == 'queued' then redis.call('HSET', KEYS[1], 'status', 'running', 'startedAt', ARGV[1]) end
redis.call('HSET', KEYS[1], 'round', ARGV[2], 'chunksDone', 0, 'chunksTotal', ARGV[3], 'roundStartedAt', ARGV[1],
  'updatedAt', ARGV[1], 'message', ARGV[4])
return 1
`;

type RecordHash = Record<string, string>;

function isoOrNull(ms: string | undefined): string | null {
  return ms ? new Date(Number(ms)).toISOString() : null;
}

function toRecord(hash: RecordHash, now: number): JobRecord {
  const status = hash['status'] as JobStatus;
  const chunksDone = Number(hash['chunksDone'] ?? 0);
  const chunksTotal = Number(hash['chunksTotal'] ?? 0);
  const started = hash['startedAt'] ? Number(hash['startedAt']) : null;
  const finished = hash['finishedAt'] ? Number(hash['finishedAt']) : null;
  const roundStarted = Number(hash['roundStartedAt'] ?? started ?? now);
  const fraction = status === 'completed' ? 1 : chunksTotal > 0 ? chunksDone / chunksTotal : 0;
  const roundElapsed = now - roundStarted;
  const running = status === 'running';
  const etaMs =
    running && chunksDone > 0 ? Math.round((roundElapsed / chunksDone) * (chunksTotal - chunksDone)) : null;
  return {
    id: hash['id']!,
    tenant: hash['tenant']!,
    type: hash['type']!,
    dataset: hash['dataset'] || null,
    params: JSON.parse(hash['params'] ?? '{}') as Record<string, unknown>,
    status,
    progress: {
      fraction,
      chunksDone,
      chunksTotal,
      round: Number(hash['round'] ?? 0),
      rowsProcessed: Number(hash['rowsProcessed'] ?? 0),
      elapsedMs: started === null ? 0 : (finished ?? now) - started,
      etaMs: running ? etaMs : status === 'completed' ? 0 : null,
      message: hash['message'] ?? '',
    },
    createdAt: new Date(Number(hash['createdAt'])).toISOString(),
    startedAt: isoOrNull(hash['startedAt']),
    finishedAt: isoOrNull(hash['finishedAt']),
    error: hash['error'] ? (JSON.parse(hash['error']) as JobError) : null,
  };
}

export interface NewJob {
  id: string;
  tenant: string;
  type: string;
  dataset: string | null;
  params: Record<string, unknown>;
}

/**
 * The job records users read: kept in Redis hashes of our own, so they outlive BullMQ's retention and
 * restarts of the API and the workers. Final states expire after JOB_TTL_SECONDS.
 */
export class JobRecords {
  constructor(
    private readonly redis: Redis,
    readonly keys: JobKeys,
    private readonly ttlSeconds: number,
  ) {}

  async create(job: NewJob): Promise<JobRecord> {
    const now = Date.now();
    await this.redis
      .multi()
      .hset(this.keys.record(job.id), {
        id: job.id,
        tenant: job.tenant,
        type: job.type,
        dataset: job.dataset ?? '',
        params: JSON.stringify(job.params),
        status: 'queued',
        createdAt: String(now),
        updatedAt: String(now),
        message: 'waiting for a worker',
      })
      .zadd(this.keys.tenantJobs(job.tenant), now, job.id)
      .sadd(this.keys.unfinished, job.id)
      .exec();
    return toRecord((await this.redis.hgetall(this.keys.record(job.id))) as RecordHash, now);
  }

  async get(id: string): Promise<JobRecord | null> {
    const hash = (await this.redis.hgetall(this.keys.record(id))) as RecordHash;
    return hash['id'] ? toRecord(hash, Date.now()) : null;
  }

  async status(id: string): Promise<JobStatus | null> {
    return (await this.redis.hget(this.keys.record(id), 'status')) as JobStatus | null;
  }

  /** The tenant's jobs, newest first; ids whose records expired are dropped from the index. */
  async list(tenant: string): Promise<JobRecord[]> {
    const index = this.keys.tenantJobs(tenant);
    const ids = await this.redis.zrevrange(index, 0, -1);
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.record(id));
    const replies = (await pipeline.exec()) ?? [];
    const now = Date.now();
    const records: JobRecord[] = [];
    const expired: string[] = [];
    replies.forEach(([, hash], i) => {
      const h = hash as RecordHash;
      if (h?.['id']) records.push(toRecord(h, now));
      else expired.push(ids[i]!);
    });
    if (expired.length > 0) await this.redis.zrem(index, ...expired);
    return records;
  }

  async startRound(id: string, round: number, chunksTotal: number, message: string): Promise<boolean> {
    const started = await this.redis.eval(
      START_ROUND_SCRIPT,
      1,
      this.keys.record(id),
      String(Date.now()),
      String(round),
      String(chunksTotal),
      message,
    );
    return started === 1;
  }

  async taskDone(id: string, round: number, taskIndex: number, chunks: number, rows: number): Promise<void> {
    await this.redis.eval(
      TASK_DONE_SCRIPT,
      2,
      this.keys.record(id),
      this.keys.tasksDone(id, round),
      String(taskIndex),
      String(chunks),
      String(rows),
      String(Date.now()),
      String(this.ttlSeconds),
    );
  }

  /** A long task's sign of life; false once the job is no longer running (cancelled, failed). */
  async touch(id: string): Promise<boolean> {
    return (await this.redis.eval(TOUCH_SCRIPT, 1, this.keys.record(id), String(Date.now()))) === 1;
  }

  async setMessage(id: string, message: string): Promise<void> {
    await this.redis.hset(this.keys.record(id), 'message', message, 'updatedAt', String(Date.now()));
  }

  /**
   * Final transitions; each returns false when the job had already ended (first one wins).
   * `rowsProcessed` is the job's total over all its passes.
   */
  complete(id: string, resultText: string, rowsProcessed: number): Promise<boolean> {
    return this.finish(id, 'completed', null, resultText, rowsProcessed);
  }

  fail(id: string, error: JobError): Promise<boolean> {
    return this.finish(id, 'failed', error, '', 0);
  }

  cancel(id: string): Promise<boolean> {
    return this.finish(id, 'cancelled', { code: 'JOB_CANCELLED', message: 'the job was cancelled' }, '', 0);
  }

  async result(id: string): Promise<string | null> {
    return this.redis.get(this.keys.result(id));
  }

  async unfinishedIds(): Promise<string[]> {
    return this.redis.smembers(this.keys.unfinished);
  }

  async forgetUnfinished(id: string): Promise<void> {
    await this.redis.srem(this.keys.unfinished, id);
  }

  /** Milliseconds since the job last showed progress, or null when it has no record. */
  async lastActivity(id: string): Promise<{ status: JobStatus; updatedAt: number } | null> {
    const [status, updatedAt] = await this.redis.hmget(this.keys.record(id), 'status', 'updatedAt');
    return status ? { status: status as JobStatus, updatedAt: Number(updatedAt) } : null;
  }

  private async finish(
    id: string,
    status: JobStatus,
    error: JobError | null,
    resultText: string,
    rowsProcessed: number,
  ): Promise<boolean> {
    const changed = await this.redis.eval(
      FINISH_SCRIPT,
      3,
      this.keys.record(id),
      this.keys.unfinished,
      this.keys.result(id),
      status,
      String(Date.now()),
      error ? JSON.stringify(error) : '',
      String(this.ttlSeconds),
      id,
      this.keys.finishedChannel,
      resultText,
      String(rowsProcessed),
    );
    return changed === 1;
  }
}
