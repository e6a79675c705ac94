import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, MapContext } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import type { JobIO } from '../jobIO.ts';
import { type ColumnValues, concatColumns, gatherRows, kindOf, sliceRows, tableOf } from './columnValues.ts';
import { DatasetRef } from './dataOpParams.ts';
import { type KeyValue, stableOrder } from './externalKeys.ts';
import { readRunRange, writeRunFile } from './externalRunFile.ts';
import {
  boundRuns,
  boundsFile,
  chooseSplitters,
  chunkSizes,
  mergePiecesPartials,
  mergeRunsPartials,
  type PiecesPartial,
  publishPieces,
  type RunInfo,
  type RunsPartial,
  readPartitionBounds,
  runFile,
  type Splitter,
  takeSamples,
  writeBoundsFile,
  writePartitionPiece,
} from './externalSort.ts';
import { joinPartition, type RunRange } from './mergeJoin.ts';
import {
  type MergeParams,
  MergeParamsSchema,
  type MergePlan,
  planMerge,
  readSideColumn,
  type SidePlan,
} from './mergePlan.ts';
import { MAX_TASKS, partitionsOfTask } from './pieces.ts';

/**
 * rxMerge: a new dataset from the job's dataset (left, after the runner's transforms and rowSelection)
 * and `params.right` (another dataset of the tenant, as stored), for inputs of any size:
 *
 * - inner, left, right, full: a sort-merge join on `matchVars` over the sample sort of externalSort.ts
 *   (both inputs sorted into runs, one set of splitters over both, a bounds pass, then one join per
 *   partition: mergeJoin.ts). Many-to-many keys give every pair (as R's merge). The output is sorted by
 *   key (`decreasing`, `missingsLow`); missing keys match each other. Output variables: the keys once,
 *   then the left's other variables, then the right's; a non-key name on both sides gets
 *   `.<duplicateVarExt>`. Factor keys are matched by label, their levels unified (left's, then the
 *   right's new ones); integer meets numeric by value; a factor meeting a string becomes a string.
 * - union: the left's rows, then the right's; same variable names required, types unified as for keys.
 * - oneToOne: row i of the left beside row i of the right; same row counts required (checked once the
 *   left's rowSelection is known: 422 ROW_COUNT_MISMATCH).
 *
 * A key with more rows on the right than one task can hold (JOIN_LIMITS) fails with 422
 * JOIN_KEY_TOO_FREQUENT before any output is written: left rows of one key are spread over tasks,
 * right rows of one key are not (every left row of the key must meet all of them, in order).
 */

export { MergeParamsSchema };

/** Bounds of one join task, in estimated stored bytes. Mutable for tests of the limit. */
export const JOIN_LIMITS = { maxPartitionBytes: 512 * 1024 * 1024 };

export interface MergeResult {
  dataset: DatasetMeta;
  /** Rows read from each input (the left after transforms and rowSelection). */
  rowsLeft: number;
  rowsRight: number;
  rowsWritten: number;
  warnings: string[];
}

export const MergeResultSchema = Type.Object({
  dataset: DatasetRef,
  rowsLeft: Type.Integer(),
  rowsRight: Type.Integer(),
  rowsWritten: Type.Integer(),
  warnings: Type.Array(Type.String()),
});

interface Counts {
  left: number;
  right: number;
}

type MergeState =
  /** Round 0, over the left chunks: sorted runs (joins), unsorted runs (oneToOne) or output (union). */
  | { phase: 'left'; plan: MergePlan }
  /** Round 1, over the right chunks: sorted runs (joins) or output (union, after the left's `pieces`). */
  | { phase: 'right'; plan: MergePlan; runs: RunInfo[]; rows: Counts; pieces?: PiecesPartial }
  | { phase: 'bounds'; plan: MergePlan; runs: RunInfo[]; splitters: Splitter[]; tasks: number; rows: Counts }
  | { phase: 'join'; plan: MergePlan; runs: RunInfo[]; splitters: Splitter[]; tasks: number; rows: Counts }
  /** oneToOne: each left run beside its rows of the right, `offsets[q]` = first left row of run q. */
  | { phase: 'pair'; plan: MergePlan; runs: RunInfo[]; offsets: number[]; tasks: number; rows: Counts };

