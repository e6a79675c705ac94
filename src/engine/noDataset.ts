import type { DatasetMeta } from '../storage/datasetMeta.ts';

/**
 * The dataset of a job that reads none (rxExec without data): no rows, no chunks, no variables. Only
 * analyses with `datasetOptional` ever see it.
 */
export function noDatasetMeta(tenant: string): DatasetMeta {
  return {
    id: '',
    name: '',
    tenant,
    createdAt: new Date(0).toISOString(),
    numRows: 0,
    numChunks: 0,
    rowsPerChunk: 0,
    chunkRows: [],
    bytes: 0,
    source: 'none',
    variables: [],
  };
}

export function isNoDataset(meta: DatasetMeta): boolean {
  return meta.id === '';
}
