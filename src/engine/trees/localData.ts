import type { Chunk } from '../analysis.ts';
import type { FeatureBins } from './binning.ts';
import type { TreeDataPlan } from './data.ts';
import { type PreparedChunk, prepareChunk, preparedChunks, rowKeysOf } from './preparedChunks.ts';

/**
 * Local fits: when a job's prepared data fits one worker, a tree analysis grows whole trees in one
 * task instead of a pass over the queue per tree level. A level pass costs a queue round trip, an
 * encoded histogram per task and a split search on the coordinator; hundreds of them (100 boosted
 * trees of depth 6 are 700 passes) cost far more than the arithmetic. This is the "nodes small enough
 * to fit one worker are finished locally" of the tree design, applied from the root when the whole
 * input is small enough. Larger data keeps the level passes, which spread the rows over every worker.
 *
 * Whether a fit is local depends only on the data and the worker's setting (`TREE_LOCAL_MB`), never on
 * how many workers run, so results stay identical with any number of workers.
 */

/** Bytes of prepared data a local fit may hold (config `TREE_LOCAL_MB`; 0 turns local fits off). */
let limitBytes = 512 * 1024 * 1024;

export function setLocalTreeLimit(bytes: number): number {
  const previous = limitBytes;
  limitBytes = bytes;
  return previous;
}

/**
 * Whether `rows` rows of `features` predictors, with `perRowDoubles` doubles of per-row working
 * state (scores, gradients, positions), fit a local fit: the codes (2 bytes a predictor), response,
 * weight, count and row lists (about 28 bytes) and the working state.
 */
export function fitsLocally(rows: number, features: number, perRowDoubles: number): boolean {
  return rows * (2 * features + 28 + 8 * perRowDoubles) <= limitBytes;
}

/**
 * Every chunk of the job's input, binned and concatenated into one prepared chunk (rows in chunk
 * order, so row ids, and the per-row hashes drawn from them, are those of the level passes). Kept in
 * the worker's prepared-chunk cache for the job's later local rounds.
 */
export async function preparedInput(
  job: { nonce: string; numChunks: number; data: TreeDataPlan },
  bins: readonly FeatureBins[],
  readInput: ((index: number) => Promise<Chunk>) | undefined,
): Promise<PreparedChunk> {
  const key = `${job.nonce}/all`;
  const cached = preparedChunks.get(key);
  if (cached !== undefined) return cached;
  if (readInput === undefined) throw new Error('a local tree fit needs its input (MapContext.readInput)');
  const parts: PreparedChunk[] = [];
  for (let index = 0; index < job.numChunks; index++) {
    parts.push(prepareChunk(await readInput(index), job.data, bins));
  }
  const all = concatenate(parts);
  all.bytes += rowCodesOf(all).byteLength;
  preparedChunks.set(key, all);
  return all;
}

/** Where a prepared input keeps its row-major codes (`derived`). */
export const ROW_CODES = 'rowCodes';

/** The codes of a prepared input row by row (row i's predictors at i * p ..), see orderedRows.ts. */
export function rowCodesOf(prepared: PreparedChunk): Uint16Array {
  const cached = prepared.derived.get(ROW_CODES) as Uint16Array | undefined;
  if (cached !== undefined) return cached;
  const rowCodes = rowMajor(prepared.codes, prepared.numRows);
  prepared.derived.set(ROW_CODES, rowCodes);
  return rowCodes;
}

function rowMajor(codes: readonly Uint16Array[], rows: number): Uint16Array {
  const p = codes.length;
  // Shared: a local boosting round's threads read it in place (boostRunner.ts).
  const out = new Uint16Array(new SharedArrayBuffer(2 * rows * p));
  for (let f = 0; f < p; f++) {
    const column = codes[f] as Uint16Array;
    for (let i = 0; i < rows; i++) out[i * p + f] = column[i] as number;
  }
  return out;
}

/**
 * The prepared input as a tree thread (treeThreads.ts) is sent it: the same arrays, which are shared
 * (concatenate and rowKeysOf make them so), and of the derived values only the draw keys.
 */
export function portableInput(prepared: PreparedChunk, seed: number): PreparedChunk {
  return { ...prepared, derived: new Map([['rowKeys', rowKeysOf(prepared, seed)]]) };
}

/** An array of `n` elements in shared memory (tree threads read a local fit's input in place). */
function shared<T>(Make: new (buffer: SharedArrayBuffer) => T, bytesPerElement: number, n: number): T {
  return new Make(new SharedArrayBuffer(bytesPerElement * n));
}

function concat<T extends Float64Array | Int32Array | Uint16Array>(
  arrays: readonly T[],
  make: (n: number) => T,
): T {
  const out = make(arrays.reduce((n, a) => n + a.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function concatenate(parts: readonly PreparedChunk[]): PreparedChunk {
  const first = parts[0];
  if (first === undefined) throw new Error('a local tree fit needs at least one chunk');
  const numRows = parts.reduce((n, p) => n + p.numRows, 0);
  const codes = first.codes.map((_, f) =>
    concat(
      parts.map((p) => p.codes[f] as Uint16Array),
      (n) => shared(Uint16Array, 2, n),
    ),
  );
  const weight = concat(
    parts.map((p) => p.weight),
    (n) => shared(Float64Array, 8, n),
  );
  // prepareChunk shares one array for weight and count unless they differ (pweights).
  const count =
    first.count === first.weight
      ? weight
      : concat(
          parts.map((p) => p.count),
          (n) => shared(Float64Array, 8, n),
        );
  const yCode =
    first.yCode === null
      ? null
      : concat(
          parts.map((p) => p.yCode as Int32Array),
          (n) => shared(Int32Array, 4, n),
        );
  const yValue =
    first.yValue === null
      ? null
      : concat(
          parts.map((p) => p.yValue as Float64Array),
          (n) => shared(Float64Array, 8, n),
        );
  // Consecutive chunks with every row kept: ids are startRow + i already.
  let next = first.startRow;
  let consecutive = true;
  for (const part of parts) {
    if (part.startRow !== next) consecutive = false;
    next = part.startRow + part.numRows;
  }
  let rowIds: Int32Array | undefined;
  if (!consecutive) {
    rowIds = shared(Int32Array, 4, numRows);
    let at = 0;
    for (const part of parts) for (let i = 0; i < part.numRows; i++) rowIds[at++] = part.startRow + i;
  }
  return {
    numRows,
    startRow: first.startRow,
    ...(rowIds === undefined ? {} : { rowIds }),
    codes,
    yCode,
    yValue,
    weight,
    count,
    usedRows: parts.reduce((n, p) => n + p.usedRows, 0),
    derived: new Map(),
    bytes: parts.reduce((n, p) => n + p.bytes, 0),
  };
}
