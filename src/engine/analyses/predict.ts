import type { Vector } from 'apache-arrow';
import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import type { Analysis, Chunk, FinalizeContext, InitContext, MapContext } from '../analysis.ts';
import { describeTable, mergeStats, type VarStats, withStats } from '../dataOps/outputStats.ts';
import { EngineError } from '../errors.ts';
import { lookupVariable } from '../formula/index.ts';
import { outputTable } from '../models/scoredColumns.ts';
import {
  PredictOptionProperties,
  predictOptionsOf,
  type ScorerPlan,
  scorerFor,
  scorerOfType,
  unseenLevelsWarning,
} from '../models/scorers.ts';
import { checkParams, Warnings } from '../params.ts';

/**
 * rxPredict for every stored model kind predict scores (models/scorers.ts: linMod, logit, glm,
 * kmeans, naiveBayes, dTree, dForest, bTrees): the job's dataset is the data to score; the output is a new dataset, chunk for
 * chunk, with the `extraVarsToWrite` (and the model's own variables with `writeModelVars`) copied
 * through, then the prediction columns of the model's kind:
 *
 * - linear models: `<y>_Pred`, and on request `_Resid`, `_StdErr`, `_Lower` / `_Upper` (models/score.ts:
 *   the model's own stored plan builds X, so dummy coding and level lists are those of training);
 * - kmeans: `.rxCluster`, the number of the nearest center (rxKmeans' outFile column);
 * - naiveBayes: `<y>_Pred` (type 'class') or `<level>_prob` per class (type 'prob');
 * - trees: `<y>_Pred`, `<level>_prob`, `<level>_vote`, `<y>_prob` by kind and type (models/treeScorer.ts).
 *
 * Options that do not apply to the model's kind are refused (400 naming them; the table is in
 * models/scorers.ts). Factor levels are matched by label; a level training never saw is counted in
 * `nUnseenLevels` (linear models: no prediction for the row; naiveBayes: that predictor is skipped).
 * The same scorers serve the synchronous POST /v1/models/{id}/predict.
 *
 * One pass: `map` scores a chunk and writes it (idempotent, as chunk tasks must be); `finalize`
 * publishes the chunks as one dataset with exact low/high/missing (outputStats.ts).
 */

export const PredictParamsSchema = Type.Object(
  {
    modelId: Type.String({ minLength: 1, description: 'The model to score with (`mdl_...`).' }),
    outName: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: 'Name of the new dataset.' }),
    ),
    ...PredictOptionProperties,
    extraVarsToWrite: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 1000,
        description: 'Variables of the data copied into the output, before the predictions.',
      }),
    ),
    writeModelVars: Type.Optional(
      Type.Boolean({ default: false, description: "Also copy the model's variables into the output." }),
    ),
    blocksPerRead: Type.Optional(
      Type.Integer({ minimum: 1, description: 'Accepted for RevoScaleR compatibility.' }),
    ),
    reportProgress: Type.Optional(
      Type.Integer({ minimum: 0, maximum: 3, description: 'Accepted; progress is on the job.' }),
    ),
  },
  { additionalProperties: false },
);
export type PredictParams = Static<typeof PredictParamsSchema>;

export const PredictResultSchema = Type.Object({
  dataset: Type.Record(Type.String(), Type.Unknown(), {
    description: 'The new dataset (as GET /v1/datasets/{id})',
  }),
  modelId: Type.String(),
  /** Output prediction columns, in order. */
  predictionVariables: Type.Array(Type.String()),
  nRows: Type.Integer({ description: 'Rows scored (= rows of the new dataset)' }),
  nPredicted: Type.Integer({ description: 'Rows with a prediction' }),
  nMissingObs: Type.Integer({
    description:
      'Rows without one, not for an unseen level: a model variable (or y, with residuals) is missing; naiveBayes: every class has probability 0',
  }),
  nUnseenLevels: Type.Integer({
    description:
      'Rows with a factor level not seen in training: linear models give them no prediction; naiveBayes leaves that predictor out',
  }),
  warnings: Type.Array(Type.String()),
});
export type PredictResult = Static<typeof PredictResultSchema>;

/** Job folder of the output dataset. */
const OUTPUT = 'out';

export interface PredictState {
  modelId: string;
  /** The model's type: its scorer (models/scorers.ts). */
  modelType: string;
  plan: ScorerPlan;
  outName: string;
  /** Variables copied from the input, as the input's meta describes them. */
  copied: VarInfo[];
  /** Every output variable, copied ones first (low/high/missing filled in at publish time). */
  outputs: VarInfo[];
  /** Rows with an unseen level still get a prediction (the scorer's `scoresUnseenLevels`). */
  scoresUnseenLevels: boolean;
  warnings: string[];
  rowsPerChunk: number;
}

