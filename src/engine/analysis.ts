import type { Table } from 'apache-arrow';
import type { TSchema } from 'typebox';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { StoredModel } from '../storage/modelStore.ts';
import type { ExecRuntime } from './exec/runtime.ts';
import type { JobIO } from './jobIO.ts';

/** One chunk of a dataset, as a chunk task hands it to `map`. */
export interface Chunk {
  /** 0-based chunk index in the dataset; with blocksPerRead > 1, the index of the first block read. */
  index: number;
  numRows: number;
  /** Index of the chunk's first row in the dataset (0-based), for row-dependent seeds. */
  startRow: number;
  table: Table;
}

export interface MapContext {
  /** 0-based round (pass over the data) of an iterative analysis; 0 for one-pass analyses. */
  round: number;
  /** The job's files: output chunks, scratch files, a second input dataset (see jobIO.ts). */
  io: JobIO;
  /** Runs user functions (the `exec` analysis); absent where the process offers none. */
  exec?: ExecRuntime;
  /**
   * False once the job was cancelled or has failed. A long task (exec runs) asks between units of work,
   * so it stops early, and the asking tells the job watchdog the task is alive. Absent in process.
   */
  stillRunning?(): Promise<boolean>;
  /**
   * In a `partitions` round of a job with a dataset: chunk `index` of the job's input as a `chunks`
   * round would see it (transforms and rowSelection applied, `columnsUsed` read), for analyses that
   * fit data small enough for one worker in one task (trees/localData.ts).
   */
  readInput?(index: number): Promise<Chunk>;
}

/** What `init` may know beyond the job's dataset: the metas of the datasets named by `extraInputs`. */
export interface InitContext {
  /** By id; the runner has checked each exists and belongs to the job's tenant (404 otherwise). */
  datasets: ReadonlyMap<string, DatasetMeta>;
  /** The models named by `modelInputs`, by id; checked to exist and to be the tenant's (404 otherwise). */
  models?: ReadonlyMap<string, StoredModel>;
  /** The registered functions and limits of `exec` jobs; absent where the process offers none. */
  exec?: ExecRuntime;
}

export interface FinalizeContext {
  io: JobIO;
}

/**
 * What one round's tasks read. Most rounds read the chunks of the job's dataset (after its transforms
 * and rowSelection); data operations may read another dataset's stored chunks (rxMerge's right side) or
 * run `count` partition tasks that find their input in the job's folder (the buckets of a sort or join).
 */
export type RoundInput = { kind: 'chunks'; dataset: string } | { kind: 'partitions'; count: number };

export type FinalizeOutcome<State, Result> =
  | { done: true; result: Result }
  | { done: false; state: State; message?: string };

/**
 * One analysis, written once and run anywhere: in process (tests, tiny data) and across the queue.
 *
 * - `init` checks the params against the dataset's variables and returns the plan (`State`); it throws
 *   `EngineError` for bad input, so the API rejects a job before anything is queued.
 * - `map` turns one chunk into a small partial (sufficient statistics, never rows).
 * - `merge` is associative; the runner always merges in chunk-index order so results do not depend on
 *   the number of workers or the order chunks finish.
 * - `finalize` either ends with a result or returns the state for another round (another pass).
 * - `map` and `finalize` may be async: data operations write chunks and publish datasets through
 *   `context.io`; summaries never need to.
 *
 * `State` must be plain JSON data (it is stored in the coordinator job); partials may hold typed arrays
 * and cross process boundaries through `encodePartial` / `decodePartial` (see codec.ts).
 */
export interface Analysis<Params, State, Partial, Result> {
  readonly name: string;
  /** TypeBox schema of `params`; the API validates and documents requests with the same object. */
  readonly paramsSchema: TSchema;
  /** TypeBox schema of the result, for the OpenAPI document and generated clients. */
  readonly resultSchema: TSchema;
  /**
   * True when a job may name no dataset (rxExec): `init` then gets `noDatasetMeta` (no rows, no
   * variables) and every round must be a `partitions` round.
   */
  readonly datasetOptional?: boolean;
  init(params: Params, dataset: DatasetMeta, context: InitContext): State;
  /** Ids of other datasets the job reads (rxMerge's `right`), so `init` can check their variables too. */
  extraInputs?(params: Params): string[];
  /** Ids of stored models the job uses (rxPredict's model), so `init` can check the data against them. */
  modelInputs?(params: Params): string[];
  /** Variables `map` reads, so chunk tasks can load only those columns. */
  columnsUsed(state: State): string[];
  map(chunk: Chunk, state: State, context: MapContext): Partial | Promise<Partial>;
  merge(a: Partial, b: Partial): Partial;
  finalize(
    partial: Partial,
    state: State,
    context: FinalizeContext,
  ): FinalizeOutcome<State, Result> | Promise<FinalizeOutcome<State, Result>>;
  /** The input of the round `state` starts; absent or null = the job's dataset, as usual. */
  roundInput?(state: State): RoundInput | null;
  /** Maps partition `partition` of a `partitions` round (required when `roundInput` returns one). */
  mapPartition?(partition: number, state: State, context: MapContext): Partial | Promise<Partial>;
}

/**
 * An analysis with its type parameters erased, as registries and runners hold it (method parameters
 * are bivariant, so every concrete analysis is assignable to this).
 */
export type AnyAnalysis = Analysis<unknown, unknown, unknown, unknown>;
