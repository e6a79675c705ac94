import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { RecordBatchFileWriter, type Table } from 'apache-arrow';
import type { JobIO, NewDatasetMeta } from '../engine/jobIO.ts';
import { UserError } from '../userError.ts';
import { chunkPath } from './chunkFiles.ts';
import type { DatasetMeta } from './datasetMeta.ts';
import type { DatasetStore } from './datasetStore.ts';
import { isId, newId } from './ids.ts';
import { ModelStore, type StoredModel } from './modelStore.ts';

/** `<dataDir>/jobs/<jobId>`: the job's scratch and output folders (see JobIO). */
export function jobDir(dataDir: string, jobId: string): string {
  return path.join(dataDir, 'jobs', jobId);
}

/** Removes everything a job wrote that was not published. Safe to call more than once. */
export async function removeJobFiles(dataDir: string, jobId: string): Promise<void> {
  if (!isId('job', jobId)) return;
  await rm(jobDir(dataDir, jobId), { recursive: true, force: true });
}

const FOLDER_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** JobIO over the shared data folder, as both the queue runner and the in-process runner use it. */
export class JobFiles implements JobIO {
  private readonly root: string;
  private readonly models: ModelStore;

  /** `dataset`: the job's input, recorded as a saved model's training data. */
  constructor(
    private readonly store: DatasetStore,
    dataDir: string,
    readonly jobId: string,
    readonly tenant: string,
    private readonly dataset = '',
  ) {
    this.root = jobDir(dataDir, jobId);
    this.models = new ModelStore(dataDir);
  }

  saveModel(
    model: { type: string; formula: string | null; body: unknown },
    name?: string,
  ): Promise<StoredModel> {
    return this.models.save(
      { ...model, tenant: this.tenant, jobId: this.jobId, dataset: this.dataset },
      name,
    );
  }

  async loadModel(id: string): Promise<StoredModel> {
    const model = await this.models.get(this.tenant, id);
    if (!model) throw new UserError(404, 'MODEL_NOT_FOUND', `no model '${id}'`);
    return model;
  }

  async folder(name: string): Promise<string> {
    if (!FOLDER_NAME.test(name)) throw new Error(`job folder name '${name}' is not a plain name`);
    const dir = path.join(this.root, name);
    await mkdir(path.join(dir, 'chunks'), { recursive: true });
    return dir;
  }

  async datasetMeta(id: string): Promise<DatasetMeta> {
    const meta = await this.store.get(id);
    if (!meta || meta.tenant !== this.tenant)
      throw new UserError(404, 'DATASET_NOT_FOUND', `no dataset '${id}'`);
    return meta;
  }

  async readChunk(id: string, index: number, columns?: readonly string[]): Promise<Table> {
    await this.datasetMeta(id);
    return this.store.readChunk(id, index, columns);
  }

  async writeChunk(name: string, index: number, table: Table): Promise<number> {
    const file = chunkPath(await this.folder(name), index);
    // Written under a temporary name and renamed, so a task killed mid-write never leaves a torn chunk
    // that a retry or the finalizer would take for a whole one.
    const temporary = `${file}.${process.pid}.tmp`;
    const pieces: Uint8Array[] = [];
    for await (const piece of RecordBatchFileWriter.writeAll(table)) pieces.push(piece);
    await writeFile(temporary, pieces);
    await rename(temporary, file);
    return (await stat(file)).size;
  }

  async publish(name: string, meta: NewDatasetMeta): Promise<DatasetMeta> {
    // The id is chosen and recorded before the rename, so a finalizer re-run after a crash finds the
    // dataset it already published instead of failing on a folder that was moved away.
    const marker = path.join(this.root, `${name}.published.json`);
    const recorded = await readFile(marker, 'utf8').then(
      (text) => JSON.parse(text) as DatasetMeta,
      () => null,
    );
    if (recorded && (await this.store.get(recorded.id))) return recorded;
    const dir = await this.folder(name);
    let bytes = 0;
    for (let index = 0; index < meta.numChunks; index++) bytes += (await stat(chunkPath(dir, index))).size;
    const full: DatasetMeta = {
      id: recorded?.id ?? newId('ds'),
      name: meta.name,
      tenant: this.tenant,
      createdAt: recorded?.createdAt ?? new Date().toISOString(),
      numRows: meta.numRows,
      numChunks: meta.numChunks,
      rowsPerChunk: meta.rowsPerChunk,
      chunkRows: meta.chunkRows,
      bytes,
      source: meta.source,
      variables: meta.variables,
    };
    await writeFile(marker, JSON.stringify(full));
    await this.store.commit(dir, full);
    return full;
  }
}
