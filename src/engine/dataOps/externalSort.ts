import { open, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Table } from 'apache-arrow';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { JobIO } from '../jobIO.ts';
import {
  type ColumnKind,
  type ColumnValues,
  concatColumns,
  kindOf,
  missingColumn,
  tableOf,
} from './columnValues.ts';
import {
  compareKeys,
  type KeyOrder,
  type KeyValue,
  keyTuple,
  searchKey,
  tupleColumns,
} from './externalKeys.ts';
import { readRunRange } from './externalRunFile.ts';
import { addTableStats, mergeSomeStats, type VarStats, withStats } from './outputStats.ts';
import { movePiece, partitionsOfTask, sortedPieces } from './pieces.ts';

/**
 * The distributed sample sort under rxSort and rxMerge, for data larger than any worker's memory:
 *
 * 1. runs: each input chunk is sorted (stably) and written to a run file (externalRunFile.ts); its
 *    partial is a sample of its sorted keys, every `step`-th row, as (key, side, run, position) tuples;
 * 2. splitters: the finalizer sorts the samples and takes V - 1 of them, evenly spaced, as the bounds of
 *    V partitions of about one output chunk each. Ranges are defined on whole tuples, so rows with one
 *    key may straddle partitions and a very common key cannot make one partition huge;
 * 3. bounds: partition tasks over groups of runs find, by binary search in each run's keys, where every
 *    splitter falls; the finalizer learns every partition's exact size and writes the bounds to a file;
 * 4. write: each partition task reads its row range of every run (a positioned read per column), merges
 *    the runs (a stable sort of sorted stretches laid end to end: TimSort merges them) and writes its
 *    output chunks; the finalizer renames the pieces into one dataset, in partition order.
 *
 * Ties keep input order throughout (runs are chunks in chunk order, positions keep input order within a
 * chunk), so the output is the same with any number of workers. Memory per task is about one chunk.
 */

/** Samples per chunk's worth of rows: enough that partitions come out within a few % of their target. */
export const SAMPLES_PER_CHUNK = 64;

/** One run file: input chunk `index` of side `side` (0: the job's dataset, 1: rxMerge's right dataset). */
export interface RunInfo {
  side: 0 | 1;
  index: number;
  rows: number;
}

/**
 * A point in the total order of rows: key, then side, run (chunk index) and position in the sorted run.
 * `side` 2 stands for "after every row with this key" (rxMerge splits only between keys of its right side).
 */
export interface Splitter {
  key: KeyValue[];
  side: 0 | 1 | 2;
  run: number;
  pos: number;
}

/** Sample rows of a sorted run: every `step`-th row from the first. */
export function takeSamples(
  keys: readonly ColumnValues[],
  rows: number,
  step: number,
  side: 0 | 1,
  run: number,
): Splitter[] {
  const samples: Splitter[] = [];
  for (let pos = 0; pos < rows; pos += step) samples.push({ key: keyTuple(keys, pos), side, run, pos });
  return samples;
}

export function sampleStep(rowsPerChunk: number): number {
  return Math.max(1, Math.floor(rowsPerChunk / SAMPLES_PER_CHUNK));
}

function compareTail(a: Splitter, b: Splitter): number {
  return a.side - b.side || a.run - b.run || a.pos - b.pos;
}

/**
 * `parts - 1` splitters, evenly spaced among the sorted samples. With `keyOnlySide`, samples of that side
 * become "after this key" splitters (side 2).
 */
export function chooseSplitters(
  orders: readonly KeyOrder[],
  samples: readonly Splitter[],
  parts: number,
  keyOnlySide?: 0 | 1,
): Splitter[] {
  const columns = tupleColumns(
    orders,
    samples.map((s) => s.key),
  );
  const order = samples.map((_, i) => i);
  order.sort((i, j) => compareKeys(orders, columns, i, columns, j) || compareTail(samples[i]!, samples[j]!));
  const splitters: Splitter[] = [];
  const count = Math.min(parts, samples.length);
  for (let p = 1; p < count; p++) {
    const s = samples[order[Math.floor((p * samples.length) / count)]!]!;
    splitters.push(s.side === keyOnlySide ? { key: s.key, side: 2, run: 0, pos: 0 } : s);
  }
  return splitters;
}

/**
 * Rows of a sorted run (`run`, keys `keys` of `rows` rows) that come before splitter `j`: those with a
 * smaller key, and those with an equal key that are earlier in the total order (by side, run, position).
 */
