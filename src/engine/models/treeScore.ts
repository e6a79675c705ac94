import { type Data, DataType, type Table } from 'apache-arrow';
import { readNumeric, readStrings, usableMask } from '../columns.ts';
import { EngineError } from '../errors.ts';
import type { TermSource } from '../formula/index.ts';

/**
 * Scoring of the tree models that rxDTree, rxDForest and rxBTrees store: pure functions from a model
 * body and one chunk (an Arrow Table) to predictions, for the `predict` job and the synchronous
 * predict endpoint.
 *
 * A tree is a set of parallel arrays (`CompactTree`), walked by a tight loop over one Float64Array per
 * predictor: numeric values (NaN = missing) or factor level codes as numbers (NaN = missing or a level
 * the model never saw). A split node sends a row to `lo` when its value is below `threshold` (numeric)
 * or its level is in the node's level set (factor), to `hi` otherwise, and a missing value where
 * `missingLo` says. Training walks the same trees over bin codes (trees/growTree.ts); the thresholds
 * are chosen so both walks agree on every training row.
 */

export interface TreeModelFeature {
  /** The term's label: `x`, `F_x`, `N(g)`. */
  name: string;
  /** How the term reads the data (formula/termColumns.ts), so predict reads new data the same way. */
  source: TermSource;
  kind: 'numeric' | 'factor';
  /** Factor predictors: the training levels (codes index these). */
  levels: string[] | null;
}

export interface CompactTree {
  /** Split predictor per node; -1 = leaf. */
  feature: number[];
  /** Numeric split: values < threshold go lo. Factor split: index of its set in `levelSets`. */
  threshold: number[];
  lo: number[];
  hi: number[];
  /** 1 = missing values go lo. */
  missingLo: number[];
  /** Bitsets (32-bit words) of the levels going lo, for factor splits. */
  levelSets: number[][];
  /** Leaf value: the class index (class trees), the mean (anova), or the step added to the score (boosting). */
  value: number[];
  /** Class trees: class probabilities of every node, `classes` per node. */
  prob?: number[];
  /** dTree: rpart's node number of every node. */
  nodeNum?: number[];
}

export interface TreeModelResponse {
  name: string;
  /** Class levels (classification, multinomial, bernoulli on a factor); null for a numeric response. */
  levels: string[] | null;
}

export interface DTreeModelBody {
  kind: 'dTree';
  method: 'class' | 'anova';
  response: TreeModelResponse;
  features: TreeModelFeature[];
  tree: CompactTree;
}

export interface DForestModelBody {
  kind: 'dForest';
  method: 'class' | 'anova';
  response: TreeModelResponse;
  features: TreeModelFeature[];
  trees: CompactTree[];
}

export interface BTreesModelBody {
  kind: 'bTrees';
  lossFunction: 'gaussian' | 'bernoulli' | 'multinomial';
  response: TreeModelResponse;
  features: TreeModelFeature[];
  /** Initial score per class (one for gaussian and bernoulli). */
  initPred: number[];
  /** Scores per class: tree m * classes + k adds its leaf value to class k's score. */
  classes: number;
  trees: CompactTree[];
}

export type TreeModelBody = DTreeModelBody | DForestModelBody | BTreesModelBody;

// ---------------------------------------------------------------------------------------------------
// Reading predictors from new data

function batchesOf(table: Table, name: string): readonly Data[] {
  const vector = table.getChild(name);
  if (vector === null) {
    throw new EngineError(
      'UNKNOWN_VARIABLE',
      `the model needs variable '${name}', which the data do not have`,
      400,
      { variable: name },
    );
  }
  return vector.data;
}

/**
 * Codes of `name` into `levels` by level text (NaN = missing or a level not in `levels`), whatever the
 * column's own dictionary: new data may order, add or lack levels. String columns are read as labels.
 */