type MergePartial =
  | RunsPartial
  | { kind: 'bounds'; bounds: Int32Array[] }
  | ({ kind: 'pieces'; rowsRead: number } & PiecesPartial);

const isJoin = (plan: MergePlan) => plan.type !== 'union' && plan.type !== 'oneToOne';

function readSide(table: Chunk['table'], side: SidePlan): ColumnValues[] {
  return side.columns.map((column) => readSideColumn(table, column));
}

/** Writes a chunk of one side as a run file: sorted by key for joins, as it is for oneToOne. */
async function writeSideRun(
  chunk: Chunk,
  plan: MergePlan,
  sideIndex: 0 | 1,
  io: JobIO,
): Promise<{ rows: number; samples: Splitter[] }> {
  const side = sideIndex === 0 ? plan.left : plan.rightSide;
  let columns = readSide(chunk.table, side);
  const rows = chunk.numRows;
  if (isJoin(plan)) {
    const order = stableOrder(plan.orders, columns.slice(0, plan.keyCount), rows);
    columns = columns.map((column) => gatherRows(column, order, 0, rows));
  }
  await writeRunFile(await runFile(io, sideIndex, chunk.index), columns, rows);
  const samples = isJoin(plan)
    ? takeSamples(columns.slice(0, plan.keyCount), rows, side.step, sideIndex, chunk.index)
    : [];
  return { rows, samples };
}

/** union: a chunk of one side, converted to the merged variables, is a piece of the output. */
async function writeStacked(
  chunk: Chunk,
  plan: MergePlan,
  sideIndex: 0 | 1,
  io: JobIO,
): Promise<MergePartial> {
  const side = sideIndex === 0 ? plan.left : plan.rightSide;
  const partition = sideIndex === 0 ? chunk.index : plan.leftChunks + chunk.index;
  const out: PiecesPartial = { pieces: [], stats: null };
  if (chunk.numRows > 0) {
    const table = tableOf(plan.variables, readSide(chunk.table, side), chunk.numRows);
    await writePartitionPiece(io, out, partition, 0, table, plan.variables);
  }
  return { kind: 'pieces', rowsRead: chunk.numRows, ...out };
}

async function samplesFile(io: JobIO): Promise<string> {
  return path.join(await io.folder('bounds'), 'left-samples.json');
}

function publish(io: JobIO, plan: MergePlan, partial: PiecesPartial): Promise<DatasetMeta> {
  return publishPieces(io, partial, {
    name: plan.name,
    rowsPerChunk: plan.rowsPerChunk,
    variables: plan.variables,
    source: 'job:merge',
  });
}

/** A key for a message: factor codes as their labels. */
function describeKey(plan: MergePlan, key: readonly KeyValue[]): string {
  return key
    .map((value, k) => {
      const levels = plan.variables[k]!.levels;
      if (value === null) return 'NA';
      if (levels !== undefined && typeof value === 'number') return JSON.stringify(levels[value] ?? value);
      return JSON.stringify(value);
    })
    .join(', ');
}

