import { randomUUID } from 'node:crypto';
import { type Static, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext, FinalizeOutcome, MapContext } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import type { DForestModelBody } from '../models/treeScore.ts';
import { checkParams, finiteOrNull, planWeights, Warnings } from '../params.ts';
import { compactTree, withoutBins } from '../trees/compact.ts';
import { type Criterion, countOf, statWidth, weightOf } from '../trees/criteria.ts';
import { planTreeData, type TreeDataPlan } from '../trees/data.ts';
import { type GrowTree, leavesOf, newTree, treeWalker } from '../trees/growTree.ts';
import {
  accumulateClass,
  accumulateMoments,
  addHistograms,
  type HistLayout,
  makeLayout,
} from '../trees/histogram.ts';
import {
  type BinsInfo,
  fillSlots,
  growLevel,
  type LevelGrowth,
  nodeSlotsOf,
  type PassSlots,
  passSlots,
  refreshOpenStats,
  rowPositions,
} from '../trees/levelGrowth.ts';
import { fitsLocally, portableInput, preparedInput } from '../trees/localData.ts';
import { accumulateClassSegment, accumulateMomentSegment, NodeColumns } from '../trees/nodeColumns.ts';
import {
  finishPreludePass,
  type PreludeOutcome,
  type PreludePartial,
  type PreludeState,
  preludeInit,
  preludeMap,
  preludeMerge,
} from '../trees/prelude.ts';
import { type PreparedChunk, preparedChunks, preparedFor, rowKeysOf } from '../trees/preparedChunks.ts';
import { poissonDraw, poissonTable, rowHash, streamHash } from '../trees/rowHash.ts';
import { resultFeatures, TreeFeatureSchema, TreeParamsFields, treeFeatures } from '../trees/treeParams.ts';
import { threadPool, treeThreadCount } from '../trees/treeThreads.ts';
import { checkUnorderedLevels } from './dTree.ts';

/**
 * rxDForest: a random forest (Breiman 2001) of classification or regression trees grown on binned
 * data, every tree in the same passes: one pass per level serves all `nTree` trees.
 *
 * - Bootstrap without moving data: tree t counts row r Poisson(sampRate) times (`replace`, the usual
 *   large-sample stand-in for a multinomial draw) or once with probability sampRate (without
 *   replacement), from a hash of (seed, r, t). Rows a tree did not draw are its out-of-bag rows.
 * - Each node searches `mTry` predictors drawn from a hash of (seed, tree, node).
 * - Trees split by Gini (class) or sums of squares (anova) with default priors, down to `maxDepth`,
 *   `minSplit` / `minBucket`, and pure nodes; no pruning.
 * - A last pass scores every row with the trees it is out of bag for: the out-of-bag error after each
 *   tree (class: error rate; anova: mean squared error), the confusion matrix (class) or pseudo R^2.
 * Variable importance is the total decrease of node impurity (Gini) or sum of squares, over all trees.
 *
 * Local fits (trees/localData.ts: the binned input fits one worker): trees are independent, so after
 * the sketch pass one round of partition tasks grows them, each task a fixed group of consecutive
 * trees grown whole on the whole input (trees/nodeColumns.ts keeps each node's rows together), with
 * the same draws and the same split step as the level passes: the same trees, sums equal up to
 * rounding. Then one round of partition tasks scores the out-of-bag rows, each task a fixed range of
 * rows (the error after k trees needs every tree's vote on a row, so it cannot be summed per group
 * of trees). The groups and ranges depend on nTree and the data alone, never on the workers.
 */

const FOREST_METHODS = ['class', 'anova'] as const;

export const DForestParamsSchema = Type.Object(
  {
    ...TreeParamsFields,
    method: Type.Optional(Type.Enum(FOREST_METHODS)),
    nTree: Type.Optional(Type.Integer({ minimum: 1, maximum: 2000, default: 10 })),
    mTry: Type.Optional(
      Type.Integer({
        minimum: 1,
        description: 'Predictors tried per node. Default: sqrt(p) (class), p / 3 (anova).',
      }),
    ),
    replace: Type.Optional(Type.Boolean({ default: true, description: 'Bootstrap with replacement.' })),
    sampRate: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'Share of rows each tree draws. Default 1 with replacement, 0.632 without.',
      }),
    ),
    maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, default: 10 })),
    cp: Type.Optional(
      Type.Number({ minimum: 0, default: 0, description: 'Accepted; forests are not pruned.' }),
    ),
    seed: Type.Optional(Type.Integer({ minimum: 0, maximum: 4294967295 })),
    computeOobError: Type.Optional(
      Type.Integer({ description: 'Accepted; the out-of-bag error is always computed.' }),
    ),
    importance: Type.Optional(Type.Boolean({ description: 'Accepted; importance is always computed.' })),
  },
  { additionalProperties: false },
);
export type DForestParams = Static<typeof DForestParamsSchema>;

