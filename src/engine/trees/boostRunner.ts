import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { LossSum } from './boostGradients.ts';
import { type BoostInput, BoostPart, type LevelWork } from './boostPart.ts';
import type { TreeWalker } from './growTree.ts';

/**
 * Runs a local boosting round's per-row work (boostPart.ts) on all cores. The input is cut into
 * BOOST_PARTS fixed row ranges whatever the machine, and their sums are added in part order, so a fit
 * is bit-identical with any number of threads: threads only decide where the parts run. Each thread
 * holds a block of consecutive parts; the typed arrays of the input are SharedArrayBuffer-backed, so a thread
 * reads the codes and writes its rows' scores in place, and only tree splits, leaf values and
 * histograms travel in messages.
 */

export const BOOST_PARTS = 4;

export interface BoostRunner {
  /** Iteration's draws and gradients in every part (`grow`: and their roots' rows); the summed loss. */
  start(iteration: number, grow: boolean): Promise<LossSum>;
  /** Applies `work`'s splits and returns the built slots' histograms summed over the parts. */
  level(work: LevelWork, size: number): Promise<Float64Array>;
  /** Adds the finished trees' leaf values to the scores. */
  finish(walkers: TreeWalker[], values: Float64Array[]): Promise<void>;
  close(): void;
}

let threadCount = threadsFor(availableParallelism());

/**
 * Threads a local boosting round uses (config `TREE_THREADS`): 1 (the parts run in this thread), 2 or
 * 4, so every thread holds a whole branch of the parts' summing tree (`count` rounds down to one).
 */
export function setTreeThreads(count: number): number {
  const previous = threadCount;
  threadCount = threadsFor(count);
  return previous;
}

function threadsFor(count: number): number {
  return count >= BOOST_PARTS ? BOOST_PARTS : count >= 2 ? 2 : 1;
}

export function boostRunner(input: BoostInput): BoostRunner {
  const ranges = partRanges(input.weight.length);
  if (threadCount <= 1) return new InlineRunner(input, ranges);
  for (const score of input.scores) {
    if (!(score.buffer instanceof SharedArrayBuffer))
      throw new Error('boosting threads need SharedArrayBuffer-backed scores (the threads write them)');
  }
  return new ThreadRunner(input, ranges, threadPool(threadCount));
}

type Shareable = Float64Array | Int32Array | Uint32Array | Uint16Array;

/** `array` itself when it is SharedArrayBuffer-backed, else a shared copy. */
export function shareArray<T extends Shareable>(array: T): T {
  if (array.buffer instanceof SharedArrayBuffer) return array;
  const Make = array.constructor as new (buffer: SharedArrayBuffer) => T;
  const copy = new Make(new SharedArrayBuffer(array.byteLength));
  (copy as Shareable).set(array);
  return copy;
}

/** BOOST_PARTS contiguous ranges of `n` rows, as equal as can be. */
function partRanges(n: number): Array<[number, number]> {
  return Array.from({ length: BOOST_PARTS }, (_, k) => [
    Math.floor((k * n) / BOOST_PARTS),
    Math.floor(((k + 1) * n) / BOOST_PARTS),
  ]);
}

/**
 * The parts' sums are added pairwise, ((0 + 1) + (2 + 3)): a thread holding parts 0 and 1 adds those
 * itself and sends one histogram, and the result is the same whoever adds.
 */
export function sumLosses(sums: readonly LossSum[]): LossSum {
  if (sums.length === 1) return sums[0] as LossSum;
  const half = sums.length >> 1;
  const a = sumLosses(sums.slice(0, half));
  const b = sumLosses(sums.slice(half));
  return { loss: a.loss + b.loss, weight: a.weight + b.weight };
}

/** Pairwise as sumLosses, into the first histogram. */
export function sumHistograms(hists: readonly Float64Array[]): Float64Array {
  if (hists.length === 1) return hists[0] as Float64Array;
  const half = hists.length >> 1;
  const a = sumHistograms(hists.slice(0, half));
  const b = sumHistograms(hists.slice(half));
  for (let i = 0; i < a.length; i++) a[i] = (a[i] as number) + (b[i] as number);
  return a;
}

class InlineRunner implements BoostRunner {
  private readonly parts: BoostPart[];

