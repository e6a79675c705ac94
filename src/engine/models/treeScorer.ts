import type { Table } from 'apache-arrow';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import { isNumericLike } from '../formula/index.ts';
import type { ModelVariable } from './jsonRows.ts';
import type { ScoredChunk, ScoredColumn } from './scoredColumns.ts';
import { scoredVarInfo } from './scoredColumns.ts';
import type { PredictOptions, PredictType, Scorer } from './scorers.ts';
import {
  type BTreesModelBody,
  type DForestModelBody,
  type DTreeModelBody,
  predictTrees,
  readLevelCodes,
  type TreeModelBody,
  type TreeModelFeature,
} from './treeScore.ts';

/**
 * The predict scorers of rxDTree, rxDForest and rxBTrees models (one per kind, for the types each
 * accepts; the walking itself is treeScore.ts). Output columns, as rxPredict names them:
 *
 * | model              | type                         | columns                                  |
 * |--------------------|------------------------------|------------------------------------------|
 * | dTree / dForest anova | 'response' (default)      | `<y>_Pred` (the leaf mean / mean over trees) |
 * | dTree / dForest class | 'response' = 'class' (default) | `<y>_Pred`, the class (factor)      |
 * | dTree / dForest class | 'prob'                    | `<level>_prob` per class                 |
 * | dForest class      | 'vote'                       | `<level>_vote` per class, the share of trees ([inferred] name) |
 * | bTrees gaussian    | 'response' (default), 'link' | `<y>_Pred`                               |
 * | bTrees bernoulli   | 'response' (default)         | `<y>_prob`, P(y = 1 / the second level) (REVOSCALER.md: `Kyphosis_prob`) |
 * | bTrees bernoulli   | 'link'                       | `<y>_Pred`, the log-odds score           |
 * | bTrees multinomial | 'response' (default)         | `<level>_prob` per class, then `<y>_Pred` the class |
 * | bTrees multinomial | 'link'                       | `<level>_link` per class, the scores ([inferred] name) |
 *
 * `predVarNames` renames them, one name per column. Trees send a missing value down the branch training
 * chose for missing values, so every row is scored; a factor level training never saw is read as
 * missing (counted in `unseenLevels`, the row still scored).
 */

/** A plain-JSON plan: the body itself (workers only get the plan) and the resolved outputs. */
interface TreeScoringPlan {
  body: TreeModelBody;
  type: PredictType;
  outputs: Array<Pick<ScoredColumn, 'name' | 'type' | 'levels'>>;
}

type Kind = TreeModelBody['kind'];

function isTreeBody(kind: Kind) {
  return (body: unknown): body is TreeModelBody => {
    if (typeof body !== 'object' || body === null) return false;
    const b = body as Record<string, unknown>;
    return b['kind'] === kind && Array.isArray(b['features']) && typeof b['response'] === 'object';
  };
}

/** The dataset variable a feature reads, and how (factor levels, or numbers). */
function featureInput(feature: TreeModelFeature): { name: string; levels: string[] | null } | null {
  const source = feature.source;
  switch (source.kind) {
    case 'variable':
      return { name: source.name, levels: source.role === 'factor' ? source.levels : null };
    case 'N':
      return { name: source.variable, levels: source.levels };
    case 'F':
      return { name: source.variable, levels: source.of === 'factor' ? (source.variableLevels ?? []) : null };
    case 'expression':
      return null;
  }
}

/** The model's dataset variables (predictors, then the response), typed as the body knows them. */
function treeVariables(body: TreeModelBody): ModelVariable[] {
  const out = new Map<string, ModelVariable>();
  for (const feature of body.features) {
    const input = featureInput(feature);
    if (input === null || out.has(input.name)) continue;
    out.set(
      input.name,
      input.levels === null
        ? { name: input.name, type: 'numeric' }
        : { name: input.name, type: 'factor', levels: input.levels },
    );
  }
  const response = body.response;
  if (!out.has(response.name))
    out.set(
      response.name,
      response.levels === null
        ? { name: response.name, type: 'numeric' }
        : { name: response.name, type: 'factor', levels: response.levels },
    );
  return [...out.values()];
}

function predictors(body: TreeModelBody): ModelVariable[] {
  const names = new Set(body.features.map((f) => featureInput(f)?.name));
  return treeVariables(body).filter((v) => names.has(v.name));
}

/** 422 when the data lack a predictor or hold it as the wrong kind (factor vs number). */
function checkData(body: TreeModelBody, data: readonly VarInfo[]): void {
  const byName = new Map(data.map((v) => [v.name, v]));
  const needed = predictors(body);
  const missing = needed.filter((v) => !byName.has(v.name)).map((v) => v.name);
  if (missing.length > 0) {
    throw new EngineError(
      'MISSING_VARIABLES',
      `the data to score lacks the model variable${missing.length === 1 ? '' : 's'} ${missing.map((m) => `'${m}'`).join(', ')}`,
      422,
      { missing },
    );
  }
  const wrong: Array<{ variable: string; model: string; data: string }> = [];
  for (const v of needed) {
    const info = byName.get(v.name) as VarInfo;
    const ok =
      v.type === 'factor' ? info.type === 'factor' || info.type === 'string' : isNumericLike(info.type);
    if (!ok)
      wrong.push({ variable: v.name, model: v.type === 'factor' ? 'a factor' : 'numbers', data: info.type });
  }
  if (wrong.length > 0) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `the data to score has ${wrong.map((w) => `'${w.variable}' as ${w.data} where the model was fitted on ${w.model}`).join('; ')}`,
      422,
      { variables: wrong },
    );
  }
}

