import type { Table } from 'apache-arrow';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { StoredModel } from '../storage/modelStore.ts';
import type { AnyAnalysis, Chunk, MapContext } from './analysis.ts';
import { decodePartial, encodePartial } from './codec.ts';
import { planInput } from './commonParams.ts';
import type { ExecRuntime } from './exec/runtime.ts';
import type { JobIO } from './jobIO.ts';

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
 *    A round may read another dataset's chunks or run partition tasks (`roundInput`), as on the queue.
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
  /** The job's files (data operations need them: storage/jobFiles.ts); without it, only the chunks given. */
  io?: JobIO;
  /** What `exec` runs functions with (src/exec/service.ts); other analyses need none. */
  exec?: ExecRuntime;
}

/** JobIO of a run with no job folder: analyses that only read their input need nothing more. */
function noFilesIO(): JobIO {
  const refuse = (): never => {
    throw new Error('this in-process run has no job folder: pass options.io (see storage/jobFiles.ts)');
  };
  return {
    jobId: 'in-process',
    tenant: 'local',
    folder: async () => refuse(),
    datasetMeta: async () => refuse(),
    readChunk: async (): Promise<Table> => refuse(),
    writeChunk: async () => refuse(),
    publish: async () => refuse(),
    saveModel: async () => refuse(),
    loadModel: async () => refuse(),
  };
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
  const io = options.io ?? noFilesIO();
  const count = typeof chunks === 'function' ? meta.numChunks : chunks.length;
  const load = async (index: number): Promise<Chunk> => {
    if (typeof chunks === 'function') return chunks(index);
    const chunk = chunks[index];
    if (chunk === undefined) throw new Error(`no chunk ${index}`);
    return chunk;
  };
  // A job without a dataset (rxExec) has nothing to read: its rounds are partitions.
  if (count === 0 && !analysis.datasetOptional) throw new Error('runInProcess needs at least one chunk');

  // The common params (transforms, rowSelection, blocksPerRead) are the runner's, as on the queue.
  const input = planInput((params ?? {}) as Record<string, unknown>, meta);
  const datasets = new Map<string, DatasetMeta>();
  for (const id of analysis.extraInputs?.(input.analysisParams) ?? [])
    datasets.set(id, await io.datasetMeta(id));
  const models = new Map<string, StoredModel>();
  for (const id of analysis.modelInputs?.(input.analysisParams) ?? []) models.set(id, await io.loadModel(id));
  const exec = options.exec;
  let state = throughJson(
    analysis.init(input.analysisParams, input.meta, { datasets, models, ...(exec ? { exec } : {}) }),
  );
  const rowOps = input.rowOps;
  const loadInput = async (index: number): Promise<Chunk> => {
    const chunk = await load(index);
    if (!rowOps) return chunk;
    const table = rowOps.apply(chunk.table, analysis.columnsUsed(state));
    return { ...chunk, numRows: table.numRows, table };
  };
  for (let round = 0; round < maxRounds; round++) {
    const context: MapContext = { round, io, ...(exec ? { exec } : {}) };
    const input = analysis.roundInput?.(state) ?? null;
    const partials: Array<() => Promise<unknown>> = [];
    if (input === null) {
      for (let index = 0; index < count; index++)
        partials.push(async () => analysis.map(await loadInput(index), state, context));
    } else if (input.kind === 'chunks') {
      const other = await io.datasetMeta(input.dataset);
      let startRow = 0;
      for (let index = 0; index < other.numChunks; index++) {
        const start = startRow;
        startRow += other.chunkRows[index] ?? 0;
        partials.push(async () => {
          const table = await io.readChunk(input.dataset, index);
          return analysis.map({ index, numRows: table.numRows, startRow: start, table }, state, context);
        });
      }
    } else {
      const mapPartition = analysis.mapPartition?.bind(analysis);
      if (!mapPartition) throw new Error(`${analysis.name} asked for partitions but has no mapPartition`);
      const withInput: MapContext = count > 0 ? { ...context, readInput: loadInput } : context;
      for (let p = 0; p < input.count; p++) partials.push(async () => mapPartition(p, state, withInput));
    }
    let merged: unknown;
    for (let i = 0; i < partials.length; i++) {
      const partial = decodePartial(encodePartial(await partials[i]!()));
      merged = i === 0 ? partial : analysis.merge(merged, partial);
    }
    const outcome = await analysis.finalize(merged, state, { io });
    if (outcome.done) return { result: outcome.result, rounds: round + 1 };
    state = throughJson(outcome.state);
  }
  throw new Error(`${analysis.name} did not finish within ${maxRounds} rounds`);
}