export function readLevelCodes(table: Table, name: string, levels: readonly string[]): Float64Array {
  const index = new Map(levels.map((level, i) => [level, i]));
  const out = new Float64Array(table.numRows).fill(Number.NaN);
  const batches = batchesOf(table, name);
  if (batches.some((d) => DataType.isUtf8(d.type))) {
    readStrings(table, name).forEach((s, i) => {
      if (s !== null) out[i] = index.get(s) ?? Number.NaN;
    });
    return out;
  }
  let at = 0;
  for (const data of batches) {
    const length = data.length;
    if (DataType.isNull(data.type)) {
      at += length;
      continue;
    }
    if (!DataType.isDictionary(data.type) || data.dictionary === undefined) {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `variable '${name}' is a factor in the model but not in the data`,
        422,
        { variable: name },
      );
    }
    const dictionary = data.dictionary;
    const map = new Float64Array(dictionary.length);
    for (let k = 0; k < dictionary.length; k++) map[k] = index.get(String(dictionary.get(k))) ?? Number.NaN;
    const raw = data.values as ArrayLike<number | bigint>;
    const bitmap = data.nullCount > 0 ? data.nullBitmap : undefined;
    for (let i = 0; i < length; i++) {
      if (bitmap !== undefined && bitmap !== null) {
        const bit = data.offset + i;
        if ((((bitmap[bit >> 3] ?? 0) >> (bit & 7)) & 1) === 0) continue;
      }
      out[at + i] = map[Number(raw[i])] ?? Number.NaN;
    }
    at += length;
  }
  return out;
}

function readNumericNaN(table: Table, name: string): Float64Array {
  batchesOf(table, name);
  const column = readNumeric(table, name);
  const mask = usableMask(column, table.numRows);
  const out = Float64Array.from(column.values.subarray(0, table.numRows));
  if (mask !== null) for (let i = 0; i < out.length; i++) if (mask[i] === 0) out[i] = Number.NaN;
  return out;
}

/** One predictor of new data as the trees read it: values, or level codes as numbers (NaN = missing). */
function readFeature(table: Table, feature: TreeModelFeature): Float64Array {
  const source = feature.source;
  switch (source.kind) {
    case 'variable':
      return source.role === 'factor'
        ? readLevelCodes(table, source.name, source.levels)
        : readNumericNaN(table, source.name);
    case 'N': {
      const codes = readLevelCodes(table, source.variable, source.levels);
      for (let i = 0; i < codes.length; i++) codes[i] = (codes[i] as number) + 1;
      return codes;
    }
    case 'F': {
      const { first, count, exclude } = source;
      const raw =
        source.of === 'factor'
          ? readLevelCodes(table, source.variable, source.variableLevels ?? [])
          : readNumericNaN(table, source.variable);
      const out = new Float64Array(raw.length);
      for (let i = 0; i < raw.length; i++) {
        const x = raw[i] as number;
        if (Number.isNaN(x)) {
          out[i] = Number.NaN;
          continue;
        }
        const k = (source.of === 'factor' ? x : Math.floor(x)) - first;
        out[i] = k >= 0 && k < count ? k : exclude ? Number.NaN : count;
      }
      return out;
    }
    case 'expression':
      throw new EngineError('INVALID_MODEL', 'tree models have no in-line expressions', 422);
  }
}

/** Every predictor of the model, read from `table`. */
export function readScoringColumns(table: Table, features: readonly TreeModelFeature[]): Float64Array[] {
  return features.map((feature) => readFeature(table, feature));
}

// ---------------------------------------------------------------------------------------------------
// Walking trees

/** A CompactTree as typed arrays (made once per tree and chunk). */
interface Walk {
  feature: Int32Array;
  threshold: Float64Array;
  lo: Int32Array;
  hi: Int32Array;
  missingLo: Uint8Array;
  setStart: Int32Array;
  words: Uint32Array;
  isFactor: Uint8Array;
}

function walkOf(tree: CompactTree, features: readonly TreeModelFeature[]): Walk {
  const starts: number[] = [];
  const words: number[] = [];
  for (const set of tree.levelSets) {
    starts.push(words.length);
    words.push(...set);
  }
  const size = tree.feature.length;
  const setStart = new Int32Array(size).fill(-1);
  for (let node = 0; node < size; node++) {
    const f = tree.feature[node] as number;
    if (f >= 0 && features[f]?.kind === 'factor')
      setStart[node] = starts[tree.threshold[node] as number] as number;
  }
  return {
    feature: Int32Array.from(tree.feature),
    threshold: Float64Array.from(tree.threshold),
    lo: Int32Array.from(tree.lo),
    hi: Int32Array.from(tree.hi),
    missingLo: Uint8Array.from(tree.missingLo),
    setStart,
    words: Uint32Array.from(words),
    isFactor: Uint8Array.from(features.map((f) => (f.kind === 'factor' ? 1 : 0))),
  };
}

