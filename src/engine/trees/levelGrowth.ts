import type { FeatureBins } from './binning.ts';
import { countOf, directionKeyOf } from './criteria.ts';
import { advancePositions, type GrowTree, splitNode, treeWalker } from './growTree.ts';
import type { HistLayout } from './histogram.ts';
import type { PreparedChunk } from './preparedChunks.ts';
import { type SlotSearch, type SplitChoice, type SplitRules, searchNode } from './splitSearch.ts';

/**
 * The parts of level-wise growth every tree analysis shares: which (tree, node) each histogram slot
 * is, where each row of a chunk is in each tree, and turning a level's merged histograms into splits.
 */

/** Per predictor, what the state keeps of its bins (binning.ts) plus the data range of each bin. */
export interface BinsInfo extends FeatureBins {
  /** Numeric: smallest and largest value in each bin over the whole data (for split thresholds). */
  binLow: number[] | null;
  binHigh: number[] | null;
}

export interface Slot {
  tree: number;
  node: number;
}

/** The slots of one pass, and how many of each tree's open nodes (a prefix of its list) they are. */
export interface PassSlots {
  slots: Slot[];
  counts: number[];
}

/**
 * Largest histogram one pass builds, in doubles (16 MB; about 21 MB once encoded). A level with more
 * open nodes than fit takes several passes, its nodes in order, so partials stay a size Redis and the
 * coordinator handle whatever maxDepth and the data allow. The tree grown is the same either way.
 */
export const MAX_PASS_DOUBLES = 2_000_000;

let passBudget = MAX_PASS_DOUBLES;

/** Changes the per-pass histogram budget (tests use a tiny one to exercise multi-pass levels). */
export function setPassBudget(doubles: number): number {
  const previous = passBudget;
  passBudget = doubles;
  return previous;
}

/**
 * Slots of a pass: the open nodes of every tree, tree by tree, as many as fit in `budget` doubles
 * (always at least one). `doublesOf(tree, node)` is a node's histogram size.
 */
export function passSlots(
  trees: readonly GrowTree[],
  doublesOf: (tree: number, node: number) => number,
  budget = passBudget,
): PassSlots {
  const slots: Slot[] = [];
  const counts = trees.map(() => 0);
  let used = 0;
  for (let t = 0; t < trees.length; t++) {
    const tree = trees[t] as GrowTree;
    for (const node of tree.open) {
      // A derived node costs the tasks nothing; it always follows its built sibling (growLevel).
      const size = (tree.derivedFrom[node] as number) >= 0 ? 0 : doublesOf(t, node);
      if (size > 0 && slots.length > 0 && used + size > budget) return { slots, counts };
      slots.push({ tree: t, node });
      counts[t] = (counts[t] as number) + 1;
      used += size;
    }
  }
  return { slots, counts };
}

/** The raw threshold of a numeric split: halfway between the data either side (rpart's midpoint). */
export function splitThreshold(bins: BinsInfo, lastLoBin: number, bin: number): number {
  const below = bins.binHigh?.[lastLoBin];
  const above = bins.binLow?.[bin];
  const cut = bins.cuts?.[bin - 1] as number;
  if (below === undefined || above === undefined) return cut;
  const mid = (below + above) / 2;
  return mid > below && mid <= above ? mid : above;
}

interface Positions {
  tag: string;
  size: number;
  positions: Int32Array;
}

/**
 * Each row's node in `tree` (cached per chunk under `key`, advanced from the last pass). `tag` names
 * the tree that grows under the key (e.g. a boosting iteration): a cached entry of another tag, or of
 * a larger tree (a stale task of a later pass), starts again from the root.
 */
export function rowPositions(
  prepared: PreparedChunk,
  key: string,
  tag: string,
  tree: GrowTree,
  missingCodes: ArrayLike<number>,
  account: (delta: number) => void,
): Int32Array {
  let entry = prepared.derived.get(key) as Positions | undefined;
  const size = tree.feature.length;
  if (entry === undefined) {
    account(4 * prepared.numRows);
    entry = { tag, size: 0, positions: new Int32Array(prepared.numRows) };
    prepared.derived.set(key, entry);
  } else if (entry.tag !== tag || entry.size > size) {
    entry.tag = tag;
    entry.size = 0;
    entry.positions.fill(0);
  }
  if (entry.size !== size) {
    advancePositions(treeWalker(tree), prepared.codes, missingCodes, entry.positions);
    entry.size = size;
  }
  return entry.positions;
}

/**
 * Per tree, the slot of each node in this pass's histogram (-1 when it has none): over all the pass's
 * slots (`builtOnly` false: the coordinator's full histogram), or over the slots chunk tasks build.
 */
export function nodeSlotsOf(trees: readonly GrowTree[], pass: PassSlots, builtOnly: boolean): Int32Array[] {
  const out = trees.map((tree) => new Int32Array(tree.feature.length).fill(-1));
  let next = 0;
  for (const { tree, node } of pass.slots) {
    if (builtOnly && ((trees[tree] as GrowTree).derivedFrom[node] as number) >= 0) continue;
    (out[tree] as Int32Array)[node] = next++;
  }
  return out;
}