export const DForestResultSchema = Type.Object({
  method: Type.Enum(FOREST_METHODS),
  formula: Type.String(),
  response: Type.String(),
  levels: Type.Optional(Type.Array(Type.String())),
  nObs: Type.Number(),
  nMissing: Type.Number(),
  nTree: Type.Integer(),
  mTry: Type.Integer(),
  /** Out-of-bag error of the forest of the first k trees, k = 1..nTree. */
  oobError: Type.Array(
    Type.Object({
      nTree: Type.Integer(),
      error: Type.Union([Type.Number(), Type.Null()]),
      oobObs: Type.Number(),
    }),
  ),
  /** Class forests: counts of (true class row, predicted class column) over the out-of-bag rows. */
  confusion: Type.Optional(Type.Array(Type.Array(Type.Number()))),
  /** Regression forests: 1 - oob MSE / variance of the response (randomForest's pseudo R^2). */
  pseudoRSquared: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
  treeSizes: Type.Array(Type.Integer()),
  variableImportance: Type.Array(
    Type.Object({ variable: Type.String(), importance: Type.Number(), percent: Type.Number() }),
  ),
  params: Type.Object({
    maxDepth: Type.Integer(),
    minSplit: Type.Number(),
    minBucket: Type.Number(),
    sampRate: Type.Number(),
    replace: Type.Boolean(),
    seed: Type.Integer(),
    maxNumBins: Type.Integer(),
  }),
  features: Type.Array(TreeFeatureSchema),
  passes: Type.Integer(),
  modelId: Type.String(),
  warnings: Type.Array(Type.String()),
});
export type DForestResult = Static<typeof DForestResultSchema>;

interface Options {
  method: 'class' | 'anova';
  nTree: number;
  mTry: number;
  replace: boolean;
  sampRate: number;
  maxDepth: number;
  minSplit: number | null;
  minBucket: number | null;
  seed: number;
}

interface Fit {
  prelude: PreludeOutcome;
  minSplit: number;
  minBucket: number;
  criterion: Criterion;
  center: number;
  trees: GrowTree[];
  importance: number[];
  /**
   * Grown in partition tasks on the whole input (trees/localData.ts): each task grows a group of
   * whole trees, then out-of-bag scoring runs in row ranges; else one pass over the chunks per level.
   */
  local: boolean;
}

export interface DForestState {
  nonce: string;
  phase: 'prelude' | 'grow' | 'oob';
  passes: number;
  data: TreeDataPlan;
  options: Options;
  numRows: number;
  numChunks: number;
  prelude: PreludeState;
  fit: Fit | null;
}

export type DForestPartial =
  | PreludePartial
  | { kind: 'grow'; hist: Float64Array }
  /**
   * A local round's trees: trees first .. first + trees.length - 1, and each one's impurity decreases
   * by predictor (tree by tree: summed in tree order at the end, whatever grew which tree).
   */
  | { kind: 'forest'; first: number; trees: GrowTree[]; importance: Float64Array }
  | {
      kind: 'oob';
      /** Per forest size: weighted errors (class) or squared errors (anova), and the weight of rows scored. */
      errors: Float64Array;
      weights: Float64Array;
      /** Class: confusion counts (classes x classes); anova: [sum w y, sum w y^2, sum w]. */
      extra: Float64Array;
    };

// ---------------------------------------------------------------------------------------------------
// init

function init(params: DForestParams, meta: DatasetMeta): DForestState {
  checkParams(DForestParamsSchema, params, 'dForest');
  const weights = planWeights(params, meta);
  const data = planTreeData(params.formula, meta, weights, 'dForest', params.removeMissings ?? false);
  const method = params.method ?? (data.response.kind === 'factor' ? 'class' : 'anova');
  if ((method === 'class') !== (data.response.kind === 'factor')) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      method === 'class'
        ? `method 'class' needs a factor response; '${data.response.name}' is numeric: use F(${data.response.name}) or method 'anova'`
        : `method 'anova' needs a numeric response; '${data.response.name}' is a factor`,
      422,
    );
  }
  if (method === 'class' && (data.response.levels ?? []).length < 2) {
    throw new EngineError(
      'TOO_FEW_LEVELS',
      `the response '${data.response.name}' needs at least 2 levels`,
      422,
    );
  }
  checkUnorderedLevels(data, method, params.maxUnorderedLevels ?? 32);
  const p = data.features.length;
  const mTry =
    params.mTry ??
    (method === 'class' ? Math.max(1, Math.floor(Math.sqrt(p))) : Math.max(1, Math.floor(p / 3)));
  if (mTry > p) {
    throw new EngineError('INVALID_PARAMS', `mTry (${mTry}) exceeds the number of predictors (${p})`, 400, {
      mTry,
      p,
    });
  }
  const replace = params.replace ?? true;
  return {
    nonce: randomUUID(),
    phase: 'prelude',
    passes: 0,
    data,
    options: {
      method,
      nTree: params.nTree ?? 10,
      mTry,
      replace,
      sampRate: params.sampRate ?? (replace ? 1 : 0.632),
      maxDepth: params.maxDepth ?? 10,
      minSplit: params.minSplit ?? null,
      minBucket: params.minBucket ?? null,
      // Without a seed the draws still have to agree across workers: one seed per job, fixed here.
      seed: params.seed ?? Math.floor(Math.random() * 4294967296),
    },
    numRows: meta.numRows,
    numChunks: meta.numChunks,
    prelude: preludeInit(data, meta, params.maxNumBins ?? null),
    fit: null,
  };
}

