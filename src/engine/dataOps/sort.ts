import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, MapContext } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import { checkParams } from '../params.ts';
import {
  type ColumnKind,
  type ColumnValues,
  columnLength,
  gatherRows,
  kindOf,
  readColumn,
  tableOf,
} from './columnValues.ts';
import {
  asList,
  checkDistinct,
  DatasetRef,
  keptVariables,
  NameList,
  OutName,
  outputName,
  variableNamed,
} from './dataOpParams.ts';
import { compareKeys, type KeyOrder, stableOrder, tupleColumns } from './externalKeys.ts';
import { writeRunFile } from './externalRunFile.ts';
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
  readRunRanges,
  runFile,
  type Splitter,
  sampleStep,
  takeSamples,
  writeBoundsFile,
  writePartitionPiece,
} from './externalSort.ts';
import { MAX_TASKS, partitionsOfTask } from './pieces.ts';

/**
 * rxSort: a new dataset with the rows of the job's dataset (after the runner's transforms and
 * rowSelection) sorted by `sortByVars`, for data of any size (the sample sort of externalSort.ts:
 * runs, bounds, write; three passes over the data, each task holding about one chunk).
 *
 * - Multi-key, lexicographic; `decreasing` one flag or one per key; `missingsLow` (NA and NaN sort as the
 *   lowest values, so last when decreasing); factors by level order (R sorts factors by their codes);
 *   strings by Unicode code point, ASCII case folded unless `caseSensitive` (see externalKeys.ts).
 * - Stable: rows with equal keys keep their input order, so the output is deterministic.
 * - `removeDupKeys` keeps the first row of each key (missing keys equal each other); `dupFreqVar` names a
 *   new integer column with each kept row's count of rows with its key. Duplicates are dropped inside
 *   each run already, and a key that straddles partitions is resolved with the counts the bounds pass
 *   gathers, so no extra pass is needed.
 * - Output columns: the sort keys first (as RevoScaleR writes them), then the other kept variables in
 *   dataset order, then `dupFreqVar`. Output chunks hold about the input's rowsPerChunk rows each: one
 *   partition of the sample sort is written as one chunk up to 1.5x that, else split evenly, so chunk
 *   sizes vary (not exactly rowsPerChunk; meta.rowsPerChunk is the target).
 */

export const SortParamsSchema = Type.Object(
  {
    sortByVars: NameList('Variables to sort by, most significant first.'),
    decreasing: Type.Optional(
      Type.Union([Type.Boolean(), Type.Array(Type.Boolean(), { minItems: 1 })], {
        default: false,
        description: 'Sort in decreasing order: one flag for every key, or one per key.',
      }),
    ),
    missingsLow: Type.Optional(
      Type.Boolean({
        default: true,
        description:
          'Missing values (NA, NaN) sort as the lowest values (last when decreasing); false: highest.',
      }),
    ),
    caseSensitive: Type.Optional(
      Type.Boolean({
        default: false,
        description: 'String keys: false folds ASCII letters (a = A); either way strings sort by code point.',
      }),
    ),
    removeDupKeys: Type.Optional(
      Type.Boolean({ default: false, description: 'Keep only the first row of each key.' }),
    ),
    dupFreqVar: Type.Optional(
      Type.String({
        minLength: 1,
        description: 'With removeDupKeys: name of a new integer column holding the rows each kept key had.',
      }),
    ),
    varsToKeep: Type.Optional(NameList('Variables to write (sort keys always are). Not with varsToDrop.')),
    varsToDrop: Type.Optional(
      NameList('Variables not to write (sort keys always are). Not with varsToKeep.'),
    ),
    outName: OutName,
  },
  { additionalProperties: false },
);
export type SortParams = Static<typeof SortParamsSchema>;

export interface SortResult {
  dataset: DatasetMeta;
  /** Rows sorted (after transforms and rowSelection). */
  rowsRead: number;
  /** Rows written (fewer with removeDupKeys). */
  rowsWritten: number;
}

export const SortResultSchema = Type.Object({
  dataset: DatasetRef,
  rowsRead: Type.Integer(),
  rowsWritten: Type.Integer(),
});

interface SortPlan {
  name: string;
  rowsPerChunk: number;
  /** Columns of the run files, in output order: the keys first. */
  columns: VarInfo[];
  keyCount: number;
  orders: KeyOrder[];
  dedup: boolean;
  dupFreqVar: string | null;
  /** Samples per sorted run: every `step`-th row. */
  step: number;
}