/** Refuses a partition too big for one task: right rows of one key range that cannot be spread. */
function checkPartitionSizes(
  plan: MergePlan,
  state: Extract<MergeState, { phase: 'bounds' }>,
  bounds: Int32Array[],
): void {
  const parts = state.splitters.length + 1;
  for (let v = 0; v < parts; v++) {
    let leftRows = 0;
    let rightRows = 0;
    state.runs.forEach((run, q) => {
      const b = bounds[q]!;
      if (run.side === 0) leftRows += b[2 * (v + 1)]! - b[2 * v]!;
      else rightRows += b[2 * (v + 1) + 1]! - b[2 * v]!;
    });
    const bytes = leftRows * plan.left.bytesPerRow + rightRows * plan.rightSide.bytesPerRow;
    if (bytes <= JOIN_LIMITS.maxPartitionBytes) continue;
    const from = v > 0 ? describeKey(plan, state.splitters[v - 1]!.key) : 'the lowest key';
    const to = v < parts - 1 ? describeKey(plan, state.splitters[v]!.key) : 'the highest key';
    const mb = (x: number) => Math.round(x / (1024 * 1024));
    throw new EngineError(
      'JOIN_KEY_TOO_FREQUENT',
      `${rightRows} rows of the right dataset share keys from ${from} to ${to}: about ${mb(bytes)} MB for one task, more than ${mb(JOIN_LIMITS.maxPartitionBytes)} MB. Rows of one key on the right are held together; put the dataset with the frequent key on the left (a left merge instead of a right one), or filter the key out`,
      422,
      { rightRows, leftRows, from, to },
    );
  }
}

