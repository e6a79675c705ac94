import type { CompactTree } from '../models/treeScore.ts';
import type { GrowTree, TreeWalker } from './growTree.ts';

/** A compact tree that also keeps its splits' bins, so chunk tasks can walk it over codes. */
export interface TrainedTree extends CompactTree {
  /** Numeric splits: codes < bin go lo; -1 for factor splits and leaves. */
  bin: number[];
}

/**
 * The scoring form of a grown tree: only the nodes reachable when the splits flagged in `keep` are
 * kept (the others become leaves), renumbered in preorder. `value(node)` and `prob(node)` give leaf
 * values (every node gets one, so a pruned model can be read at any node).
 */
export function compactTree(
  tree: GrowTree,
  keep: (node: number) => boolean,
  value: (node: number) => number,
  prob: ((node: number) => number[]) | null,
  withNodeNumbers: boolean,
): TrainedTree {
  const out: TrainedTree = {
    bin: [],
    feature: [],
    threshold: [],
    lo: [],
    hi: [],
    missingLo: [],
    levelSets: [],
    value: [],
  };
  if (prob !== null) out.prob = [];
  if (withNodeNumbers) out.nodeNum = [];
  const visit = (node: number): number => {
    const index = out.feature.length;
    const split = keep(node) && (tree.feature[node] as number) >= 0;
    out.feature.push(split ? (tree.feature[node] as number) : -1);
    const set = tree.levelSet[node];
    if (split && set !== null && set !== undefined) {
      out.threshold.push(out.levelSets.length);
      out.levelSets.push([...set]);
    } else out.threshold.push(split ? (tree.threshold[node] as number) : 0);
    out.bin.push(split ? (tree.bin[node] as number) : -1);
    out.lo.push(-1);
    out.hi.push(-1);
    out.missingLo.push(split ? (tree.missingLo[node] as number) : 0);
    out.value.push(value(node));
    if (prob !== null) out.prob?.push(...prob(node));
    if (withNodeNumbers) out.nodeNum?.push(tree.nodeNum[node] as number);
    if (split) {
      out.lo[index] = visit(tree.lo[node] as number);
      out.hi[index] = visit(tree.hi[node] as number);
    }
    return index;
  };
  visit(0);
  return out;
}

/** The scoring form without the training bins (what a stored model keeps). */
export function withoutBins(tree: TrainedTree): CompactTree {
  const { bin: _bin, ...compact } = tree;
  return compact;
}

/** A trained tree as a walker over codes (growTree.ts's `advancePositions`). */
export function trainedWalker(tree: TrainedTree): TreeWalker {
  const size = tree.feature.length;
  const setStart = new Int32Array(size).fill(-1);
  const words: number[] = [];
  for (let node = 0; node < size; node++) {
    if ((tree.feature[node] as number) < 0 || (tree.bin[node] as number) >= 0) continue;
    setStart[node] = words.length;
    words.push(...(tree.levelSets[tree.threshold[node] as number] as number[]));
  }
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
