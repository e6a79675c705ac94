import { randomUUID } from 'node:crypto';
import { type Static, Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext, FinalizeOutcome, MapContext } from '../analysis.ts';
import { EngineError } from '../errors.ts';
import type { BTreesModelBody } from '../models/treeScore.ts';
import { checkParams, finiteOrNull, planWeights, Warnings } from '../params.ts';
import {
  type GradientInput,
  gradientRange,
  LOSS_FUNCTIONS,
  type LossFunction,
} from '../trees/boostGradients.ts';
import type { BoostInput } from '../trees/boostPart.ts';
import { boostRunner } from '../trees/boostRunner.ts';
import { compactTree, type TrainedTree, trainedWalker, withoutBins } from '../trees/compact.ts';
import { type Criterion, countOf } from '../trees/criteria.ts';
import { planTreeData, type TreeDataPlan } from '../trees/data.ts';
import { advancePositions, type GrowTree, leavesRowMajor, newTree, treeWalker } from '../trees/growTree.ts';
import { accumulateGradients, addHistograms, type HistLayout, makeLayout } from '../trees/histogram.ts';
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
  stopDeriving,
} from '../trees/levelGrowth.ts';
import { fitsLocally, preparedInput, ROW_CODES, rowCodesOf } from '../trees/localData.ts';
import { memoryBlocks, type ParentBlocks, parentBlocks } from '../trees/parentBlocks.ts';
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
import { rowKernelModule } from '../trees/rowKernels.ts';
import { resultFeatures, TreeFeatureSchema, TreeParamsFields, treeFeatures } from '../trees/treeParams.ts';

/**
 * rxBTrees: stochastic gradient boosting of regression trees (Friedman 2001/2002, as gbm), grown on
 * binned data with second-order split gains (XGBoost's: G_L^2 / (H_L + lambda) + G_R^2 / (H_R + lambda)
 * - G^2 / (H + lambda), halved) and Newton leaf values -G / (H + lambda), shrunk by `learningRate`.
 *
 * - `gaussian`: g = F - y, h = 1; `bernoulli` (y 0/1, logical, or a two-level factor: its second
 *   level is 1): g = p - y, h = p (1 - p); `multinomial` (a factor): one tree per class and iteration
 *   on the softmax gradients, the K trees of an iteration grown together in the same passes.
 * - Each iteration draws its rows without data moving: row r is in iteration m's sample when a hash
 *   of (seed, r, m) is below `sampRate` (with `replace`, it counts a Poisson(sampRate) number of
 *   times).
 *
 * Passes: the sketch pass (trees/prelude.ts), then one pass per tree level. Chunk tasks are stateless:
 * each recomputes a row's score from the trees so far (kept per chunk in the worker's cache and
 * advanced by the trees added since, so the usual cost is one tree per row per iteration) and from it
 * the gradients. The level-0 pass of iteration m also sums the loss after m iterations, and one last
 * pass gives the loss after the last: `trainLoss` has nTree + 1 entries, the first for the initial
 * prediction (gaussian: mean squared error; bernoulli and multinomial: deviance, -2 x the mean
 * log-likelihood).
 */

export const BTreesParamsSchema = Type.Object(
  {
    ...TreeParamsFields,
    lossFunction: Type.Optional(Type.Enum(LOSS_FUNCTIONS, { default: 'bernoulli' })),
    nTree: Type.Optional(
      Type.Integer({ minimum: 1, maximum: 5000, default: 10, description: 'Boosting iterations.' }),
    ),
    learningRate: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.1 })),
    maxDepth: Type.Optional(Type.Integer({ minimum: 1, maximum: 30, default: 1 })),
    sampRate: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 1,
        description: 'Share of rows drawn for each iteration. Default 0.632 (1 with replace).',
      }),
    ),
    replace: Type.Optional(Type.Boolean({ default: false, description: 'Draw rows with replacement.' })),
    seed: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 4294967295, description: 'Seed of the row draws.' }),
    ),
    lambda: Type.Optional(
      Type.Number({ minimum: 0, default: 1, description: 'L2 regularisation of the leaf values (XGBoost).' }),
    ),
  },
  { additionalProperties: false },
);
export type BTreesParams = Static<typeof BTreesParamsSchema>;

