import os from 'node:os';
import path from 'node:path';

/**
 * Server configuration, read once from the environment and validated at start-up. Every field states
 * its variable and default where it is declared; README's configuration table mirrors this file.
 */
export interface Config {
  /** `PORT`: HTTP port. @defaultValue 8080 */
  port: number;
  /** `HOST`: interface to bind. @defaultValue 127.0.0.1 */
  host: string;
  /** `REDIS_URL`: Redis for queues and job records. @defaultValue redis://127.0.0.1:6379 */
  redisUrl: string;
  /** True when `REDIS_URL` was set explicitly (then `npm start` never starts a private Redis). */
  redisUrlExplicit: boolean;
  /** `DATA_DIR`: datasets, models and the embedded Redis's files. @defaultValue ./data */
  dataDir: string;
  /** `WORKERS`: worker processes `npm start` runs beside the API; 0 = API only. @defaultValue cores */
  workers: number;
  /** `QUEUE_PREFIX`: Redis key prefix, so several instances (or test runs) share one Redis. @defaultValue rxserve */
  queuePrefix: string;
  /** `API_KEYS`: `key:tenant,key2:tenant2`. Empty = single-user local mode. */
  apiKeys: Map<string, string>;
  /** `ALLOW_UNAUTHENTICATED=1`: allow binding a non-loopback host without API keys. @defaultValue false */
  allowUnauthenticated: boolean;
  /** `MAX_UPLOAD_BYTES`: largest accepted upload body. @defaultValue 10 GiB */
  maxUploadBytes: number;
  /** `JOB_TTL_SECONDS`: how long finished jobs and their results are kept. @defaultValue 7 days */
  jobTtlSeconds: number;
  /** `JOB_STALL_SECONDS`: a running job whose progress stops this long is failed by the watchdog. @defaultValue 600 */
  jobStallSeconds: number;
  /**
   * `WORKER_LOCK_SECONDS`: how long a worker holds a chunk task before another may take it over; also
   * how soon the work of a killed worker is taken over (stalled-job check every half of it). @defaultValue 30
   */
  workerLockSeconds: number;
  /**
   * `CHUNK_CACHE_MB`: memory each worker process may use to keep recently read chunks, so repeated
   * passes and jobs over the same data skip the disk. 0 turns it off. @defaultValue 1/8 of RAM / workers
   */
  chunkCacheBytes: number;
  /**
   * `TREE_CACHE_MB`: memory each worker process may use to keep the chunks tree analyses prepared
   * (predictor bins, per-row node positions and scores) for their next passes. 0 turns it off (every
   * pass prepares its chunks again). @defaultValue 1024
   */
  treeCacheBytes: number;
  /**
   * `TASK_DELAY_MS`: a pause before every chunk task. For fault-injection tests (killing a worker
   * mid-task, cancelling a running job); leave it 0 in service. @defaultValue 0
   */
  taskDelayMs: number;
  /** `LOG_LEVEL`: pino level. @defaultValue info */
  logLevel: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

type Env = Record<string, string | undefined>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(`${name} must be a whole number from ${min} to ${max}, got '${raw}'`);
  }
  return value;
}

function flag(env: Env, name: string): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '' || raw === '0' || raw === 'false' || raw === 'no') return false;
  if (raw === '1' || raw === 'true' || raw === 'yes') return true;
  throw new ConfigError(`${name} must be 1 or 0 (true or false), got '${env[name]}'`);
}

export function parseApiKeys(raw: string): Map<string, string> {
  const keys = new Map<string, string>();
  for (const entry of raw.split(',')) {
    const item = entry.trim();
    if (item === '') continue;
    const colon = item.lastIndexOf(':');
    const key = colon > 0 ? item.slice(0, colon) : '';
    const tenant = colon > 0 ? item.slice(colon + 1) : '';
    if (key === '' || !/^[A-Za-z0-9_.-]{1,64}$/.test(tenant)) {
      throw new ConfigError(
        `API_KEYS entries must look like key:tenant (tenant of letters, digits, _ . -), got '${item}'`,
      );
    }
    if (keys.has(key)) throw new ConfigError('API_KEYS lists the same key twice');
    keys.set(key, tenant);
  }
  return keys;
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** An eighth of the machine's memory, shared by the worker processes `npm start` runs. */
function defaultChunkCacheMb(env: Env): number {
  const workers = Math.max(1, Number(env['WORKERS']) || os.availableParallelism());
  return Math.floor(os.totalmem() / 8 / workers / (1024 * 1024));
}

export function loadConfig(env: Env = process.env): Config {
  const host = env['HOST'] || '127.0.0.1';
  const redisUrl = env['REDIS_URL'] || 'redis://127.0.0.1:6379';
  if (!/^rediss?:\/\//.test(redisUrl)) {
    throw new ConfigError(`REDIS_URL must start with redis:// or rediss://, got '${redisUrl}'`);
  }
  const queuePrefix = env['QUEUE_PREFIX'] || 'rxserve';
  if (!/^[A-Za-z0-9_{}.-]{1,64}$/.test(queuePrefix)) {
    throw new ConfigError(`QUEUE_PREFIX may hold letters, digits and _ { } . - only, got '${queuePrefix}'`);
  }
  const config: Config = {
    port: integer(env, 'PORT', 8080, 0, 65535),
    host,
    redisUrl,
    redisUrlExplicit: Boolean(env['REDIS_URL']),
    dataDir: path.resolve(env['DATA_DIR'] || './data'),
    workers: integer(env, 'WORKERS', os.availableParallelism(), 0, 256),
    queuePrefix,
    apiKeys: parseApiKeys(env['API_KEYS'] ?? ''),
    allowUnauthenticated: flag(env, 'ALLOW_UNAUTHENTICATED'),
    maxUploadBytes: integer(env, 'MAX_UPLOAD_BYTES', 10 * 1024 ** 3, 1, Number.MAX_SAFE_INTEGER),
    jobTtlSeconds: integer(env, 'JOB_TTL_SECONDS', 7 * 24 * 3600, 1, 10 * 365 * 24 * 3600),
    jobStallSeconds: integer(env, 'JOB_STALL_SECONDS', 600, 1, 7 * 24 * 3600),
    workerLockSeconds: integer(env, 'WORKER_LOCK_SECONDS', 30, 1, 3600),
    chunkCacheBytes: integer(env, 'CHUNK_CACHE_MB', defaultChunkCacheMb(env), 0, 1024 * 1024) * 1024 * 1024,
    treeCacheBytes: integer(env, 'TREE_CACHE_MB', 1024, 0, 1024 * 1024) * 1024 * 1024,
    taskDelayMs: integer(env, 'TASK_DELAY_MS', 0, 0, 600_000),
    logLevel: env['LOG_LEVEL'] || 'info',
  };
  if (config.apiKeys.size === 0 && !isLoopback(host) && !config.allowUnauthenticated) {
    throw new ConfigError(
      `refusing to serve ${host} without authentication: set API_KEYS=key:tenant,... or ALLOW_UNAUTHENTICATED=1`,
    );
  }
  return config;
}
