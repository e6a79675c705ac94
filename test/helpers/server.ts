import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { buildApp } from '../../src/api/app.ts';
import { type Config, loadConfig } from '../../src/config.ts';
import { NO_REDIS_HELP, redisAnswers, startEmbeddedRedis } from '../../src/embeddedRedis.ts';
import { JobService } from '../../src/jobs/jobService.ts';
import { connectRedis } from '../../src/jobs/redis.ts';
import { DatasetStore } from '../../src/storage/datasetStore.ts';

const WORKER_ENTRY = fileURLToPath(new URL('../../src/worker-main.ts', import.meta.url));

/**
 * The Redis the tests use: REDIS_URL; else the local default when it answers; else a private
 * redis-server for this test file (as `npm start` does), stopped when its tests are done. Each test
 * server gets its own QUEUE_PREFIX on it.
 */
async function resolveTestRedis(): Promise<string> {
  const explicit = process.env['REDIS_URL'];
  if (explicit) return explicit;
  const fallback = 'redis://127.0.0.1:6379';
  if (await redisAnswers(fallback)) return fallback;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-redis-'));
  const port = 20000 + Math.floor(Math.random() * 20000);
  const embedded = await startEmbeddedRedis(dir, port);
  if (!embedded) throw new Error(`no Redis for the tests: ${NO_REDIS_HELP}`);
  after(async () => {
    await embedded.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return embedded.url;
}

export const TEST_REDIS_URL = await resolveTestRedis();

export interface TestServer {
  url: string;
  app: FastifyInstance;
  config: Config;
  env: Record<string, string>;
  redis: Redis;
  /**
   * Starts `count` real worker processes against this server's Redis prefix and data folder.
   * `execArgv` adds Node options, e.g. `--max-old-space-size=64` to run a worker on a small heap;
   * `env` overrides settings for these workers only, e.g. a TASK_DELAY_MS that makes one slow.
   */
  startWorkers(
    count: number,
    options?: { execArgv?: string[]; env?: Record<string, string> },
  ): Promise<ChildProcess[]>;
  /** Stops the API and its services, as a restart would; `close` still cleans up. */
  stopApi(): Promise<void>;
  /** Starts a fresh API process-equivalent on the same Redis prefix and data folder. */
  restartApi(): Promise<void>;
  close(): Promise<void>;
}

/** A real HTTP server on a random port, a real Redis under a fresh prefix, a temporary data folder. */
export async function startServer(extraEnv: Record<string, string> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'rxserve-test-'));
  const env: Record<string, string> = {
    REDIS_URL: TEST_REDIS_URL,
    QUEUE_PREFIX: `rxtest-${randomBytes(4).toString('hex')}`,
    DATA_DIR: dataDir,
    PORT: '0',
    WORKERS: '0',
    LOG_LEVEL: 'warn',
    ...extraEnv,
  };
  const config = loadConfig(env);
  const workers: ChildProcess[] = [];
  let api: { app: FastifyInstance; jobs: JobService; redis: Redis; url: string } | null = null;

  const startApi = async () => {
    const store = new DatasetStore(config.dataDir);
    await store.open({ clearStaging: true });
    const redis = connectRedis(config.redisUrl, 'commands');
    const jobs = new JobService(redis, store, { ...config, log: () => undefined });
    const app = await buildApp({ config, store, jobs, redis }, { logger: false });
    const address = await app.listen({ port: 0, host: '127.0.0.1' });
    api = { app, jobs, redis, url: address };
  };
  const stopApi = async () => {
    if (!api) return;
    await api.app.close();
    await api.jobs.close();
    api.redis.disconnect();
    api = null;
  };
  await startApi();

  const server: TestServer = {
    get url() {
      return api!.url;
    },
    get app() {
      return api!.app;
    },
    get redis() {
      return api!.redis;
    },
    config,
    env,
    async startWorkers(count, options = {}) {
      const started = await Promise.all(
        Array.from({ length: count }, async () => {
          const child = fork(WORKER_ENTRY, [], {
            env: { ...process.env, ...env, ...options.env },
            execArgv: [...(options.execArgv ?? []), '--import', 'tsx'],
            stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
          });
          await new Promise<void>((resolve, reject) => {
            child.once('message', () => resolve());
            child.once('exit', (code) => reject(new Error(`worker exited with ${code} before it was ready`)));
          });
          return child;
        }),
      );
      workers.push(...started);
      return started;
    },
    stopApi,
    async restartApi() {
      await stopApi();
      await startApi();
    },
    async close() {
      await Promise.all(workers.map((child) => kill(child, 'SIGTERM')));
      await stopApi();
      // A test that points at a Redis that is down has nothing to clean there.
      if (config.redisUrl === TEST_REDIS_URL) {
        await deleteKeys(config.queuePrefix);
        // Seen once in a while: a BullMQ queue finishing its start-up writes its `meta` key after the
        // sweep. A second sweep a moment later catches it.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await deleteKeys(config.queuePrefix);
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return server;
}

export function kill(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

export async function deleteKeys(prefix: string): Promise<void> {
  const cleaner = connectRedis(TEST_REDIS_URL, 'commands');
  let cursor = '0';
  do {
    const [next, keys] = await cleaner.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    if (keys.length > 0) await cleaner.del(...keys);
    cursor = next;
  } while (cursor !== '0');
  cleaner.disconnect();
}
