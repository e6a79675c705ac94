import { parentPort } from 'node:worker_threads';
import { BoostPart } from './boostPart.ts';
import { sumHistograms, sumLosses } from './boostRunner.ts';
import type { ThreadReply, ThreadRequest } from './treeThreads.ts';

/**
 * A tree thread (treeThreads.ts). For boosting (boostRunner.ts) it holds the parts of each open round
 * and runs the round's requests on them, in order, answering with its parts' results summed; for a
 * forest it grows the trees it is asked for.
 */

const rounds = new Map<number, BoostPart[]>();
/** Loaded on the first forest request: a boosting thread then starts without the analysis modules. */
let forest: Promise<typeof import('../analyses/dForest.ts')> | null = null;

async function handle(request: ThreadRequest): Promise<unknown> {
  if (request.op === 'forestTree') {
    forest ??= import('../analyses/dForest.ts');
    return (await forest).growForestTree(request);
  }
  if (request.op === 'open') {
    const { input, ranges, kernels } = request;
    rounds.set(
      request.runner,
      ranges.map(([from, to]) => new BoostPart(input, from, to, kernels)),
    );
    return null;
  }
  if (request.op === 'close') {
    rounds.delete(request.runner);
    return null;
  }
  const parts = rounds.get(request.runner);
  if (parts === undefined) throw new Error(`boosting round ${request.runner} is not open in this thread`);
  switch (request.op) {
    case 'start':
      return sumLosses(parts.map((part) => part.start(request.iteration, request.grow)));
    case 'level':
      // The sum is in the first part's shared buffer: main reads it in place.
      return sumHistograms(parts.map((part) => part.level(request.work, request.size)));
    case 'finish':
      for (const part of parts) part.finish(request.walkers, request.values);
      return null;
  }
}

/** Requests are answered one at a time, in order (the first forest request waits for its module). */
let queue: Promise<void> = Promise.resolve();

parentPort?.on('message', (message: ThreadRequest & { id: number }) => {
  queue = queue.then(async () => {
    try {
      parentPort?.postMessage({ id: message.id, result: await handle(message) } satisfies ThreadReply);
    } catch (error) {
      const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
      parentPort?.postMessage({ id: message.id, error: text } satisfies ThreadReply);
    }
  });
});