export const merge: Analysis<MergeParams, MergeState, MergePartial, MergeResult> = {
  name: 'merge',
  paramsSchema: MergeParamsSchema,
  resultSchema: MergeResultSchema,

  extraInputs(params) {
    return typeof params?.right === 'string' ? [params.right] : [];
  },

  init(params, meta, context) {
    const right = context.datasets.get(params.right);
    if (right === undefined) {
      throw new EngineError('DATASET_NOT_FOUND', `no dataset '${params.right}' (params.right)`, 400);
    }
    return { phase: 'left', plan: planMerge(params, meta, right) };
  },

  columnsUsed(state) {
    return state.plan.left.columns.map((c) => c.source.name);
  },

  roundInput(state) {
    if (state.phase === 'left') return null;
    if (state.phase === 'right') return { kind: 'chunks', dataset: state.plan.right };
    return { kind: 'partitions', count: state.tasks };
  },

  async map(chunk, state, context) {
    const { plan } = state;
    if (state.phase !== 'left' && state.phase !== 'right')
      throw new Error(`merge: map in phase ${state.phase}`);
    const side = state.phase === 'left' ? 0 : 1;
    if (plan.type === 'union') return writeStacked(chunk, plan, side, context.io);
    if (chunk.numRows === 0) return { kind: 'runs', rowsRead: 0, runs: [], samples: [] };
    const { rows, samples } = await writeSideRun(chunk, plan, side, context.io);
    return { kind: 'runs', rowsRead: rows, runs: [{ side, index: chunk.index, rows }], samples };
  },

  async mapPartition(task, state, context) {
    const { plan } = state;
    if (state.phase === 'bounds') return { kind: 'bounds', bounds: await boundsOfRuns(task, state, context) };
    if (state.phase === 'join')
      return { kind: 'pieces', rowsRead: 0, ...(await joinPartitions(task, state, context)) };
    if (state.phase === 'pair')
      return { kind: 'pieces', rowsRead: 0, ...(await pairRuns(task, state, context.io)) };
    throw new Error(`merge: partitions in phase ${state.phase} of a ${plan.type} merge`);
  },

  merge(a, b) {
    if (a.kind === 'runs' && b.kind === 'runs') return mergeRunsPartials(a, b);
    if (a.kind === 'bounds' && b.kind === 'bounds') {
      for (const bound of b.bounds) a.bounds.push(bound);
      return a;
    }
    if (a.kind === 'pieces' && b.kind === 'pieces') {
      const rowsRead = a.rowsRead + b.rowsRead;
      return { kind: 'pieces', ...mergePiecesPartials(a, b), rowsRead };
    }
    throw new Error(`merge: cannot merge ${a.kind} with ${b.kind}`);
  },

  async finalize(partial, state, context) {
    const { plan } = state;
    const { io } = context;
    const done = (dataset: DatasetMeta, rows: Counts) => ({
      done: true as const,
      result: {
        dataset,
        rowsLeft: rows.left,
        rowsRight: rows.right,
        rowsWritten: dataset.numRows,
        warnings: plan.warnings,
      },
    });
    if (state.phase === 'left') {
      if (partial.kind === 'pieces') {
        // union: the left's pieces are written; the right's come next, numbered after them.
        const pieces = { pieces: partial.pieces, stats: partial.stats };
        return {
          done: false,
          state: { phase: 'right', plan, runs: [], rows: { left: partial.rowsRead, right: 0 }, pieces },
        };
      }
      if (partial.kind !== 'runs') throw new Error('merge: left round gave no runs');
      const rows = { left: partial.rowsRead, right: 0 };
      if (plan.type === 'oneToOne') {
        const expected = plan.rightChunkRows.reduce((n, r) => n + r, 0);
        if (partial.rowsRead !== expected) {
          throw new EngineError(
            'ROW_COUNT_MISMATCH',
            `a oneToOne merge needs as many rows on both sides: the left has ${partial.rowsRead}, the right ${expected}`,
            422,
            { left: partial.rowsRead, right: expected },
          );
        }
        const offsets: number[] = [];
        let at = 0;
        for (const run of partial.runs) {
          offsets.push(at);
          at += run.rows;
        }
        const runs = partial.runs;
        if (runs.length === 0)
          return done(await publish(io, plan, { pieces: [], stats: null }), { left: 0, right: expected });
        return {
          done: false,
          state: {
            phase: 'pair',
            plan,
            runs,
            offsets,
            tasks: Math.min(runs.length, MAX_TASKS),
            rows: { left: at, right: expected },
          },
        };
      }
      await writeFile(await samplesFile(io), JSON.stringify(partial.samples));
      return {
        done: false,
        state: { phase: 'right', plan, runs: partial.runs, rows },
        message: `sorted ${partial.runs.length} runs of the left dataset`,
      };
    }
    if (state.phase === 'right') {
      if (partial.kind === 'pieces') {
        const all = mergePiecesPartials(state.pieces ?? { pieces: [], stats: null }, partial);
        return done(await publish(io, plan, all), { left: state.rows.left, right: partial.rowsRead });
      }
      if (partial.kind !== 'runs') throw new Error('merge: right round gave no runs');
      const rows = { left: state.rows.left, right: partial.rowsRead };
      const leftSamples = JSON.parse(await readFile(await samplesFile(io), 'utf8')) as Splitter[];
      const runs = [...state.runs, ...partial.runs];
      if (runs.length === 0) return done(await publish(io, plan, { pieces: [], stats: null }), rows);
      const chunksWorth =
        state.runs.reduce((n, r) => n + r.rows, 0) / plan.left.rowsPerChunk +
        partial.runs.reduce((n, r) => n + r.rows, 0) / plan.rightSide.rowsPerChunk;
      const splitters = chooseSplitters(
        plan.orders,
        [...leftSamples, ...partial.samples],
        Math.max(1, Math.ceil(chunksWorth)),
        1,
      );
      return {
        done: false,
        state: { phase: 'bounds', plan, runs, splitters, tasks: Math.min(runs.length, MAX_TASKS), rows },
        message: `sorted ${partial.runs.length} runs of the right dataset; finding the bounds of ${splitters.length + 1} partitions`,
      };
    }
    if (state.phase === 'bounds' && partial.kind === 'bounds') {
      checkPartitionSizes(plan, state, partial.bounds);
      await writeBoundsFile(await boundsFile(io), partial.bounds);
      const parts = state.splitters.length + 1;
      return {
        done: false,
        state: { ...state, phase: 'join', tasks: Math.min(parts, MAX_TASKS) },
        message: `joining ${parts} partitions`,
      };
    }
    if ((state.phase === 'join' || state.phase === 'pair') && partial.kind === 'pieces') {
      return done(await publish(io, plan, partial), state.rows);
    }
    throw new Error(`merge: a ${partial.kind} partial in phase ${state.phase}`);
  },
};

