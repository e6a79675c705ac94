import { randomUUID } from 'node:crypto';
import { type Static, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext, FinalizeOutcome, MapContext } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import type { CompactTree, DTreeModelBody } from '../models/treeScore.ts';
import { checkParams, planWeights, Warnings } from '../params.ts';
import { type ClassInfo, classProbabilities, classRisk, planClassInfo } from '../trees/classInfo.ts';
import { compactTree, withoutBins } from '../trees/compact.ts';
import {
  type Complexity,
  computeComplexity,
  cpTable,
  prunedSplits,
  xvalThresholds,
} from '../trees/costComplexity.ts';
import { type Criterion, countOf, statWidth, weightOf } from '../trees/criteria.ts';
import { MAX_TREE_LEVELS, planTreeData, type TreeDataPlan } from '../trees/data.ts';
import { bitsetHas, type GrowTree, newTree } from '../trees/growTree.ts';
import {
  accumulateClass,
  accumulateMoments,
  addHistograms,
  type HistLayout,
  makeLayout,
} from '../trees/histogram.ts';
import {
  assembleHistogram,
  type BinsInfo,
  builtSlots,
  fillSlots,
  growLevel,
  nodeSlotsOf,
  type PassSlots,
  passSlots,
  refreshOpenStats,
  rowPositions,
  splitThreshold,
  stopDeriving,
} from '../trees/levelGrowth.ts';
import { parentBlocks } from '../trees/parentBlocks.ts';
import {
  finishPreludePass,
  type PreludeOutcome,
  type PreludePartial,
  type PreludeState,
  preludeInit,
  preludeMap,
  preludeMerge,
} from '../trees/prelude.ts';
import { type PreparedChunk, preparedChunks, preparedFor } from '../trees/preparedChunks.ts';
import { rowHash } from '../trees/rowHash.ts';
import type { SlotSearch, SplitChoice } from '../trees/splitSearch.ts';
import { resultFeatures, TreeFeatureSchema, TreeParamsFields, treeFeatures } from '../trees/treeParams.ts';

/**
 * rxDTree: a classification (`class`) or regression (`anova`) tree, as rpart grows it, on binned data.
 *
 * Passes: (a range pass when a numeric predictor has no stored low/high), one sketch pass for the
 * equal-count bins (trees/binning.ts), one pass per tree level (every open node's histograms, the split
 * search on the coordinator), and with `xVal` > 0 one more pass for the cross-validated risks. The
 * `xVal` fold trees grow in the same level passes as the main tree: a row of fold k (a hash of its row
 * id) is left out of fold tree k.
 *
 * The tree is rpart's: Gini or information splits with priors and losses (class), sums of squares
 * (anova), `minSplit`, `minBucket`, `maxDepth`, nodes with risk <= cp x the root's risk not split, then
 * cost-complexity pruning at `cp`, the cp table, the cross-validated xerror / xstd, and `pruneCp`
 * (a cp, or "auto": the largest cp whose xerror is within one xstd of the smallest, rxDTreeBestCp's
 * 1-SE rule). Splits are at bin edges only: with at least as many bins as distinct values (the default
 * for up to 101 distinct values) they are rpart's exactly.
 *
 * Differences from rpart: no surrogate splits (RevoScaleR's default maxSurrogate = 0); a missing
 * predictor value follows a direction learned per split (both tried when the node has missing values,
 * else the larger child), and the rows with missing values take part in the split's score. Variable
 * importance sums the primary splits' improvements (rpart adds surrogates).
 */

const DTREE_METHODS = ['class', 'anova'] as const;