function refuseType(type: string, what: string, use: string): never {
  throw new EngineError('INVALID_PARAMS', `type '${type}' does not apply to ${what}; use ${use}`, 400, {
    param: 'type',
  });
}

/** Output columns of a dTree or dForest body for `type`. */
function forestOutputs(
  body: DTreeModelBody | DForestModelBody,
  type: PredictType,
): TreeScoringPlan['outputs'] {
  const y = body.response.name;
  const levels = body.response.levels ?? [];
  const what = `a${body.method === 'anova' ? 'n anova' : ' class'} ${body.kind} model`;
  if (body.method === 'anova') {
    if (type !== 'response') refuseType(type, what, "'response'");
    return [{ name: `${y}_Pred`, type: 'numeric' }];
  }
  if (type === 'prob') return levels.map((level) => ({ name: `${level}_prob`, type: 'numeric' }));
  if (type === 'vote') return levels.map((level) => ({ name: `${level}_vote`, type: 'numeric' }));
  return [{ name: `${y}_Pred`, type: 'factor', levels }];
}

function boostedOutputs(body: BTreesModelBody, type: PredictType): TreeScoringPlan['outputs'] {
  const y = body.response.name;
  if (body.lossFunction === 'gaussian') return [{ name: `${y}_Pred`, type: 'numeric' }];
  if (body.lossFunction === 'bernoulli')
    return [{ name: type === 'link' ? `${y}_Pred` : `${y}_prob`, type: 'numeric' }];
  const levels = body.response.levels ?? [];
  if (type === 'link') return levels.map((level) => ({ name: `${level}_link`, type: 'numeric' }));
  return [
    ...levels.map((level): TreeScoringPlan['outputs'][number] => ({
      name: `${level}_prob`,
      type: 'numeric',
    })),
    { name: `${y}_Pred`, type: 'factor', levels },
  ];
}

function planTrees(body: TreeModelBody, data: readonly VarInfo[], options: PredictOptions): TreeScoringPlan {
  // 'class' is rxPredict's synonym of 'response' for class trees and forests.
  const type: PredictType =
    options.type === undefined || options.type === 'class' ? 'response' : options.type;
  let outputs = body.kind === 'bTrees' ? boostedOutputs(body, type) : forestOutputs(body, type);
  const names = options.predVarNames;
  if (names !== undefined) {
    if (names.length !== outputs.length) {
      throw new EngineError(
        'INVALID_PARAMS',
        `predVarNames has ${names.length} name${names.length === 1 ? '' : 's'}; this ${body.kind} model writes ${outputs.length} column${outputs.length === 1 ? '' : 's'} (${outputs.map((o) => o.name).join(', ')})`,
        400,
        { param: 'predVarNames', columns: outputs.map((o) => o.name) },
      );
    }
    outputs = outputs.map((o, j) => ({ ...o, name: names[j] as string }));
  }
  checkData(body, data);
  return { body, type, outputs };
}

/** Rows whose value of a factor predictor is present but not a training level. */
function countUnseen(body: TreeModelBody, table: Table): number {
  const n = table.numRows;
  let flags: Uint8Array | null = null;
  for (const variable of predictors(body)) {
    if (variable.type !== 'factor') continue;
    const vector = table.getChild(variable.name);
    if (vector === null) continue;
    const codes = readLevelCodes(table, variable.name, variable.levels ?? []);
    for (let i = 0; i < n; i++) {
      if (!Number.isNaN(codes[i] as number) || !vector.isValid(i)) continue;
      if (flags === null) flags = new Uint8Array(n);
      flags[i] = 1;
    }
  }
  let count = 0;
  if (flags !== null) for (let i = 0; i < n; i++) count += flags[i] as number;
  return count;
}

function scoreTrees(plan: TreeScoringPlan, table: Table): ScoredChunk {
  const n = table.numRows;
  const p = predictTrees(plan.body, table, plan.type);
  // The values in output order: per-class columns first, then a class or a single value.
  const values: Array<Float64Array | Int32Array> = [];
  if (p.perClass !== null && plan.outputs.some((o) => o.type === 'numeric')) values.push(...p.perClass);
  if (p.classIndex !== null && plan.outputs.some((o) => o.type === 'factor')) values.push(p.classIndex);
  if (p.value !== null) values.push(p.value);
  const columns = plan.outputs.map((o, j): ScoredColumn => {
    const v = values[j];
    if (v === undefined) throw new Error(`tree scoring gave no values for output '${o.name}'`);
    return { ...o, values: v, valid: null };
  });
  return { numRows: n, columns, scored: n, unseenLevels: countUnseen(plan.body, table) };
}

