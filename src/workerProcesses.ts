import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const WORKER_ENTRY = fileURLToPath(new URL('./worker-main.ts', import.meta.url));

export interface WorkerPool {
  readonly processes: readonly ChildProcess[];
  stop(): Promise<void>;
}

/**
 * Runs `count` worker processes beside the API (`WORKERS`), restarting any that dies unexpectedly
 * (its chunk task is retried by BullMQ's stalled-job check), until `stop`.
 */
export function startWorkerProcesses(
  count: number,
  env: NodeJS.ProcessEnv,
  log: (message: string) => void,
): WorkerPool {
  const processes: ChildProcess[] = [];
  let stopping = false;

  const launch = (slot: number): void => {
    const child = fork(WORKER_ENTRY, [], { env, execArgv: ['--import', 'tsx'], stdio: 'inherit' });
    processes[slot] = child;
    child.on('exit', (code, signal) => {
      if (stopping) return;
      log(`worker ${child.pid} exited (${signal ?? code}); starting another`);
      setTimeout(() => !stopping && launch(slot), 1000).unref();
    });
  };
  for (let slot = 0; slot < count; slot++) launch(slot);

  return {
    processes,
    async stop() {
      stopping = true;
      await Promise.all(
        processes.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode !== null) return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGTERM');
            }),
        ),
      );
    },
  };
}