export function rowsBefore(
  orders: readonly KeyOrder[],
  keys: readonly ColumnValues[],
  rows: number,
  run: RunInfo,
  splitterKeys: readonly ColumnValues[],
  j: number,
  splitter: Splitter,
): number {
  const c = run.side - splitter.side || run.index - splitter.run;
  if (c === 0) return splitter.pos;
  return searchKey(orders, keys, rows, splitterKeys, j, c < 0);
}

/** Bounds of one run: for splitter j = 0..V (0 and V: the ends), [rows before it, rows with key <= its key]. */
export interface RunBounds {
  /** Interleaved pairs, 2 * (V + 1) entries. */
  bounds: Int32Array;
  /** Per splitter: rows with a smaller key (for the ranks rxSort's removeDupKeys needs). */
  keyBelow: Float64Array;
}

export function boundsOfRun(
  orders: readonly KeyOrder[],
  keys: readonly ColumnValues[],
  run: RunInfo,
  splitters: readonly Splitter[],
  splitterKeys: readonly ColumnValues[],
): RunBounds {
  const parts = splitters.length + 1;
  const bounds = new Int32Array(2 * (parts + 1));
  const keyBelow = new Float64Array(parts + 1);
  bounds[2 * parts] = run.rows;
  bounds[2 * parts + 1] = run.rows;
  keyBelow[parts] = run.rows;
  splitters.forEach((splitter, s) => {
    const j = s + 1;
    bounds[2 * j] = rowsBefore(orders, keys, run.rows, run, splitterKeys, s, splitter);
    bounds[2 * j + 1] = searchKey(orders, keys, run.rows, splitterKeys, s, true);
    keyBelow[j] = searchKey(orders, keys, run.rows, splitterKeys, s, false);
  });
  return { bounds, keyBelow };
}

/** The bounds of every run, in run order, as one file the partition tasks read their few entries from. */
export async function writeBoundsFile(file: string, runs: readonly Int32Array[]): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(
    temporary,
    runs.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)),
  );
  await rename(temporary, file);
}

/** Per run, the bounds of partition `v`: [start, keyEnd at start, end, keyEnd at end]. */
export async function readPartitionBounds(
  file: string,
  runCount: number,
  parts: number,
  v: number,
): Promise<Int32Array> {
  const out = new Int32Array(4 * runCount);
  const handle = await open(file, 'r');
  try {
    for (let q = 0; q < runCount; q++) {
      const target = new Uint8Array(out.buffer, 16 * q, 16);
      const position = (q * (parts + 1) + v) * 2 * 4;
      const { bytesRead } = await handle.read(target, 0, 16, position);
      if (bytesRead !== 16) throw new Error('bounds file is truncated');
    }
  } finally {
    await handle.close();
  }
  return out;
}

/**
 * Sizes of the chunks `rows` rows are written as: one chunk up to 1.5 times `rowsPerChunk`, else
 * near-equal chunks of at most `rowsPerChunk`, so partitions a little over their target do not leave
 * a trail of tiny chunks.
 */
export function chunkSizes(rows: number, rowsPerChunk: number): number[] {
  if (rows === 0) return [];
  const count = rows <= 1.5 * rowsPerChunk ? 1 : Math.ceil(rows / rowsPerChunk);
  const sizes: number[] = [];
  for (let c = 0; c < count; c++)
    sizes.push(Math.floor(((c + 1) * rows) / count) - Math.floor((c * rows) / count));
  return sizes;
}

/** Output written by partition tasks: pieces (folder `p<partition>`, chunk j) and their stats. */
export interface PiecesPartial {
  /** Flat triples [partition, piece index, rows]. */
  pieces: number[];
  stats: VarStats[] | null;
}

export function piecesFolder(partition: number): string {
  return `p${partition}`;
}

export function mergePiecesPartials(a: PiecesPartial, b: PiecesPartial): PiecesPartial {
  // In place: the runner folds left and never reuses `a`.
  for (const value of b.pieces) a.pieces.push(value);
  a.stats = mergeSomeStats(a.stats, b.stats);
  return a;
}

