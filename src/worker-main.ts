import { ConfigError, loadConfig } from './config.ts';
import { setLocalTreeLimit } from './engine/trees/localData.ts';
import { preparedChunks } from './engine/trees/preparedChunks.ts';
import { setTreeThreads, warmTreeThreads } from './engine/trees/treeThreads.ts';
import { startWorkerHost } from './jobs/workerHost.ts';
import { DatasetStore } from './storage/datasetStore.ts';

/**
 * `npm run worker`: one worker process. Point it at the same REDIS_URL, QUEUE_PREFIX and DATA_DIR as
 * the API (on this machine or another with the data folder shared) to add capacity.
 */
async function main(): Promise<void> {
  const config = loadConfig();
  const store = new DatasetStore(config.dataDir, { chunkCacheBytes: config.chunkCacheBytes });
  preparedChunks.setBudget(config.treeCacheBytes);
  setLocalTreeLimit(config.treeLocalBytes);
  setTreeThreads(config.treeThreads);
  warmTreeThreads();
  await store.open({ clearStaging: false });
  const log = (message: string, error?: unknown) =>
    console.error(
      `[worker ${process.pid}] ${message}${error ? `: ${(error as Error).message ?? error}` : ''}`,
    );
  const host = await startWorkerHost(config, store, log);
  if (process.send) process.send({ ready: true });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await host.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  // Forked by `npm start`: the parent going away means this process should too.
  process.on('disconnect', () => void stop());
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? `configuration: ${error.message}` : error);
  process.exit(1);
});