  constructor(input: BoostInput, ranges: ReadonlyArray<[number, number]>) {
    this.parts = ranges.map(([from, to]) => new BoostPart(input, from, to));
  }

  async start(iteration: number, grow: boolean): Promise<LossSum> {
    return sumLosses(this.parts.map((part) => part.start(iteration, grow)));
  }

  async level(work: LevelWork, size: number): Promise<Float64Array> {
    return sumHistograms(this.parts.map((part) => part.level(work, size)));
  }

  async finish(walkers: TreeWalker[], values: Float64Array[]): Promise<void> {
    for (const part of this.parts) part.finish(walkers, values);
  }

  close(): void {}
}

// ---------------------------------------------------------------------------------------------------
// threads

/** A request to a boosting thread (boostThread.ts); `runner` names the parts it holds for a round. */
export type ThreadRequest =
  | { op: 'open'; runner: number; input: BoostInput; ranges: Array<[number, number]> }
  | { op: 'start'; runner: number; iteration: number; grow: boolean }
  | { op: 'level'; runner: number; work: LevelWork; size: number }
  | { op: 'finish'; runner: number; walkers: TreeWalker[]; values: Float64Array[] }
  | { op: 'close'; runner: number };

/** A thread's answer: its parts' loss sum or histogram (summed as sumLosses does), or nothing. */
export type ThreadResult = LossSum | Float64Array | null;

export type ThreadReply = { id: number; result: ThreadResult } | { id: number; error: string };

class BoostThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  private nextId = 0;
  dead = false;

  constructor() {
    // The thread runs TypeScript like the rest of the server (under tsx): register tsx's loader in it
    // before importing the entry, as a worker does not inherit the loader of the thread that made it.
    const tsx = import.meta.resolve('tsx/esm/api');
    const entry = new URL('./boostThread.ts', import.meta.url).href;
    const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); })`;
    this.worker = new Worker(boot, { eval: true });
    this.worker.unref();
    this.worker.on('message', (reply: ThreadReply) => this.answer(reply));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`a boosting thread exited (code ${code})`)));
  }

  request<T>(message: ThreadRequest): Promise<T> {
    if (this.dead) return Promise.reject(new Error('a boosting thread has stopped'));
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

const threads: BoostThread[] = [];

/** `count` live threads, started on first use and kept for later rounds (a thread starts in ~0.2 s). */
function threadPool(count: number): BoostThread[] {
  for (let t = 0; t < count; t++) {
    const thread = threads[t];
    if (thread === undefined || thread.dead) threads[t] = new BoostThread();
  }
  return threads.slice(0, count);
}

let nextRunner = 0;

class ThreadRunner implements BoostRunner {
  private readonly id = nextRunner++;
  /** Parts held by each thread, by part index. */
  private readonly held: number[][];
  private readonly opened: Promise<unknown>;

  constructor(
    input: BoostInput,
    ranges: Array<[number, number]>,
    private readonly pool: BoostThread[],
  ) {
    const block = ranges.length / pool.length;
    this.held = pool.map((_, t) => Array.from({ length: block }, (_, j) => t * block + j));
    this.opened = Promise.all(
      pool.map((thread, t) =>
        thread.request({
          op: 'open',
          runner: this.id,
          input,
          ranges: (this.held[t] as number[]).map((k) => ranges[k] as [number, number]),
        }),
      ),
    );
    // A failed open surfaces at the round's first request; until then it is not an unhandled rejection.
    this.opened.catch(() => undefined);
  }

  async start(iteration: number, grow: boolean): Promise<LossSum> {
    return sumLosses(await this.all<LossSum>({ op: 'start', runner: this.id, iteration, grow }));
  }

  async level(work: LevelWork, size: number): Promise<Float64Array> {
    return sumHistograms(await this.all<Float64Array>({ op: 'level', runner: this.id, work, size }));
  }

  async finish(walkers: TreeWalker[], values: Float64Array[]): Promise<void> {
    await this.all({ op: 'finish', runner: this.id, walkers, values });
  }

  close(): void {
    for (const thread of this.pool) thread.request({ op: 'close', runner: this.id }).catch(() => undefined);
  }

  /** Sends `message` to every thread; each thread's result (its block of parts summed), in order. */
  private async all<T>(message: ThreadRequest): Promise<T[]> {
    await this.opened;
    return Promise.all(this.pool.map((thread) => thread.request<T>(message)));
  }
}