/** Writes `table` as piece `piece` of partition `partition` and records it in `partial`. */
export async function writePartitionPiece(
  io: JobIO,
  partial: PiecesPartial,
  partition: number,
  piece: number,
  table: Table,
  variables: readonly VarInfo[],
): Promise<void> {
  await io.writeChunk(piecesFolder(partition), piece, table);
  partial.pieces.push(partition, piece, table.numRows);
  partial.stats = addTableStats(partial.stats, table, variables);
}

export interface PublishRequest {
  name: string;
  rowsPerChunk: number;
  variables: VarInfo[];
  source: string;
}

/** Publishes the pieces, in (partition, piece) order, as one new dataset. */
export async function publishPieces(
  io: JobIO,
  partial: PiecesPartial,
  request: PublishRequest,
): Promise<DatasetMeta> {
  const chunkRows: number[] = [];
  for (const [partition, piece, rows] of sortedPieces(partial.pieces)) {
    await movePiece(
      io,
      { folder: piecesFolder(partition), index: piece },
      { folder: 'out', index: chunkRows.length },
    );
    chunkRows.push(rows);
  }
  if (chunkRows.length === 0) {
    // An empty result (an inner join without matches) is still a dataset: one chunk with the schema.
    const empty = request.variables.map((variable) => missingColumn(kindOf(variable.type), 0));
    await io.writeChunk('out', 0, tableOf(request.variables, empty, 0));
    chunkRows.push(0);
  }
  const stats = partial.stats;
  return io.publish('out', {
    name: request.name,
    numRows: chunkRows.reduce((a, b) => a + b, 0),
    numChunks: chunkRows.length,
    rowsPerChunk: request.rowsPerChunk,
    chunkRows,
    source: request.source,
    variables: stats === null ? request.variables : withStats(request.variables, stats),
  });
}

/** `<job folder>/runs/<side>-<index>.run`. */
export async function runFile(io: JobIO, side: number, index: number): Promise<string> {
  return path.join(await io.folder('runs'), `${side}-${index}.run`);
}

/** The file of the bounds pass's result (writeBoundsFile). */
export async function boundsFile(io: JobIO): Promise<string> {
  return path.join(await io.folder('bounds'), 'bounds.bin');
}

/** Partial of a round that writes runs: the runs and their samples. */
export interface RunsPartial {
  kind: 'runs';
  rowsRead: number;
  runs: RunInfo[];
  samples: Splitter[];
}

export function mergeRunsPartials(a: RunsPartial, b: RunsPartial): RunsPartial {
  // In place: the runner folds left and never reuses `a`.
  a.rowsRead += b.rowsRead;
  for (const run of b.runs) a.runs.push(run);
  for (const sample of b.samples) a.samples.push(sample);
  return a;
}

/** What the bounds pass knows: the runs, the splitters, and how many tasks share the runs. */
export interface BoundsRound {
  runs: RunInfo[];
  splitters: Splitter[];
  tasks: number;
}

/**
 * The bounds pass of task `task`: each of its runs read in turn (the columns `indexes`, the keys first)
 * and handed to `use` with where every splitter falls in it.
 */
export async function boundRuns(
  io: JobIO,
  task: number,
  round: BoundsRound,
  orders: readonly KeyOrder[],
  indexes: readonly number[],
  use: (bounds: RunBounds, read: ColumnValues[]) => void,
): Promise<void> {
  const { runs, splitters } = round;
  const splitterKeys = tupleColumns(
    orders,
    splitters.map((s) => s.key),
  );
  const [first, last] = partitionsOfTask(task, round.tasks, runs.length);
  for (let q = first; q < last; q++) {
    const run = runs[q]!;
    const read = await readRunRange(await runFile(io, run.side, run.index), indexes, 0, run.rows);
    use(boundsOfRun(orders, read.slice(0, orders.length), run, splitters, splitterKeys), read);
  }
}

/** Rows [from, to) of runs, laid end to end in the order given, as one column of each of `kinds`. */
export async function readRunRanges(
  io: JobIO,
  ranges: ReadonlyArray<{ run: RunInfo; from: number; to: number }>,
  kinds: readonly ColumnKind[],
): Promise<ColumnValues[]> {
  const indexes = kinds.map((_, c) => c);
  const parts: ColumnValues[][] = [];
  for (const { run, from, to } of ranges)
    if (to > from) parts.push(await readRunRange(await runFile(io, run.side, run.index), indexes, from, to));
  return kinds.map((kind, c) =>
    concatColumns(
      kind,
      parts.map((p) => p[c]!),
    ),
  );
}
