import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ForestRequest } from '../analyses/dForest.ts';
import type { BoostRequest } from './boostRunner.ts';

/**
 * The worker threads of local tree fits (trees/localData.ts): a boosting round's row parts
 * (boostRunner.ts) and a forest round's trees (dForest.ts) run on them. They read the prepared input in
 * place: its typed arrays are SharedArrayBuffer-backed (localData.ts), so a request carries only small
 * things (tree splits, leaf values, tree numbers) and its answer a histogram view or a tree.
 */

let threadCount = threadsFor(availableParallelism());

/**
 * Threads a local tree fit uses (config `TREE_THREADS`): 1 (everything in the task's own thread), 2 or
 * 4, so every boosting thread holds a whole branch of the parts' pairwise sums (boostRunner.ts); other
 * counts round down. Results never depend on it.
 */
export function setTreeThreads(count: number): number {
  const previous = threadCount;
  threadCount = threadsFor(count);
  return previous;
}

export function treeThreadCount(): number {
  return threadCount;
}

function threadsFor(count: number): number {
  return count >= 4 ? 4 : count >= 2 ? 2 : 1;
}

/** What a tree thread is asked (treeThread.ts answers them). */
export type ThreadRequest = BoostRequest | ForestRequest;

/** A thread's answer to request `id`. */
export type ThreadReply = { id: number; result: unknown } | { id: number; error: string };

export class TreeThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 0;
  dead = false;

  constructor() {
    // The thread runs TypeScript like the rest of the server (under tsx): register tsx's loader in it
    // before importing the entry, as a worker does not inherit the loader of the thread that made it.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./treeThread.ts', import.meta.url).href;
    const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    this.worker = new Worker(boot, { eval: true });
    this.worker.unref();
    this.worker.on('message', (reply: ThreadReply) => this.answer(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`a tree thread exited (code ${code})`)));
  }

  /** Sends `message` (an `op` of treeThread.ts); resolves with the thread's result. */
  request<T>(message: ThreadRequest): Promise<T> {
    if (this.dead) return Promise.reject(new Error('a tree thread has stopped'));
    const id = this.nextId++;
    // Referenced while a request is out, so the process waits for the answer.
    if (this.pending.size === 0) this.worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.worker.postMessage({ id, ...message });
    });
  }

  private answer(reply: ThreadReply): void {
    const waiting = this.pending.get(reply.id);
    if (waiting === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if ('error' in reply) waiting.reject(new Error(reply.error));
    else waiting.resolve(reply.result);
  }

  private fail(error: Error): void {
    this.dead = true;
    for (const waiting of this.pending.values()) waiting.reject(error);
    this.pending.clear();
  }
}

const threads: TreeThread[] = [];

/**
 * Starts the configured threads now (a worker process, at its start): a thread takes ~0.2 s and more
 * to load, which a first local fit would otherwise wait for.
 */
export function warmTreeThreads(): void {
  if (threadCount > 1) threadPool(threadCount);
}

/** `count` live threads, started on first use and kept for later rounds (a thread starts in ~0.2 s). */
export function threadPool(count: number): TreeThread[] {
  for (let t = 0; t < count; t++) {
    const thread = threads[t];
    if (thread === undefined || thread.dead) threads[t] = new TreeThread();
  }
  return threads.slice(0, count);
}
