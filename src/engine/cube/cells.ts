import type { Chunk } from '../analysis.ts';
import { andMasks, ChunkColumns, cellIndex } from '../columns.ts';
import { EngineError } from '../errors.ts';
import { type FactorSource, TermColumns } from '../formula/index.ts';
import { readWeights } from '../params.ts';
import type { CubePlan } from './plan.ts';

/**
 * The sparse cube partial: only the cells some row fell into, sorted by key, so a partial's size is
 * bounded by its rows and not by the product of the level counts (two 5000-level factors make 25M
 * cells; a chunk of 100k rows touches at most 100k of them).
 *
 * A cell is "present" once a row falls into it, even a row of weight 0: RevoScaleR keeps cells whose
 * observations have frequency 0 when it removes empty ones (removeZeroCounts), and so do we.
 *
 * merge is a sorted merge-join; a cell in both partials adds a's value and b's, in that order, so the
 * chunk-order left fold of the runners gives the same bits with any number of workers.
 */
export interface CellPartial {
  /** Rows read (after rowSelection). */
  rows: number;
  /** Rows that fell into a cell: every factor in its levels, the response and the weight present. */
  usedRows: number;
  /** Doubles per key (the plan's key groups). */
  keyWidth: number;
  /** Keys of the present cells, `keyWidth` doubles each, ascending (last group most significant). */
  keys: Float64Array;
  /** Sum of weights per cell (rows, unweighted). */
  counts: Float64Array;
  /** Sum of weight * response per cell; null without a response. */
  sums: Float64Array | null;
}

/** Most present cells a partial may hold (about 24 bytes each): past it the job stops with a 422. */
export const MAX_PRESENT_CELLS = 2_000_000;

/** Cells of a chunk counted in a dense array when there are at most this many, or 2 per row. */
const DENSE_MIN_LIMIT = 1 << 16;

function tooManyCells(cells: number, analysis: string): EngineError {
  return new EngineError(
    'TOO_MANY_CELLS',
    `${analysis}: the data fill more than ${MAX_PRESENT_CELLS} cells of the crossing; cross fewer or coarser factors`,
    422,
    { cells, limit: MAX_PRESENT_CELLS },
  );
}

/** A partial with no cells (a chunk with no usable row). */
function emptyPartial(rows: number, keyWidth: number, withSums: boolean): CellPartial {
  return {
    rows,
    usedRows: 0,
    keyWidth,
    keys: new Float64Array(0),
    counts: new Float64Array(0),
    sums: withSums ? new Float64Array(0) : null,
  };
}

interface RowData {
  /** Rows excluded by a missing response or weight (null: none). */
  rowMask: Uint8Array | null;
  weights: Float64Array | null;
  response: Float64Array | null;
}

/**
 * Counts of one chunk when the whole crossing fits an Int32 cell index: dense arrays when the crossing
 * is small next to the chunk, a Map from cell to slot otherwise.
 */
function accumulateIndexed(
  cells: Int32Array,
  numRows: number,
  totalCells: number,
  data: RowData,
): { keys: Float64Array; counts: Float64Array; sums: Float64Array | null; used: number } {
  const { weights, response } = data;
  if (totalCells <= Math.max(DENSE_MIN_LIMIT, 2 * numRows)) {
    const counts = new Float64Array(totalCells);
    const sums = response === null ? null : new Float64Array(totalCells);
    // With weights a cell may be present with a count of 0: mark presence apart.
    const hit = weights === null ? null : new Uint8Array(totalCells);
    let used = 0;
    if (weights === null) {
      if (sums === null) {
        for (let i = 0; i < numRows; i++) {
          const c = cells[i] as number;
          if (c >= 0) counts[c] = (counts[c] as number) + 1;
        }
      } else {
        const y = response as Float64Array;
        for (let i = 0; i < numRows; i++) {
          const c = cells[i] as number;
          if (c < 0) continue;
          counts[c] = (counts[c] as number) + 1;
          sums[c] = (sums[c] as number) + (y[i] as number);
        }
      }
    } else {
      const marks = hit as Uint8Array;
      for (let i = 0; i < numRows; i++) {
        const c = cells[i] as number;
        if (c < 0) continue;
        const w = weights[i] as number;
        marks[c] = 1;
        counts[c] = (counts[c] as number) + w;
        if (sums !== null) sums[c] = (sums[c] as number) + w * ((response as Float64Array)[i] as number);
      }
    }
    for (let i = 0; i < numRows; i++) if ((cells[i] as number) >= 0) used++;
    return { ...compactDense(counts, sums, hit), used };
  }
  // Sparse: slots in first-seen order, then sorted by cell.
  const slotOf = new Map<number, number>();
  let counts = new Float64Array(1024);
  let sums = response === null ? null : new Float64Array(1024);
  let used = 0;
  for (let i = 0; i < numRows; i++) {
    const c = cells[i] as number;
    if (c < 0) continue;
    used++;
    let slot = slotOf.get(c);
    if (slot === undefined) {
      slot = slotOf.size;
      slotOf.set(c, slot);
      if (slot === counts.length) {
        counts = grow(counts);
        if (sums !== null) sums = grow(sums);
      }
    }
    const w = weights === null ? 1 : (weights[i] as number);
    counts[slot] = (counts[slot] as number) + w;
    if (sums !== null) sums[slot] = (sums[slot] as number) + w * ((response as Float64Array)[i] as number);
  }
  const keys = Float64Array.from(slotOf.keys()).sort();
  const outCounts = new Float64Array(keys.length);
  const outSums = sums === null ? null : new Float64Array(keys.length);
  for (let k = 0; k < keys.length; k++) {
    const slot = slotOf.get(keys[k] as number) as number;
    outCounts[k] = counts[slot] as number;
    if (outSums !== null) outSums[k] = (sums as Float64Array)[slot] as number;
  }
  return { keys, counts: outCounts, sums: outSums, used };
}

