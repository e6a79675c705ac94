import type { SplitChoice } from './splitSearch.ts';

/**
 * A tree while it grows, as it travels in the analysis state (plain JSON arrays, one entry per node,
 * nodes in creation order, 0 = root). A split node sends a row "lo" when its code is below `bin`
 * (numeric) or its level is in `levelSet` (factor), "hi" otherwise, and a missing value the way
 * `missingLo` says. `loIsLeft` only decides which child is rpart's left one (node numbers 2t / 2t+1).
 *
 * Nodes are only ever appended, and only below nodes that were open, so a row's node from an earlier
 * pass is still on its path: chunk tasks advance cached positions instead of starting at the root.
 */
export interface GrowTree {
  parent: number[];
  depth: number[];
  /** rpart's node number: 1 for the root, 2t and 2t + 1 for the children of t. */
  nodeNum: number[];
  /** Split predictor, -1 for a leaf (or a node not split yet). */
  feature: number[];
  /** Numeric split: codes < bin go lo; -1 for factor splits. */
  bin: number[];
  /** Numeric split: raw values < threshold go lo (agrees with `bin` on every row of the node). */
  threshold: number[];
  /** Factor split: bitset (32-bit words) of the levels going lo; null otherwise. */
  levelSet: Array<number[] | null>;
  missingLo: number[];
  lo: number[];
  hi: number[];
  loIsLeft: number[];
  /** The node's sums (criteria.ts). */
  stats: number[][];
  /** Gain of the node's split (0 for leaves). */
  gain: number[];
  /** Nodes to search in the next pass. */
  open: number[];
  /**
   * Histogram subtraction: -1 when chunk tasks build the node's histograms, else its sibling's index:
   * the coordinator derives them as the parent's minus the sibling's (levelGrowth.ts).
   */
  derivedFrom: number[];
}

export function newTree(rootStats: ArrayLike<number>): GrowTree {
  return {
    parent: [-1],
    depth: [0],
    nodeNum: [1],
    feature: [-1],
    bin: [-1],
    threshold: [0],
    levelSet: [null],
    missingLo: [0],
    lo: [-1],
    hi: [-1],
    loIsLeft: [1],
    stats: [Array.from(rootStats)],
    gain: [0],
    open: [],
    derivedFrom: [-1],
  };
}

function pushNode(tree: GrowTree, parent: number, nodeNum: number, stats: ArrayLike<number>): number {
  const index = tree.parent.length;
  tree.parent.push(parent);
  tree.depth.push((tree.depth[parent] as number) + 1);
  tree.nodeNum.push(nodeNum);
  tree.feature.push(-1);
  tree.bin.push(-1);
  tree.threshold.push(0);
  tree.levelSet.push(null);
  tree.missingLo.push(0);
  tree.lo.push(-1);
  tree.hi.push(-1);
  tree.loIsLeft.push(1);
  tree.stats.push(Array.from(stats));
  tree.gain.push(0);
  tree.derivedFrom.push(-1);
  return index;
}

export function levelBitset(loLevels: Uint8Array): number[] {
  const words = new Array<number>(Math.ceil(loLevels.length / 32)).fill(0);
  for (let level = 0; level < loLevels.length; level++) {
    if (loLevels[level] === 1)
      words[level >> 5] = ((words[level >> 5] as number) | (1 << (level & 31))) >>> 0;
  }
  return words;
}

export function bitsetHas(words: ArrayLike<number>, level: number): boolean {
  return ((((words[level >> 5] as number) ?? 0) >>> (level & 31)) & 1) === 1;
}

/**
 * Splits `node` as `choice` says; `threshold` is the raw cut for numeric splits. Returns the lo and hi
 * children's indexes.
 */
export function splitNode(
  tree: GrowTree,
  node: number,
  choice: SplitChoice,
  threshold: number,
  loIsLeft: boolean,
): [number, number] {
  tree.feature[node] = choice.feature;
  tree.bin[node] = choice.bin;
  tree.threshold[node] = choice.loLevels === null ? threshold : 0;
  tree.levelSet[node] = choice.loLevels === null ? null : levelBitset(choice.loLevels);
  tree.missingLo[node] = choice.missingLo ? 1 : 0;
  tree.loIsLeft[node] = loIsLeft ? 1 : 0;
  tree.gain[node] = choice.gain;
  const num = tree.nodeNum[node] as number;
  const lo = pushNode(tree, node, loIsLeft ? 2 * num : 2 * num + 1, choice.lo);
  const hi = pushNode(tree, node, loIsLeft ? 2 * num + 1 : 2 * num, choice.hi);
  tree.lo[node] = lo;
  tree.hi[node] = hi;
  return [lo, hi];
}