function columnsUsed(state: DForestState): string[] {
  return state.data.inputs;
}

// ---------------------------------------------------------------------------------------------------
// map

/** The mTry predictors node `nodeNum` of tree `tree` searches (a partial Fisher-Yates shuffle). */
export function nodeFeatures(seed: number, tree: number, nodeNum: number, p: number, mTry: number): number[] {
  if (mTry >= p) return Array.from({ length: p }, (_, f) => f);
  const order = Array.from({ length: p }, (_, f) => f);
  for (let j = 0; j < mTry; j++) {
    const pick = j + (rowHash(seed ^ 0x3c6ef372, nodeNum * 64 + j, tree) % (p - j));
    const swap = order[j] as number;
    order[j] = order[pick] as number;
    order[pick] = swap;
  }
  return order.slice(0, mTry).sort((a, b) => a - b);
}

/** The nodes this pass searches, each with its mTry predictors' histograms. */
function passOf(state: DForestState, fit: Fit): PassSlots {
  const p = state.data.features.length;
  const width = statWidth(fit.criterion);
  const blocks = fit.prelude.bins.map((b) => (b.numBins + 1) * width);
  return passSlots(fit.trees, (t, node) => {
    const nodeNum = (fit.trees[t] as GrowTree).nodeNum[node] as number;
    return nodeFeatures(state.options.seed, t, nodeNum, p, state.options.mTry).reduce(
      (sum, f) => sum + (blocks[f] as number),
      0,
    );
  });
}

function layoutOf(state: DForestState, fit: Fit, pass: PassSlots): HistLayout {
  const p = state.data.features.length;
  return makeLayout(
    fit.prelude.bins.map((b) => b.numBins),
    statWidth(fit.criterion),
    pass.slots.length,
    (s) => {
      const { tree, node } = pass.slots[s] as { tree: number; node: number };
      const nodeNum = (fit.trees[tree] as GrowTree).nodeNum[node] as number;
      return nodeFeatures(state.options.seed, tree, nodeNum, p, state.options.mTry);
    },
  );
}

function missingCodes(bins: readonly BinsInfo[]): Int32Array {
  return Int32Array.from(bins.map((b) => b.numBins));
}

/**
 * Tree t's bootstrap count of rows from..to - 1 of `prepared` (0 for rows of no weight): a Poisson or
 * 0/1 draw from the hash of (seed, row id, t), so a level pass and a local fit draw alike.
 */
function bootstrapCounts(
  prepared: PreparedChunk,
  options: Options,
  t: number,
  from: number,
  to: number,
): Uint8Array {
  const poisson = options.replace ? poissonTable(options.sampRate) : null;
  const keys = rowKeysOf(prepared, options.seed);
  const counts = new Uint8Array(to - from);
  for (let i = from; i < to; i++) {
    if (prepared.weight[i] === 0) continue;
    // rowUniform(seed, row id, t), its tree-independent part computed once per row.
    const u = streamHash(keys[i] as number, t) / 4294967296;
    counts[i - from] =
      poisson !== null ? Math.min(255, poissonDraw(poisson, u)) : u < options.sampRate ? 1 : 0;
  }
  return counts;
}

/** Bootstrap counts of every row in every tree (cached). */
function bootstrapOf(prepared: PreparedChunk, options: Options): Uint8Array[] {
  let boot = prepared.derived.get('boot') as Uint8Array[] | undefined;
  if (boot === undefined) {
    boot = Array.from({ length: options.nTree }, (_, t) =>
      bootstrapCounts(prepared, options, t, 0, prepared.numRows),
    );
    prepared.derived.set('boot', boot);
    preparedChunks.account(prepared, options.nTree * prepared.numRows);
  }
  return boot;
}

function centredResponse(prepared: PreparedChunk, center: number): Float64Array {
  const key = `centred${center}`;
  let y = prepared.derived.get(key) as Float64Array | undefined;
  if (y === undefined) {
    const raw = prepared.yValue as Float64Array;
    y = new Float64Array(prepared.numRows);
    for (let i = 0; i < y.length; i++) y[i] = prepared.weight[i] === 0 ? 0 : (raw[i] as number) - center;
    prepared.derived.set(key, y);
    preparedChunks.account(prepared, 8 * prepared.numRows);
  }
  return y;
}

