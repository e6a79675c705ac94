import type { Table } from 'apache-arrow';
import type { DatasetMeta } from '../storage/datasetMeta.ts';
import type { StoredModel } from '../storage/modelStore.ts';

/** What a published dataset's meta.json says beyond what the job that wrote it knows. */
export type NewDatasetMeta = Omit<DatasetMeta, 'id' | 'tenant' | 'createdAt' | 'bytes'>;

/**
 * The files a job may touch, handed to `map` and `finalize`. Analyses that only summarise never use it;
 * data operations (rxDataStep, rxSort, rxMerge, rxSplit, predictions) write their output through it and
 * read a second input (rxMerge's right side) with it.
 *
 * Everything lives in one folder per job on the data folder all workers share, so any worker can write a
 * piece and the finalizer can publish it; the runner removes the folder when the job ends, whichever way
 * it ends, so a failed or cancelled job leaves nothing half-written.
 */
export interface JobIO {
  readonly jobId: string;
  /** The tenant that owns the job: datasets it reads must be this tenant's, datasets it writes become it. */
  readonly tenant: string;
  /** `<job folder>/<name>`, created on first use. Names are the analysis's own (no user text). */
  folder(name: string): Promise<string>;
  /** A dataset's meta; 404 `DATASET_NOT_FOUND` when it is missing or another tenant's. */
  datasetMeta(id: string): Promise<DatasetMeta>;
  /** Chunk `index` of any dataset the tenant owns (the input, or another such as rxMerge's right side). */
  readChunk(id: string, index: number, columns?: readonly string[]): Promise<Table>;
  /**
   * Writes `table` as chunk `index` of the dataset being built in `folder(name)`; returns the bytes
   * written. Idempotent: a retried task overwrites the same file.
   */
  writeChunk(name: string, index: number, table: Table): Promise<number>;
  /**
   * Publishes the chunks written into `folder(name)` as a new dataset of the job's tenant and returns its
   * meta. `meta.numChunks` chunk files 0..n-1 must exist. Called once, by `finalize`.
   */
  publish(name: string, meta: NewDatasetMeta): Promise<DatasetMeta>;
  /**
   * Stores a fitted model of the job's tenant (`name` tells apart several models of one job) and returns
   * it with its id. Idempotent: a finalizer re-run overwrites the same model.
   */
  saveModel(
    model: { type: string; formula: string | null; body: unknown },
    name?: string,
  ): Promise<StoredModel>;
  /** A model of the job's tenant; 404 `MODEL_NOT_FOUND` otherwise. */
  loadModel(id: string): Promise<StoredModel>;
}