export const BTreesResultSchema = Type.Object({
  lossFunction: Type.Enum(LOSS_FUNCTIONS),
  formula: Type.String(),
  response: Type.String(),
  levels: Type.Optional(Type.Array(Type.String())),
  nObs: Type.Number(),
  nMissing: Type.Number(),
  nTree: Type.Integer(),
  /** Initial prediction (score) per class: the mean, the log-odds, or the log class shares. */
  initPred: Type.Array(Type.Number()),
  /** Loss on the training rows after 0, 1, ..., nTree iterations. */
  trainLoss: Type.Array(Type.Union([Type.Number(), Type.Null()])),
  /** Leaves per iteration (summed over the classes' trees). */
  treeSizes: Type.Array(Type.Integer()),
  variableImportance: Type.Array(
    Type.Object({ variable: Type.String(), importance: Type.Number(), percent: Type.Number() }),
  ),
  params: Type.Object({
    learningRate: Type.Number(),
    maxDepth: Type.Integer(),
    minSplit: Type.Number(),
    minBucket: Type.Number(),
    sampRate: Type.Number(),
    replace: Type.Boolean(),
    seed: Type.Integer(),
    lambda: Type.Number(),
    maxNumBins: Type.Integer(),
  }),
  features: Type.Array(TreeFeatureSchema),
  passes: Type.Integer(),
  modelId: Type.String(),
  warnings: Type.Array(Type.String()),
});
export type BTreesResult = Static<typeof BTreesResultSchema>;

interface Options {
  lossFunction: LossFunction;
  nTree: number;
  learningRate: number;
  maxDepth: number;
  minSplit: number | null;
  minBucket: number | null;
  sampRate: number;
  replace: boolean;
  seed: number;
  lambda: number;
}

interface Fit {
  prelude: PreludeOutcome;
  minSplit: number;
  minBucket: number;
  /** Scores per row: 1, or the number of classes (multinomial). */
  classes: number;
  initPred: number[];
  /** Finished trees, iteration by iteration (classes per iteration). */
  trees: TrainedTree[];
  /** The trees of the current iteration. */
  current: GrowTree[];
  iteration: number;
  level: number;
  maxGain: number;
  trainLoss: Array<number | null>;
  importance: number[];
  /** Grown in one task per round on the whole input (trees/localData.ts), not in level passes. */
  local: boolean;
}

export interface BTreesState {
  nonce: string;
  phase: 'prelude' | 'grow' | 'final';
  passes: number;
  data: TreeDataPlan;
  options: Options;
  numRows: number;
  numChunks: number;
  prelude: PreludeState;
  fit: Fit | null;
}

export type BTreesPartial =
  | PreludePartial
  | { kind: 'grow'; hist: Float64Array; loss: number; weight: number }
  | { kind: 'loss'; loss: number; weight: number }
  /** A local round's outcome: the fit after its iterations. */
  | { kind: 'boosted'; fit: Fit };

// ---------------------------------------------------------------------------------------------------
// init

