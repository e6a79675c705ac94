import { buildApp } from './api/app.ts';
import { ConfigError, loadConfig } from './config.ts';
import { type EmbeddedRedis, NO_REDIS_HELP, redisAnswers, startEmbeddedRedis } from './embeddedRedis.ts';
import { JobService } from './jobs/jobService.ts';
import { connectRedis } from './jobs/redis.ts';
import { DatasetStore } from './storage/datasetStore.ts';
import { startWorkerProcesses } from './workerProcesses.ts';

function exitWith(message: string): never {
  console.error(`rxserve: ${message}`);
  process.exit(1);
}

/** `npm start`: the API and WORKERS worker processes, with a private Redis when none is around. */
async function main(): Promise<void> {
  let config = loadConfig();
  let embedded: EmbeddedRedis | null = null;
  if (!(await redisAnswers(config.redisUrl))) {
    if (config.redisUrlExplicit) exitWith(`REDIS_URL ${config.redisUrl} does not answer. ${NO_REDIS_HELP}`);
    embedded = await startEmbeddedRedis(config.dataDir, Number(new URL(config.redisUrl).port || 6379));
    if (!embedded)
      exitWith(
        `nothing answers at ${config.redisUrl} and no redis-server could be started. ${NO_REDIS_HELP}`,
      );
    config = { ...config, redisUrl: embedded.url };
    console.error(
      `rxserve: started a private redis-server at ${embedded.url} (files in ${config.dataDir}/redis)`,
    );
  }

  const store = new DatasetStore(config.dataDir);
  await store.open({ clearStaging: true });
  const redis = connectRedis(config.redisUrl, 'commands');
  const log = (message: string, error?: unknown) => console.error(`rxserve: ${message}`, error ?? '');
  const jobs = new JobService(redis, store, { ...config, log });
  const app = await buildApp({ config, store, jobs, redis });
  await app.listen({ port: config.port, host: config.host });

  // Workers must reach the same Redis, including the private one.
  const workers = startWorkerProcesses(config.workers, { ...process.env, REDIS_URL: config.redisUrl }, log);

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.log.info(`${signal}: stopping (in-flight requests and chunk tasks finish first)`);
    await app.close();
    await workers.stop();
    await jobs.close();
    redis.disconnect();
    await embedded?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((error: unknown) => {
  exitWith(
    error instanceof ConfigError
      ? `configuration: ${error.message}`
      : String((error as Error).stack ?? error),
  );
});
