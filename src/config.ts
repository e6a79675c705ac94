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
   * `TREE_LOCAL_MB`: a tree fit (dForest, bTrees) whose prepared data takes at most this much grows
   * whole trees in single tasks (src/engine/trees/localData.ts); larger data is grown level by level
   * over all workers. 0 always uses level passes. Set the same on every worker. @defaultValue 512
   */
  treeLocalBytes: number;
  /**
   * `TREE_THREADS`: threads a worker's local tree fits run on (src/engine/trees/treeThreads.ts): a
   * boosting round's row parts, a forest group's trees. 1, 2 or 4 (other counts round down). Results do
   * not depend on it. @defaultValue cores, at most 4
   */
  treeThreads: number;
  /**
   * `TASK_STEALING`: a worker whose own chunk queue runs dry takes waiting tasks from a peer that is
   * behind (src/jobs/taskStealer.ts), so one slow worker does not hold up a round. `0` turns it off
   * (every task then runs where affinity put it). @defaultValue true
   */
  taskStealing: boolean;
  /**
   * `TASK_DELAY_MS`: a pause before every chunk task. For fault-injection tests (killing a worker
   * mid-task, cancelling a running job); leave it 0 in service. @defaultValue 0
   */
  taskDelayMs: number;
  /** `LOG_LEVEL`: pino level. @defaultValue info */
  logLevel: string;
  /**
   * `EXEC_PLUGINS_DIR`: folder(s) of registered functions for `exec` jobs (TypeScript or JavaScript
   * modules, see src/exec/pluginApi.ts), several separated by `:`. A folder that does not exist holds
   * no functions. @defaultValue ./plugins
   */
  execPluginDirs: string[];
  /** `EXEC_SANDBOX=1`: allow `exec` jobs with JavaScript `code` from the request (run in isolated-vm). @defaultValue false */
  execSandbox: boolean;
  /**
   * `EXEC_SANDBOX_TENANTS`: tenants (of `API_KEYS`) whose keys may send sandboxed code, comma-separated;
   * `*` = every tenant. @defaultValue `local` without API_KEYS (the single local user), none with them
   */
  execSandboxTenants: ReadonlySet<string> | '*';
  /**
   * `EXEC_MAX_TIMEOUT_MS`: longest (and default) `timeoutMs` of one exec run; below JOB_STALL_SECONDS.
   * @defaultValue 60000, or half of JOB_STALL_SECONDS when that is less
   */
  execMaxTimeoutMs: number;
  /** `EXEC_SANDBOX_MEMORY_MB`: heap limit of the V8 isolate each sandboxed run gets. @defaultValue 64 */
  execSandboxMemoryMb: number;
  /** `EXEC_MAX_RESULT_BYTES`: largest JSON value one exec run may return. @defaultValue 1 MiB */
  execMaxResultBytes: number;
  /** `EXEC_MAX_JOB_RESULT_BYTES`: largest total of one exec job's run values. @defaultValue 64 MiB */
  execMaxJobResultBytes: number;
  /** `EXEC_MAX_RUNS`: most runs one exec job may ask for. @defaultValue 100000 */
  execMaxRuns: number;
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