function init(params: BTreesParams, meta: DatasetMeta): BTreesState {
  checkParams(BTreesParamsSchema, params, 'bTrees');
  const weights = planWeights(params, meta);
  const data = planTreeData(params.formula, meta, weights, 'bTrees', params.removeMissings ?? false);
  const lossFunction = params.lossFunction ?? 'bernoulli';
  const levels = data.response.levels;
  if (lossFunction === 'gaussian' && data.response.kind !== 'numeric') {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `lossFunction 'gaussian' needs a numeric response; '${data.response.name}' is a factor: use 'bernoulli' (2 levels) or 'multinomial'`,
      422,
    );
  }
  if (lossFunction === 'multinomial' && (levels === null || levels.length < 2)) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `lossFunction 'multinomial' needs a factor response with at least 2 levels; '${data.response.name}' is not one`,
      422,
    );
  }
  if (lossFunction === 'bernoulli' && levels !== null && levels.length !== 2) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `lossFunction 'bernoulli' needs a 0/1 response or a factor of 2 levels; '${data.response.name}' has ${levels.length} levels: use 'multinomial'`,
      422,
    );
  }
  const replace = params.replace ?? false;
  return {
    nonce: randomUUID(),
    phase: 'prelude',
    passes: 0,
    data,
    options: {
      lossFunction,
      nTree: params.nTree ?? 10,
      learningRate: params.learningRate ?? 0.1,
      maxDepth: params.maxDepth ?? 1,
      minSplit: params.minSplit ?? null,
      minBucket: params.minBucket ?? null,
      sampRate: params.sampRate ?? (replace ? 1 : 0.632),
      replace,
      // Without a seed the draws still have to agree across workers: one seed per job, fixed here.
      seed: params.seed ?? Math.floor(Math.random() * 4294967296),
      lambda: params.lambda ?? 1,
    },
    numRows: meta.numRows,
    numChunks: meta.numChunks,
    prelude: preludeInit(data, meta, params.maxNumBins ?? null),
    fit: null,
  };
}

function columnsUsed(state: BTreesState): string[] {
  return state.data.inputs;
}

// ---------------------------------------------------------------------------------------------------
// map: scores, gradients, histograms

interface Scores {
  /** Trees applied so far. */
  applied: number;
  scores: Float64Array[];
}

/** Each row's scores after the finished trees (cached, advanced by the trees added since). */
function scoresOf(prepared: PreparedChunk, fit: Fit, missing: Int32Array): Float64Array[] {
  let entry = prepared.derived.get('scores') as Scores | undefined;
  if (entry === undefined || entry.applied > fit.trees.length) {
    if (entry === undefined) preparedChunks.account(prepared, 8 * fit.classes * prepared.numRows);
    // Shared memory: a local round's boosting threads update the scores in place (boostRunner.ts).
    const scores = fit.initPred.map((init) =>
      new Float64Array(new SharedArrayBuffer(8 * prepared.numRows)).fill(init),
    );
    entry = { applied: 0, scores };
    prepared.derived.set('scores', entry);
  }
  if (entry.applied < fit.trees.length) {
    const leaves = new Int32Array(prepared.numRows);
    // A local fit's input has row-major codes (trees/localData.ts), which walk faster.
    const rowCodes = prepared.derived.get(ROW_CODES) as Uint16Array | undefined;
    for (let t = entry.applied; t < fit.trees.length; t++) {
      const tree = fit.trees[t] as TrainedTree;
      if (rowCodes !== undefined)
        leavesRowMajor(trainedWalker(tree), rowCodes, prepared.codes.length, missing, null, leaves);
      else {
        leaves.fill(0);
        advancePositions(trainedWalker(tree), prepared.codes, missing, leaves);
      }
      const score = entry.scores[t % fit.classes] as Float64Array;
      const value = tree.value;
      for (let i = 0; i < leaves.length; i++)
        score[i] = (score[i] as number) + (value[leaves[i] as number] as number);
    }
    entry.applied = fit.trees.length;
  }
  return entry.scores;
}

/** Response as 0/1 (bernoulli) or class codes (multinomial) or values (gaussian). */
function targetOf(prepared: PreparedChunk): Float64Array | Int32Array {
  return prepared.yCode ?? (prepared.yValue as Float64Array);
}

interface Gradients {
  iteration: number;
  /**
   * Per class, each row's gradient, hessian (case weight and sample draws folded in) and sample count
   * side by side (`ghc[3 i ..]`): the histogram loops read one cache line per row, not three.
   */
  ghc: Float64Array[];
  /** Observation count of each row in this iteration's sample (0 = not drawn). */
  count: Float64Array;
  loss: number;
  weight: number;
}

