import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  Bool,
  DateDay,
  Dictionary,
  Float64,
  Int32,
  makeData,
  makeVector,
  Table,
  TimestampMillisecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow';
import type { Chunk } from '../../src/engine/analysis.ts';
import type { DatasetMeta, VarInfo, VarType } from '../../src/storage/datasetMeta.ts';

/** A column for `makeDataset`: plain values, null = missing. */
export type ColumnSpec =
  | { name: string; type: 'numeric' | 'integer' | 'date' | 'timestamp'; values: ReadonlyArray<number | null> }
  | { name: string; type: 'logical'; values: ReadonlyArray<boolean | null> }
  | { name: string; type: 'factor'; values: ReadonlyArray<string | null>; levels?: readonly string[] }
  | { name: string; type: 'string'; values: ReadonlyArray<string | null> };

export interface TestDataset {
  meta: DatasetMeta;
  chunks: Chunk[];
}

function levelsOf(spec: ColumnSpec): string[] {
  if (spec.type !== 'factor') return [];
  if (spec.levels !== undefined) return [...spec.levels];
  return [...new Set(spec.values.filter((v): v is string => v !== null))].sort();
}

function varInfo(spec: ColumnSpec): VarInfo {
  const missing = spec.values.filter((v) => v === null).length;
  const info: VarInfo = { name: spec.name, type: spec.type as VarType, low: null, high: null, missing };
  if (spec.type === 'factor') {
    const levels = levelsOf(spec);
    info.levels = levels;
    if (levels.length > 0) {
      info.low = 0;
      info.high = levels.length - 1;
    }
  } else if (spec.type !== 'string') {
    const numbers = spec.values
      .filter((v) => v !== null)
      .map((v) => Number(v))
      .filter((v) => !Number.isNaN(v));
    if (numbers.length > 0) {
      info.low = numbers.reduce((a, b) => Math.min(a, b));
      info.high = numbers.reduce((a, b) => Math.max(a, b));
    }
  }
  return info;
}

/** A dictionary vector whose dictionary is the FULL level list, as the storage contract requires. */
export function factorVector(values: ReadonlyArray<string | null>, levels: readonly string[]): Vector {
  const index = new Map(levels.map((l, i) => [l, i]));
  const codes = new Int32Array(values.length);
  const bitmap = new Uint8Array(Math.ceil(values.length / 8));
  let nullCount = 0;
  values.forEach((v, i) => {
    if (v === null) {
      nullCount++;
      return;
    }
    const code = index.get(v);
    if (code === undefined) throw new Error(`value '${v}' is not a level`);
    codes[i] = code;
    bitmap[i >> 3] = (bitmap[i >> 3] as number) | (1 << (i & 7));
  });
  const data = makeData({
    type: new Dictionary(new Utf8(), new Int32()),
    length: values.length,
    nullCount,
    nullBitmap: nullCount > 0 ? bitmap : null,
    data: codes,
    dictionary: vectorFromArray([...levels], new Utf8()),
  });
  return makeVector(data);
}

function vectorOf(spec: ColumnSpec, from: number, to: number, levels: readonly string[]): Vector {
  switch (spec.type) {
    case 'numeric':
      return vectorFromArray(spec.values.slice(from, to), new Float64());
    case 'integer':
      return vectorFromArray(spec.values.slice(from, to), new Int32());
    case 'date':
      // DateDay stores days; the builder takes Dates (or ms), so convert.
      return vectorFromArray(
        spec.values.slice(from, to).map((d) => (d === null ? null : new Date(d * 86_400_000))),
        new DateDay(),
      );
    case 'timestamp':
      return vectorFromArray(
        spec.values.slice(from, to).map((ms) => (ms === null ? null : new Date(ms))),
        new TimestampMillisecond(),
      );
    case 'logical':
      return vectorFromArray(spec.values.slice(from, to), new Bool());
    case 'factor':
      return factorVector(spec.values.slice(from, to), levels);
    case 'string':
      return vectorFromArray(spec.values.slice(from, to), new Utf8());
  }
}

/**
 * A dataset split into chunks of `rowsPerChunk` rows (the last one shorter), with its meta as the
 * importer would write it (low/high, missing counts, levels).
 */