export interface PredictPartial {
  /** Rows per chunk, in chunk order (rowSelection may have changed them). */
  chunkRows: number[];
  predicted: number;
  unseenLevels: number;
  stats: VarStats[];
}

function init(params: PredictParams, meta: DatasetMeta, context: InitContext): PredictState {
  checkParams(PredictParamsSchema, params, 'predict');
  const stored = context.models?.get(params.modelId);
  if (stored === undefined) throw new Error(`predict: model ${params.modelId} was not loaded for init`);
  const options = predictOptionsOf(params);
  const scorer = scorerFor(stored, options);
  const plan = scorer.plan(stored.body, meta.variables, options);
  const present = new Set(meta.variables.map((v) => v.name));
  const copiedNames = [
    ...(params.extraVarsToWrite ?? []),
    ...(params.writeModelVars
      ? scorer
          .variables(stored.body)
          .map((v) => v.name)
          .filter((v) => present.has(v))
      : []),
  ];
  const copied: VarInfo[] = [];
  for (const name of new Set(copiedNames)) copied.push(lookupVariable(meta, name));
  const predictions = scorer.outputs(plan);
  const all = [...copied, ...predictions].map((v) => v.name);
  const duplicate = all.find((name, i) => all.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new EngineError(
      'DUPLICATE_VARIABLE',
      `the output would have two columns named '${duplicate}': leave it out of extraVarsToWrite or rename the predictions with predVarNames`,
      400,
      { variable: duplicate },
    );
  }
  return {
    modelId: stored.id,
    modelType: stored.type,
    plan,
    outName: params.outName ?? `${meta.name}_predictions`,
    copied,
    outputs: [...copied, ...predictions],
    scoresUnseenLevels: scorer.scoresUnseenLevels,
    warnings: scorer.warnings(plan),
    rowsPerChunk: meta.rowsPerChunk,
  };
}

function columnsUsed(state: PredictState): string[] {
  const names = new Set<string>(state.copied.map((v) => v.name));
  for (const v of scorerOfType(state.modelType).columns(state.plan)) names.add(v);
  return [...names];
}

async function map(chunk: Chunk, state: PredictState, context: MapContext): Promise<PredictPartial> {
  const scored = scorerOfType(state.modelType).score(state.plan, chunk.table);
  const copied = state.copied.map((variable): { name: string; vector: Vector } => {
    const vector = chunk.table.getChild(variable.name);
    if (vector === null) throw new Error(`predict: column '${variable.name}' missing from the chunk`);
    return { name: variable.name, vector };
  });
  const table = outputTable(copied, scored);
  await context.io.writeChunk(OUTPUT, chunk.index, table);
  return {
    chunkRows: [chunk.table.numRows],
    predicted: scored.scored,
    unseenLevels: scored.unseenLevels,
    stats: describeTable(table, state.outputs),
  };
}

function merge(a: PredictPartial, b: PredictPartial): PredictPartial {
  return {
    chunkRows: [...a.chunkRows, ...b.chunkRows],
    predicted: a.predicted + b.predicted,
    unseenLevels: a.unseenLevels + b.unseenLevels,
    stats: mergeStats(a.stats, b.stats),
  };
}

async function finalize(
  partial: PredictPartial,
  state: PredictState,
  context: FinalizeContext,
): Promise<{ done: true; result: PredictResult }> {
  const numRows = partial.chunkRows.reduce((s, n) => s + n, 0);
  const meta = await context.io.publish(OUTPUT, {
    name: state.outName,
    numRows,
    numChunks: partial.chunkRows.length,
    rowsPerChunk: state.rowsPerChunk,
    chunkRows: partial.chunkRows,
    source: 'predict',
    variables: withStats(state.outputs, partial.stats),
  });
  const warnings = new Warnings();
  if (partial.unseenLevels > 0)
    warnings.add(unseenLevelsWarning(partial.unseenLevels, state.scoresUnseenLevels));
  for (const warning of state.warnings) warnings.add(warning);
  const { tenant: _tenant, ...dataset } = meta;
  return {
    done: true,
    result: {
      dataset: { ...dataset, numVars: meta.variables.length },
      modelId: state.modelId,
      predictionVariables: state.outputs.slice(state.copied.length).map((v) => v.name),
      nRows: numRows,
      nPredicted: partial.predicted,
      nMissingObs: numRows - partial.predicted - (state.scoresUnseenLevels ? 0 : partial.unseenLevels),
      nUnseenLevels: partial.unseenLevels,
      warnings: warnings.list(),
    },
  };
}

export const predict = {
  name: 'predict',
  paramsSchema: PredictParamsSchema,
  resultSchema: PredictResultSchema,
  init,
  modelInputs: (params: PredictParams) => [params.modelId],
  columnsUsed,
  map,
  merge,
  finalize,
} satisfies Analysis<PredictParams, PredictState, PredictPartial, PredictResult>;