/** The iteration's gradients, hessians and sample counts (cached for its level passes), and the loss. */
function gradientsOf(prepared: PreparedChunk, state: BTreesState, fit: Fit, missing: Int32Array): Gradients {
  const cached = prepared.derived.get('gradients') as Gradients | undefined;
  if (cached !== undefined && cached.iteration === fit.iteration) return cached;
  const n = prepared.numRows;
  const k = fit.classes;
  const ghc = cached?.ghc ?? Array.from({ length: k }, () => new Float64Array(3 * n));
  const count = cached?.count ?? new Float64Array(n);
  if (cached === undefined) preparedChunks.account(prepared, 8 * n * (3 * k + 1));
  const { loss, weight } = gradientRange(gradientInput(prepared, state, fit, missing), fit.iteration, 0, n, {
    ghc,
    count,
    offset: 0,
  });
  const out: Gradients = { iteration: fit.iteration, ghc, count, loss, weight };
  prepared.derived.set('gradients', out);
  return out;
}

function gradientInput(
  prepared: PreparedChunk,
  state: BTreesState,
  fit: Fit,
  missing: Int32Array,
): GradientInput {
  const { options } = state;
  return {
    lossFunction: options.lossFunction,
    classes: fit.classes,
    sampRate: options.sampRate,
    replace: options.replace,
    y: targetOf(prepared),
    weight: prepared.weight,
    count: prepared.count,
    keys: rowKeysOf(prepared, options.seed),
    scores: scoresOf(prepared, fit, missing),
  };
}

function passOf(fit: Fit): PassSlots {
  const stride = fit.prelude.bins.reduce((sum, b) => sum + (b.numBins + 1) * 3, 0);
  return passSlots(fit.current, () => stride);
}

function layoutOf(fit: Fit, slots: number): HistLayout {
  return makeLayout(
    fit.prelude.bins.map((b) => b.numBins),
    3,
    slots,
    () => null,
  );
}

function missingCodes(bins: readonly BinsInfo[]): Int32Array {
  return Int32Array.from(bins.map((b) => b.numBins));
}

function mapGrow(chunk: Chunk, state: BTreesState, fit: Fit): BTreesPartial {
  const prepared = preparedFor(state.nonce, chunk, state.data, fit.prelude.bins);
  const missing = missingCodes(fit.prelude.bins);
  const gradients = gradientsOf(prepared, state, fit, missing);
  const pass = passOf(fit);
  const built = builtSlots(fit.current, pass);
  const layout = layoutOf(fit, built.length);
  const hist = new Float64Array(layout.size);
  const slot = new Int32Array(prepared.numRows);
  const account = (delta: number) => preparedChunks.account(prepared, delta);
  const nodeSlots = nodeSlotsOf(fit.current, pass, true);
  fit.current.forEach((tree, c) => {
    if (!built.some((b) => b.tree === c)) return;
    const positions = rowPositions(prepared, `pos${c}`, String(fit.iteration), tree, missing, account);
    fillSlots(slot, positions, nodeSlots[c] as Int32Array, gradients.count, null);
    accumulateGradients(hist, layout, prepared.codes, slot, gradients.ghc[c] as Float64Array);
  });
  // Level 0 reports the loss after the finished iterations; later levels would repeat it.
  const first = fit.level === 0;
  return { kind: 'grow', hist, loss: first ? gradients.loss : 0, weight: first ? gradients.weight : 0 };
}

function map(chunk: Chunk, state: BTreesState, _context: MapContext): BTreesPartial {
  if (state.phase === 'prelude') return preludeMap(chunk, state.data, state.prelude);
  const fit = state.fit as Fit;
  if (state.phase === 'grow') {
    // Positions of earlier iterations' trees are not needed again.
    return mapGrow(chunk, state, fit);
  }
  const prepared = preparedFor(state.nonce, chunk, state.data, fit.prelude.bins);
  const gradients = gradientsOf(prepared, state, fit, missingCodes(fit.prelude.bins));
  return { kind: 'loss', loss: gradients.loss, weight: gradients.weight };
}