function mapGrow(chunk: Chunk, state: DForestState, fit: Fit): DForestPartial {
  const prepared = preparedFor(state.nonce, chunk, state.data, fit.prelude.bins);
  const boot = bootstrapOf(prepared, state.options);
  const pass = passOf(state, fit);
  const layout = layoutOf(state, fit, pass);
  const hist = new Float64Array(layout.size);
  const missing = missingCodes(fit.prelude.bins);
  const n = prepared.numRows;
  const slot = new Int32Array(n);
  const weight = new Float64Array(n);
  const count = state.data.weights?.kind === 'pweights' ? new Float64Array(n) : null;
  const account = (delta: number) => preparedChunks.account(prepared, delta);
  const y = fit.criterion.kind === 'moments' ? centredResponse(prepared, fit.center) : null;
  const nodeSlots = nodeSlotsOf(fit.trees, pass, true);
  fit.trees.forEach((tree, t) => {
    if ((pass.counts[t] as number) === 0) return;
    const drawn = boot[t] as Uint8Array;
    const positions = rowPositions(prepared, `pos${t}`, '', tree, missing, account);
    fillSlots(slot, positions, nodeSlots[t] as Int32Array, prepared.weight, (i) => drawn[i] === 0);
    for (let i = 0; i < n; i++) weight[i] = (prepared.weight[i] as number) * (drawn[i] as number);
    if (count !== null)
      for (let i = 0; i < n; i++) count[i] = (prepared.count[i] as number) * (drawn[i] as number);
    if (fit.criterion.kind === 'class') {
      accumulateClass(
        hist,
        layout,
        prepared.codes,
        slot,
        prepared.yCode as Int32Array,
        weight,
        count,
        fit.criterion.classes,
      );
    } else accumulateMoments(hist, layout, prepared.codes, slot, y as Float64Array, weight, count);
  });
  return { kind: 'grow', hist };
}

/** Leaf value of a node: the majority class (class) or the centred mean (anova). */
function nodeValue(fit: Fit, stats: ArrayLike<number>): number {
  if (fit.criterion.kind === 'class') {
    let best = 0;
    for (let j = 1; j < fit.criterion.classes; j++)
      if ((stats[j] as number) > (stats[best] as number)) best = j;
    return best;
  }
  const w = stats[0] as number;
  return w > 0 ? (stats[1] as number) / w : 0;
}

function mapOob(chunk: Chunk, state: DForestState, fit: Fit): DForestPartial {
  const prepared = preparedFor(state.nonce, chunk, state.data, fit.prelude.bins);
  const boot = bootstrapOf(prepared, state.options);
  const missing = missingCodes(fit.prelude.bins);
  const account = (delta: number) => preparedChunks.account(prepared, delta);
  const positions = fit.trees.map((tree, t) => rowPositions(prepared, `pos${t}`, '', tree, missing, account));
  return scoreOob(fit, prepared, 0, prepared.numRows, boot, positions);
}

/**
 * Out-of-bag sums of rows from..to - 1: each row voted on (class) or averaged (anova) by the trees it
 * is out of bag for, forest size by forest size. `boot[t]` and `leaf[t]` hold tree t's bootstrap
 * counts and each row's node, indexed from `from`.
 */
function scoreOob(
  fit: Fit,
  prepared: PreparedChunk,
  from: number,
  to: number,
  boot: readonly Uint8Array[],
  leaf: readonly Int32Array[],
): DForestPartial {
  const values = fit.trees.map((tree) => Float64Array.from(tree.stats, (s) => nodeValue(fit, s)));
  const trees = fit.trees.length;
  const errors = new Float64Array(trees);
  const weights = new Float64Array(trees);
  const isClass = fit.criterion.kind === 'class';
  const classes = fit.criterion.kind === 'class' ? fit.criterion.classes : 0;
  const extra = new Float64Array(isClass ? classes * classes : 3);
  const votes = new Float64Array(Math.max(1, classes));
  const y = isClass ? null : centredResponse(prepared, fit.center);
  for (let i = from; i < to; i++) {
    const w = prepared.weight[i] as number;
    if (w === 0) continue;
    const r0 = i - from;
    votes.fill(0);
    let oob = 0;
    let sum = 0;
    let predicted = -1;
    for (let t = 0; t < trees; t++) {
      if ((boot[t] as Uint8Array)[r0] === 0) {
        const value = (values[t] as Float64Array)[(leaf[t] as Int32Array)[r0] as number] as number;
        oob++;
        if (isClass) votes[value] = (votes[value] as number) + 1;
        else sum += value;
      }
      if (oob === 0) continue;
      weights[t] = (weights[t] as number) + w;
      if (isClass) {
        predicted = 0;
        for (let j = 1; j < classes; j++)
          if ((votes[j] as number) > (votes[predicted] as number)) predicted = j;
        if (predicted !== ((prepared.yCode as Int32Array)[i] as number))
          errors[t] = (errors[t] as number) + w;
      } else {
        const r = ((y as Float64Array)[i] as number) - sum / oob;
        errors[t] = (errors[t] as number) + w * r * r;
      }
    }
    if (oob === 0) continue;
    if (isClass) {
      const at = ((prepared.yCode as Int32Array)[i] as number) * classes + predicted;
      extra[at] = (extra[at] as number) + w;
    } else {
      const v = (y as Float64Array)[i] as number;
      extra[0] = (extra[0] as number) + w * v;
      extra[1] = (extra[1] as number) + w * v * v;
      extra[2] = (extra[2] as number) + w;
    }
  }
  return { kind: 'oob', errors, weights, extra };
}

