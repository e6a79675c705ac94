import type { Table } from 'apache-arrow';
import type { TSchema } from 'typebox';
import type { ExecPartition } from '../engine/exec/runtime.ts';
import type { DatasetMeta } from '../storage/datasetMeta.ts';

/**
 * The contract of a registered function: a module in EXEC_PLUGINS_DIR exporting `name`, `argsSchema`
 * and `run` (see plugins/piEstimate.ts). The operator installs plugins; they are trusted code, run in a
 * helper process of each worker (so a run that hangs past its timeoutMs is stopped by ending that
 * process, and a crash costs the run, not the worker).
 */
export interface ExecPlugin<Args = Record<string, unknown>> {
  /** The name jobs call it by (`params.function`); unique over all plugin folders. */
  readonly name: string;
  /** TypeBox schema of one run's arguments; the API checks every run's args with it before queuing. */
  readonly argsSchema: TSchema;
  readonly description?: string;
  /** One run. Returns JSON-able data (at most EXEC_MAX_RESULT_BYTES of JSON); throwing fails the run. */
  run(args: Args, ctx: ExecContext): unknown;
}

export type { ExecPartition };

/** What a run gets besides its arguments. */
export interface ExecContext {
  /** 0-based run number (the run's place in the result). */
  readonly runIndex: number;
  /**
   * Uniform random numbers in [0, 1), from a stream fixed by (the job's seed, runIndex): a run draws the
   * same numbers on any worker, with any number of workers.
   */
  random(): number;
  /** The job's dataset, or null for a job without one. */
  readonly dataset: string | null;
  /** rxExecBy: this run's chunk or factor level of `dataset`; null for rxExec runs. */
  readonly partition: ExecPartition | null;
  /** Chunk `index` of a dataset of the job's tenant (404 DATASET_NOT_FOUND for any other). */
  readChunk(dataset: string, index: number, columns?: readonly string[]): Promise<Table>;
  /** The meta of a dataset of the job's tenant. */
  datasetMeta(dataset: string): Promise<DatasetMeta>;
  /**
   * The rows of this run's partition, chunk by chunk: for a chunk partition the chunk itself (`rows`
   * null = every row); for a level partition every chunk holding the level, with `rows` the indices of
   * its rows in `table`. Throws outside rxExecBy.
   */
  readPartition(columns?: readonly string[]): AsyncIterable<PartitionPiece>;
}

export interface PartitionPiece {
  chunk: number;
  table: Table;
  /** Indices of the partition's rows in `table`, or null when all of them belong to it. */
  rows: Int32Array | null;
}
