import type { Table } from 'apache-arrow';
import type { JobIO } from '../../src/engine/jobIO.ts';
import { setLocalTreeLimit } from '../../src/engine/trees/localData.ts';
import { setTreeThreads } from '../../src/engine/trees/treeThreads.ts';
import type { StoredModel } from '../../src/storage/modelStore.ts';
import { makeDataset, parseCsv, referenceText, type TestDataset } from './helpers.ts';

/** A JobIO that keeps saved models in memory (tree analyses store their model in finalize). */
export function modelIO(): JobIO & { models: StoredModel[] } {
  const models: StoredModel[] = [];
  const refuse = (): never => {
    throw new Error('not available in this test');
  };
  return {
    jobId: 'job_test',
    tenant: 'local',
    models,
    folder: async () => refuse(),
    datasetMeta: async () => refuse(),
    readChunk: async (): Promise<Table> => refuse(),
    writeChunk: async () => refuse(),
    publish: async () => refuse(),
    async saveModel(model, name = 'model') {
      const stored: StoredModel = {
        id: `mdl_${String(models.length).padStart(20, '0')}`,
        tenant: 'local',
        type: model.type,
        createdAt: new Date(0).toISOString(),
        jobId: `job_test/${name}`,
        dataset: 'ds_test',
        formula: model.formula,
        body: JSON.parse(JSON.stringify(model.body)),
      };
      models.push(stored);
      return stored;
    },
    loadModel: async () => refuse(),
  };
}

/** rpart's kyphosis data (81 rows) in chunks of `rowsPerChunk`. */
export async function kyphosis(rowsPerChunk: number): Promise<TestDataset> {
  const { rows } = parseCsv(await referenceText('r_reference/data/kyphosis.csv'));
  return makeDataset(
    [
      { name: 'Kyphosis', type: 'factor', values: rows.map((r) => r[0] as string) },
      { name: 'Age', type: 'integer', values: rows.map((r) => Number(r[1])) },
      { name: 'Number', type: 'integer', values: rows.map((r) => Number(r[2])) },
      { name: 'Start', type: 'integer', values: rows.map((r) => Number(r[3])) },
    ],
    rowsPerChunk,
  );
}

/** All chunks of a test dataset as one table (for scoring the training data in one go). */
export function tablesOf(dataset: TestDataset): Table[] {
  return dataset.chunks.map((c) => c.table);
}

/**
 * `fit` run with 1, 2 and 4 tree threads (src/engine/trees/treeThreads.ts): the first result, and the
 * others to compare with it.
 */
export async function onEachThreadCount<T>(fit: () => Promise<T>): Promise<{ one: T; others: T[] }> {
  const fits: T[] = [];
  for (const threads of [1, 2, 4]) {
    const previous = setTreeThreads(threads);
    try {
      fits.push(await fit());
    } finally {
      setTreeThreads(previous);
    }
  }
  return { one: fits[0] as T, others: fits.slice(1) };
}

/** `run` with local tree fits off (src/engine/trees/localData.ts): every fit grows in level passes. */
export async function inLevelPasses<T>(run: () => Promise<T>): Promise<T> {
  const previous = setLocalTreeLimit(0);
  try {
    return await run();
  } finally {
    setLocalTreeLimit(previous);
  }
}