function map(chunk: Chunk, state: DForestState, _context: MapContext): DForestPartial {
  if (state.phase === 'prelude') return preludeMap(chunk, state.data, state.prelude);
  const fit = state.fit as Fit;
  return state.phase === 'grow' ? mapGrow(chunk, state, fit) : mapOob(chunk, state, fit);
}

function merge(a: DForestPartial, b: DForestPartial): DForestPartial {
  if (a.kind === 'grow' && b.kind === 'grow') return { kind: 'grow', hist: addHistograms(a.hist, b.hist) };
  if (a.kind === 'forest' && b.kind === 'forest') {
    // Partitions merge in order: b's trees follow a's.
    if (b.first !== a.first + a.trees.length) throw new Error('dForest: tree groups out of order');
    return {
      kind: 'forest',
      first: a.first,
      trees: [...a.trees, ...b.trees],
      importance: concatenated(a.importance, b.importance),
    };
  }
  if (a.kind === 'oob' && b.kind === 'oob') {
    return {
      kind: 'oob',
      errors: addHistograms(a.errors, b.errors),
      weights: addHistograms(a.weights, b.weights),
      extra: addHistograms(a.extra, b.extra),
    };
  }
  if ((a.kind === 'range' || a.kind === 'sketch') && (b.kind === 'range' || b.kind === 'sketch')) {
    return preludeMerge(a, b);
  }
  throw new Error('dForest: partials of different passes');
}

