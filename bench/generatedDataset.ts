import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { tableFromArrays, tableToIPC } from 'apache-arrow';
import { dictionaryData, levelsVector, tableFromData } from '../src/arrowData.ts';
import { chunkPath } from '../src/storage/chunkFiles.ts';
import type { DatasetMeta, VarInfo } from '../src/storage/datasetMeta.ts';
import type { DatasetStore } from '../src/storage/datasetStore.ts';
import { newId } from '../src/storage/ids.ts';
import { seededRandom } from '../test/engine/helpers.ts';

/**
 * Writes a numeric dataset (columns x1..xN, values 100 + 10*u) straight into the store, chunk by chunk,
 * without going through import: benchmarks of analyses should not wait on a 1 GB CSV first.
 * `value` replaces the default values (given the 0-based row, column and the seeded uniform source);
 * `onChunk` sees each chunk's columns, e.g. to keep them for a baseline loop.
 */
export async function writeNumericDataset(
  store: DatasetStore,
  options: {
    rows: number;
    columns: number;
    rowsPerChunk: number;
    tenant?: string;
    seed?: number;
    value?: (row: number, column: number, random: () => number) => number;
  },
  onChunk?: (columns: Float64Array[]) => void,
): Promise<DatasetMeta> {
  const staging = await store.createStaging();
  await mkdir(path.join(staging, 'chunks'), { recursive: true });
  const next = seededRandom(options.seed ?? 1);
  const names = Array.from({ length: options.columns }, (_, i) => `x${i + 1}`);
  const low = new Array<number>(options.columns).fill(Infinity);
  const high = new Array<number>(options.columns).fill(-Infinity);
  const chunkRows: number[] = [];
  let bytes = 0;
  for (let start = 0; start < options.rows; start += options.rowsPerChunk) {
    const n = Math.min(options.rowsPerChunk, options.rows - start);
    const columns = names.map(() => new Float64Array(n));
    for (let c = 0; c < columns.length; c++) {
      const column = columns[c]!;
      if (options.value) for (let i = 0; i < n; i++) column[i] = options.value(start + i, c, next);
      else for (let i = 0; i < n; i++) column[i] = 100 + 10 * next();
      for (let i = 0; i < n; i++) {
        if (column[i]! < low[c]!) low[c] = column[i]!;
        if (column[i]! > high[c]!) high[c] = column[i]!;
      }
    }
    onChunk?.(columns);
    const table = tableFromArrays(Object.fromEntries(names.map((name, c) => [name, columns[c]!])));
    const ipc = tableToIPC(table, 'file');
    await writeFile(chunkPath(staging, chunkRows.length), ipc);
    bytes += ipc.byteLength;
    chunkRows.push(n);
  }
  const variables: VarInfo[] = names.map((name, c) => ({
    name,
    type: 'numeric',
    low: low[c]!,
    high: high[c]!,
    missing: 0,
  }));
  const meta: DatasetMeta = {
    id: newId('ds'),
    name: `bench-${options.rows}x${options.columns}`,
    tenant: options.tenant ?? 'local',
    createdAt: new Date().toISOString(),
    numRows: options.rows,
    numChunks: chunkRows.length,
    rowsPerChunk: options.rowsPerChunk,
    chunkRows,
    bytes,
    source: 'bench',
    variables,
  };
  await store.commit(staging, meta);
  return meta;
}

/**
 * Writes a dataset of factor columns (codes uniform at random; levels `<name>1`..`<name>K`, one
 * dataset-wide level list per column as the storage contract wants) straight into the store.
 * `onChunk` sees each chunk's codes, e.g. for a baseline loop.
 */
export async function writeFactorDataset(
  store: DatasetStore,
  options: {
    rows: number;
    factors: ReadonlyArray<{ name: string; levels: number }>;
    rowsPerChunk: number;
    tenant?: string;
    seed?: number;
  },
  onChunk?: (codes: Int32Array[]) => void,
): Promise<DatasetMeta> {
  const staging = await store.createStaging();
  await mkdir(path.join(staging, 'chunks'), { recursive: true });
  const next = seededRandom(options.seed ?? 1);
  const names = options.factors.map((f) => f.name);
  const levels = options.factors.map((f) => Array.from({ length: f.levels }, (_, k) => `${f.name}${k + 1}`));
  const dictionaries = levels.map((l) => levelsVector(l));
  const chunkRows: number[] = [];
  let bytes = 0;
  for (let start = 0; start < options.rows; start += options.rowsPerChunk) {
    const n = Math.min(options.rowsPerChunk, options.rows - start);
    const codes = options.factors.map((f) => {
      const column = new Int32Array(n);
      for (let i = 0; i < n; i++) column[i] = Math.floor(next() * f.levels);
      return column;
    });
    onChunk?.(codes);
    const columns = codes.map((c, j) =>
      dictionaryData(c, { nullBitmap: undefined, nullCount: 0 }, n, j, dictionaries[j]!),
    );
    const ipc = tableToIPC(tableFromData(names, columns, n), 'file');
    await writeFile(chunkPath(staging, chunkRows.length), ipc);
    bytes += ipc.byteLength;
    chunkRows.push(n);
  }
  const variables: VarInfo[] = names.map((name, j) => ({
    name,
    type: 'factor',
    low: 0,
    high: levels[j]!.length - 1,
    missing: 0,
    levels: levels[j]!,
  }));
  const meta: DatasetMeta = {
    id: newId('ds'),
    name: `bench-factors-${options.rows}`,
    tenant: options.tenant ?? 'local',
    createdAt: new Date().toISOString(),
    numRows: options.rows,
    numChunks: chunkRows.length,
    rowsPerChunk: options.rowsPerChunk,
    chunkRows,
    bytes,
    source: 'bench',
    variables,
  };
  await store.commit(staging, meta);
  return meta;
}