type SortState =
  | { phase: 'runs'; plan: SortPlan }
  | {
      phase: 'bounds';
      plan: SortPlan;
      runs: RunInfo[];
      splitters: Splitter[];
      tasks: number;
      rowsRead: number;
    }
  | {
      phase: 'write';
      plan: SortPlan;
      runs: RunInfo[];
      splitters: Splitter[];
      tasks: number;
      rowsRead: number;
      /** Per splitter j = 0..V: rows (over all runs) with its key, for removeDupKeys's counts. */
      keyCount: number[];
      /** Per partition v: its rows with key = splitter v's key are duplicates of an earlier partition's. */
      dropLead: boolean[];
    };

type SortPartial =
  | RunsPartial
  | { kind: 'bounds'; bounds: Int32Array[]; keyBelow: Float64Array; keyCount: Float64Array }
  | ({ kind: 'pieces' } & PiecesPartial);

function planSort(params: SortParams, meta: DatasetMeta): SortPlan {
  checkParams(SortParamsSchema, params, 'sort');
  const keys = asList(params.sortByVars)!;
  checkDistinct(keys, 'sortByVars');
  const keyVars = keys.map((name) => variableNamed(meta, name, 'sortByVars'));
  const decreasing = params.decreasing ?? false;
  if (Array.isArray(decreasing) && decreasing.length !== keys.length) {
    throw new EngineError(
      'INVALID_PARAMS',
      `decreasing has ${decreasing.length} flags for ${keys.length} sort keys: give one, or one per key`,
      400,
    );
  }
  const kept = keptVariables(meta, asList(params.varsToKeep), asList(params.varsToDrop), {
    always: new Set(keys),
  });
  const columns = [...keyVars.map((v) => ({ ...v })), ...kept.filter((v) => !keys.includes(v.name))];
  const dedup = params.removeDupKeys ?? false;
  const dupFreqVar = params.dupFreqVar ?? null;
  if (dupFreqVar !== null && !dedup)
    throw new EngineError('INVALID_PARAMS', 'dupFreqVar needs removeDupKeys: true', 400);
  if (dupFreqVar !== null && columns.some((v) => v.name === dupFreqVar)) {
    throw new EngineError(
      'DUPLICATE_VARIABLE',
      `dupFreqVar '${dupFreqVar}' is already a variable of the output; choose another name`,
      400,
      { variable: dupFreqVar },
    );
  }
  const orders = keyVars.map(
    (v, k): KeyOrder => ({
      kind: kindOf(v.type),
      decreasing: Array.isArray(decreasing) ? decreasing[k]! : decreasing,
      missingsLow: params.missingsLow ?? true,
      foldCase: !(params.caseSensitive ?? false),
    }),
  );
  return {
    name: outputName(params.outName, meta, 'sort'),
    rowsPerChunk: meta.rowsPerChunk,
    columns,
    keyCount: keys.length,
    orders,
    dedup,
    dupFreqVar,
    step: sampleStep(meta.rowsPerChunk),
  };
}

function outputVariables(plan: SortPlan): VarInfo[] {
  const out = plan.columns.map((v) => ({ ...v }));
  if (plan.dupFreqVar !== null)
    out.push({ name: plan.dupFreqVar, type: 'integer', low: null, high: null, missing: 0 });
  return out;
}

/** The kinds of the run files' columns: the plan's columns, then (removeDupKeys) each kept row's count. */
function runKinds(plan: SortPlan): ColumnKind[] {
  return [...plan.columns.map((c) => kindOf(c.type)), ...(plan.dedup ? ['number' as const] : [])];
}

/**
 * Rows to keep for removeDupKeys: the first of each run of equal keys in `order`, with the sum of their
 * counts (`counts` null: one each). Returns the kept rows and their counts.
 */
function firstOfKeys(
  orders: readonly KeyOrder[],
  keys: readonly ColumnValues[],
  order: Int32Array,
  counts: Float64Array | null,
): { rows: Int32Array; counts: Float64Array } {
  const n = order.length;
  const rows: number[] = [];
  const sums: number[] = [];
  for (let i = 0; i < n; ) {
    const first = order[i]!;
    let sum = 0;
    let j = i;
    while (j < n && (j === i || compareKeys(orders, keys, first, keys, order[j]!) === 0)) {
      sum += counts === null ? 1 : counts[order[j]!]!;
      j++;
    }
    rows.push(first);
    sums.push(sum);
    i = j;
  }
  return { rows: Int32Array.from(rows), counts: Float64Array.from(sums) };
}