function flag(env: Env, name: string, fallback = false): boolean {
  const raw = (env[name] ?? '').toLowerCase();
  if (raw === '') return fallback;
  if (raw === '0' || raw === 'false' || raw === 'no') return false;
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

/** EXEC_SANDBOX_TENANTS: `*`, or tenant names that API_KEYS must know (a typo would silently lock a tenant out). */
function parseSandboxTenants(env: Env, apiKeys: Map<string, string>): ReadonlySet<string> | '*' {
  const raw = env['EXEC_SANDBOX_TENANTS'];
  if (raw === undefined || raw.trim() === '') return new Set(apiKeys.size === 0 ? ['local'] : []);
  if (raw.trim() === '*') return '*';
  const known = new Set(apiKeys.size === 0 ? ['local'] : apiKeys.values());
  const tenants = new Set<string>();
  for (const entry of raw.split(',')) {
    const tenant = entry.trim();
    if (tenant === '') continue;
    if (!known.has(tenant)) {
      throw new ConfigError(
        `EXEC_SANDBOX_TENANTS names '${tenant}', which is not a tenant of API_KEYS (known: ${[...known].join(', ') || 'none'})`,
      );
    }
    tenants.add(tenant);
  }
  return tenants;
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
  const jobStallSeconds = integer(env, 'JOB_STALL_SECONDS', 600, 1, 7 * 24 * 3600);
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
    jobStallSeconds,
    workerLockSeconds: integer(env, 'WORKER_LOCK_SECONDS', 30, 1, 3600),
    chunkCacheBytes: integer(env, 'CHUNK_CACHE_MB', defaultChunkCacheMb(env), 0, 1024 * 1024) * 1024 * 1024,
    treeCacheBytes: integer(env, 'TREE_CACHE_MB', 1024, 0, 1024 * 1024) * 1024 * 1024,
    treeLocalBytes: integer(env, 'TREE_LOCAL_MB', 512, 0, 1024 * 1024) * 1024 * 1024,
    treeThreads: integer(env, 'TREE_THREADS', Math.min(4, os.availableParallelism()), 1, 64),
    taskStealing: flag(env, 'TASK_STEALING', true),
    taskDelayMs: integer(env, 'TASK_DELAY_MS', 0, 0, 600_000),
    logLevel: env['LOG_LEVEL'] || 'info',
    execPluginDirs: (env['EXEC_PLUGINS_DIR'] || './plugins')
      .split(path.delimiter)
      .filter((dir) => dir !== '')
      .map((dir) => path.resolve(dir)),
    execSandbox: flag(env, 'EXEC_SANDBOX'),
    execSandboxTenants: new Set(),
    // By default a run may take at most half the stall limit, so a short JOB_STALL_SECONDS still works.
    execMaxTimeoutMs: integer(
      env,
      'EXEC_MAX_TIMEOUT_MS',
      Math.min(60_000, Math.floor((jobStallSeconds * 1000) / 2)),
      1,
      24 * 3600 * 1000,
    ),
    execSandboxMemoryMb: integer(env, 'EXEC_SANDBOX_MEMORY_MB', 64, 8, 16_384),
    execMaxResultBytes: integer(env, 'EXEC_MAX_RESULT_BYTES', 1024 * 1024, 16, 256 * 1024 * 1024),
    execMaxJobResultBytes: integer(
      env,
      'EXEC_MAX_JOB_RESULT_BYTES',
      64 * 1024 * 1024,
      1024,
      512 * 1024 * 1024,
    ),
    execMaxRuns: integer(env, 'EXEC_MAX_RUNS', 100_000, 1, 10_000_000),
  };
  config.execSandboxTenants = parseSandboxTenants(env, config.apiKeys);
  // A single run longer than the stall limit would have its job failed as stalled while it works.
  if (config.execMaxTimeoutMs >= config.jobStallSeconds * 1000) {
    throw new ConfigError(
      `EXEC_MAX_TIMEOUT_MS (${config.execMaxTimeoutMs}) must be below JOB_STALL_SECONDS (${config.jobStallSeconds} s): raise JOB_STALL_SECONDS or lower the timeout`,
    );
  }
  if (config.execMaxResultBytes > config.execMaxJobResultBytes) {
    throw new ConfigError(
      `EXEC_MAX_RESULT_BYTES (${config.execMaxResultBytes}) must not exceed EXEC_MAX_JOB_RESULT_BYTES (${config.execMaxJobResultBytes})`,
    );
  }
  if (config.apiKeys.size === 0 && !isLoopback(host) && !config.allowUnauthenticated) {
    throw new ConfigError(
      `refusing to serve ${host} without authentication: set API_KEYS=key:tenant,... or ALLOW_UNAUTHENTICATED=1`,
    );
  }
  return config;
}
