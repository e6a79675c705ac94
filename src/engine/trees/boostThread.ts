import { parentPort } from 'node:worker_threads';
import { BoostPart } from './boostPart.ts';
import { sumHistograms, sumLosses, type ThreadReply, type ThreadRequest } from './boostRunner.ts';

/**
 * A boosting thread (boostRunner.ts): holds the parts of each open round and runs the round's
 * requests on them, in order, answering with its parts' results summed.
 */

const rounds = new Map<number, BoostPart[]>();

function handle(request: ThreadRequest): { result: unknown; transfer: ArrayBuffer[] } {
  if (request.op === 'open') {
    const { input, ranges } = request;
    rounds.set(
      request.runner,
      ranges.map(([from, to]) => new BoostPart(input, from, to)),
    );
    return { result: null, transfer: [] };
  }
  if (request.op === 'close') {
    rounds.delete(request.runner);
    return { result: null, transfer: [] };
  }
  const parts = rounds.get(request.runner);
  if (parts === undefined) throw new Error(`boosting round ${request.runner} is not open in this thread`);
  switch (request.op) {
    case 'start':
      return {
        result: sumLosses(parts.map((part) => part.start(request.iteration, request.grow))),
        transfer: [],
      };
    case 'level': {
      const hist = sumHistograms(parts.map((part) => part.level(request.work, request.size)));
      return { result: hist, transfer: [hist.buffer as ArrayBuffer] };
    }
    case 'finish':
      for (const part of parts) part.finish(request.walkers, request.values);
      return { result: null, transfer: [] };
  }
}

parentPort?.on('message', (message: ThreadRequest & { id: number }) => {
  try {
    const { result, transfer } = handle(message);
    parentPort?.postMessage({ id: message.id, result } as ThreadReply, transfer);
  } catch (error) {
    const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
    parentPort?.postMessage({ id: message.id, error: text } as ThreadReply);
  }
});