async function writeRun(chunk: Chunk, plan: SortPlan, context: MapContext) {
  const n = chunk.table.numRows;
  const read = plan.columns.map((v) => readColumn(chunk.table, v));
  const keys = read.slice(0, plan.keyCount);
  let order = stableOrder(plan.orders, keys, n);
  let counts: Float64Array | null = null;
  if (plan.dedup) {
    // Duplicates inside one chunk go now: later passes move fewer rows, and the first row of a key in
    // the chunk is the first of the chunk's share in the global stable order.
    const kept = firstOfKeys(plan.orders, keys, order, null);
    order = kept.rows;
    counts = kept.counts;
  }
  const rows = order.length;
  const columns = read.map((column) => gatherRows(column, order, 0, rows));
  if (counts !== null) columns.push({ kind: 'number', values: counts, valid: null });
  await writeRunFile(await runFile(context.io, 0, chunk.index), columns, rows);
  return { rows, samples: takeSamples(columns.slice(0, plan.keyCount), rows, plan.step, 0, chunk.index) };
}

export const sort: Analysis<SortParams, SortState, SortPartial, SortResult> = {
  name: 'sort',
  paramsSchema: SortParamsSchema,
  resultSchema: SortResultSchema,

  init(params, meta) {
    return { phase: 'runs', plan: planSort(params, meta) };
  },

  columnsUsed(state) {
    return state.plan.columns.map((v) => v.name);
  },

  roundInput(state) {
    if (state.phase === 'bounds') return { kind: 'partitions', count: state.tasks };
    if (state.phase === 'write') return { kind: 'partitions', count: state.tasks };
    return null;
  },

  async map(chunk, state, context) {
    if (state.phase !== 'runs') throw new Error(`sort: map in phase ${state.phase}`);
    if (chunk.numRows === 0) return { kind: 'runs', rowsRead: 0, runs: [], samples: [] };
    const { rows, samples } = await writeRun(chunk, state.plan, context);
    return { kind: 'runs', rowsRead: chunk.numRows, runs: [{ side: 0, index: chunk.index, rows }], samples };
  },

  async mapPartition(task, state, context) {
    const { plan } = state;
    if (state.phase === 'bounds') {
      const parts = state.splitters.length + 1;
      const bounds: Int32Array[] = [];
      const keyBelow = new Float64Array(parts + 1);
      const keyCount = new Float64Array(parts + 1);
      const indexes = Array.from({ length: plan.keyCount }, (_, k) => k);
      if (plan.dedup) indexes.push(plan.columns.length);
      await boundRuns(context.io, task, state, plan.orders, indexes, (result, read) => {
        bounds.push(result.bounds);
        const counts = plan.dedup
          ? (read[plan.keyCount] as Extract<ColumnValues, { kind: 'number' }>).values
          : null;
        for (let j = 0; j <= parts; j++) {
          const below = result.keyBelow[j]!;
          const upTo = result.bounds[2 * j + 1]!;
          keyBelow[j] = keyBelow[j]! + below;
          // With removeDupKeys a run holds a key at most once, with its count.
          keyCount[j] = keyCount[j]! + (counts === null ? upTo - below : below < upTo ? counts[below]! : 0);
        }
      });
      return { kind: 'bounds', bounds, keyBelow, keyCount };
    }
    if (state.phase !== 'write') throw new Error(`sort: partitions in phase ${state.phase}`);
    return writePartitions(task, state, context);
  },

  merge(a, b) {
    if (a.kind === 'runs' && b.kind === 'runs') return mergeRunsPartials(a, b);
    if (a.kind === 'bounds' && b.kind === 'bounds') {
      for (const bound of b.bounds) a.bounds.push(bound);
      for (let j = 0; j < a.keyBelow.length; j++) {
        a.keyBelow[j] = a.keyBelow[j]! + b.keyBelow[j]!;
        a.keyCount[j] = a.keyCount[j]! + b.keyCount[j]!;
      }
      return a;
    }
    if (a.kind === 'pieces' && b.kind === 'pieces') return { kind: 'pieces', ...mergePiecesPartials(a, b) };
    throw new Error(`sort: cannot merge ${a.kind} with ${b.kind}`);
  },

  async finalize(partial, state, context) {
    const { plan } = state;
    if (state.phase === 'runs' && partial.kind === 'runs') {
      const runs = partial.runs;
      const rowsRead = partial.rowsRead;
      if (runs.length === 0) {
        const dataset = await publishPieces(
          context.io,
          { pieces: [], stats: null },
          {
            name: plan.name,
            rowsPerChunk: plan.rowsPerChunk,
            variables: outputVariables(plan),
            source: 'job:sort',
          },
        );
        return { done: true, result: { dataset, rowsRead: 0, rowsWritten: 0 } };
      }
      const runRows = runs.reduce((n, r) => n + r.rows, 0);
      const parts = Math.max(1, Math.ceil(runRows / plan.rowsPerChunk));
      const splitters = chooseSplitters(plan.orders, partial.samples, parts);
      return {
        done: false,
        state: { phase: 'bounds', plan, runs, splitters, tasks: Math.min(runs.length, MAX_TASKS), rowsRead },
        message: `sorted ${runs.length} runs; finding the bounds of ${splitters.length + 1} partitions`,
      };
    }
    if (state.phase === 'bounds' && partial.kind === 'bounds') {
      await writeBoundsFile(await boundsFile(context.io), partial.bounds);
      const parts = state.splitters.length + 1;
      // A partition starts at rank(splitter v) = rows before it over all runs.
      const start = (j: number) => partial.bounds.reduce((n, b) => n + b[2 * j]!, 0);
      const dropLead = Array.from({ length: parts }, (_, v) => v > 0 && partial.keyBelow[v]! < start(v));
      return {
        done: false,
        state: {
          phase: 'write',
          plan,
          runs: state.runs,
          splitters: state.splitters,
          tasks: Math.min(parts, MAX_TASKS),
          rowsRead: state.rowsRead,
          keyCount: Array.from(partial.keyCount),
          dropLead,
        },
        message: `writing ${parts} sorted partitions`,
      };
    }
    if (state.phase === 'write' && partial.kind === 'pieces') {
      const dataset = await publishPieces(context.io, partial, {
        name: plan.name,
        rowsPerChunk: plan.rowsPerChunk,
        variables: outputVariables(plan),
        source: 'job:sort',
      });
      return { done: true, result: { dataset, rowsRead: state.rowsRead, rowsWritten: dataset.numRows } };
    }
    throw new Error(`sort: a ${partial.kind} partial in phase ${state.phase}`);
  },
};