export function makeDataset(columns: readonly ColumnSpec[], rowsPerChunk: number): TestDataset {
  const numRows = columns[0]?.values.length ?? 0;
  for (const c of columns) {
    if (c.values.length !== numRows)
      throw new Error(`column ${c.name} has ${c.values.length} rows, not ${numRows}`);
  }
  const variables = columns.map(varInfo);
  const chunks: Chunk[] = [];
  for (
    let from = 0, index = 0;
    from < numRows || (numRows === 0 && index === 0);
    from += rowsPerChunk, index++
  ) {
    const to = Math.min(numRows, from + rowsPerChunk);
    const vectors: Record<string, Vector> = {};
    columns.forEach((c, i) => {
      vectors[c.name] = vectorOf(c, from, to, (variables[i] as VarInfo).levels ?? []);
    });
    const table = new Table(vectors);
    chunks.push({ index, numRows: to - from, startRow: from, table });
    if (numRows === 0) break;
  }
  const meta: DatasetMeta = {
    id: 'ds_test',
    name: 'test',
    tenant: 'local',
    createdAt: new Date(0).toISOString(),
    numRows,
    numChunks: chunks.length,
    rowsPerChunk,
    chunkRows: chunks.map((c) => c.numRows),
    bytes: 0,
    source: 'test',
    variables,
  };
  return { meta, chunks };
}

const REFERENCE_DIR = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '../../../shared/data/reference',
);

/** Absolute path of a file or folder in ../shared/data/reference. */
export function referencePath(relative: string): string {
  return path.join(REFERENCE_DIR, relative);
}

/** A file from ../shared/data/reference (the published reference values; see its README). */
export async function referenceText(relative: string): Promise<string> {
  return readFile(path.join(REFERENCE_DIR, relative), 'utf8');
}

export async function referenceJson<T>(relative: string): Promise<T> {
  return JSON.parse(await referenceText(relative)) as T;
}

/** A minimal CSV reader for the reference files (quoted headers and strings, no embedded commas). */
export function parseCsv(text: string): { header: string[]; rows: string[][] } {
  const lines = text.split(/\r?\n/).filter((l) => l.trim().length > 0);
  const unquote = (s: string) => s.trim().replace(/^"(.*)"$/, '$1');
  const header = (lines[0] ?? '').split(',').map(unquote);
  return { header, rows: lines.slice(1).map((l) => l.split(',').map(unquote)) };
}

/** NIST's log relative error: digits of agreement (15 when exact). */
export function lre(estimate: number, certified: number): number {
  if (estimate === certified) return 15;
  const denominator = certified === 0 ? 1 : Math.abs(certified);
  return Math.min(15, -Math.log10(Math.abs(estimate - certified) / denominator));
}

/** Relative difference, with an absolute floor for values near 0. */
export function relDiff(a: number, b: number, floor = 1e-300): number {
  if (a === b) return 0;
  return Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), floor);
}

/** The iris reference data as a dataset with `rowsPerChunk` rows per chunk. */
export async function irisDataset(
  rowsPerChunk: number,
): Promise<TestDataset & { columns: Record<string, number[]>; species: string[] }> {
  const { header, rows } = parseCsv(await referenceText('r_reference/data/iris.csv'));
  const numeric = header.slice(0, 4);
  const columns: Record<string, number[]> = {};
  numeric.forEach((name, j) => {
    columns[name] = rows.map((r) => Number(r[j]));
  });
  const species = rows.map((r) => r[4] as string);
  const specs: ColumnSpec[] = [
    ...numeric.map((name): ColumnSpec => ({ name, type: 'numeric', values: columns[name] as number[] })),
    { name: 'Species', type: 'factor', values: species, levels: ['setosa', 'versicolor', 'virginica'] },
  ];
  return { ...makeDataset(specs, rowsPerChunk), columns, species };
}

/** A small seeded PRNG (mulberry32), so generated test data are the same on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** R's type 7 quantile of plain numbers, computed the obvious way (sort), for checking the engine. */
export function type7Reference(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const h = 1 + (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.ceil(h);
  const xlo = sorted[lo - 1] as number;
  const xhi = sorted[hi - 1] as number;
  const g = h - lo;
  return g === 0 || xlo === xhi ? xlo : (1 - g) * xlo + g * xhi;
}