function merge(a: BTreesPartial, b: BTreesPartial): BTreesPartial {
  if (a.kind === 'grow' && b.kind === 'grow') {
    return {
      kind: 'grow',
      hist: addHistograms(a.hist, b.hist),
      loss: a.loss + b.loss,
      weight: a.weight + b.weight,
    };
  }
  if (a.kind === 'loss' && b.kind === 'loss')
    return { kind: 'loss', loss: a.loss + b.loss, weight: a.weight + b.weight };
  if ((a.kind === 'range' || a.kind === 'sketch') && (b.kind === 'range' || b.kind === 'sketch')) {
    return preludeMerge(a, b);
  }
  throw new Error('bTrees: partials of different passes');
}

// ---------------------------------------------------------------------------------------------------
// finalize

function startFit(state: BTreesState, prelude: PreludeOutcome): Fit {
  const { options, data } = state;
  if (prelude.usedRows === 0) {
    throw new EngineError(
      'NO_VALID_ROWS',
      'no row has a response and a positive weight: nothing to fit',
      422,
    );
  }
  if (options.lossFunction === 'bernoulli' && data.response.kind === 'numeric' && prelude.nonBinary > 0) {
    throw new EngineError(
      'INVALID_RESPONSE',
      `lossFunction 'bernoulli' needs a response of 0s and 1s; '${data.response.name}' has ${prelude.nonBinary} other values: use 'gaussian' for a numeric response`,
      422,
      { response: data.response.name, otherValues: prelude.nonBinary },
    );
  }
  // Thresholds go on the cuts (levelGrowth.ts): the bins' data ranges need not travel in every state.
  prelude.bins = prelude.bins.map((b) => ({ ...b, binLow: null, binHigh: null }));
  const minSplit = options.minSplit ?? Math.max(20, Math.floor(Math.sqrt(prelude.numObs)));
  const minBucket = options.minBucket ?? Math.max(1, Math.round(minSplit / 3));
  let initPred: number[];
  if (options.lossFunction === 'gaussian') initPred = [prelude.mean];
  else if (options.lossFunction === 'bernoulli') {
    const p =
      prelude.classWeights !== null
        ? (prelude.classWeights[1] as number) / prelude.totalWeight
        : prelude.mean;
    const clamped = Math.min(1 - 1e-12, Math.max(1e-12, p));
    initPred = [Math.log(clamped / (1 - clamped))];
  } else {
    const weights = prelude.classWeights ?? [];
    const logs = weights.map((w) => Math.log(Math.max(1e-12, w / prelude.totalWeight)));
    const mean = logs.reduce((a, b) => a + b, 0) / logs.length;
    initPred = logs.map((l) => l - mean);
  }
  const classes = options.lossFunction === 'multinomial' ? (data.response.levels ?? []).length : 1;
  return {
    prelude,
    minSplit,
    minBucket,
    classes,
    initPred,
    trees: [],
    current: newIteration(classes),
    iteration: 0,
    level: 0,
    maxGain: 0,
    trainLoss: [],
    importance: data.features.map(() => 0),
    // Per row and class: the score, (g, h, count), and a local round's two node-ordered copies
    // (orderedRows.ts: about 12 doubles); per row: the sample count, row lists and leaves
    // (boostPart.ts), the draw key and row-major codes (localData.ts), and the part's own copy of
    // those codes where its WebAssembly loops read them (2 bytes a predictor).
    local: fitsLocally(prelude.rows, data.features.length, 5 + 16 * classes + data.features.length / 4),
  };
}

function newIteration(classes: number): GrowTree[] {
  return Array.from({ length: classes }, () => {
    const tree = newTree([0, 0, 0]);
    tree.open = [0];
    return tree;
  });
}

function leafValue(options: Options, stats: ArrayLike<number>): number {
  const g = stats[0] as number;
  const h = (stats[1] as number) + options.lambda;
  return h > 0 ? (-options.learningRate * g) / h : 0;
}

