import type { GrowTree } from './growTree.ts';

/**
 * A forest tree's own copy of its rows' data, grouped by node (as orderedRows.ts keeps a boosted
 * tree's, in columns here): every column holds the tree's rows (its bootstrap sample) with each node's
 * rows in one segment, and a split moves the segment's values, in every column, into two consecutive
 * segments, lo then hi, each in row order (a stable partition). A level's histograms then read each
 * node's values in sequence instead of picking its rows out of the whole input, which deep trees (a
 * node of a thousand rows spread over a million) pay for in cache misses; sums still run in row order.
 */
export class NodeColumns {
  /**
   * The rows' 16-bit codes two to a 32-bit word: slot s (predictor s, or the class code in slot p for
   * class trees) is bits 16 (s & 1) .. of column s >> 1. Half the columns to move in a split.
   */
  readonly pairs: Uint32Array[];
  /** Predictors. */
  readonly features: number;
  readonly weight: Float64Array;
  readonly count: Float64Array | null;
  /** Centred response (regression trees). */
  readonly yValue: Float64Array | null;
  private start: number[] = [0];
  private end: number[];
  private readonly goLo: Uint8Array;
  private readonly scratch32: Uint32Array;
  private readonly scratch64: Float64Array;

  /** `rows` (ascending) of the given columns, all in the root (node 0). */
  constructor(
    rows: Int32Array,
    codes: readonly Uint16Array[],
    weight: Float64Array,
    count: Float64Array | null,
    yCode: Int32Array | null,
    yValue: Float64Array | null,
  ) {
    const m = rows.length;
    const p = codes.length;
    const slots = [...codes, ...(yCode === null ? [] : [yCode])];
    this.pairs = Array.from({ length: (slots.length + 1) >> 1 }, (_, c) => {
      const lo = slots[2 * c] as Uint16Array | Int32Array;
      const hi = slots[2 * c + 1];
      const out = new Uint32Array(m);
      for (let j = 0; j < m; j++) {
        const i = rows[j] as number;
        const high = hi === undefined ? 0 : ((hi[i] as number) & 0xffff) << 16;
        out[j] = (((lo[i] as number) & 0xffff) | high) >>> 0;
      }
      return out;
    });
    const gather64 = (from: Float64Array) => {
      const out = new Float64Array(m);
      for (let j = 0; j < m; j++) out[j] = from[rows[j] as number] as number;
      return out;
    };
    this.features = p;
    this.weight = gather64(weight);
    this.count = count === null ? null : gather64(count);
    this.yValue = yValue === null ? null : gather64(yValue);
    this.end = [m];
    this.goLo = new Uint8Array(m);
    this.scratch32 = new Uint32Array(m);
    this.scratch64 = new Float64Array(m);
  }

  /** The segment [from, to) of `node`'s rows. */
  segment(node: number): [number, number] {
    return [this.start[node] ?? 0, this.end[node] ?? 0];
  }

  /**
   * Moves `node`'s rows to its children as the tree's split at `node` sends them (growTree.ts: codes
   * below `bin`, or levels in the bitset, go lo; missing values as `missingLo`).
   */
  split(tree: GrowTree, node: number, missingCode: ArrayLike<number>): void {
    const f = tree.feature[node] as number;
    const from = this.start[node] as number;
    const to = this.end[node] as number;
    const column = this.pairs[f >> 1] as Uint32Array;
    const shift = (f & 1) << 4;
    const missing = missingCode[f] as number;
    const missingLo = tree.missingLo[node] === 1 ? 1 : 0;
    const bin = tree.bin[node] as number;
    const words = tree.levelSet[node] ?? [];
    const goLo = this.goLo;
    let lo = 0;
    for (let j = from; j < to; j++) {
      const code = ((column[j] as number) >>> shift) & 0xffff;
      let flag: number;
      if (code === missing) flag = missingLo;
      else if (bin >= 0) flag = code < bin ? 1 : 0;
      else flag = (((words[code >> 5] as number) ?? 0) >>> (code & 31)) & 1;
      goLo[j] = flag;
      lo += flag;
    }
    for (const c of this.pairs) partition32(c, goLo, from, to, this.scratch32);
    partition64(this.weight, goLo, from, to, this.scratch64);
    if (this.count !== null) partition64(this.count, goLo, from, to, this.scratch64);
    if (this.yValue !== null) partition64(this.yValue, goLo, from, to, this.scratch64);
    this.setSegment(tree.lo[node] as number, from, from + lo);
    this.setSegment(tree.hi[node] as number, from + lo, to);
  }