/** The present cells of dense per-chunk arrays, in cell order. */
function compactDense(
  counts: Float64Array,
  sums: Float64Array | null,
  hit: Uint8Array | null,
): { keys: Float64Array; counts: Float64Array; sums: Float64Array | null } {
  const totalCells = counts.length;
  let present = 0;
  for (let c = 0; c < totalCells; c++) {
    if (hit === null ? (counts[c] as number) > 0 : hit[c] === 1) present++;
  }
  const keys = new Float64Array(present);
  const outCounts = new Float64Array(present);
  const outSums = sums === null ? null : new Float64Array(present);
  let k = 0;
  for (let c = 0; c < totalCells; c++) {
    if (hit === null ? (counts[c] as number) === 0 : hit[c] === 0) continue;
    keys[k] = c;
    outCounts[k] = counts[c] as number;
    if (outSums !== null) outSums[k] = (sums as Float64Array)[c] as number;
    k++;
  }
  return { keys, counts: outCounts, sums: outSums };
}

/**
 * The hot path of a plain two-way table (no response, no weight, nothing missing, a small crossing):
 * the cell index and the count in one pass over the two code columns, without a cell array.
 */
function countTwoFactors(
  a: Int32Array,
  b: Int32Array,
  sizeA: number,
  sizeB: number,
  numRows: number,
): { keys: Float64Array; counts: Float64Array; sums: null; used: number } {
  const counts = new Float64Array(sizeA * sizeB);
  let used = 0;
  for (let i = 0; i < numRows; i++) {
    const x = a[i] as number;
    const y = b[i] as number;
    // Unsigned compares reject negative codes (values outside the levels) too.
    if (x >>> 0 < sizeA && y >>> 0 < sizeB) {
      const c = x + sizeA * y;
      counts[c] = (counts[c] as number) + 1;
      used++;
    }
  }
  return { ...compactDense(counts, null, null), sums: null, used };
}

function grow(values: Float64Array<ArrayBuffer>): Float64Array<ArrayBuffer> {
  const bigger = new Float64Array(values.length * 2);
  bigger.set(values);
  return bigger;
}