/** The pass's slots whose histograms chunk tasks build. */
export function builtSlots(trees: readonly GrowTree[], pass: PassSlots): Slot[] {
  return pass.slots.filter(({ tree, node }) => ((trees[tree] as GrowTree).derivedFrom[node] as number) < 0);
}

/**
 * The full histogram of a pass from the tasks' (built slots only): derived blocks are the parent's
 * kept block minus the built sibling's (Ke et al. 2017, LightGBM's histogram subtraction: a split
 * costs the pass only its smaller child). `parentBlock(tree, node)` returns a parent's kept block, or
 * null when it is gone (then null is returned and the pass must be run again without subtraction).
 * With `scratch`, the result is a view of its reused buffer (valid until the next call).
 */
export async function assembleHistogram(
  trees: readonly GrowTree[],
  pass: PassSlots,
  built: Float64Array,
  builtLayout: HistLayout,
  fullLayout: HistLayout,
  parentBlock: (tree: number, node: number) => Promise<Float64Array | null>,
  scratch?: { full: Float64Array },
): Promise<Float64Array | null> {
  if (fullLayout.slots === builtLayout.slots) return built;
  const stride = fullLayout.stride;
  // Every slot is written below, so a reused buffer needs no clearing.
  let full: Float64Array;
  if (scratch === undefined) full = new Float64Array(fullLayout.size);
  else {
    if (scratch.full.length < fullLayout.size) scratch.full = new Float64Array(fullLayout.size);
    full = scratch.full.subarray(0, fullLayout.size);
  }
  const fullSlots = nodeSlotsOf(trees, pass, false);
  let b = 0;
  for (let s = 0; s < pass.slots.length; s++) {
    const { tree, node } = pass.slots[s] as Slot;
    const sibling = (trees[tree] as GrowTree).derivedFrom[node] as number;
    if (sibling < 0) {
      full.set(built.subarray(b * stride, (b + 1) * stride), s * stride);
      b++;
      continue;
    }
    const siblingSlot = (fullSlots[tree] as Int32Array)[sibling] as number;
    if (siblingSlot < 0)
      throw new Error(`tree ${tree}: node ${node} is derived from ${sibling}, not in this pass`);
    const parent = await parentBlock(tree, (trees[tree] as GrowTree).parent[node] as number);
    if (parent === null) return null;
    const at = siblingSlot * stride;
    const out = s * stride;
    for (let k = 0; k < stride; k++) full[out + k] = (parent[k] as number) - (full[at + k] as number);
  }
  return full;
}

/** Makes every derived node of the pass built again (when a parent's block was lost). */
export function stopDeriving(trees: GrowTree[], pass: PassSlots): void {
  for (const { tree, node } of pass.slots) (trees[tree] as GrowTree).derivedFrom[node] = -1;
}

/** Fills `slot` with each used row's slot in `tree` (-1: not in an open node, unused, or excluded). */
export function fillSlots(
  slot: Int32Array,
  positions: Int32Array,
  nodeSlots: Int32Array,
  weight: Float64Array,
  exclude: ((i: number) => boolean) | null,
): void {
  const n = slot.length;
  for (let i = 0; i < n; i++) {
    slot[i] = weight[i] === 0 ? -1 : (nodeSlots[positions[i] as number] as number);
  }
  if (exclude !== null) for (let i = 0; i < n; i++) if (slot[i] !== -1 && exclude(i)) slot[i] = -1;
}

export interface LevelGrowth {
  rules: SplitRules;
  bins: readonly BinsInfo[];
  /** May the new node be searched next pass (depth, counts, purity, cp)? */
  canSplit(tree: number, stats: Float64Array, depth: number): boolean;
  /** Smallest gain worth a split (rpart drops gains below 1e-10 of the largest seen). */
  minGain(tree: number): number;
  /** Presentation: rpart's left child is the side with the smaller mean (else lo is left). */
  rpartDirection: boolean;
  /**
   * Where a numeric split's threshold goes in the gap between the node's values either side:
   * `midpoint` halfway (rpart's; right for every row that took part in the histograms), or `cut` on
   * the dataset-wide cut nearest that midpoint, so that rows left out of the histograms (not drawn
   * for a boosting iteration, out of a forest tree's bootstrap) go the same way whether a tree is
   * walked over bins (training) or raw values (scoring).
   */
  thresholds: 'midpoint' | 'cut';
  /**
   * Histogram subtraction (only for uniform layouts: every node searches every predictor): when both
   * children of a split will be searched, the tasks build the smaller one's histograms only.
   */
  subtract: boolean;
  /** Called for each split made (competitor bookkeeping); `offsets` locate the node's blocks in `hist`. */
  onSplit?(
    tree: number,
    node: number,
    search: SlotSearch,
    choice: SplitChoice,
    hist: Float64Array,
    offsets: Int32Array,
  ): void;
  wantPerFeature: boolean;
}

