import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Chunk } from '../../src/engine/analysis.ts';
import type { DatasetMeta, VarInfo } from '../../src/storage/datasetMeta.ts';
import { DatasetStore } from '../../src/storage/datasetStore.ts';
import { JobFiles, jobDir, removeJobFiles } from '../../src/storage/jobFiles.ts';
import { type ColumnSpec, makeDataset } from './helpers.ts';

/**
 * Helpers for the data-operation tests (dataStep, factors, split, sort, merge): a real dataset store and
 * job folder in a temporary directory, rows read back with Arrow's own row accessors (not the engine's
 * column readers), and reference orderings written plainly, independent of the engine.
 */

export type Cell = number | string | boolean | null;
export type Row = Record<string, Cell>;

export interface Workspace {
  dataDir: string;
  store: DatasetStore;
  /** A JobFiles for a fresh job id. */
  io(): JobFiles;
  /** Ends the job as the runner does (removes its folder) and checks nothing is left of it. */
  endJob(io: JobFiles): Promise<void>;
  close(): Promise<void>;
}

let jobCounter = 0;

export async function workspace(): Promise<Workspace> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'rxserve-dataops-'));
  const store = new DatasetStore(dataDir);
  await store.open({ clearStaging: true });
  return {
    dataDir,
    store,
    io: () => {
      jobCounter++;
      const id = `job_${String(jobCounter).padStart(20, '0')}`;
      return new JobFiles(store, dataDir, id, 'alice');
    },
    endJob: async (io) => {
      await removeJobFiles(dataDir, io.jobId);
      await assert.rejects(readdir(jobDir(dataDir, io.jobId)), { code: 'ENOENT' });
    },
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}

/**
 * Every row of a stored dataset, read with Arrow's own row accessors (independent of the engine's
 * column readers): dates as day numbers, timestamps as ms, factors as their level strings. Checks each
 * chunk is one record batch of the rows its meta says.
 */
export async function readRows(store: DatasetStore, meta: DatasetMeta): Promise<Row[]> {
  const rows: Row[] = [];
  for (let index = 0; index < meta.numChunks; index++) {
    const table = await store.readChunk(meta.id, index);
    assert.equal(table.numRows, meta.chunkRows[index], `chunk ${index} holds chunkRows[${index}] rows`);
    assert.equal(table.batches.length, 1, 'one record batch per chunk');
    for (let r = 0; r < table.numRows; r++) {
      const row: Row = {};
      for (const variable of meta.variables) {
        const vector = table.getChild(variable.name);
        assert.ok(vector, `chunk ${index} has column ${variable.name}`);
        row[variable.name] = cell(vector.get(r), variable);
      }
      rows.push(row);
    }
  }
  assert.equal(rows.length, meta.numRows);
  return rows;
}

function cell(value: unknown, variable: VarInfo): Cell {
  if (value === null || value === undefined) return null;
  if (variable.type === 'date') return Number(value) / 86_400_000;
  if (variable.type === 'timestamp' || typeof value === 'bigint') return Number(value);
  return value as Cell;
}

/** The rows of column specs, as readRows gives them (factors as labels). */
export function specRows(columns: readonly ColumnSpec[]): Row[] {
  const n = columns[0]?.values.length ?? 0;
  return Array.from({ length: n }, (_, r) => {
    const row: Row = {};
    for (const c of columns) row[c.name] = c.values[r] ?? null;
    return row;
  });
}

/** The dataset contract: chunkRows add up, every chunk but the last holds exactly rowsPerChunk rows. */
export function assertChunking(meta: DatasetMeta, rowsPerChunk: number): void {
  assert.equal(meta.rowsPerChunk, rowsPerChunk);
  assert.equal(meta.numChunks, meta.chunkRows.length);
  assert.equal(
    meta.chunkRows.reduce((a, b) => a + b, 0),
    meta.numRows,
  );
  meta.chunkRows.forEach((n, i) => {
    if (i < meta.chunkRows.length - 1) assert.equal(n, rowsPerChunk, `chunk ${i} is full`);
    else assert.ok(n >= 1 && n <= rowsPerChunk, `last chunk holds 1..${rowsPerChunk} rows`);
  });
}

/** low/high/missing of a column of plain values, as the meta should say (NaN is a stored value: not missing, not low/high). */
export function expectedStats(
  values: readonly Cell[],
  type: VarInfo['type'],
  levels?: readonly string[],
): { low: number | null; high: number | null; missing: number } {
  const nulls = values.filter((v) => v === null).length;
  if (type === 'string') return { low: null, high: null, missing: nulls };
  if (type === 'factor') {
    const any = values.length > nulls && (levels?.length ?? 0) > 0;
    return { low: any ? 0 : null, high: any ? levels!.length - 1 : null, missing: nulls };
  }
  const numbers = values
    .filter((v): v is number | boolean => v !== null)
    .map(Number)
    .filter((v) => !Number.isNaN(v));
  return numbers.length === 0
    ? { low: null, high: null, missing: nulls }
    : {
        low: numbers.reduce((a, b) => Math.min(a, b)),
        high: numbers.reduce((a, b) => Math.max(a, b)),
        missing: nulls,
      };
}

export function isNA(value: Cell): boolean {
  return value === null || (typeof value === 'number' && Number.isNaN(value));
}

/** Code-point order, optionally with ASCII letters folded: written out, not taken from the engine. */
export function compareStrings(a: string, b: string, foldCase: boolean): number {
  const fold = (s: string) => (foldCase ? s.replace(/[A-Z]/g, (c) => c.toLowerCase()) : s);
  const x = Array.from(fold(a), (c) => c.codePointAt(0)!);
  const y = Array.from(fold(b), (c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return x.length - y.length;
}

export interface KeyRule {
  name: string;
  decreasing?: boolean;
  missingsLow?: boolean;
  /** For factors: the level order to sort by. */
  levels?: readonly string[];
  foldCase?: boolean;
}

/** R-like comparison of two rows on keys; missing = lowest (or highest), decreasing reverses all. */
export function compareRows(a: Row, b: Row, rules: readonly KeyRule[]): number {
  for (const rule of rules) {
    const x = a[rule.name] ?? null;
    const y = b[rule.name] ?? null;
    let c: number;
    if (isNA(x) || isNA(y)) {
      if (isNA(x) && isNA(y)) continue;
      const low = rule.missingsLow ?? true;
      c = isNA(x) ? (low ? -1 : 1) : low ? 1 : -1;
    } else if (rule.levels) c = rule.levels.indexOf(x as string) - rule.levels.indexOf(y as string);
    else if (typeof x === 'string') c = compareStrings(x, y as string, rule.foldCase ?? false);
    else c = (x as number) < (y as number) ? -1 : (x as number) > (y as number) ? 1 : 0;
    if (c !== 0) return (rule.decreasing ?? false) ? -Math.sign(c) : Math.sign(c);
  }
  return 0;
}

/**
 * Stores `columns` (makeDataset's) as a real dataset of `rowsPerChunk`-row chunks, written and published
 * through a job folder as a data operation would, and returns its meta and chunks.
 */
export async function storeDataset(
  ws: Workspace,
  columns: readonly ColumnSpec[],
  rowsPerChunk: number,
  name: string,
): Promise<{ meta: DatasetMeta; chunks: Chunk[] }> {
  const ds = makeDataset(columns, rowsPerChunk);
  const io = ws.io();
  for (const chunk of ds.chunks) await io.writeChunk('data', chunk.index, chunk.table);
  const meta = await io.publish('data', { ...ds.meta, name, source: 'test' });
  await ws.endJob(io);
  return { meta, chunks: ds.chunks };
}
