import type { CompactTree } from '../models/treeScore.ts';
import type { GrowTree } from './growTree.ts';

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
): CompactTree {
  const out: CompactTree = {
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