/** A tree's splits as typed arrays, for walking many rows. */
export interface TreeWalker {
  size: number;
  feature: Int32Array;
  bin: Int32Array;
  missingLo: Uint8Array;
  lo: Int32Array;
  hi: Int32Array;
  /** Factor splits: start of the node's bitset in `words`, -1 otherwise. */
  setStart: Int32Array;
  words: Uint32Array;
}

export function treeWalker(tree: GrowTree): TreeWalker {
  const size = tree.feature.length;
  const setStart = new Int32Array(size).fill(-1);
  const words: number[] = [];
  tree.levelSet.forEach((set, node) => {
    if (set === null) return;
    setStart[node] = words.length;
    words.push(...set);
  });
  return {
    size,
    feature: Int32Array.from(tree.feature),
    bin: Int32Array.from(tree.bin),
    missingLo: Uint8Array.from(tree.missingLo),
    lo: Int32Array.from(tree.lo),
    hi: Int32Array.from(tree.hi),
    setStart,
    words: Uint32Array.from(words),
  };
}

/** The child of split `node` a row with `code` (predictor's missing code `missing`) goes to. */
function childOf(walker: TreeWalker, node: number, code: number, missing: number): number {
  let goLo: boolean;
  if (code === missing) goLo = walker.missingLo[node] === 1;
  else {
    const b = walker.bin[node] as number;
    if (b >= 0) goLo = code < b;
    else {
      const start = walker.setStart[node] as number;
      goLo = (((walker.words[start + (code >> 5)] as number) >>> (code & 31)) & 1) === 1;
    }
  }
  return goLo ? (walker.lo[node] as number) : (walker.hi[node] as number);
}

/**
 * The leaf of each of `rows` (all rows when null) in a finished tree, read from row-major codes
 * (`rowCodes[i * p + f]`, see trees/localData.ts): one cache line per row instead of one per
 * predictor column. `leaves[k]` is the leaf of the k-th row.
 */
export function leavesRowMajor(
  walker: TreeWalker,
  rowCodes: Uint16Array,
  p: number,
  missingCode: ArrayLike<number>,
  rows: Int32Array | null,
  leaves: Int32Array,
): void {
  const feature = walker.feature;
  const n = leaves.length;
  for (let k = 0; k < n; k++) {
    const i = rows === null ? k : (rows[k] as number);
    let node = 0;
    let f = feature[0] as number;
    const at = i * p;
    while (f >= 0) {
      const code = rowCodes[at + f] as number;
      node = childOf(walker, node, code, missingCode[f] as number);
      f = feature[node] as number;
    }
    leaves[k] = node;
  }
}

/**
 * The leaf of each row `from <= i < to` with `take[i - from]` set, into `out[i - from]` (-1 for the
 * others), read from column codes (`codes[f][i]`).
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
  const feature = walker.feature;
  for (let i = from; i < to; i++) {
    if (take[i - from] === 0) {
      out[i - from] = -1;
      continue;
    }
    let node = 0;
    let f = feature[0] as number;
    while (f >= 0) {
      node = childOf(walker, node, (codes[f] as Uint16Array)[i] as number, missingCode[f] as number);
      f = feature[node] as number;
    }
    out[i - from] = node;
  }
}

/**
 * Moves every row from its node in `positions` down to the node it reaches in the tree as it is now
 * (rows already at a leaf or open node stay). `missingCode[f]` is predictor f's missing code.
 */
export function advancePositions(
  walker: TreeWalker,
  codes: readonly Uint16Array[],
  missingCode: ArrayLike<number>,
  positions: Int32Array,
): void {
  const feature = walker.feature;
  const n = positions.length;
  for (let i = 0; i < n; i++) {
    let node = positions[i] as number;
    let f = feature[node] as number;
    if (f < 0) continue;
    while (f >= 0) {
      const code = (codes[f] as Uint16Array)[i] as number;
      node = childOf(walker, node, code, missingCode[f] as number);
      f = feature[node] as number;
    }
    positions[i] = node;
  }
}