/**
 * One pass of growth; false when it must be run again (a parent's histogram was lost). A local round
 * passes `scratch`, a buffer the pass's full histogram reuses level after level.
 */
async function finalizeGrow(
  partial: BTreesPartial & { kind: 'grow' },
  state: BTreesState,
  fit: Fit,
  store: ParentBlocks,
  scratch?: { full: Float64Array },
): Promise<boolean> {
  const { options, data } = state;
  const pass = passOf(fit);
  const layout = layoutOf(fit, pass.slots.length);
  const hist = await assembleHistogram(
    fit.current,
    pass,
    partial.hist,
    layoutOf(fit, builtSlots(fit.current, pass).length),
    layout,
    (t, node) => store.take(t, node),
    scratch,
  );
  if (hist === null) {
    stopDeriving(fit.current, pass);
    return false;
  }
  if (fit.level === 0) fit.trainLoss.push(partial.weight > 0 ? partial.loss / partial.weight : null);
  const numBins = fit.prelude.bins.map((b) => b.numBins);
  refreshOpenStats(fit.current, hist, layout, numBins, pass);
  const criterion: Criterion = { kind: 'gradient', lambda: options.lambda };
  const outcome = growLevel(
    fit.current,
    hist,
    layout,
    {
      rules: {
        criterion,
        minBucket: fit.minBucket,
        kinds: data.features.map((f) => f.kind),
        numBins,
      },
      bins: fit.prelude.bins,
      canSplit: (_t, stats, depth) => {
        const count = countOf(criterion, stats, 0);
        return (
          depth < options.maxDepth &&
          count >= fit.minSplit &&
          count >= 2 * fit.minBucket &&
          (stats[1] as number) > 0
        );
      },
      minGain: () => Math.max(0, 1e-10 * fit.maxGain),
      rpartDirection: false,
      thresholds: 'cut',
      subtract: true,
      wantPerFeature: false,
      onSplit: (_t, _node, _search, choice) => {
        fit.maxGain = Math.max(fit.maxGain, choice.gain);
        fit.importance[choice.feature] = (fit.importance[choice.feature] as number) + choice.gain;
      },
    },
    pass,
  );
  for (const { tree, node, slot } of outcome.keep) {
    await store.put(tree, node, hist.subarray(slot * layout.stride, (slot + 1) * layout.stride));
  }
  fit.level++;
  if (fit.current.some((tree) => tree.open.length > 0)) return true;
  await store.clear();
  // The iteration is complete: its trees join the model.
  for (const tree of fit.current) {
    fit.trees.push(
      compactTree(
        tree,
        () => true,
        (node) => leafValue(options, tree.stats[node] as number[]),
        null,
        false,
      ),
    );
  }
  fit.iteration++;
  fit.level = 0;
  fit.current = fit.iteration < options.nTree ? newIteration(fit.classes) : [];
  return true;
}

async function finalize(
  partial: BTreesPartial,
  state: BTreesState,
  context: FinalizeContext,
): Promise<FinalizeOutcome<BTreesState, BTreesResult>> {
  const passes = state.passes + 1;
  if (state.phase === 'prelude') {
    return finishPreludePass(
      partial as PreludePartial,
      state,
      passes,
      (s, done) => ({ ...s, phase: 'grow', fit: startFit(s, done) }),
      {
        sketch: 'sketching the predictors',
        grow: 'boosting: tree 1',
      },
    );
  }
  const fit = state.fit as Fit;
  if (state.phase === 'grow') {
    if ((partial as BTreesPartial).kind === 'boosted') {
      const boosted = (partial as BTreesPartial & { kind: 'boosted' }).fit;
      if (boosted.iteration >= state.options.nTree)
        return { done: true, result: await buildResult({ ...state, passes }, boosted, context) };
      return {
        done: false,
        state: { ...state, passes, fit: boosted },
        message: `boosting: tree ${boosted.iteration + 1} of ${state.options.nTree}`,
      };
    }
    const store = await parentBlocks(context.io, state.nonce);
    await finalizeGrow(partial as BTreesPartial & { kind: 'grow' }, state, fit, store);
    if (fit.iteration < state.options.nTree) {
      return {
        done: false,
        state: { ...state, passes, fit },
        message: `boosting: tree ${fit.iteration + 1} of ${state.options.nTree}, level ${fit.level + 1}`,
      };
    }
    return {
      done: false,
      state: { ...state, passes, phase: 'final', fit },
      message: 'training loss of the last tree',
    };
  }
  const last = partial as BTreesPartial & { kind: 'loss' };
  fit.trainLoss.push(last.weight > 0 ? last.loss / last.weight : null);
  return { done: true, result: await buildResult({ ...state, passes }, fit, context) };
}