/**
 * The leaf (node index) each row reaches in `tree`. `columns` from `readScoringColumns`.
 */
export function leafIndexes(
  tree: CompactTree,
  features: readonly TreeModelFeature[],
  columns: readonly Float64Array[],
  numRows: number,
): Int32Array {
  const w = walkOf(tree, features);
  const out = new Int32Array(numRows);
  const { feature, threshold, lo, hi, missingLo, setStart, words, isFactor } = w;
  for (let i = 0; i < numRows; i++) {
    let node = 0;
    let f = feature[0] as number;
    while (f >= 0) {
      const x = (columns[f] as Float64Array)[i] as number;
      let goLo: boolean;
      if (Number.isNaN(x)) goLo = missingLo[node] === 1;
      else if (isFactor[f] === 1) {
        const code = x | 0;
        goLo = (((words[(setStart[node] as number) + (code >> 5)] as number) >>> (code & 31)) & 1) === 1;
      } else goLo = x < (threshold[node] as number);
      node = goLo ? (lo[node] as number) : (hi[node] as number);
      f = feature[node] as number;
    }
    out[i] = node;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Predictions

export interface TreePredictions {
  numRows: number;
  /**
   * Numeric predictions: the mean (anova trees and forests), the response (gaussian boosting), the
   * probability of the second level / of 1 (bernoulli, type `response`), or the score (type `link`).
   * Null for class predictions.
   */
  value: Float64Array | null;
  /** Class predictions: index into `levels` (class trees, forests, multinomial boosting). */
  classIndex: Int32Array | null;
  levels: string[] | null;
  /** Per class: probabilities (dTree, dForest `prob`, multinomial) or vote shares (dForest `vote`). */
  perClass: Float64Array[] | null;
  /** dTree: rpart's number of each row's leaf. */
  node: Int32Array | null;
}

/** rxPredict for rxDTree: class, class probabilities and leaf, or the leaf mean. */
export function predictDTree(body: DTreeModelBody, table: Table): TreePredictions {
  const n = table.numRows;
  const columns = readScoringColumns(table, body.features);
  const leaves = leafIndexes(body.tree, body.features, columns, n);
  const tree = body.tree;
  const node = new Int32Array(n);
  const nodeNum = tree.nodeNum;
  for (let i = 0; i < n; i++)
    node[i] = nodeNum ? (nodeNum[leaves[i] as number] as number) : (leaves[i] as number);
  if (body.method === 'anova') {
    const value = new Float64Array(n);
    for (let i = 0; i < n; i++) value[i] = tree.value[leaves[i] as number] as number;
    return { numRows: n, value, classIndex: null, levels: null, perClass: null, node };
  }
  const levels = body.response.levels ?? [];
  const k = levels.length;
  const classIndex = new Int32Array(n);
  const perClass = levels.map(() => new Float64Array(n));
  const prob = tree.prob ?? [];
  for (let i = 0; i < n; i++) {
    const leaf = leaves[i] as number;
    classIndex[i] = tree.value[leaf] as number;
    for (let j = 0; j < k; j++) (perClass[j] as Float64Array)[i] = prob[leaf * k + j] as number;
  }
  return { numRows: n, value: null, classIndex, levels, perClass, node };
}

/**
 * rxPredict for rxDForest. Classification: `response` is the majority vote (ties: the first class),
 * `vote` the share of trees voting each class, `prob` the mean of the trees' leaf probabilities.
 * Regression: the mean over trees.
 */
export function predictDForest(
  body: DForestModelBody,
  table: Table,
  type: 'response' | 'prob' | 'vote' = 'response',
): TreePredictions {
  const n = table.numRows;
  const columns = readScoringColumns(table, body.features);
  const trees = body.trees.length;
  if (body.method === 'anova') {
    const value = new Float64Array(n);
    for (const tree of body.trees) {
      const leaves = leafIndexes(tree, body.features, columns, n);
      for (let i = 0; i < n; i++)
        value[i] = (value[i] as number) + (tree.value[leaves[i] as number] as number);
    }
    for (let i = 0; i < n; i++) value[i] = (value[i] as number) / trees;
    return { numRows: n, value, classIndex: null, levels: null, perClass: null, node: null };
  }
  const levels = body.response.levels ?? [];
  const k = levels.length;
  const votes = levels.map(() => new Float64Array(n));
  const probs = levels.map(() => new Float64Array(n));
  for (const tree of body.trees) {
    const leaves = leafIndexes(tree, body.features, columns, n);
    const prob = tree.prob ?? [];
    for (let i = 0; i < n; i++) {
      const leaf = leaves[i] as number;
      const vote = votes[tree.value[leaf] as number] as Float64Array;
      vote[i] = (vote[i] as number) + 1;
      for (let j = 0; j < k; j++) {
        const column = probs[j] as Float64Array;
        column[i] = (column[i] as number) + (prob[leaf * k + j] as number);
      }
    }
  }
  const classIndex = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++)
      if (((votes[j] as Float64Array)[i] as number) > ((votes[best] as Float64Array)[i] as number)) best = j;
    classIndex[i] = best;
  }
  for (const column of [...votes, ...probs])
    for (let i = 0; i < n; i++) column[i] = (column[i] as number) / trees;
  const perClass = type === 'prob' ? probs : votes;
  return { numRows: n, value: null, classIndex, levels, perClass, node: null };
}

