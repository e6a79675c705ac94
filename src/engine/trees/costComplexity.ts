import type { GrowTree } from './growTree.ts';

/**
 * rpart's cost-complexity bookkeeping on a grown tree (Breiman et al. 1984, ch. 3; rpart's
 * partition.c and make_cp_list.c):
 *
 * - bottom-up, each split node's complexity is the risk it removes per split of its subtree, where a
 *   child subtree that would collapse first (smaller complexity) counts as a leaf; a node whose
 *   complexity is <= alpha (cp times the root's risk) collapses;
 * - top-down, a node's complexity is capped by its parent's (it goes when its parent goes);
 * - the cp table lists each distinct complexity (>= alpha) from the root's down, with the number of
 *   splits and the risk of the tree pruned there (splits with complexity > cp stay).
 * Complexities here are in risk units; the result divides them by the root's risk (rpart's CP).
 */
export interface Complexity {
  /** Per node, after the cap by the parent; leaves get alpha. */
  cp: Float64Array;
  /** Per node: 1 = the node exists in the alpha-pruned tree. */
  present: Uint8Array;
  /** Per node: 1 = the node is a split that survives alpha-pruning. */
  split: Uint8Array;
}

function leftChild(tree: GrowTree, node: number): number {
  return tree.loIsLeft[node] === 1 ? (tree.lo[node] as number) : (tree.hi[node] as number);
}
function rightChild(tree: GrowTree, node: number): number {
  return tree.loIsLeft[node] === 1 ? (tree.hi[node] as number) : (tree.lo[node] as number);
}

export function computeComplexity(tree: GrowTree, risk: Float64Array, alpha: number): Complexity {
  const size = tree.feature.length;
  const cp = new Float64Array(size);
  const split = new Uint8Array(size);
  const visit = (node: number): { sumRisk: number; splits: number } => {
    if ((tree.feature[node] as number) < 0) {
      cp[node] = alpha;
      return { sumRisk: risk[node] as number, splits: 0 };
    }
    const left = leftChild(tree, node);
    const right = rightChild(tree, node);
    const l = visit(left);
    const r = visit(right);
    const own = risk[node] as number;
    let leftRisk = l.sumRisk;
    let leftSplits = l.splits;
    let rightRisk = r.sumRisk;
    let rightSplits = r.splits;
    let temp = (own - (leftRisk + rightRisk)) / (leftSplits + rightSplits + 1);
    // Who collapses first: the child with the smaller complexity, if it is below this node's.
    if ((cp[right] as number) > (cp[left] as number)) {
      if (temp > (cp[left] as number)) {
        leftRisk = risk[left] as number;
        leftSplits = 0;
        temp = (own - (leftRisk + rightRisk)) / (leftSplits + rightSplits + 1);
        if (temp > (cp[right] as number)) {
          rightRisk = risk[right] as number;
          rightSplits = 0;
        }
      }
    } else if (temp > (cp[right] as number)) {
      rightRisk = risk[right] as number;
      rightSplits = 0;
      temp = (own - (leftRisk + rightRisk)) / (leftSplits + rightSplits + 1);
      if (temp > (cp[left] as number)) {
        leftRisk = risk[left] as number;
        leftSplits = 0;
      }
    }
    cp[node] = (own - (leftRisk + rightRisk)) / (leftSplits + rightSplits + 1);
    if ((cp[node] as number) <= alpha) return { sumRisk: own, splits: 0 };
    split[node] = 1;
    return { sumRisk: leftRisk + rightRisk, splits: leftSplits + rightSplits + 1 };
  };
  visit(0);
  // Top-down: cap by the parent; nodes below a collapsed split do not exist.
  const present = new Uint8Array(size);
  const down = (node: number, parentCp: number): void => {
    present[node] = 1;
    if ((cp[node] as number) > parentCp) cp[node] = parentCp;
    if (split[node] !== 1) return;
    down(tree.lo[node] as number, cp[node] as number);
    down(tree.hi[node] as number, cp[node] as number);
  };
  down(0, cp[0] as number);
  return { cp, present, split };
}

export interface CpRow {
  /** Complexity in risk units. */
  cp: number;
  nsplit: number;
  /** Risk of the tree pruned at cp. */
  risk: number;
}

/** Splits of the tree pruned at `threshold` (risk units): present splits whose complexity exceeds it. */
export function prunedSplits(tree: GrowTree, cx: Complexity, threshold: number): Uint8Array {
  const keep = new Uint8Array(tree.feature.length);
  const walk = (node: number): void => {
    if (cx.split[node] !== 1 || !((cx.cp[node] as number) > threshold)) return;
    keep[node] = 1;
    walk(tree.lo[node] as number);
    walk(tree.hi[node] as number);
  };
  walk(0);
  return keep;
}

/** Sum of the risks of the leaves of the pruned tree `keep`. */
export function prunedRisk(tree: GrowTree, keep: Uint8Array, risk: Float64Array): number {
  let total = 0;
  const walk = (node: number): void => {
    if (keep[node] !== 1) {
      total += risk[node] as number;
      return;
    }
    walk(tree.lo[node] as number);
    walk(tree.hi[node] as number);
  };
  walk(0);
  return total;
}

/** rpart's cp table: distinct complexities from the root's down to alpha. */
export function cpTable(tree: GrowTree, cx: Complexity, risk: Float64Array, alpha: number): CpRow[] {
  const values = new Set<number>();
  const rootCp = cx.cp[0] as number;
  values.add(rootCp);
  for (let node = 0; node < tree.feature.length; node++) {
    if (cx.present[node] !== 1) continue;
    const value = Math.max(cx.cp[node] as number, alpha);
    if (value < rootCp) values.add(value);
  }
  const cps = [...values].sort((a, b) => b - a);
  return cps.map((cp) => {
    const keep = prunedSplits(tree, cx, cp);
    let nsplit = 0;
    for (const k of keep) nsplit += k;
    return { cp, nsplit, risk: prunedRisk(tree, keep, risk) };
  });
}

/** rpart's cross-validation thresholds: 10 x the first cp, then geometric means of neighbours. */
export function xvalThresholds(rows: readonly CpRow[]): number[] {
  return rows.map((row, i) => (i === 0 ? 10 * row.cp : Math.sqrt((rows[i - 1] as CpRow).cp * row.cp)));
}