/**
 * Tree-rows (rows x trees) a local round grows before it reports back: about a second of work, so
 * progress moves, a cancel is seen and a retried round repeats little. Fixed, not timed, so the rounds
 * (and the `passes` of the result) are the same on every machine.
 */
const LOCAL_TREE_ROWS_PER_ROUND = 20_000_000;

/**
 * A local round (trees/localData.ts): the next iterations grown in this task on the whole input. The
 * per-row work runs in fixed parts of the rows, on all cores (trees/boostRunner.ts): each part keeps
 * its sampled rows in node order (trees/orderedRows.ts) and builds the open nodes' histograms from
 * them; the parts' sums go through the same split step as a level pass (finalizeGrow), with the
 * parents' blocks for histogram subtraction kept in memory.
 */
async function boostLocally(state: BTreesState, context: MapContext): Promise<BTreesPartial> {
  // A copy: the worker caches the round's state, and a retry of this task must start from it as it was.
  const fit = structuredClone(state.fit as Fit);
  const { options } = state;
  const bins = fit.prelude.bins;
  const prepared = await preparedInput(state, bins, context.readInput);
  const missing = missingCodes(bins);
  const store = memoryBlocks(`${state.nonce}/local`);
  const perRound = Math.max(
    1,
    Math.floor(LOCAL_TREE_ROWS_PER_ROUND / Math.max(1, fit.prelude.usedRows * fit.classes)),
  );
  const last = Math.min(options.nTree, fit.iteration + perRound);
  const { stride, featureOffset } = layoutOf(fit, 1);
  const runner = boostRunner(localInput(prepared, state, fit, missing), await rowKernelModule());
  const scratch = { full: new Float64Array(0) };
  try {
    while (fit.iteration < last) {
      const iteration = fit.iteration;
      const trees = fit.current;
      const { loss, weight } = await runner.start(iteration, true);
      let split: number[][] = trees.map(() => []);
      while (fit.iteration === iteration) {
        const pass = passOf(fit);
        const built = builtSlots(trees, pass).map(({ tree, node }) => ({ tree, node }));
        const work = { walkers: trees.map(treeWalker), split, built, stride, featureOffset };
        const hist = await runner.level(work, layoutOf(fit, built.length).size);
        const first = fit.level === 0;
        const partial = { kind: 'grow' as const, hist, loss: first ? loss : 0, weight: first ? weight : 0 };
        await finalizeGrow(partial, state, fit, store, scratch);
        // The nodes this pass split hand their rows to their children at the next level.
        split = trees.map((tree, c) =>
          pass.slots.filter((s) => s.tree === c && (tree.feature[s.node] as number) >= 0).map((s) => s.node),
        );
      }
      // The last level's splits stay pending: their children are leaves (OrderedRows.addLeafValues).
      await runner.finish(
        trees.map(treeWalker),
        trees.map((tree) => leafValues(options, tree)),
      );
      (prepared.derived.get('scores') as Scores).applied = fit.trees.length;
      if (!(await (context.stillRunning?.() ?? true))) break;
    }
    await store.clear();
    if (fit.iteration >= options.nTree) {
      // The loss after the last iteration (what the level passes' last pass adds).
      const { loss, weight } = await runner.start(fit.iteration, false);
      fit.trainLoss.push(weight > 0 ? loss / weight : null);
    }
  } finally {
    runner.close();
  }
  return { kind: 'boosted', fit };
}