export const DTreeParamsSchema = Type.Object(
  {
    ...TreeParamsFields,
    method: Type.Optional(
      Type.Enum(DTREE_METHODS, {
        description: "'class' (default for a factor response) or 'anova' (default otherwise).",
      }),
    ),
    parms: Type.Optional(
      Type.Object(
        {
          split: Type.Optional(Type.Enum(['gini', 'information'], { default: 'gini' })),
          prior: Type.Optional(
            Type.Array(Type.Number({ exclusiveMinimum: 0 }), {
              minItems: 2,
              description: 'Class priors in level order, summing to 1. Default: the class proportions.',
            }),
          ),
          loss: Type.Optional(
            Type.Array(Type.Array(Type.Number({ minimum: 0 })), {
              minItems: 2,
              description: 'Loss matrix, loss[true][predicted], zero diagonal. Default: 1 off the diagonal.',
            }),
          ),
        },
        { additionalProperties: false, description: "Classification options (rpart's parms)." },
      ),
    ),
    maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, default: 10 })),
    cp: Type.Optional(
      Type.Number({
        minimum: 0,
        default: 0,
        description:
          'Complexity parameter: splits that do not improve the fit by cp x the root risk are pruned.',
      }),
    ),
    maxCompete: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        default: 0,
        description: 'Competitor splits to report per node.',
      }),
    ),
    maxSurrogate: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 0,
        default: 0,
        description: 'Only 0: surrogate splits are not computed.',
      }),
    ),
    useSurrogate: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 2, description: 'Accepted; see maxSurrogate.' }),
    ),
    xVal: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 100,
        default: 2,
        description: 'Cross-validation folds (0: none).',
      }),
    ),
    pruneCp: Type.Optional(
      Type.Union([Type.Number({ minimum: 0 }), Type.Literal('auto')], {
        default: 0,
        description: 'Prune the result at this cp; "auto" = the 1-SE rule on the cross-validated cp table.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type DTreeParams = Static<typeof DTreeParamsSchema>;

const NullableNumber = Type.Union([Type.Number(), Type.Null()]);

export const DTreeNodeSchema = Type.Object({
  /** rpart's node number: 1 root, 2t and 2t + 1 the children of t. */
  node: Type.Integer(),
  parent: Type.Union([Type.Integer(), Type.Null()]),
  depth: Type.Integer(),
  /** How the node is reached from its parent: `Start>=8.5`, `g=a,c`; `root` for the root. */
  split: Type.String(),
  n: Type.Number(),
  weight: Type.Number(),
  /** Risk: the misclassification loss (class) or the sum of squares (anova). */
  deviance: Type.Number(),
  /** Predicted class label (class) or mean (anova). */
  yval: Type.Union([Type.String(), Type.Number()]),
  yprob: Type.Optional(Type.Array(Type.Number())),
  /** cp at which the node's split would be pruned (relative to the root risk). */
  complexity: Type.Number(),
  leaf: Type.Boolean(),
  /** Split of this node (absent for leaves). */
  variable: Type.Optional(Type.String()),
  improve: Type.Optional(Type.Number()),
  cutpoint: Type.Optional(Type.Number()),
  leftLevels: Type.Optional(Type.Array(Type.String())),
  rightLevels: Type.Optional(Type.Array(Type.String())),
  /** Where rows with a missing value of `variable` go. */
  missing: Type.Optional(Type.Enum(['left', 'right'])),
  competitors: Type.Optional(
    Type.Array(
      Type.Object({
        variable: Type.String(),
        improve: Type.Number(),
        split: Type.String(),
      }),
    ),
  ),
});

export const DTreeResultSchema = Type.Object({
  method: Type.Enum(DTREE_METHODS),
  formula: Type.String(),
  response: Type.String(),
  /** Class levels (class trees). */
  levels: Type.Optional(Type.Array(Type.String())),
  /** Observations used (the sum of fweights when given) and rows dropped (missing response or weight). */
  nObs: Type.Number(),
  nMissing: Type.Number(),
  nodes: Type.Array(DTreeNodeSchema),
  cptable: Type.Array(
    Type.Object({
      cp: Type.Number(),
      nsplit: Type.Integer(),
      relError: Type.Number(),
      xerror: Type.Optional(NullableNumber),
      xstd: Type.Optional(NullableNumber),
    }),
  ),
  variableImportance: Type.Array(
    Type.Object({ variable: Type.String(), importance: Type.Number(), percent: Type.Number() }),
  ),
  /** cp the returned tree was pruned at (relative), and the params used. */
  pruneCp: Type.Number(),
  params: Type.Object({
    maxDepth: Type.Integer(),
    minSplit: Type.Number(),
    minBucket: Type.Number(),
    cp: Type.Number(),
    xVal: Type.Integer(),
    maxNumBins: Type.Integer(),
    maxUnorderedLevels: Type.Integer(),
    split: Type.Optional(Type.String()),
  }),
  features: Type.Array(TreeFeatureSchema),
  passes: Type.Integer(),
  modelId: Type.String(),
  warnings: Type.Array(Type.String()),
});
export type DTreeResult = Static<typeof DTreeResultSchema>;

/** Fixed seed of the cross-validation folds (rxDTree has no seed argument). */
const FOLD_SEED = 0x5eed_f01d;

interface Options {
  method: 'class' | 'anova';
  split: 'gini' | 'information';
  prior: number[] | null;
  loss: number[][] | null;
  maxDepth: number;
  minSplit: number | null;
  minBucket: number | null;
  cp: number;
  xVal: number;
  maxCompete: number;
  maxUnorderedLevels: number;
  pruneCp: number | 'auto';
}

interface Competitor {
  variable: string;
  improve: number;
  split: string;
}

interface Fit {
  prelude: PreludeOutcome;
  minSplit: number;
  minBucket: number;
  criterion: Criterion;
  classInfo: ClassInfo | null;
  /** Numeric response: the overall weighted mean the moments are centred on. */
  center: number;
  trees: GrowTree[];
  /** Per tree: cp x root risk (scaled to the fold's weight for fold trees); null before the root pass. */
  alpha: number[] | null;
  /** Largest gain seen per tree (rpart's scale for "no improvement"). */
  maxGain: number[];
  level: number;
  competitors: Record<string, Competitor[]>;
  /** Main tree, factor splits: the level codes present at the node (rpart prints only those). */
  presentLevels: Record<string, number[]>;
}

interface XvalPlan {
  /** Thresholds in the main tree's risk units, one per cp-table row. */
  thresholds: number[];
  /** Per fold tree: node complexities (capped), split flags, predictions. */
  folds: Array<{ cp: number[]; split: number[]; predicted: number[]; scale: number }>;
}

export interface DTreeState {
  nonce: string;
  phase: 'prelude' | 'grow' | 'xval';
  passes: number;
  data: TreeDataPlan;
  options: Options;
  numRows: number;
  prelude: PreludeState;
  fit: Fit | null;
  xval: XvalPlan | null;
}

export type DTreePartial =
  | PreludePartial
  | { kind: 'grow'; hist: Float64Array }
  | { kind: 'xval'; risk: Float64Array; risk2: Float64Array; weight: number };

// ---------------------------------------------------------------------------------------------------
// init

function init(params: DTreeParams, meta: DatasetMeta): DTreeState {
  checkParams(DTreeParamsSchema, params, 'dTree');
  const weights = planWeights(params, meta);
  const data = planTreeData(params.formula, meta, weights, 'dTree', params.removeMissings ?? false);
  const method = params.method ?? (data.response.kind === 'factor' ? 'class' : 'anova');
  if (method === 'class' && data.response.kind !== 'factor') {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `method 'class' needs a factor response; '${data.response.name}' is numeric: use F(${data.response.name}) or method 'anova'`,
      422,
      { response: data.response.name },
    );
  }
  if (method === 'anova' && data.response.kind !== 'numeric') {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `method 'anova' needs a numeric response; '${data.response.name}' is a factor: use method 'class'`,
      422,
      { response: data.response.name },
    );
  }
  const xVal = params.xVal ?? 2;
  const pruneCp = params.pruneCp ?? 0;
  if (pruneCp === 'auto' && xVal < 2) {
    throw new EngineError(
      'INVALID_PARAMS',
      'pruneCp "auto" needs cross-validation: set xVal to 2 or more',
      400,
      {
        xVal,
      },
    );
  }
  if (xVal === 1) {
    throw new EngineError('INVALID_PARAMS', 'xVal must be 0 (no cross-validation) or at least 2 folds', 400, {
      xVal,
    });
  }
  const maxUnorderedLevels = params.maxUnorderedLevels ?? 32;
  checkUnorderedLevels(data, method, maxUnorderedLevels);
  if (params.minSplit !== undefined && params.minBucket !== undefined && params.minBucket > params.minSplit) {
    throw new EngineError('INVALID_PARAMS', 'minBucket cannot exceed minSplit', 400, {
      minSplit: params.minSplit,
      minBucket: params.minBucket,
    });
  }
  const options: Options = {
    method,
    split: params.parms?.split ?? 'gini',
    prior: params.parms?.prior ?? null,
    loss: params.parms?.loss ?? null,
    maxDepth: params.maxDepth ?? 10,
    minSplit: params.minSplit ?? null,
    minBucket: params.minBucket ?? null,
    cp: params.cp ?? 0,
    xVal,
    maxCompete: params.maxCompete ?? 0,
    maxUnorderedLevels,
    pruneCp,
  };
  if (method === 'class') {
    const k = (data.response.levels ?? []).length;
    if (k < 2) {
      throw new EngineError(
        'TOO_FEW_LEVELS',
        `the response '${data.response.name}' needs at least 2 levels`,
        422,
        {
          response: data.response.name,
        },
      );
    }
    if (options.prior !== null && options.prior.length !== k) {
      throw new EngineError(
        'INVALID_PARAMS',
        `parms.prior has ${options.prior.length} values; the response has ${k} levels`,
        400,
      );
    }
  }
  return {
    nonce: randomUUID(),
    phase: 'prelude',
    passes: 0,
    data,
    options,
    numRows: meta.numRows,
    prelude: preludeInit(data, meta, params.maxNumBins ?? null),
    fit: null,
    xval: null,
  };
}

/** RevoScaleR refuses unordered factors with more than maxUnorderedLevels levels in multiclass trees. */
export function checkUnorderedLevels(data: TreeDataPlan, method: string, maxUnorderedLevels: number): void {
  const classes = (data.response.levels ?? []).length;
  if (method !== 'class' || classes <= 2) return;
  for (const feature of data.features) {
    const levels = (feature.levels ?? []).length;
    if (feature.kind === 'factor' && levels > maxUnorderedLevels) {
      throw new EngineError(
        'TOO_MANY_LEVELS',
        `factor '${feature.name}' has ${levels} levels, more than maxUnorderedLevels (${maxUnorderedLevels}) allows for a ${classes}-class response; raise maxUnorderedLevels (at most ${MAX_TREE_LEVELS})`,
        422,
        { variable: feature.name, levels, maxUnorderedLevels },
      );
    }
  }
}

function columnsUsed(state: DTreeState): string[] {
  return state.data.inputs;
}

// ---------------------------------------------------------------------------------------------------
// map

function missingCodes(bins: readonly BinsInfo[]): Int32Array {
  return Int32Array.from(bins.map((b) => b.numBins));
}

/** The nodes this pass searches (every open node, unless their histograms would be too large). */
function passOf(fit: Fit): PassSlots {
  const stride = fit.prelude.bins.reduce((sum, b) => sum + (b.numBins + 1) * statWidth(fit.criterion), 0);
  return passSlots(fit.trees, () => stride);
}

function layoutOf(fit: Fit, slots: number): HistLayout {
  return makeLayout(
    fit.prelude.bins.map((b) => b.numBins),
    statWidth(fit.criterion),
    slots,
    () => null,
  );
}

/** Fold of each row (0..xVal-1), from a hash of its row id. */
function foldsOf(prepared: PreparedChunk, xVal: number): Uint8Array {
  const key = `folds${xVal}`;
  let folds = prepared.derived.get(key) as Uint8Array | undefined;
  if (folds === undefined) {
    folds = new Uint8Array(prepared.numRows);
    for (let i = 0; i < prepared.numRows; i++) folds[i] = rowHash(FOLD_SEED, prepared.startRow + i, 0) % xVal;
    prepared.derived.set(key, folds);
    preparedChunks.account(prepared, prepared.numRows);
  }
  return folds;
}

/** Response in the form the accumulation loops take (cached): class codes or centred values. */
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

function mapGrow(chunk: Chunk, state: DTreeState, fit: Fit): DTreePartial {
  const prepared = preparedFor(state.nonce, chunk, state.data, fit.prelude.bins);
  const pass = passOf(fit);
  const built = builtSlots(fit.trees, pass);
  const layout = layoutOf(fit, built.length);
  const hist = new Float64Array(layout.size);
  const missing = missingCodes(fit.prelude.bins);
  const slot = new Int32Array(prepared.numRows);
  const folds = state.options.xVal > 0 ? foldsOf(prepared, state.options.xVal) : null;
  const account = (delta: number) => preparedChunks.account(prepared, delta);
  const countStat = state.data.weights?.kind === 'pweights' ? prepared.count : null;
  const nodeSlots = nodeSlotsOf(fit.trees, pass, true);
  fit.trees.forEach((tree, t) => {
    if (!built.some((b) => b.tree === t)) return;
    const positions = rowPositions(prepared, `pos${t}`, '', tree, missing, account);
    const fold = t - 1;
    fillSlots(
      slot,
      positions,
      nodeSlots[t] as Int32Array,
      prepared.weight,
      t === 0 || folds === null ? null : (i) => folds[i] === fold,
    );
    if (fit.criterion.kind === 'class') {
      accumulateClass(
        hist,
        layout,
        prepared.codes,
        slot,
        prepared.yCode as Int32Array,
        prepared.weight,
        countStat,
        fit.criterion.classes,
      );
    } else {
      accumulateMoments(
        hist,
        layout,
        prepared.codes,
        slot,
        centredResponse(prepared, fit.center),
        prepared.weight,
        countStat,
      );
    }
  });
  return { kind: 'grow', hist };
}

/** Cross-validated risk of the left-out rows, for every cp-table threshold. */
function mapXval(chunk: Chunk, state: DTreeState, fit: Fit, plan: XvalPlan): DTreePartial {
  const prepared = preparedFor(state.nonce, chunk, state.data, fit.prelude.bins);
  const folds = foldsOf(prepared, state.options.xVal);
  const m = plan.thresholds.length;
  const risk = new Float64Array(m);
  const risk2 = new Float64Array(m);
  const missing = missingCodes(fit.prelude.bins);
  const codes = prepared.codes;
  const info = fit.classInfo;
  const y = info === null ? centredResponse(prepared, fit.center) : null;
  let weight = 0;
  const trees = fit.trees;
  for (let i = 0; i < prepared.numRows; i++) {
    const w = prepared.weight[i] as number;
    if (w === 0) continue;
    weight += w;
    const k = folds[i] as number;
    const tree = trees[k + 1] as GrowTree;
    const fold = plan.folds[k] as XvalPlan['folds'][number];
    let node = 0;
    for (let c = 0; c < m; c++) {
      const threshold = (plan.thresholds[c] as number) * fold.scale;
      // Down while the node's split survives this threshold (rpart's rundown).
      while (fold.split[node] === 1 && threshold < (fold.cp[node] as number)) {
        const f = tree.feature[node] as number;
        const code = (codes[f] as Uint16Array)[i] as number;
        let goLo: boolean;
        if (code === missing[f]) goLo = tree.missingLo[node] === 1;
        else if ((tree.bin[node] as number) >= 0) goLo = code < (tree.bin[node] as number);
        else goLo = bitsetHas(tree.levelSet[node] as number[], code);
        node = goLo ? (tree.lo[node] as number) : (tree.hi[node] as number);
      }
      let error: number;
      if (info !== null) {
        const truth = (prepared.yCode as Int32Array)[i] as number;
        const predicted = fold.predicted[node] as number;
        error = (info.scaledPrior[truth] as number) * ((info.loss[truth] as number[])[predicted] as number);
      } else {
        const r = ((y as Float64Array)[i] as number) - (fold.predicted[node] as number);
        error = r * r;
      }
      risk[c] = (risk[c] as number) + w * error;
      risk2[c] = (risk2[c] as number) + w * error * error;
    }
  }
  return { kind: 'xval', risk, risk2, weight };
}

function map(chunk: Chunk, state: DTreeState, _context: MapContext): DTreePartial {
  if (state.phase === 'prelude') return preludeMap(chunk, state.data, state.prelude);
  const fit = state.fit as Fit;
  if (state.phase === 'grow') return mapGrow(chunk, state, fit);
  return mapXval(chunk, state, fit, state.xval as XvalPlan);
}

/** Adds b into a (a's buffers are reused). */
function merge(a: DTreePartial, b: DTreePartial): DTreePartial {
  if (a.kind === 'grow' && b.kind === 'grow') return { kind: 'grow', hist: addHistograms(a.hist, b.hist) };
  if (a.kind === 'xval' && b.kind === 'xval') {
    return {
      kind: 'xval',
      risk: addHistograms(a.risk, b.risk),
      risk2: addHistograms(a.risk2, b.risk2),
      weight: a.weight + b.weight,
    };
  }
  if ((a.kind === 'range' || a.kind === 'sketch') && (b.kind === 'range' || b.kind === 'sketch')) {
    return preludeMerge(a, b);
  }
  throw new Error('dTree: partials of different passes');
}

// ---------------------------------------------------------------------------------------------------
// finalize

/** Risk of a node's stats: misclassification loss, or the sum of squares. */
function riskOf(fit: Fit, stats: ArrayLike<number>): number {
  if (fit.classInfo !== null) return classRisk(fit.classInfo, stats).risk;
  const w = stats[0] as number;
  if (!(w > 0)) return 0;
  const s = stats[1] as number;
  return Math.max(0, (stats[2] as number) - (s * s) / w);
}

function startGrowing(state: DTreeState, prelude: PreludeOutcome): DTreeState {
  const { options, data } = state;
  if (prelude.usedRows === 0) {
    throw new EngineError(
      'NO_VALID_ROWS',
      `no row has a response${data.weights ? ' and a positive weight' : ''}: nothing to fit`,
      422,
    );
  }
  const minSplit = options.minSplit ?? Math.max(20, Math.floor(Math.sqrt(prelude.numObs)));
  const minBucket = options.minBucket ?? Math.max(1, Math.round(minSplit / 3));
  const countStat = data.weights?.kind === 'pweights';
  let classInfo: ClassInfo | null = null;
  let criterion: Criterion;
  if (options.method === 'class') {
    classInfo = planClassInfo(
      data.response.levels ?? [],
      prelude.classWeights ?? [],
      options.prior,
      options.loss,
    );
    criterion = {
      kind: 'class',
      classes: classInfo.levels.length,
      impurity: options.split,
      aprior: classInfo.aprior,
      countStat,
    };
  } else criterion = { kind: 'moments', countStat };
  const width = statWidth(criterion);
  const trees = Array.from({ length: options.xVal + 1 }, () => {
    const tree = newTree(new Array<number>(width).fill(0));
    tree.open = [0];
    return tree;
  });
  return {
    ...state,
    phase: 'grow',
    fit: {
      prelude,
      minSplit,
      minBucket,
      criterion,
      classInfo,
      center: prelude.mean,
      trees,
      alpha: null,
      maxGain: trees.map(() => 0),
      level: 0,
      competitors: {},
      presentLevels: {},
    },
  };
}

function formatCut(x: number): string {
  return String(Number(x.toPrecision(7)));
}

function growthRules(state: DTreeState, fit: Fit) {
  const { options, data } = state;
  const bins = fit.prelude.bins;
  const alpha = fit.alpha ?? fit.trees.map(() => 0);
  const mainTree = fit.trees[0] as GrowTree;
  return {
    rules: {
      criterion: fit.criterion,
      minBucket: fit.minBucket,
      kinds: data.features.map((f) => f.kind),
      numBins: bins.map((b) => b.numBins),
    },
    bins,
    canSplit: (t: number, stats: Float64Array, depth: number): boolean => {
      const count = countOf(fit.criterion, stats, 0);
      return (
        depth < options.maxDepth &&
        count >= fit.minSplit &&
        count >= 2 * fit.minBucket &&
        riskOf(fit, stats) > (alpha[t] as number)
      );
    },
    minGain: (t: number) => {
      // rpart keeps an improvement when it exceeds 1e-10 of the largest seen in the fit.
      return Math.max(0, 1e-10 * (fit.maxGain[t] as number));
    },
    rpartDirection: true,
    subtract: true,
    // Every used row takes part in the main tree's histograms: rpart's midpoints are exact for all.
    thresholds: 'midpoint' as const,
    wantPerFeature: options.maxCompete > 0,
    onSplit: (
      t: number,
      node: number,
      search: SlotSearch,
      choice: SplitChoice,
      hist: Float64Array,
      offsets: Int32Array,
    ) => {
      fit.maxGain[t] = Math.max(fit.maxGain[t] as number, choice.gain);
      if (t !== 0) return;
      const width = statWidth(fit.criterion);
      if (choice.loLevels !== null) {
        // Levels present at the node, for printing the split as rpart does.
        const at = offsets[choice.feature] as number;
        const present: number[] = [];
        const levels = (bins[choice.feature] as BinsInfo).numBins;
        for (let code = 0; code < levels; code++) {
          if (countOf(fit.criterion, hist, at + code * width) > 0) present.push(code);
        }
        fit.presentLevels[String(node)] = present;
      }
      if (options.maxCompete > 0) {
        const nodeRisk = riskOf(fit, mainTree.stats[node] as number[]);
        const improveOf = (gain: number) => (fit.classInfo === null ? gain / nodeRisk : gain);
        fit.competitors[String(node)] = search.perFeature
          .filter((x) => x.feature !== choice.feature)
          .sort((a, b) => b.gain - a.gain || a.feature - b.feature)
          .slice(0, options.maxCompete)
          .map((x) => ({
            variable: data.features[x.feature]?.name ?? '?',
            improve: improveOf(x.gain),
            split: describeCandidate(data, bins, x.choice, hist, offsets, fit.criterion),
          }));
      }
    },
  };
}

/** A competitor split in words: `Age < 39.5`, `g = a,b | c`. */
function describeCandidate(
  data: TreeDataPlan,
  bins: readonly BinsInfo[],
  choice: SplitChoice,
  hist: Float64Array,
  offsets: Int32Array,
  criterion: Criterion,
): string {
  const name = data.features[choice.feature]?.name ?? '?';
  if (choice.loLevels === null) {
    return `${name} < ${formatCut(splitThreshold(bins[choice.feature] as BinsInfo, choice.lastLoBin, choice.bin))}`;
  }
  const levels = data.features[choice.feature]?.levels ?? [];
  const width = statWidth(criterion);
  const at = offsets[choice.feature] as number;
  const lo: string[] = [];
  const hi: string[] = [];
  levels.forEach((level, code) => {
    if (!(countOf(criterion, hist, at + code * width) > 0)) return;
    (choice.loLevels?.[code] === 1 ? lo : hi).push(level);
  });
  return `${name} = ${lo.join(',')} | ${hi.join(',')}`;
}

async function finalizeGrow(
  partial: DTreePartial & { kind: 'grow' },
  state: DTreeState,
  fit: Fit,
  io: FinalizeContext['io'],
): Promise<DTreeState> {
  const pass = passOf(fit);
  const layout = layoutOf(fit, pass.slots.length);
  const store = await parentBlocks(io, state.nonce);
  const hist = await assembleHistogram(
    fit.trees,
    pass,
    partial.hist,
    layoutOf(fit, builtSlots(fit.trees, pass).length),
    layout,
    (t, node) => store.take(t, node),
  );
  if (hist === null) {
    // A parent's histogram is gone: run the pass again, building every node's histograms.
    stopDeriving(fit.trees, pass);
    return { ...state, fit };
  }
  refreshOpenStats(
    fit.trees,
    hist,
    layout,
    fit.prelude.bins.map((b) => b.numBins),
    pass,
  );
  if (fit.alpha === null) {
    const root = (fit.trees[0] as GrowTree).stats[0] as number[];
    const alpha = state.options.cp * riskOf(fit, root);
    const total = weightOf(fit.criterion, root, 0);
    // rpart scales the fold trees' alpha by their share of the weight.
    fit.alpha = fit.trees.map((tree) =>
      total > 0 ? (alpha * weightOf(fit.criterion, tree.stats[0] as number[], 0)) / total : alpha,
    );
  }
  const outcome = growLevel(fit.trees, hist, layout, growthRules(state, fit), pass);
  for (const { tree, node, slot } of outcome.keep) {
    await store.put(tree, node, hist.subarray(slot * layout.stride, (slot + 1) * layout.stride));
  }
  if (!fit.trees.some((tree) => tree.open.length > 0)) await store.clear();
  fit.level++;
  return { ...state, fit };
}

/** Cost complexity of every tree, the cp table, and the cross-validation plan. */
function prune(fit: Fit): { cx: Complexity[]; risks: Float64Array[] } {
  const alpha = fit.alpha ?? fit.trees.map(() => 0);
  const risks = fit.trees.map((tree) => Float64Array.from(tree.stats, (s) => riskOf(fit, s)));
  const cx = fit.trees.map((tree, t) =>
    computeComplexity(tree, risks[t] as Float64Array, alpha[t] as number),
  );
  return { cx, risks };
}

function predictedOf(fit: Fit, stats: ArrayLike<number>): number {
  if (fit.classInfo !== null) return classRisk(fit.classInfo, stats).predicted;
  const w = stats[0] as number;
  return w > 0 ? (stats[1] as number) / w : 0;
}

async function finalize(
  partial: DTreePartial,
  state: DTreeState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<DTreeState, DTreeResult>> {
  const passes = state.passes + 1;
  if (state.phase === 'prelude') {
    return finishPreludePass(partial as PreludePartial, state, passes, startGrowing, {
      sketch: 'sketching the predictors for their bins',
      grow: 'growing the tree: level 1',
    });
  }
  const fit = state.fit as Fit;
  if (state.phase === 'grow') {
    const next = {
      ...(await finalizeGrow(partial as DTreePartial & { kind: 'grow' }, state, fit, context.io)),
      passes,
    };
    const stillOpen = fit.trees.some((tree) => tree.open.length > 0);
    if (stillOpen) return { done: false, state: next, message: `growing the tree: level ${fit.level + 1}` };
    const { cx, risks } = prune(fit);
    if (state.options.xVal > 0) {
      const table = cpTable(
        fit.trees[0] as GrowTree,
        cx[0] as Complexity,
        risks[0] as Float64Array,
        (fit.alpha as number[])[0] as number,
      );
      const thresholds = xvalThresholds(table);
      const total = weightOf(fit.criterion, (fit.trees[0] as GrowTree).stats[0] as number[], 0);
      const folds = fit.trees.slice(1).map((tree, k) => ({
        cp: Array.from((cx[k + 1] as Complexity).cp),
        split: Array.from((cx[k + 1] as Complexity).split),
        predicted: tree.stats.map((s) => predictedOf(fit, s)),
        scale: total > 0 ? weightOf(fit.criterion, tree.stats[0] as number[], 0) / total : 1,
      }));
      return {
        done: false,
        state: {
          ...next,
          phase: 'xval',
          xval: { thresholds, folds },
        },
        message: 'cross-validating the cp table',
      };
    }
    return { done: true, result: await buildResult({ ...next }, fit, null, context) };
  }
  return {
    done: true,
    result: await buildResult({ ...state, passes }, fit, partial as DTreePartial & { kind: 'xval' }, context),
  };
}

// ---------------------------------------------------------------------------------------------------
// Result

async function buildResult(
  state: DTreeState,
  fit: Fit,
  xval: (DTreePartial & { kind: 'xval' }) | null,
  context: FinalizeContext,
): Promise<DTreeResult> {
  const warnings = new Warnings();
  const { data, options } = state;
  const main = fit.trees[0] as GrowTree;
  const { cx, risks } = prune(fit);
  const cxMain = cx[0] as Complexity;
  const risk = risks[0] as Float64Array;
  const alpha = (fit.alpha as number[])[0] as number;
  const rootRisk = risk[0] as number;
  const table = cpTable(main, cxMain, risk, alpha);
  const scale = rootRisk > 0 ? rootRisk : 1;
  const cptable: DTreeResult['cptable'] = table.map((row, i) => {
    const out: DTreeResult['cptable'][number] = {
      cp: row.cp / scale,
      nsplit: row.nsplit,
      relError: row.risk / scale,
    };
    if (xval !== null) {
      const sum = xval.risk[i] as number;
      const sum2 = xval.risk2[i] as number;
      out.xerror = sum / scale;
      out.xstd = Math.sqrt(Math.max(0, sum2 - (sum * sum) / xval.weight)) / scale;
    }
    return out;
  });
  let pruneAt = alpha;
  let pruneCp = options.cp;
  if (options.pruneCp === 'auto') {
    // rxDTreeBestCp: the first row (largest cp) whose xerror is within one xstd of the smallest.
    let bestRow = 0;
    cptable.forEach((row, i) => {
      if ((row.xerror as number) < (cptable[bestRow]?.xerror as number)) bestRow = i;
    });
    const limit = (cptable[bestRow]?.xerror as number) + (cptable[bestRow]?.xstd as number);
    const chosen = cptable.findIndex((row) => (row.xerror as number) <= limit);
    pruneCp = (cptable[chosen] as DTreeResult['cptable'][number]).cp;
    pruneAt = pruneCp * scale;
  } else if (options.pruneCp > options.cp) {
    pruneCp = options.pruneCp;
    pruneAt = pruneCp * scale;
  }
  const keep = prunedSplits(main, cxMain, pruneAt);
  const prunedTable =
    pruneAt > alpha ? cptable.filter((row) => row.cp >= pruneCp - 1e-12 * Math.max(1, pruneCp)) : cptable;

  const info = fit.classInfo;
  const yvalOf = (node: number): string | number => {
    const stats = main.stats[node] as number[];
    if (info !== null) return info.levels[classRisk(info, stats).predicted] as string;
    return fit.center + predictedOf(fit, stats);
  };
  const nodes: DTreeResult['nodes'] = [];
  const importance = new Float64Array(data.features.length);
  const visit = (node: number, label: string): void => {
    const stats = main.stats[node] as number[];
    const split = keep[node] === 1;
    const parent = main.parent[node] as number;
    const entry: DTreeResult['nodes'][number] = {
      node: main.nodeNum[node] as number,
      parent: parent < 0 ? null : (main.nodeNum[parent] as number),
      depth: main.depth[node] as number,
      split: label,
      n: countOf(fit.criterion, stats, 0),
      weight: weightOf(fit.criterion, stats, 0),
      deviance: risk[node] as number,
      yval: yvalOf(node),
      complexity: Math.max(cxMain.cp[node] as number, alpha) / scale,
      leaf: !split,
    };
    if (info !== null) entry.yprob = classProbabilities(info, stats);
    nodes.push(entry);
    if (!split) return;
    const f = main.feature[node] as number;
    const gain = main.gain[node] as number;
    importance[f] = (importance[f] as number) + gain;
    entry.variable = data.features[f]?.name ?? '?';
    entry.improve = info === null ? gain / (risk[node] as number) : gain;
    const loIsLeft = main.loIsLeft[node] === 1;
    entry.missing = (main.missingLo[node] === 1) === loIsLeft ? 'left' : 'right';
    const competitors = fit.competitors[String(node)];
    if (competitors !== undefined) entry.competitors = competitors;
    const lo = main.lo[node] as number;
    const hi = main.hi[node] as number;
    let loLabel: string;
    let hiLabel: string;
    const name = entry.variable;
    if (main.levelSet[node] === null) {
      entry.cutpoint = main.threshold[node] as number;
      const cut = formatCut(entry.cutpoint);
      loLabel = `${name}< ${cut}`;
      hiLabel = `${name}>=${cut}`;
    } else {
      const present = fit.presentLevels[String(node)] ?? [];
      const levels = data.features[f]?.levels ?? [];
      const set = main.levelSet[node] as number[];
      const loLevels = present.filter((code) => bitsetHas(set, code)).map((code) => levels[code] as string);
      const hiLevels = present.filter((code) => !bitsetHas(set, code)).map((code) => levels[code] as string);
      entry.leftLevels = loIsLeft ? loLevels : hiLevels;
      entry.rightLevels = loIsLeft ? hiLevels : loLevels;
      loLabel = `${name}=${loLevels.join(',')}`;
      hiLabel = `${name}=${hiLevels.join(',')}`;
    }
    if (loIsLeft) {
      visit(lo, loLabel);
      visit(hi, hiLabel);
    } else {
      visit(hi, hiLabel);
      visit(lo, loLabel);
    }
  };
  visit(0, 'root');

  const totalImportance = importance.reduce((a, b) => a + b, 0);
  const variableImportance = data.features
    .map((feature, f) => ({
      variable: feature.name,
      importance: importance[f] as number,
      percent: totalImportance > 0 ? (100 * (importance[f] as number)) / totalImportance : 0,
    }))
    .filter((v) => v.importance > 0)
    .sort((a, b) => b.importance - a.importance);

  const tree: CompactTree = withoutBins(
    compactTree(
      main,
      (node) => keep[node] === 1,
      (node) =>
        info !== null
          ? predictedOf(fit, main.stats[node] as number[])
          : fit.center + predictedOf(fit, main.stats[node] as number[]),
      info === null ? null : (node) => classProbabilities(info, main.stats[node] as number[]),
      true,
    ),
  );
  const body: DTreeModelBody = {
    kind: 'dTree',
    method: options.method,
    response: { name: data.response.name, levels: data.response.levels },
    features: treeFeatures(data),
    tree,
  };
  const model = await context.io.saveModel({ type: 'dTree', formula: data.formula, body });
  if (
    fit.prelude.bins.some(
      (b, f) => data.features[f]?.kind === 'numeric' && b.numBins >= fit.prelude.maxNumBins,
    )
  ) {
    warnings.add(
      `some numeric predictors have more distinct values than maxNumBins (${fit.prelude.maxNumBins}): their splits are at equal-count bin edges`,
    );
  }
  return {
    method: options.method,
    formula: data.formula,
    response: data.response.name,
    ...(info !== null ? { levels: info.levels } : {}),
    nObs: fit.prelude.numObs,
    nMissing: fit.prelude.rows - fit.prelude.usedRows,
    nodes,
    cptable: prunedTable,
    variableImportance,
    pruneCp,
    params: {
      maxDepth: options.maxDepth,
      minSplit: fit.minSplit,
      minBucket: fit.minBucket,
      cp: options.cp,
      xVal: options.xVal,
      maxNumBins: fit.prelude.maxNumBins,
      maxUnorderedLevels: options.maxUnorderedLevels,
      ...(info !== null ? { split: options.split } : {}),
    },
    features: resultFeatures(data),
    passes: state.passes,
    modelId: model.id,
    warnings: warnings.list(),
  };
}

export const dTree = {
  name: 'dTree',
  paramsSchema: DTreeParamsSchema,
  resultSchema: DTreeResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<DTreeParams, DTreeState, DTreePartial, DTreeResult>;
