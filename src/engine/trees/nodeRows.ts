import type { GrowTree, TreeWalker } from './growTree.ts';

/**
 * The rows of a tree grown locally (localData.ts), grouped by node: one list of row ids where every
 * node owns a segment, and a split moves its segment's rows into two consecutive segments, lo then hi,
 * each in row order (a stable partition). A level then costs its nodes' own rows, not a scan of every
 * row, and histogram sums run in row order whatever the tree, so a local fit is deterministic.
 */
export class NodeRows {
  private readonly rows: Int32Array;
  private readonly scratch: Int32Array;
  private start: number[] = [0];
  private end: number[];

  /** `rows`: the rows taking part (ascending), all in the root (node 0). */
  constructor(rows: Int32Array) {
    this.rows = rows;
    this.scratch = new Int32Array(rows.length);
    this.end = [rows.length];
  }

  /** The rows of `node` as a view (valid until the next split of that node). */
  of(node: number): Int32Array {
    return this.rows.subarray(this.start[node] ?? 0, this.end[node] ?? 0);
  }

  /**
   * Splits `node`'s rows between its children as the tree's split at `node` sends them
   * (growTree.ts: codes below `bin`, or levels in the bitset, go lo; missing values as `missingLo`).
   */
  split(tree: GrowTree, node: number, codes: readonly Uint16Array[], missingCode: ArrayLike<number>): void {
    const f = tree.feature[node] as number;
    const from = this.start[node] as number;
    const to = this.end[node] as number;
    const column = codes[f] as Uint16Array;
    const missing = missingCode[f] as number;
    const missingLo = tree.missingLo[node] === 1;
    const bin = tree.bin[node] as number;
    const words = tree.levelSet[node] ?? [];
    const { rows, scratch } = this;
    let lo = from;
    let hi = 0;
    for (let j = from; j < to; j++) {
      const i = rows[j] as number;
      const code = column[i] as number;
      let goLo: boolean;
      if (code === missing) goLo = missingLo;
      else if (bin >= 0) goLo = code < bin;
      else goLo = ((((words[code >> 5] as number) ?? 0) >>> (code & 31)) & 1) === 1;
      if (goLo) rows[lo++] = i;
      else scratch[hi++] = i;
    }
    rows.set(scratch.subarray(0, hi), lo);
    this.setSegment(tree.lo[node] as number, from, lo);
    this.setSegment(tree.hi[node] as number, lo, to);
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

/** Grow-only gather buffers (the loop below runs synchronously and keeps nothing). */
const gathered = { a: new Float64Array(0), b: new Float64Array(0), c: new Float64Array(0) };

/**
 * Adds the gradient sums of `rows` into one node's blocks starting at `base` (bin sums [g, h, count],
 * blocks at `featureOffset[f]`, as histogram.ts lays them out): the per-row values are gathered once,
 * then each predictor's block is filled while it stays in cache.
 */
export function accumulateGradientRows(
  hist: Float64Array,
  base: number,
  featureOffset: Int32Array,
  codes: readonly Uint16Array[],
  rows: Int32Array,
  g: Float64Array,
  h: Float64Array,
  count: Float64Array,
): void {
  const m = rows.length;
  if (gathered.a.length < m) {
    const size = Math.max(m, 2 * gathered.a.length);
    gathered.a = new Float64Array(size);
    gathered.b = new Float64Array(size);
    gathered.c = new Float64Array(size);
  }
  const { a, b, c } = gathered;
  for (let j = 0; j < m; j++) {
    const i = rows[j] as number;
    a[j] = g[i] as number;
    b[j] = h[i] as number;
    c[j] = count[i] as number;
  }
  for (let f = 0; f < codes.length; f++) {
    const column = codes[f] as Uint16Array;
    const at = base + (featureOffset[f] as number);
    for (let j = 0; j < m; j++) {
      const k = at + (column[rows[j] as number] as number) * 3;
      hist[k] = (hist[k] as number) + (a[j] as number);
      hist[k + 1] = (hist[k + 1] as number) + (b[j] as number);
      hist[k + 2] = (hist[k + 2] as number) + (c[j] as number);
    }
  }
}

/**
 * Each row of `from`..`to` (those `take` keeps; others get -1) walked from the root to its leaf:
 * `out[i - from]` is the leaf (a tree's out-of-bag rows, scored after it is grown).
 */
export function leavesOf(
  walker: TreeWalker,
  codes: readonly Uint16Array[],
  missingCode: ArrayLike<number>,
  from: number,
  to: number,
  take: Uint8Array,
  out: Int32Array,
): void {
  const { feature, bin, missingLo, lo, hi, setStart, words } = walker;
  for (let i = from; i < to; i++) {
    if (take[i - from] === 0) {
      out[i - from] = -1;
      continue;
    }
    let node = 0;
    let f = feature[0] as number;
    while (f >= 0) {
      const code = (codes[f] as Uint16Array)[i] as number;
      let goLo: boolean;
      if (code === (missingCode[f] as number)) goLo = missingLo[node] === 1;
      else {
        const b = bin[node] as number;
        if (b >= 0) goLo = code < b;
        else {
          const start = setStart[node] as number;
          goLo = (((words[start + (code >> 5)] as number) >>> (code & 31)) & 1) === 1;
        }
      }
      node = goLo ? (lo[node] as number) : (hi[node] as number);
      f = feature[node] as number;
    }
    out[i - from] = node;
  }
}