/** Each leaf's value (0 for split nodes). */
function leafValues(options: Options, tree: GrowTree): Float64Array {
  const values = new Float64Array(tree.feature.length);
  for (let node = 0; node < values.length; node++)
    if ((tree.feature[node] as number) < 0) values[node] = leafValue(options, tree.stats[node] as number[]);
  return values;
}

/**
 * A local round's input: the prepared input's arrays and the scores (brought up to date), all in
 * shared memory (localData.ts, rowKeysOf, scoresOf), so the boosting threads read and write them in
 * place.
 */
function localInput(prepared: PreparedChunk, state: BTreesState, fit: Fit, missing: Int32Array): BoostInput {
  return {
    ...gradientInput(prepared, state, fit, missing),
    rowCodes: rowCodesOf(prepared),
    p: fit.prelude.bins.length,
    missing,
  };
}

async function buildResult(state: BTreesState, fit: Fit, context: FinalizeContext): Promise<BTreesResult> {
  const { data, options } = state;
  const warnings = new Warnings();
  const body: BTreesModelBody = {
    kind: 'bTrees',
    lossFunction: options.lossFunction,
    response: { name: data.response.name, levels: data.response.levels },
    features: treeFeatures(data),
    initPred: fit.initPred,
    classes: fit.classes,
    trees: fit.trees.map(withoutBins),
  };
  const model = await context.io.saveModel({ type: 'bTrees', formula: data.formula, body });
  const treeSizes: number[] = [];
  fit.trees.forEach((tree, t) => {
    const iteration = Math.floor(t / fit.classes);
    const leaves = tree.feature.filter((f) => f < 0).length;
    treeSizes[iteration] = (treeSizes[iteration] ?? 0) + leaves;
  });
  const total = fit.importance.reduce((a, b) => a + b, 0);
  const trainLoss = fit.trainLoss.map((loss) => (loss === null ? null : finiteOrNull(loss)));
  if (trainLoss.some((loss) => loss === null)) warnings.add('some training losses are not finite');
  return {
    lossFunction: options.lossFunction,
    formula: data.formula,
    response: data.response.name,
    ...(data.response.levels !== null ? { levels: data.response.levels } : {}),
    nObs: fit.prelude.numObs,
    nMissing: fit.prelude.rows - fit.prelude.usedRows,
    nTree: options.nTree,
    initPred: fit.initPred,
    trainLoss,
    treeSizes,
    variableImportance: data.features
      .map((feature, f) => ({
        variable: feature.name,
        importance: fit.importance[f] as number,
        percent: total > 0 ? (100 * (fit.importance[f] as number)) / total : 0,
      }))
      .filter((v) => v.importance > 0)
      .sort((a, b) => b.importance - a.importance),
    params: {
      learningRate: options.learningRate,
      maxDepth: options.maxDepth,
      minSplit: fit.minSplit,
      minBucket: fit.minBucket,
      sampRate: options.sampRate,
      replace: options.replace,
      seed: options.seed,
      lambda: options.lambda,
      maxNumBins: fit.prelude.maxNumBins,
    },
    features: resultFeatures(data),
    passes: state.passes,
    modelId: model.id,
    warnings: warnings.list(),
  };
}

export const bTrees = {
  name: 'bTrees',
  paramsSchema: BTreesParamsSchema,
  resultSchema: BTreesResultSchema,
  init,
  columnsUsed,
  map,
  merge,
  finalize,
  roundInput: (state) =>
    state.phase === 'grow' && state.fit?.local ? { kind: 'partitions', count: 1 } : null,
  mapPartition: (_p, state, context) => boostLocally(state, context),
} satisfies Analysis<BTreesParams, BTreesState, BTreesPartial, BTreesResult>;
