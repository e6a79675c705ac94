import type { LossSum } from './boostGradients.ts';
import { type BoostInput, BoostPart, type LevelWork } from './boostPart.ts';
import type { TreeWalker } from './growTree.ts';
import { type TreeThread, threadPool, treeThreadCount } from './treeThreads.ts';

/**
 * Runs a local boosting round's per-row work (boostPart.ts) on all cores. The input is cut into
 * BOOST_PARTS fixed row ranges whatever the machine, and their sums are added pairwise in part order,
 * so a fit is bit-identical with any number of threads (treeThreads.ts: 1, 2 or 4, each holding a
 * block of consecutive parts, a whole branch of the pairwise sums): threads only decide where the
 * parts run. The input's typed arrays are SharedArrayBuffer-backed, so a thread reads the codes and
 * writes its rows' scores in place, and only tree splits, leaf values and histogram views travel in
 * messages.
 */

const BOOST_PARTS = 4;

export interface BoostRunner {
  /** Iteration's draws and gradients in every part (`grow`: and their roots' rows); the summed loss. */
  start(iteration: number, grow: boolean): Promise<LossSum>;
  /** Applies `work`'s splits and returns the built slots' histograms summed over the parts. */
  level(work: LevelWork, size: number): Promise<Float64Array>;
  /** Adds the finished trees' leaf values to the scores. */
  finish(walkers: TreeWalker[], values: Float64Array[]): Promise<void>;
  close(): void;
}

/** `kernels`: rowKernels.ts rowKernelModule, which each part instantiates. */
export function boostRunner(input: BoostInput, kernels: WebAssembly.Module): BoostRunner {
  const ranges = partRanges(input.weight.length);
  const threadCount = treeThreadCount();
  if (threadCount <= 1) return new InlineRunner(input, ranges, kernels);
  for (const score of input.scores) {
    if (!(score.buffer instanceof SharedArrayBuffer))
      throw new Error('boosting threads need SharedArrayBuffer-backed scores (the threads write them)');
  }
  return new ThreadRunner(input, ranges, kernels, threadPool(threadCount));
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

  constructor(input: BoostInput, ranges: ReadonlyArray<[number, number]>, kernels: WebAssembly.Module) {
    this.parts = ranges.map(([from, to]) => new BoostPart(input, from, to, kernels));
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

/** A request to a tree thread (treeThread.ts) about a round's parts (`runner` names the round). */
export type BoostRequest =
  | {
      op: 'open';
      runner: number;
      input: BoostInput;
      ranges: Array<[number, number]>;
      kernels: WebAssembly.Module;
    }
  | { op: 'start'; runner: number; iteration: number; grow: boolean }
  | { op: 'level'; runner: number; work: LevelWork; size: number }
  | { op: 'finish'; runner: number; walkers: TreeWalker[]; values: Float64Array[] }
  | { op: 'close'; runner: number };

let nextRunner = 0;

class ThreadRunner implements BoostRunner {
  private readonly id = nextRunner++;
  private readonly opened: Promise<unknown>;

  constructor(
    input: BoostInput,
    ranges: Array<[number, number]>,
    kernels: WebAssembly.Module,
    private readonly pool: TreeThread[],
  ) {
    // Thread t holds parts t * block .. (t + 1) * block - 1.
    const block = ranges.length / pool.length;
    this.opened = Promise.all(
      pool.map((thread, t) =>
        thread.request({
          op: 'open',
          runner: this.id,
          input,
          ranges: ranges.slice(t * block, (t + 1) * block),
          kernels,
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
  private async all<T>(message: BoostRequest): Promise<T[]> {
    await this.opened;
    return Promise.all(this.pool.map((thread) => thread.request<T>(message)));
  }
}