function treeScorer(kind: Kind, types: readonly PredictType[]): Scorer<TreeModelBody, TreeScoringPlan> {
  return {
    options: ['type', 'predVarNames'],
    types,
    scoresUnseenLevels: true,
    isBody: isTreeBody(kind),
    variables: treeVariables,
    plan: planTrees,
    columns: (plan) => predictors(plan.body).map((v) => v.name),
    outputs: (plan) => plan.outputs.map(scoredVarInfo),
    score: scoreTrees,
    warnings: () => [],
  };
}

export const dTreeScorer = treeScorer('dTree', ['response', 'class', 'prob']);
export const dForestScorer = treeScorer('dForest', ['response', 'class', 'prob', 'vote']);
export const bTreesScorer = treeScorer('bTrees', ['response', 'link']);

// ---------------------------------------------------------------------------------------------------
// GET /v1/models/{id}: a compact description of a tree model

export interface TreeNodeView {
  /** rpart's node number (dTree), else the node's index. */
  node: number;
  /** The split, as the condition sending rows to the first child (`x < 3.5`, `g in {a,c}`); null at a leaf. */
  split: string | null;
  /** Children's node numbers (first = the split's condition holds); null at a leaf. */
  children: [number, number] | null;
  /** Where missing values go: 'first' or 'second' child; null at a leaf. */
  missing: 'first' | 'second' | null;
  /** Class trees: the class label; anova trees: the mean. */
  yval: number | string;
  /** Class trees: the class probabilities, in level order. */
  prob?: number[];
}

export interface TreeModelView {
  kind: Kind;
  /** dTree/dForest: 'class' or 'anova'; bTrees: the loss function. */
  method: string;
  nTree: number;
  /** Predictors some split of some tree uses, in predictor order. */
  variablesUsed: string[];
  /** dTree: every node of the tree, in the body's order. */
  nodes?: TreeNodeView[];
}

function isTreeModelBody(body: unknown): body is TreeModelBody {
  return isTreeBody('dTree')(body) || isTreeBody('dForest')(body) || isTreeBody('bTrees')(body);
}

function levelsIn(words: readonly number[], levels: readonly string[]): string[] {
  return levels.filter((_, code) => (((words[code >> 5] ?? 0) >>> (code & 31)) & 1) === 1);
}

function dTreeNodes(body: DTreeModelBody): TreeNodeView[] {
  const tree = body.tree;
  const number = (i: number): number => tree.nodeNum?.[i] ?? i;
  const levels = body.response.levels;
  const k = levels?.length ?? 0;
  return tree.feature.map((f, i): TreeNodeView => {
    const value = tree.value[i] as number;
    const base = {
      node: number(i),
      yval: body.method === 'class' && levels !== null ? (levels[value] ?? value) : value,
      ...(body.method === 'class' && tree.prob !== undefined
        ? { prob: tree.prob.slice(i * k, (i + 1) * k) }
        : {}),
    };
    const feature = body.features[f];
    if (f < 0 || feature === undefined) return { ...base, split: null, children: null, missing: null };
    const threshold = tree.threshold[i] as number;
    const split =
      feature.kind === 'factor'
        ? `${feature.name} in {${levelsIn(tree.levelSets[threshold] ?? [], feature.levels ?? []).join(',')}}`
        : `${feature.name} < ${threshold}`;
    return {
      ...base,
      split,
      children: [number(tree.lo[i] as number), number(tree.hi[i] as number)],
      missing: tree.missingLo[i] === 1 ? 'first' : 'second',
    };
  });
}

/** The fields of GET /v1/models/{id} for a tree model body; null for any other body. */
export function treeModelView(body: unknown): {
  terms: string[];
  responses: string[];
  factorLevels: Record<string, string[]>;
  variables: ModelVariable[];
  tree: TreeModelView;
} | null {
  if (!isTreeModelBody(body)) return null;
  const trees = body.kind === 'dTree' ? [body.tree] : body.trees;
  const used = new Set<number>();
  for (const tree of trees) for (const f of tree.feature) if (f >= 0) used.add(f);
  const factorLevels: Record<string, string[]> = {};
  for (const f of body.features)
    if (f.kind === 'factor' && f.levels !== null) factorLevels[f.name] = f.levels;
  return {
    terms: body.features.map((f) => f.name),
    responses: [body.response.name],
    factorLevels,
    variables: treeVariables(body),
    tree: {
      kind: body.kind,
      method: body.kind === 'bTrees' ? body.lossFunction : body.method,
      nTree: trees.length,
      variablesUsed: body.features.filter((_, f) => used.has(f)).map((f) => f.name),
      ...(body.kind === 'dTree' ? { nodes: dTreeNodes(body) } : {}),
    },
  };
}