function concatenated(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// finalize

function startFit(state: DForestState, prelude: PreludeOutcome): Fit {
  const { options, data } = state;
  if (prelude.usedRows === 0) {
    throw new EngineError(
      'NO_VALID_ROWS',
      'no row has a response and a positive weight: nothing to fit',
      422,
    );
  }
  // Thresholds go on the cuts (levelGrowth.ts): the bins' data ranges need not travel in every state.
  prelude.bins = prelude.bins.map((b) => ({ ...b, binLow: null, binHigh: null }));
  const minSplit = options.minSplit ?? Math.max(20, Math.floor(Math.sqrt(prelude.numObs)));
  const minBucket = options.minBucket ?? Math.max(1, Math.round(minSplit / 3));
  const countStat = data.weights?.kind === 'pweights';
  const classes = (data.response.levels ?? []).length;
  const criterion: Criterion =
    options.method === 'class'
      ? { kind: 'class', classes, impurity: 'gini', aprior: new Array<number>(classes).fill(1), countStat }
      : { kind: 'moments', countStat };
  const width = statWidth(criterion);
  return {
    prelude,
    minSplit,
    minBucket,
    criterion,
    center: prelude.mean,
    trees: Array.from({ length: options.nTree }, () => {
      const tree = newTree(new Array<number>(width).fill(0));
      tree.open = [0];
      return tree;
    }),
    importance: data.features.map(() => 0),
    // Per row: the tree's copy of its rows (codes, weight, count, response, and scratch of each).
    local: fitsLocally(prelude.rows, data.features.length, Math.ceil((4 * data.features.length + 40) / 8)),
  };
}

/** Impurity left in a node: more than one class, or a positive sum of squares. */
function impure(fit: Fit, stats: ArrayLike<number>): boolean {
  if (fit.criterion.kind === 'class') {
    let classes = 0;
    for (let j = 0; j < fit.criterion.classes; j++) if ((stats[j] as number) > 0) classes++;
    return classes > 1;
  }
  const w = stats[0] as number;
  const s = stats[1] as number;
  return w > 0 && (stats[2] as number) - (s * s) / w > 1e-12 * Math.abs(stats[2] as number);
}

/**
 * The split step's rules, for a level pass (every tree) or a local fit (one tree). `maxGain[t]` is
 * tree t's largest gain in the pass so far (rpart's 1e-10 relative floor; a local fit's pass is a
 * whole level, as a level pass is unless its histograms outgrow MAX_PASS_DOUBLES); gains add to
 * `importance`.
 */
function forestGrowth(state: DForestState, fit: Fit, maxGain: number[], importance: number[]): LevelGrowth {
  const { options, data } = state;
  return {
    rules: {
      criterion: fit.criterion,
      minBucket: fit.minBucket,
      kinds: data.features.map((f) => f.kind),
      numBins: fit.prelude.bins.map((b) => b.numBins),
    },
    bins: fit.prelude.bins,
    canSplit: (_t, stats, depth) => {
      const count = countOf(fit.criterion, stats, 0);
      return (
        depth < options.maxDepth && count >= fit.minSplit && count >= 2 * fit.minBucket && impure(fit, stats)
      );
    },
    minGain: (t) => Math.max(0, 1e-10 * (maxGain[t] as number)),
    rpartDirection: false,
    thresholds: 'cut',
    // Each node searches its own mTry predictors: a parent's histograms do not cover its children's.
    subtract: false,
    wantPerFeature: false,
    onSplit: (t, _node, _search, choice) => {
      maxGain[t] = Math.max(maxGain[t] as number, choice.gain);
      importance[choice.feature] = (importance[choice.feature] as number) + choice.gain;
    },
  };
}

function finalizeGrow(partial: DForestPartial & { kind: 'grow' }, state: DForestState, fit: Fit): void {
  const pass = passOf(state, fit);
  const layout = layoutOf(state, fit, pass);
  const numBins = fit.prelude.bins.map((b) => b.numBins);
  refreshOpenStats(fit.trees, partial.hist, layout, numBins, pass);
  const maxGain = fit.trees.map(() => 0);
  growLevel(fit.trees, partial.hist, layout, forestGrowth(state, fit, maxGain, fit.importance), pass);
}

// ---------------------------------------------------------------------------------------------------
// local fits (trees/localData.ts)

/**
 * Partitions of a local round: groups of consecutive trees, a function of nTree alone (never of the
 * workers), enough for the workers there usually are to share the trees.
 */
const MAX_TREE_GROUPS = 16;
/** Partitions of the local out-of-bag round: consecutive row ranges of the input. */
const OOB_PARTITIONS = 8;

function treeGroups(nTree: number): number {
  return Math.min(nTree, MAX_TREE_GROUPS);
}

/** The part [from, to) of 0..n - 1 that partition `p` of `parts` takes. */
function share(p: number, parts: number, n: number): [number, number] {
  return [Math.floor((p * n) / parts), Math.floor(((p + 1) * n) / parts)];
}

/** Grow-only histogram buffer of the local fits (a level's blocks; cleared per level). */
let localHist = new Float64Array(0);

/**
 * Grows tree t whole on the input: the rows its bootstrap draws, level by level, each level's
 * histograms built from its open nodes' own rows and split by the level passes' split step, so the
 * tree is the one the level passes grow (sums equal up to rounding).
 */
function growTreeLocally(
  state: DForestState,
  fit: Fit,
  prepared: PreparedChunk,
  t: number,
  importance: number[],
): GrowTree {
  const { options, data } = state;
  const n = prepared.numRows;
  const p = data.features.length;
  const width = statWidth(fit.criterion);
  const missing = missingCodes(fit.prelude.bins);
  const numBins = fit.prelude.bins.map((b) => b.numBins);
  const drawn = bootstrapCounts(prepared, options, t, 0, n);
  const weight = new Float64Array(n);
  const count = data.weights?.kind === 'pweights' ? new Float64Array(n) : null;
  let used = 0;
  for (let i = 0; i < n; i++) {
    const d = drawn[i] as number;
    if (d === 0) continue;
    weight[i] = (prepared.weight[i] as number) * d;
    if (count !== null) count[i] = (prepared.count[i] as number) * d;
    used++;
  }
  const rows = new Int32Array(used);
  for (let i = 0, j = 0; i < n; i++) if ((drawn[i] as number) > 0) rows[j++] = i;
  const isClass = fit.criterion.kind === 'class';
  const classes = fit.criterion.kind === 'class' ? fit.criterion.classes : 0;
  const columns = new NodeColumns(
    rows,
    prepared.codes,
    weight,
    count,
    isClass ? (prepared.yCode as Int32Array) : null,
    isClass ? null : centredResponse(prepared, fit.center),
  );
  const tree = newTree(new Array<number>(width).fill(0));
  tree.open = [0];
  const trees = [tree];
  while (tree.open.length > 0) {
    const pass = passSlots(trees, () => 1, Number.POSITIVE_INFINITY);
    const layout = makeLayout(numBins, width, pass.slots.length, (s) =>
      nodeFeatures(
        options.seed,
        t,
        tree.nodeNum[(pass.slots[s] as { node: number }).node] as number,
        p,
        options.mTry,
      ),
    );
    if (localHist.length < layout.size)
      localHist = new Float64Array(Math.max(layout.size, 2 * localHist.length));
    const hist = localHist.subarray(0, layout.size);
    hist.fill(0);
    pass.slots.forEach(({ node }, s) => {
      const offsets = layout.offsets.subarray(s * p, (s + 1) * p);
      const [from, to] = columns.segment(node);
      if (isClass) accumulateClassSegment(hist, offsets, columns, from, to, classes);
      else accumulateMomentSegment(hist, offsets, columns, from, to);
    });
    refreshOpenStats(trees, hist, layout, numBins, pass);
    growLevel(trees, hist, layout, forestGrowth(state, fit, [0], importance), pass);
    // The nodes this level split hand their rows to their children (when a child is searched next).
    const open = new Set(tree.open);
    for (const { node } of pass.slots) {
      if ((tree.feature[node] as number) < 0) continue;
      if (open.has(tree.lo[node] as number) || open.has(tree.hi[node] as number))
        columns.split(tree, node, missing);
    }
  }
  return tree;
}

/** A forest tree grown locally, and its splits' impurity decreases by predictor. */
export interface GrownTree {
  tree: GrowTree;
  importance: Float64Array;
}

/** A tree thread's request (treeThread.ts): grow tree `tree` of a local round on `input` (shared). */
export interface ForestRequest {
  op: 'forestTree';
  state: DForestState;
  input: PreparedChunk;
  tree: number;
}

export function growForestTree(request: ForestRequest): GrownTree {
  const { state, input, tree } = request;
  const importance = state.data.features.map(() => 0);
  const grown = growTreeLocally(state, state.fit as Fit, input, tree, importance);
  return { tree: grown, importance: Float64Array.from(importance) };
}

/**
 * Partition `partition` of a local round: its group of trees, on the worker's tree threads when it has
 * several (each thread takes the next tree as it is free; a tree does not depend on where it grows).
 */
async function growPartition(
  partition: number,
  state: DForestState,
  context: MapContext,
): Promise<DForestPartial> {
  const fit = state.fit as Fit;
  const prepared = await preparedInput(state, fit.prelude.bins, context.readInput);
  const [first, last] = share(partition, treeGroups(state.options.nTree), state.options.nTree);
  const grown = new Array<GrownTree>(last - first);
  // A cancelled job: stop (the task's retry sees the job is no longer running and drops it).
  const checkRunning = async () => {
    if (!(await (context.stillRunning?.() ?? true))) throw new Error('dForest: the job stopped');
  };
  const threads = Math.min(treeThreadCount(), last - first);
  if (threads <= 1) {
    for (let t = first; t < last; t++) {
      await checkRunning();
      grown[t - first] = growForestTree({ op: 'forestTree', state, input: prepared, tree: t });
    }
  } else {
    const input = portableInput(prepared, state.options.seed);
    let next = first;
    await Promise.all(
      threadPool(threads).map(async (thread) => {
        while (next < last) {
          const t = next++;
          await checkRunning();
          grown[t - first] = await thread.request<GrownTree>({ op: 'forestTree', state, input, tree: t });
        }
      }),
    );
  }
  const p = state.data.features.length;
  const importance = new Float64Array(grown.length * p);
  grown.forEach((g, k) => {
    importance.set(g.importance, k * p);
  });
  return { kind: 'forest', first, trees: grown.map((g) => g.tree), importance };
}

/** Partition `partition` of the local out-of-bag round: its rows scored by every tree they are out of bag for. */
async function oobPartition(
  partition: number,
  state: DForestState,
  context: MapContext,
): Promise<DForestPartial> {
  const fit = state.fit as Fit;
  const prepared = await preparedInput(state, fit.prelude.bins, context.readInput);
  const [from, to] = share(partition, OOB_PARTITIONS, prepared.numRows);
  const missing = missingCodes(fit.prelude.bins);
  const boot: Uint8Array[] = [];
  const leaf: Int32Array[] = [];
  for (let t = 0; t < fit.trees.length; t++) {
    const drawn = bootstrapCounts(prepared, state.options, t, from, to);
    const take = drawn.map((d, r) => (d === 0 && prepared.weight[from + r] !== 0 ? 1 : 0));
    const out = new Int32Array(to - from);
    leavesOf(treeWalker(fit.trees[t] as GrowTree), prepared.codes, missing, from, to, take, out);
    boot.push(drawn);
    leaf.push(out);
    // Tree by tree, the event loop gets a turn: a partition of ten million rows takes seconds, and
    // the worker's heartbeat must not stop meanwhile (a peer would take it for dead and drain it).
    await new Promise((resolve) => setImmediate(resolve));
  }
  return scoreOob(fit, prepared, from, to, boot, leaf);
}

async function finalize(
  partial: DForestPartial,
  state: DForestState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<DForestState, DForestResult>> {
  const passes = state.passes + 1;
  if (state.phase === 'prelude') {
    return finishPreludePass(
      partial as PreludePartial,
      state,
      passes,
      (s, done) => ({ ...s, phase: 'grow', fit: startFit(s, done) }),
      {
        sketch: 'sketching the predictors',
        grow: `growing ${state.options.nTree} trees: level 1`,
      },
    );
  }
  const fit = state.fit as Fit;
  if (state.phase === 'grow' && (partial as DForestPartial).kind === 'forest') {
    const grown = partial as DForestPartial & { kind: 'forest' };
    if (grown.first !== 0 || grown.trees.length !== state.options.nTree)
      throw new Error(`dForest: a local round returned trees ${grown.first}..+${grown.trees.length}`);
    fit.trees = grown.trees;
    const p = state.data.features.length;
    fit.importance = fit.importance.map((_, f) => {
      let sum = 0;
      for (let t = 0; t < grown.trees.length; t++) sum += grown.importance[t * p + f] as number;
      return sum;
    });
    return { done: false, state: { ...state, passes, phase: 'oob', fit }, message: 'out-of-bag error' };
  }
  if (state.phase === 'grow') {
    finalizeGrow(partial as DForestPartial & { kind: 'grow' }, state, fit);
    const level = Math.max(...fit.trees.map((tree) => Math.max(...tree.depth)));
    if (fit.trees.some((tree) => tree.open.length > 0)) {
      return {
        done: false,
        state: { ...state, passes, fit },
        message: `growing ${state.options.nTree} trees: level ${level + 1}`,
      };
    }
    return { done: false, state: { ...state, passes, phase: 'oob', fit }, message: 'out-of-bag error' };
  }
  return {
    done: true,
    result: await buildResult(
      { ...state, passes },
      fit,
      partial as DForestPartial & { kind: 'oob' },
      context,
    ),
  };
}

async function buildResult(
  state: DForestState,
  fit: Fit,
  oob: DForestPartial & { kind: 'oob' },
  context: FinalizeContext,
): Promise<DForestResult> {
  const { data, options } = state;
  const warnings = new Warnings();
  const isClass = fit.criterion.kind === 'class';
  const classes = fit.criterion.kind === 'class' ? fit.criterion.classes : 0;
  const trees = fit.trees.map((tree) =>
    withoutBins(
      compactTree(
        tree,
        () => true,
        (node) =>
          isClass
            ? nodeValue(fit, tree.stats[node] as number[])
            : fit.center + nodeValue(fit, tree.stats[node] as number[]),
        isClass
          ? (node) => {
              const stats = tree.stats[node] as number[];
              const total = weightOf(fit.criterion, stats, 0);
              return stats.slice(0, classes).map((w) => (total > 0 ? w / total : 0));
            }
          : null,
        false,
      ),
    ),
  );
  const body: DForestModelBody = {
    kind: 'dForest',
    method: options.method,
    response: { name: data.response.name, levels: data.response.levels },
    features: treeFeatures(data),
    trees,
  };
  const model = await context.io.saveModel({ type: 'dForest', formula: data.formula, body });
  const oobError = Array.from(oob.errors, (error, t) => {
    const weight = oob.weights[t] as number;
    return { nTree: t + 1, error: weight > 0 ? finiteOrNull(error / weight) : null, oobObs: weight };
  });
  if (oobError.some((row) => row.error === null))
    warnings.add('no out-of-bag rows for the first trees: their error is null');
  const total = fit.importance.reduce((a, b) => a + b, 0);
  const out: DForestResult = {
    method: options.method,
    formula: data.formula,
    response: data.response.name,
    ...(isClass ? { levels: data.response.levels ?? [] } : {}),
    nObs: fit.prelude.numObs,
    nMissing: fit.prelude.rows - fit.prelude.usedRows,
    nTree: options.nTree,
    mTry: options.mTry,
    oobError,
    treeSizes: trees.map((tree) => tree.feature.filter((f) => f < 0).length),
    variableImportance: data.features
      .map((feature, f) => ({
        variable: feature.name,
        importance: fit.importance[f] as number,
        percent: total > 0 ? (100 * (fit.importance[f] as number)) / total : 0,
      }))
      .filter((v) => v.importance > 0)
      .sort((a, b) => b.importance - a.importance),
    params: {
      maxDepth: options.maxDepth,
      minSplit: fit.minSplit,
      minBucket: fit.minBucket,
      sampRate: options.sampRate,
      replace: options.replace,
      seed: options.seed,
      maxNumBins: fit.prelude.maxNumBins,
    },
    features: resultFeatures(data),
    passes: state.passes,
    modelId: model.id,
    warnings: warnings.list(),
  };
  if (isClass) {
    out.confusion = Array.from({ length: classes }, (_, i) =>
      Array.from(oob.extra.subarray(i * classes, (i + 1) * classes)),
    );
  } else {
    const sum = oob.extra[0] as number;
    const sum2 = oob.extra[1] as number;
    const weight = oob.extra[2] as number;
    const variance = weight > 0 ? sum2 / weight - (sum / weight) ** 2 : 0;
    const mse = oobError[oobError.length - 1]?.error ?? null;
    out.pseudoRSquared = mse === null || !(variance > 0) ? null : 1 - mse / variance;
  }
  return out;
}

export const dForest = {
  name: 'dForest',
  paramsSchema: DForestParamsSchema,
  resultSchema: DForestResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
  roundInput: (state) => {
    if (state.fit?.local !== true || state.phase === 'prelude') return null;
    const count = state.phase === 'grow' ? treeGroups(state.options.nTree) : OOB_PARTITIONS;
    return { kind: 'partitions', count };
  },
  mapPartition: (partition, state, context) =>
    state.phase === 'grow'
      ? growPartition(partition, state, context)
      : oobPartition(partition, state, context),
} satisfies Analysis<DForestParams, DForestState, DForestPartial, DForestResult>;
