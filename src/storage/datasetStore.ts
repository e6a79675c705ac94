import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { type Table, tableFromIPC } from 'apache-arrow';
import { ChunkCache } from './chunkCache.ts';
import { chunkPath, readWholeFile } from './chunkFiles.ts';
import type { DatasetMeta } from './datasetMeta.ts';
import { isId } from './ids.ts';

/** The chunk could not be read because the dataset is gone (deleted while a job used it). */
export class DatasetMissingError extends Error {
  override name = 'DatasetMissingError';
}

/**
 * Datasets on a filesystem shared by the API and every worker: `<dataDir>/datasets/<id>/` holds
 * `meta.json` and `chunks/`. Imports write into `<dataDir>/staging/<tmp>/` and appear by one rename, so a
 * reader never sees half a dataset; deletion renames the folder away first for the same reason.
 */
export class DatasetStore {
  readonly root: string;
  private readonly stagingRoot: string;
  /** Datasets are immutable, so their meta can be cached for as long as the folder exists. */
  private readonly metaCache = new Map<string, DatasetMeta>();
  private readonly chunkCache: ChunkCache | null;

  /** `chunkCacheBytes` > 0 keeps recently read chunks in memory (worker processes; see chunkCache.ts). */
  constructor(dataDir: string, options: { chunkCacheBytes?: number } = {}) {
    this.root = path.join(dataDir, 'datasets');
    this.stagingRoot = path.join(dataDir, 'staging');
    const budget = options.chunkCacheBytes ?? 0;
    this.chunkCache = budget > 0 ? new ChunkCache(budget) : null;
  }

  /** Creates the folders and removes staging leftovers of a process that died mid-import. */
  async open(options: { clearStaging: boolean }): Promise<void> {
    if (options.clearStaging) await rm(this.stagingRoot, { recursive: true, force: true });
    await mkdir(this.root, { recursive: true });
    await mkdir(this.stagingRoot, { recursive: true });
  }

  async createStaging(): Promise<string> {
    await mkdir(this.stagingRoot, { recursive: true });
    return mkdtemp(path.join(this.stagingRoot, 'import-'));
  }

  async discardStaging(stagingDir: string): Promise<void> {
    await rm(stagingDir, { recursive: true, force: true });
  }

  /** Writes meta.json into the staging folder and publishes it under the dataset id. */
  async commit(stagingDir: string, meta: DatasetMeta): Promise<void> {
    await writeFile(path.join(stagingDir, 'meta.json'), JSON.stringify(meta, null, 1));
    await rename(stagingDir, this.dir(meta.id));
    this.metaCache.set(meta.id, meta);
  }

  dir(id: string): string {
    if (!isId('ds', id)) throw new DatasetMissingError(`'${id}' is not a dataset id`);
    return path.join(this.root, id);
  }

  async get(id: string): Promise<DatasetMeta | null> {
    if (!isId('ds', id)) return null;
    const cached = this.metaCache.get(id);
    if (cached) return cached;
    try {
      const meta = JSON.parse(await readFile(path.join(this.dir(id), 'meta.json'), 'utf8')) as DatasetMeta;
      this.metaCache.set(id, meta);
      return meta;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** The tenant's datasets, newest first. */
  async list(tenant: string): Promise<DatasetMeta[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const metas = await Promise.all(names.filter((n) => isId('ds', n)).map((n) => this.get(n)));
    return metas
      .filter((m): m is DatasetMeta => m !== null && m.tenant === tenant)
      .sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  async delete(id: string): Promise<boolean> {
    const dir = this.dir(id);
    const trash = `${dir}.deleting-${process.pid}-${Date.now()}`;
    try {
      await rename(dir, trash);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    this.metaCache.delete(id);
    this.chunkCache?.dropDataset(id);
    await rm(trash, { recursive: true, force: true });
    return true;
  }

  /**
   * Reads chunk `index`; with `columns`, only those (Arrow IPC keeps columns apart, so this is cheap).
   * `evict: false` caches the chunk only where there is room to spare (see ChunkCache.set).
   */
  async readChunk(
    id: string,
    index: number,
    columns?: readonly string[],
    options: { evict?: boolean } = {},
  ): Promise<Table> {
    const table = tableFromIPC(await this.chunkBytes(id, index, options));
    return columns ? table.select(columns as string[]) : table;
  }

  /** Whether this process has chunk `index` of a dataset in memory (a read would not touch the disk). */
  isChunkCached(id: string, index: number): boolean {
    return this.chunkCache?.has(`${id}/${index}`) ?? false;
  }

  private async chunkBytes(id: string, index: number, options: { evict?: boolean }): Promise<Buffer> {
    const dir = this.dir(id);
    const key = `${id}/${index}`;
    try {
      const cached = this.chunkCache?.get(key);
      if (cached !== undefined) {
        // Another process may have deleted the dataset since: a cheap check keeps the cache honest.
        await access(path.join(dir, 'meta.json'));
        return cached;
      }
      const bytes = await readWholeFile(chunkPath(dir, index));
      this.chunkCache?.set(key, bytes, options);
      return bytes;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        this.metaCache.delete(id);
        this.chunkCache?.dropDataset(id);
        throw new DatasetMissingError(`dataset '${id}' was deleted (chunk ${index} is gone)`);
      }
      throw error;
    }
  }
}
