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
 * Helpers for the sort and merge tests: a real dataset store and job folder in a temporary directory,
 * rows read back with Arrow's own row accessors (not the engine's column readers), and reference
 * orderings written plainly, independent of the engine.
 */

export type Cell = number | string | boolean | null;
export type Row = Record<string, Cell>;

export interface Workspace {
  store: DatasetStore;
  /** A JobFiles for a fresh job id. */
  io(): JobFiles;
  /** Ends the job as the runner does (removes its folder) and checks nothing is left of it. */
  endJob(io: JobFiles): Promise<void>;
  close(): Promise<void>;
}

let jobCounter = 0;

export async function workspace(): Promise<Workspace> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'rxserve-sortmerge-'));
  const store = new DatasetStore(dataDir);
  await store.open({ clearStaging: true });
  return {
    store,
    io: () => {
      jobCounter++;
      return new JobFiles(store, dataDir, `job_${String(jobCounter).padStart(20, '0')}`, 'local');
    },
    endJob: async (io) => {
      await removeJobFiles(dataDir, io.jobId);
      await assert.rejects(readdir(jobDir(dataDir, io.jobId)), { code: 'ENOENT' });
    },
    close: () => rm(dataDir, { recursive: true, force: true }),
  };
}

function cell(value: unknown, variable: VarInfo): Cell {
  if (value === null || value === undefined) return null;
  if (variable.type === 'date') return Number(value) / 86_400_000;
  if (variable.type === 'timestamp' || typeof value === 'bigint') return Number(value);
  return value as Cell;
}

/** Every row of a stored dataset, checking each chunk holds the rows its meta says. */
export async function readRows(store: DatasetStore, meta: DatasetMeta): Promise<Row[]> {
  const rows: Row[] = [];
  for (let index = 0; index < meta.numChunks; index++) {
    const table = await store.readChunk(meta.id, index);
    assert.equal(table.numRows, meta.chunkRows[index], `chunk ${index} holds chunkRows[${index}] rows`);
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

/** The rows of column specs, as readRows gives them (factors as labels). */
export function specRows(columns: readonly ColumnSpec[]): Row[] {
  const n = columns[0]?.values.length ?? 0;
  return Array.from({ length: n }, (_, r) => {
    const row: Row = {};
    for (const c of columns) row[c.name] = c.values[r] ?? null;
    return row;
  });
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