async function boundsOfRuns(
  task: number,
  state: Extract<MergeState, { phase: 'bounds' }>,
  context: MapContext,
): Promise<Int32Array[]> {
  const { plan } = state;
  const keys = Array.from({ length: plan.keyCount }, (_, k) => k);
  const out: Int32Array[] = [];
  await boundRuns(context.io, task, state, plan.orders, keys, (bounds) => out.push(bounds.bounds));
  return out;
}

async function joinPartitions(
  task: number,
  state: Extract<MergeState, { phase: 'join' }>,
  context: MapContext,
): Promise<PiecesPartial> {
  const parts = state.splitters.length + 1;
  const file = await boundsFile(context.io);
  const [first, last] = partitionsOfTask(task, state.tasks, parts);
  let result: PiecesPartial = { pieces: [], stats: null };
  for (let v = first; v < last; v++) {
    const b = await readPartitionBounds(file, state.runs.length, parts, v);
    const leftRanges: RunRange[] = [];
    const rightRanges: RunRange[] = [];
    state.runs.forEach((run, q) => {
      const start = b[4 * q]!;
      const end = b[4 * q + 2]!;
      if (run.side === 0) leftRanges.push({ run, from: start, to: end, ownedTo: end });
      // Right rows with the upper splitter's key are read too (left rows here may match them), but are
      // this partition's own only below the splitter.
      else rightRanges.push({ run, from: start, to: b[4 * q + 3]!, ownedTo: end });
    });
    const partial = await joinPartition(context.io, state.plan, v, leftRanges, rightRanges);
    result = mergePiecesPartials(result, partial);
  }
  return result;
}

/** oneToOne: the left runs of task `task`, each beside the same rows of the right dataset. */
async function pairRuns(
  task: number,
  state: Extract<MergeState, { phase: 'pair' }>,
  io: JobIO,
): Promise<PiecesPartial> {
  const { plan } = state;
  const [first, last] = partitionsOfTask(task, state.tasks, state.runs.length);
  const rightStarts: number[] = [];
  let at = 0;
  for (const n of plan.rightChunkRows) {
    rightStarts.push(at);
    at += n;
  }
  const rightNames = plan.rightSide.columns.map((c) => c.source.name);
  const out: PiecesPartial = { pieces: [], stats: null };
  for (let q = first; q < last; q++) {
    const run = state.runs[q]!;
    const left = await readRunRange(
      await runFile(io, 0, run.index),
      plan.left.columns.map((_, c) => c),
      0,
      run.rows,
    );
    const from = state.offsets[q]!;
    const to = from + run.rows;
    const parts: ColumnValues[][] = [];
    for (let j = 0; j < rightStarts.length; j++) {
      const start = rightStarts[j]!;
      const end = start + plan.rightChunkRows[j]!;
      if (end <= from || start >= to) continue;
      const table = await io.readChunk(plan.right, j, rightNames);
      const lo = Math.max(from, start) - start;
      const hi = Math.min(to, end) - start;
      parts.push(readSide(table, plan.rightSide).map((column) => sliceRows(column, lo, hi)));
    }
    const right = plan.rightSide.columns.map((c, j) =>
      concatColumns(
        kindOf(c.source.type),
        parts.map((p) => p[j]!),
      ),
    );
    let written = 0;
    const sizes = chunkSizes(run.rows, plan.rowsPerChunk);
    for (let piece = 0; piece < sizes.length; piece++) {
      const size = sizes[piece]!;
      const columns = plan.sources.map((source) => {
        if (source.from === 'key') throw new Error('oneToOne has no keys');
        return sliceRows((source.from === 'left' ? left : right)[source.column]!, written, written + size);
      });
      await writePartitionPiece(io, out, q, piece, tableOf(plan.variables, columns, size), plan.variables);
      written += size;
    }
  }
  return out;
}
