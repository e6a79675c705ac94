import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { AnyAnalysis, Chunk } from './analysis.ts';
import { decodePartial, encodePartial } from './codec.ts';

/**
 * Runs an analysis over chunks in this process, exactly as the queue runs it, so tests and tiny data
 * get the same answer (bit for bit) as the workers:
 *
 * 1. `state = init(params, meta)` (throws EngineError for bad input);
 * 2. each round: `partial_i = map(chunk_i, state, { round })` for every chunk, in any order;
 * 3. the partials are merged in CHUNK-INDEX order as a left fold:
 *    `((p0 (+) p1) (+) p2) (+) ... (+) p_{n-1}`. Merge is associative only up to rounding, so this order
 *    is part of the contract: the queue runner folds in the same order (tasks of `blocksPerRead`
 *    consecutive chunks fold their chunks the same way, then the coordinator folds the tasks);
 * 4. `finalize(merged, state)`: a result, or a new state for another round (another pass).
 *
 * Every partial goes through `encodePartial` / `decodePartial` before it is merged, and every state
 * through JSON, as they do between processes, so tests exercise the codec and catch state that is not
 * plain JSON.
 */

/** Chunks as an array, or a loader called with each chunk index (0 .. meta.numChunks - 1). */
export type ChunkSource = readonly Chunk[] | ((index: number) => Promise<Chunk>);

export interface RunOptions {
  /** Rounds before giving up (a guard against an analysis that never finishes). @defaultValue 100 */
  maxRounds?: number;
}

export interface RunOutcome {
  result: unknown;
  /** Rounds (passes over the data) taken. */
  rounds: number;
}

function throughJson<T>(state: T): T {
  return JSON.parse(JSON.stringify(state)) as T;
}

/** Runs `analysis` to completion and returns its result. */
export async function runInProcess(
  analysis: AnyAnalysis,
  params: unknown,
  meta: DatasetMeta,
  chunks: ChunkSource,
  options: RunOptions = {},
): Promise<unknown> {
  return (await runInProcessDetailed(analysis, params, meta, chunks, options)).result;
}

/** As `runInProcess`, also saying how many rounds it took. */
export async function runInProcessDetailed(
  analysis: AnyAnalysis,
  params: unknown,
  meta: DatasetMeta,
  chunks: ChunkSource,
  options: RunOptions = {},
): Promise<RunOutcome> {
  const maxRounds = options.maxRounds ?? 100;
  const count = typeof chunks === 'function' ? meta.numChunks : chunks.length;
  const load = async (index: number): Promise<Chunk> => {
    if (typeof chunks === 'function') return chunks(index);
    const chunk = chunks[index];
    if (chunk === undefined) throw new Error(`no chunk ${index}`);
    return chunk;
  };
  if (count === 0) throw new Error('runInProcess needs at least one chunk');

  let state = throughJson(analysis.init(params, meta));
  for (let round = 0; round < maxRounds; round++) {
    let merged: unknown;
    for (let index = 0; index < count; index++) {
      const partial = decodePartial(encodePartial(analysis.map(await load(index), state, { round })));
      merged = index === 0 ? partial : analysis.merge(merged, partial);
    }
    const outcome = analysis.finalize(merged, state);
    if (outcome.done) return { result: outcome.result, rounds: round + 1 };
    state = throughJson(outcome.state);
  }
  throw new Error(`${analysis.name} did not finish within ${maxRounds} rounds`);
}
