import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isId } from './ids.ts';

/**
 * A fitted model (rxLinMod, rxLogit, rxGlm, rxKmeans, trees...) as stored for listing and prediction.
 * `body` is the analysis's own description: everything its predict needs (terms, coefficients, factor
 * levels, trees); the analysis that wrote it is the only one that reads it.
 */
export interface StoredModel {
  /** `mdl_` id. */
  id: string;
  tenant: string;
  /** The analysis that fitted it: `linMod`, `logit`, `glm`, `kmeans`, ... */
  type: string;
  createdAt: string;
  /** The job that fitted it, and its training dataset. */
  jobId: string;
  dataset: string;
  formula: string | null;
  body: unknown;
}

export type NewModel = Omit<StoredModel, 'id' | 'createdAt'>;

/**
 * Models as one JSON file each under `<dataDir>/models/`, on the folder every worker shares. Writes go to
 * a temporary file and are renamed, so a reader never sees half a model.
 */
export class ModelStore {
  private readonly root: string;

  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'models');
  }

  /**
   * The id of the model a job saves under `name`: derived from the job, so a finalizer re-run after a
   * crash overwrites the same model instead of leaving a second one behind.
   */
  static idFor(jobId: string, name = 'model'): string {
    return `mdl_${createHash('sha256').update(`${jobId}/${name}`).digest('hex').slice(0, 20)}`;
  }

  async save(model: NewModel, name = 'model'): Promise<StoredModel> {
    const stored: StoredModel = {
      id: ModelStore.idFor(model.jobId, name),
      tenant: model.tenant,
      type: model.type,
      createdAt: new Date().toISOString(),
      jobId: model.jobId,
      dataset: model.dataset,
      formula: model.formula,
      body: model.body,
    };
    await mkdir(this.root, { recursive: true });
    const file = this.file(stored.id);
    const temporary = `${file}.${process.pid}.tmp`;
    await writeFile(temporary, JSON.stringify(stored));
    await rename(temporary, file);
    return stored;
  }

  /** The model, or null when it does not exist or belongs to another tenant. */
  async get(tenant: string, id: string): Promise<StoredModel | null> {
    if (!isId('mdl', id)) return null;
    try {
      const model = JSON.parse(await readFile(this.file(id), 'utf8')) as StoredModel;
      return model.tenant === tenant ? model : null;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  /** The tenant's models, newest first. */
  async list(tenant: string): Promise<StoredModel[]> {
    const names = await readdir(this.root).catch(() => [] as string[]);
    const models: StoredModel[] = [];
    for (const name of names) {
      if (!name.endsWith('.json')) continue;
      const model = await this.get(tenant, name.slice(0, -'.json'.length));
      if (model) models.push(model);
    }
    return models.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
  }

  async delete(tenant: string, id: string): Promise<boolean> {
    if (!(await this.get(tenant, id))) return false;
    await rm(this.file(id), { force: true });
    return true;
  }

  private file(id: string): string {
    return path.join(this.root, `${id}.json`);
  }
}