/** Scores (link scale) of every class for every row: initPred plus the leaf values of every tree. */
export function boostedScores(
  body: BTreesModelBody,
  columns: readonly Float64Array[],
  numRows: number,
): Float64Array[] {
  const scores = body.initPred.map((init) => new Float64Array(numRows).fill(init));
  body.trees.forEach((tree, t) => {
    const score = scores[t % body.classes] as Float64Array;
    const leaves = leafIndexes(tree, body.features, columns, numRows);
    for (let i = 0; i < numRows; i++)
      score[i] = (score[i] as number) + (tree.value[leaves[i] as number] as number);
  });
  return scores;
}

/**
 * rxPredict for rxBTrees: `link` gives the score(s); `response` the prediction (gaussian), the
 * probability of 1 (bernoulli), or class probabilities and the most probable class (multinomial).
 */
export function predictBTrees(
  body: BTreesModelBody,
  table: Table,
  type: 'response' | 'link' = 'response',
): TreePredictions {
  const n = table.numRows;
  const columns = readScoringColumns(table, body.features);
  const scores = boostedScores(body, columns, n);
  if (body.lossFunction !== 'multinomial') {
    const value = scores[0] as Float64Array;
    if (body.lossFunction === 'bernoulli' && type === 'response') {
      for (let i = 0; i < n; i++) value[i] = 1 / (1 + Math.exp(-(value[i] as number)));
    }
    return { numRows: n, value, classIndex: null, levels: null, perClass: null, node: null };
  }
  const levels = body.response.levels ?? [];
  const k = levels.length;
  const classIndex = new Int32Array(n);
  if (type === 'link')
    return { numRows: n, value: null, classIndex: null, levels, perClass: scores, node: null };
  const probs = levels.map(() => new Float64Array(n));
  for (let i = 0; i < n; i++) {
    let max = Number.NEGATIVE_INFINITY;
    let best = 0;
    for (let j = 0; j < k; j++) {
      const s = (scores[j] as Float64Array)[i] as number;
      if (s > max) {
        max = s;
        best = j;
      }
    }
    let sum = 0;
    for (let j = 0; j < k; j++) sum += Math.exp(((scores[j] as Float64Array)[i] as number) - max);
    for (let j = 0; j < k; j++)
      (probs[j] as Float64Array)[i] = Math.exp(((scores[j] as Float64Array)[i] as number) - max) / sum;
    classIndex[i] = best;
  }
  return { numRows: n, value: null, classIndex, levels, perClass: probs, node: null };
}

/** Dispatch on the model kind; `type` as rxPredict's for that kind (ignored where it has no meaning). */
export function predictTrees(body: TreeModelBody, table: Table, type?: string): TreePredictions {
  switch (body.kind) {
    case 'dTree':
      return predictDTree(body, table);
    case 'dForest':
      return predictDForest(body, table, type === 'prob' || type === 'vote' ? type : 'response');
    case 'bTrees':
      return predictBTrees(body, table, type === 'link' ? 'link' : 'response');
  }
}