/** Compares the keys at cells i of `a` and j of `b`: last group most significant. */
function compareKeys(a: Float64Array, i: number, b: Float64Array, j: number, width: number): number {
  for (let g = width - 1; g >= 0; g--) {
    const x = a[i * width + g] as number;
    const y = b[j * width + g] as number;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

/**
 * Counts of one chunk when the crossing needs keys beyond an Int32 (one double per key group, exact
 * below 2^53 each): a Map keyed by the key's text, then sorted. The general and slow path, for
 * crossings of more than 2^31 cells.
 */
function accumulateKeyed(
  plan: CubePlan,
  factors: ReadonlyArray<{ codes: Int32Array; valid: Uint8Array | null }>,
  numRows: number,
  data: RowData,
): { keys: Float64Array; counts: Float64Array; sums: Float64Array | null; used: number } {
  const width = plan.keyGroups.length;
  const rowKeys = new Float64Array(numRows * width);
  const usable = data.rowMask === null ? new Uint8Array(numRows).fill(1) : data.rowMask.slice(0, numRows);
  plan.keyGroups.forEach((group, g) => {
    let stride = 1;
    for (let f = group.first; f < group.first + group.count; f++) {
      const size = (plan.factors[f] as FactorSource).levels.length;
      const { codes, valid } = factors[f] as { codes: Int32Array; valid: Uint8Array | null };
      for (let i = 0; i < numRows; i++) {
        const code = codes[i] as number;
        if ((valid !== null && valid[i] === 0) || code < 0 || code >= size) usable[i] = 0;
        else rowKeys[i * width + g] = (rowKeys[i * width + g] as number) + code * stride;
      }
      stride *= size;
    }
  });
  const slotOf = new Map<string, number>();
  const slotKeys: number[] = [];
  const counts: number[] = [];
  const sums: number[] | null = data.response === null ? null : [];
  let used = 0;
  for (let i = 0; i < numRows; i++) {
    if (usable[i] === 0) continue;
    used++;
    const parts = Array.from(rowKeys.subarray(i * width, (i + 1) * width));
    const text = parts.join(',');
    let slot = slotOf.get(text);
    if (slot === undefined) {
      slot = counts.length;
      slotOf.set(text, slot);
      slotKeys.push(...parts);
      counts.push(0);
      sums?.push(0);
    }
    const w = data.weights === null ? 1 : (data.weights[i] as number);
    counts[slot] = (counts[slot] as number) + w;
    if (sums !== null)
      sums[slot] = (sums[slot] as number) + w * ((data.response as Float64Array)[i] as number);
  }
  const keyArray = Float64Array.from(slotKeys);
  const order = Array.from(counts, (_, s) => s).sort((s, t) => compareKeys(keyArray, s, keyArray, t, width));
  const keys = new Float64Array(order.length * width);
  order.forEach((slot, k) => {
    keys.set(keyArray.subarray(slot * width, (slot + 1) * width), k * width);
  });
  return {
    keys,
    counts: Float64Array.from(order, (slot) => counts[slot] as number),
    sums: sums === null ? null : Float64Array.from(order, (slot) => sums[slot] as number),
    used,
  };
}

/** The cell partial of one chunk. */
export function accumulateCells(chunk: Chunk, plan: CubePlan, analysis: string): CellPartial {
  const table = chunk.table;
  const numRows = table.numRows;
  const width = plan.keyGroups.length;
  if (numRows === 0) return emptyPartial(0, width, plan.response !== null);
  const reader = new TermColumns(new ChunkColumns(table));
  const weightColumn = plan.weights === null ? null : readWeights(table, plan.weights);
  let response: Float64Array | null = null;
  let responseMask: Uint8Array | null = null;
  if (plan.response !== null) {
    response = reader.numeric(plan.response).values;
    responseMask = reader.usable(plan.response);
  }
  const data: RowData = {
    rowMask: andMasks(numRows, [responseMask, weightColumn?.valid ?? null]),
    weights: weightColumn?.values ?? null,
    response,
  };
  const factors = plan.factors.map((f) => reader.factor(f));
  const totalCells = plan.totalCells;
  const [first, second] = factors;
  const sizes = plan.factors.map((f) => f.levels.length);
  const counted =
    factors.length === 2 &&
    first?.valid === null &&
    second?.valid === null &&
    data.rowMask === null &&
    data.weights === null &&
    data.response === null &&
    totalCells <= Math.max(DENSE_MIN_LIMIT, 2 * numRows)
      ? countTwoFactors(first.codes, second.codes, sizes[0] as number, sizes[1] as number, numRows)
      : width === 1 && totalCells <= 2 ** 31 - 1
        ? accumulateIndexed(cellIndex(factors, sizes, numRows, data.rowMask), numRows, totalCells, data)
        : accumulateKeyed(plan, factors, numRows, data);
  if (counted.counts.length > MAX_PRESENT_CELLS) throw tooManyCells(counted.counts.length, analysis);
  return {
    rows: numRows,
    usedRows: counted.used,
    keyWidth: width,
    keys: counted.keys,
    counts: counted.counts,
    sums: counted.sums,
  };
}

/** Merges two cell partials (a's chunks before b's). */
export function mergeCells(a: CellPartial, b: CellPartial, analysis: string): CellPartial {
  const width = a.keyWidth;
  const na = a.counts.length;
  const nb = b.counts.length;
  if (na === 0 || nb === 0) {
    const cells = na === 0 ? b : a;
    return { ...cells, rows: a.rows + b.rows, usedRows: a.usedRows + b.usedRows };
  }
  const keys = new Float64Array((na + nb) * width);
  const counts = new Float64Array(na + nb);
  const sums = a.sums === null || b.sums === null ? null : new Float64Array(na + nb);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < na || j < nb) {
    const order = i === na ? 1 : j === nb ? -1 : compareKeys(a.keys, i, b.keys, j, width);
    if (order < 0) {
      keys.set(a.keys.subarray(i * width, (i + 1) * width), k * width);
      counts[k] = a.counts[i] as number;
      if (sums !== null) sums[k] = (a.sums as Float64Array)[i] as number;
      i++;
    } else if (order > 0) {
      keys.set(b.keys.subarray(j * width, (j + 1) * width), k * width);
      counts[k] = b.counts[j] as number;
      if (sums !== null) sums[k] = (b.sums as Float64Array)[j] as number;
      j++;
    } else {
      keys.set(a.keys.subarray(i * width, (i + 1) * width), k * width);
      counts[k] = (a.counts[i] as number) + (b.counts[j] as number);
      if (sums !== null)
        sums[k] = ((a.sums as Float64Array)[i] as number) + ((b.sums as Float64Array)[j] as number);
      i++;
      j++;
    }
    k++;
  }
  if (k > MAX_PRESENT_CELLS) throw tooManyCells(k, analysis);
  return {
    rows: a.rows + b.rows,
    usedRows: a.usedRows + b.usedRows,
    keyWidth: width,
    // Copies, not views: the codec sends a view's bytes only, but a copy frees the oversized buffers.
    keys: keys.slice(0, k * width),
    counts: counts.slice(0, k),
    sums: sums === null ? null : sums.slice(0, k),
  };
}