/** Writes the partitions of task `task`: merge the runs' ranges, drop duplicate keys, write chunks. */
async function writePartitions(
  task: number,
  state: Extract<SortState, { phase: 'write' }>,
  context: MapContext,
): Promise<SortPartial> {
  const { plan, runs } = state;
  const parts = state.splitters.length + 1;
  const variables = outputVariables(plan);
  const splitterKeys = tupleColumns(
    plan.orders,
    state.splitters.map((s) => s.key),
  );
  const file = await boundsFile(context.io);
  const out: PiecesPartial = { pieces: [], stats: null };
  const [first, last] = partitionsOfTask(task, state.tasks, parts);
  const kinds = runKinds(plan);
  for (let v = first; v < last; v++) {
    const bounds = await readPartitionBounds(file, runs.length, parts, v);
    const ranges = runs.map((run, q) => ({ run, from: bounds[4 * q]!, to: bounds[4 * q + 2]! }));
    if (ranges.every((r) => r.to <= r.from)) continue;
    const columns = await readRunRanges(context.io, ranges, kinds);
    const n = columnLength(columns[0]!);
    const keys = columns.slice(0, plan.keyCount);
    // Runs are laid end to end in run order, each sorted: a stable sort merges them, ties by run.
    let order = stableOrder(plan.orders, keys, n);
    let freq: Float64Array | null = null;
    if (plan.dedup) {
      const counts = (columns[plan.columns.length] as Extract<ColumnValues, { kind: 'number' }>).values;
      const kept = firstOfKeys(plan.orders, keys, order, counts);
      const rows: number[] = [];
      const sums: number[] = [];
      for (let g = 0; g < kept.rows.length; g++) {
        const row = kept.rows[g]!;
        // A key equal to a splitter's may continue in other partitions: its total comes from the bounds pass.
        const atLower = v > 0 && compareKeys(plan.orders, keys, row, splitterKeys, v - 1) === 0;
        const atUpper = v < parts - 1 && compareKeys(plan.orders, keys, row, splitterKeys, v) === 0;
        if (atLower && state.dropLead[v]) continue;
        rows.push(row);
        sums.push(atUpper ? state.keyCount[v + 1]! : atLower ? state.keyCount[v]! : kept.counts[g]!);
      }
      order = Int32Array.from(rows);
      freq = Float64Array.from(sums);
    }
    let at = 0;
    const sizes = chunkSizes(order.length, plan.rowsPerChunk);
    for (let piece = 0; piece < sizes.length; piece++) {
      const size = sizes[piece]!;
      const chunk = plan.columns.map((_, c) => gatherRows(columns[c]!, order, at, at + size));
      if (freq !== null && plan.dupFreqVar !== null)
        chunk.push({ kind: 'number', values: freq.slice(at, at + size), valid: null });
      await writePartitionPiece(context.io, out, v, piece, tableOf(variables, chunk, size), variables);
      at += size;
    }
  }
  return { kind: 'pieces', ...out };
}