/**
 * Sets each open node's sums from its own histograms (any predictor's block holds each of its rows
 * once), so a node's statistics are the exact sums of its rows, whatever its parent's split said.
 */
export function refreshOpenStats(
  trees: GrowTree[],
  hist: Float64Array,
  layout: HistLayout,
  numBins: ArrayLike<number>,
  pass: PassSlots,
): void {
  const width = layout.width;
  const p = layout.features;
  pass.slots.forEach(({ tree, node }, s) => {
    for (let f = 0; f < p; f++) {
      const at = layout.offsets[s * p + f] as number;
      if (at < 0) continue;
      const stats = new Array<number>(width).fill(0);
      const bins = (numBins[f] as number) + 1;
      for (let b = 0; b < bins; b++) {
        for (let k = 0; k < width; k++)
          stats[k] = (stats[k] as number) + (hist[at + b * width + k] as number);
      }
      (trees[tree] as GrowTree).stats[node] = stats;
      return;
    }
  });
}

/** What a pass of growth did: the splits made, and the parents whose blocks derived children need. */
export interface LevelOutcome {
  splits: number;
  /** (tree, node, slot in the full histogram) of each parent to keep a copy of. */
  keep: Array<Slot & { slot: number }>;
}

/** Applies one level's merged histograms: splits open nodes, opens the children that may split. */
export function growLevel(
  trees: GrowTree[],
  hist: Float64Array,
  layout: HistLayout,
  growth: LevelGrowth,
  pass: PassSlots,
): LevelOutcome {
  const slots = pass.slots;
  const p = layout.features;
  let splits = 0;
  const keep: LevelOutcome['keep'] = [];
  const nextOpen: number[][] = trees.map(() => []);
  slots.forEach(({ tree: t, node }, s) => {
    const tree = trees[t] as GrowTree;
    const offsets = layout.offsets.subarray(s * p, (s + 1) * p);
    const nodeStats = Float64Array.from(tree.stats[node] as number[]);
    // Opened on its parent's sums; whether it may split is decided on its own (exact) ones.
    if (!growth.canSplit(t, nodeStats, tree.depth[node] as number)) return;
    const search = searchNode(growth.rules, hist, offsets, nodeStats, growth.wantPerFeature);
    const best = search.best;
    if (best === null || !(best.gain > growth.minGain(t))) return;
    const c = growth.rules.criterion;
    const bins = growth.bins[best.feature] as BinsInfo;
    let threshold = 0;
    if (best.loLevels === null) {
      if (growth.thresholds === 'midpoint') threshold = splitThreshold(bins, best.lastLoBin, best.bin);
      else {
        // Bins lastLoBin + 1 .. bin - 1 are empty here: any cut between them splits the node alike;
        // take the one nearest the middle of the gap.
        const cuts = bins.cuts as number[];
        threshold = ((cuts[best.lastLoBin] as number) + (cuts[best.bin - 1] as number)) / 2;
        let pick = best.lastLoBin + 1;
        for (let j = pick + 1; j <= best.bin; j++) {
          if (
            Math.abs((cuts[j - 1] as number) - threshold) < Math.abs((cuts[pick - 1] as number) - threshold)
          )
            pick = j;
        }
        best.bin = pick;
        threshold = cuts[pick - 1] as number;
      }
    }
    // rpart: lmean < rmean sends the low side left; on a tie the high side goes left.
    const loLeft = growth.rpartDirection
      ? directionKeyOf(c, best.lo, 0) < directionKeyOf(c, best.hi, 0)
      : true;
    const [lo, hi] = splitNode(tree, node, best, threshold, loLeft);
    splits++;
    growth.onSplit?.(t, node, search, best, hist, offsets);
    const depth = tree.depth[lo] as number;
    const openLo = growth.canSplit(t, best.lo, depth);
    const openHi = growth.canSplit(t, best.hi, depth);
    const queue = nextOpen[t] as number[];
    if (openLo && openHi && growth.subtract) {
      // The smaller child is built, the larger derived; built first so a pass never parts them.
      const c = growth.rules.criterion;
      const loSmaller = countOf(c, best.lo, 0) <= countOf(c, best.hi, 0);
      const [small, large] = loSmaller ? [lo, hi] : [hi, lo];
      tree.derivedFrom[large] = small;
      queue.push(small, large);
      keep.push({ tree: t, node, slot: s });
    } else {
      if (openLo) queue.push(lo);
      if (openHi) queue.push(hi);
    }
  });
  // Nodes this pass did not reach stay first in line; the new children follow.
  trees.forEach((tree, t) => {
    tree.open = [...tree.open.slice(pass.counts[t] as number), ...(nextOpen[t] as number[])];
  });
  return { splits, keep };
}