  private setSegment(node: number, from: number, to: number): void {
    while (this.start.length <= node) {
      this.start.push(0);
      this.end.push(0);
    }
    this.start[node] = from;
    this.end[node] = to;
  }
}

// Stable partitions, one per array type so each loop sees one element type; branch-free (both
// destinations written, one pointer advanced): the sides of a split are a coin toss to the CPU.
// Writing a[lo] is safe: lo never passes j.

function partition32(a: Uint32Array, goLo: Uint8Array, from: number, to: number, scratch: Uint32Array): void {
  let lo = from;
  let hi = 0;
  for (let j = from; j < to; j++) {
    const v = a[j] as number;
    const flag = goLo[j] as number;
    a[lo] = v;
    scratch[hi] = v;
    lo += flag;
    hi += 1 - flag;
  }
  a.set(scratch.subarray(0, hi), lo);
}

function partition64(
  a: Float64Array,
  goLo: Uint8Array,
  from: number,
  to: number,
  scratch: Float64Array,
): void {
  let lo = from;
  let hi = 0;
  for (let j = from; j < to; j++) {
    const v = a[j] as number;
    const flag = goLo[j] as number;
    a[lo] = v;
    scratch[hi] = v;
    lo += flag;
    hi += 1 - flag;
  }
  a.set(scratch.subarray(0, hi), lo);
}

/**
 * Adds the class sums of rows from..to - 1 into one node's blocks (bin sums [w of class 0 .. K-1,
 * (count)], as histogram.ts's accumulateClass): `offsets[f]` is the start of predictor f's block, -1
 * when the node does not search it (a forest node's mTry predictors).
 */
export function accumulateClassSegment(
  hist: Float64Array,
  offsets: ArrayLike<number>,
  data: NodeColumns,
  from: number,
  to: number,
  classes: number,
): void {
  const { pairs, weight, count, features: p } = data;
  const width = classes + (count === null ? 0 : 1);
  const y = pairs[p >> 1] as Uint32Array;
  const yShift = (p & 1) << 4;
  for (let f = 0; f < p; f++) {
    const at = offsets[f] as number;
    if (at < 0) continue;
    const column = pairs[f >> 1] as Uint32Array;
    const shift = (f & 1) << 4;
    for (let j = from; j < to; j++) {
      const k = at + (((column[j] as number) >>> shift) & 0xffff) * width;
      const c = k + (((y[j] as number) >>> yShift) & 0xffff);
      hist[c] = (hist[c] as number) + (weight[j] as number);
      if (count !== null) hist[k + classes] = (hist[k + classes] as number) + (count[j] as number);
    }
  }
}

/**
 * Adds the moments of rows from..to - 1 into one node's blocks (bin sums [w, w y, w y^2, (count)],
 * y centred, as histogram.ts's accumulateMoments); `offsets` as in accumulateClassSegment.
 */
export function accumulateMomentSegment(
  hist: Float64Array,
  offsets: ArrayLike<number>,
  data: NodeColumns,
  from: number,
  to: number,
): void {
  const { pairs, weight, count, features: p } = data;
  const y = data.yValue as Float64Array;
  const width = count === null ? 3 : 4;
  for (let f = 0; f < p; f++) {
    const at = offsets[f] as number;
    if (at < 0) continue;
    const column = pairs[f >> 1] as Uint32Array;
    const shift = (f & 1) << 4;
    for (let j = from; j < to; j++) {
      const k = at + (((column[j] as number) >>> shift) & 0xffff) * width;
      const v = y[j] as number;
      const s = (weight[j] as number) * v;
      hist[k] = (hist[k] as number) + (weight[j] as number);
      hist[k + 1] = (hist[k + 1] as number) + s;
      hist[k + 2] = (hist[k + 2] as number) + s * v;
      if (count !== null) hist[k + 3] = (hist[k + 3] as number) + (count[j] as number);
    }
  }
}
