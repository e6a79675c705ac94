import { type Data, Float64, makeData, makeVector, Table, type Vector } from 'apache-arrow';
import { type Static, Type } from 'typebox';
import type { DatasetMeta, VarInfo } from '../../storage/datasetMeta.ts';
import { packValidity } from '../../storage/import/arrowChunk.ts';
import type { Analysis, Chunk, FinalizeContext, InitContext, MapContext } from '../analysis.ts';
import { describeTable, mergeStats, type VarStats, withStats } from '../dataOps/outputStats.ts';
import { EngineError } from '../errors.ts';
import { lookupVariable, sourceInputs } from '../formula/index.ts';
import {
  isLinearModelBody,
  type LinearModelBody,
  predictorVariables,
  responseVariables,
} from '../models/body.ts';
import {
  defaultScoreOptions,
  type OutputNames,
  outputColumns,
  outputNames,
  planScoring,
  type ScoringPlan,
  scoreChunk,
} from '../models/score.ts';
import { checkParams, Warnings } from '../params.ts';

/**
 * rxPredict for stored linear models (linMod, logit, glm): the job's dataset is the data to score; the
 * output is a new dataset, chunk for chunk, with the prediction columns (`<y>_Pred`, and on request
 * `_Resid`, `_StdErr`, `_Lower` / `_Upper`) after the `extraVarsToWrite` copied through (and the
 * model's own variables with `writeModelVars`). Scoring is models/score.ts, shared with the
 * synchronous POST /v1/models/{id}/predict: the model's own stored plan builds X, so dummy coding and
 * level lists are those of training (levels are matched by label; a level training never saw gives a
 * missing prediction, counted in `nUnseenLevels`).
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
    computeResiduals: Type.Optional(
      Type.Boolean({ default: false, description: '`<y>_Resid` = y - prediction (needs y in the data).' }),
    ),
    computeStdErrors: Type.Optional(
      Type.Boolean({ default: false, description: '`<y>_StdErr`: standard error of the fitted value.' }),
    ),
    interval: Type.Optional(
      Type.Union([Type.Literal('none'), Type.Literal('confidence'), Type.Literal('prediction')], {
        default: 'none',
        description: '`<y>_Lower` / `<y>_Upper` (prediction intervals for linear models only).',
      }),
    ),
    confLevel: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        exclusiveMaximum: 1,
        default: 0.95,
        description: 'Interval level.',
      }),
    ),
    type: Type.Optional(
      Type.Union([Type.Literal('response'), Type.Literal('link')], {
        default: 'response',
        description: 'GLMs: predictions on the response scale or the linear predictor.',
      }),
    ),
    extraVarsToWrite: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        maxItems: 1000,
        description: 'Variables of the data copied into the output, before the predictions.',
      }),
    ),
    writeModelVars: Type.Optional(
      Type.Boolean({ default: false, description: "Also copy the model's variables into the output." }),
    ),
    predVarNames: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: 'Names of the prediction columns, one per response (default `<y>_Pred`).',
      }),
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
    description: 'Rows without one because a model variable (or y, with residuals) is missing',
  }),
  nUnseenLevels: Type.Integer({
    description: 'Rows without one because a factor level was not seen in training',
  }),
  warnings: Type.Array(Type.String()),
});
export type PredictResult = Static<typeof PredictResultSchema>;

/** Job folder of the output dataset. */
const OUTPUT = 'out';

export interface PredictState {
  modelId: string;
  body: LinearModelBody;
  scoring: ScoringPlan;
  names: OutputNames[];
  outName: string;
  /** Variables copied from the input, as the input's meta describes them. */
  copied: VarInfo[];
  /** Every output variable, copied ones first (low/high/missing filled in at publish time). */
  outputs: VarInfo[];
  rowsPerChunk: number;
}

export interface PredictPartial {
  /** Rows per chunk, in chunk order (rowSelection may have changed them). */
  chunkRows: number[];
  predicted: number;
  unseenLevels: number;
  stats: VarStats[];
}

/** The linear-model body of a stored model, or 422 for a model predict cannot score. */
export function linearBodyOf(id: string, type: string, body: unknown): LinearModelBody {
  if (!isLinearModelBody(body)) {
    throw new EngineError(
      'MODEL_NOT_SUPPORTED',
      `model '${id}' is a ${type} model, which this predict does not score (linMod, logit and glm models only)`,
      422,
      { modelId: id, type },
    );
  }
  return body;
}

function init(params: PredictParams, meta: DatasetMeta, context: InitContext): PredictState {
  checkParams(PredictParamsSchema, params, 'predict');
  const stored = context.models?.get(params.modelId);
  if (stored === undefined) throw new Error(`predict: model ${params.modelId} was not loaded for init`);
  const body = linearBodyOf(stored.id, stored.type, stored.body);
  const options = defaultScoreOptions(params);
  const scoring = planScoring(body, meta.variables, options);
  const names = outputNames(body, params.predVarNames);
  if (params.predVarNames !== undefined && params.predVarNames.length !== body.responses.length) {
    throw new EngineError(
      'INVALID_PARAMS',
      `predVarNames has ${params.predVarNames.length} names; the model has ${body.responses.length} response${body.responses.length === 1 ? '' : 's'}`,
      400,
    );
  }
  const copiedNames = [
    ...(params.extraVarsToWrite ?? []),
    ...(params.writeModelVars
      ? [...responseVariables(body.plan), ...predictorVariables(body.plan)].filter((v) =>
          meta.variables.some((info) => info.name === v),
        )
      : []),
  ];
  const copied: VarInfo[] = [];
  for (const name of new Set(copiedNames)) copied.push(lookupVariable(meta, name));
  const predictionNames = names.flatMap((n, k) =>
    outputColumns(n, {
      prediction: new Float64Array(0),
      residual: options.computeResiduals ? new Float64Array(0) : null,
      stdError: options.computeStdErrors ? new Float64Array(0) : null,
      lower: options.interval !== 'none' ? new Float64Array(0) : null,
      upper: options.interval !== 'none' ? new Float64Array(0) : null,
    }).map((c) => ({ name: c.name, response: k })),
  );
  const all = [...copied.map((v) => v.name), ...predictionNames.map((c) => c.name)];
  const duplicate = all.find((name, i) => all.indexOf(name) !== i);
  if (duplicate !== undefined) {
    throw new EngineError(
      'DUPLICATE_VARIABLE',
      `the output would have two columns named '${duplicate}': leave it out of extraVarsToWrite or rename the predictions with predVarNames`,
      400,
      { variable: duplicate },
    );
  }
  const outputs: VarInfo[] = [
    ...copied,
    ...predictionNames.map(
      (c): VarInfo => ({ name: c.name, type: 'numeric', low: null, high: null, missing: 0 }),
    ),
  ];
  return {
    modelId: stored.id,
    body,
    scoring,
    names,
    outName: params.outName ?? `${meta.name}_predictions`,
    copied,
    outputs,
    rowsPerChunk: meta.rowsPerChunk,
  };
}

function columnsUsed(state: PredictState): string[] {
  const names = new Set<string>(state.copied.map((v) => v.name));
  for (const v of predictorVariables(state.body.plan)) names.add(v);
  if (state.scoring.options.computeResiduals)
    for (const v of responseVariables(state.body.plan)) names.add(v);
  if (state.scoring.offset !== null) for (const v of sourceInputs(state.scoring.offset)) names.add(v);
  return [...names];
}

function numericVector(values: Float64Array): Vector {
  const n = values.length;
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) valid[i] = Number.isNaN(values[i]) ? 0 : 1;
  const data: Data<Float64> = makeData({
    type: new Float64(),
    length: n,
    ...packValidity(valid, n),
    data: values,
  });
  return makeVector(data);
}

async function map(chunk: Chunk, state: PredictState, context: MapContext): Promise<PredictPartial> {
  const scored = scoreChunk(state.scoring, state.body, chunk.table);
  const columns: Record<string, Vector> = {};
  for (const variable of state.copied) {
    const vector = chunk.table.getChild(variable.name);
    if (vector === null) throw new Error(`predict: column '${variable.name}' missing from the chunk`);
    columns[variable.name] = vector;
  }
  scored.responses.forEach((response, k) => {
    for (const column of outputColumns(state.names[k] as OutputNames, response))
      columns[column.name] = numericVector(column.values);
  });
  const table = new Table(columns);
  await context.io.writeChunk(OUTPUT, chunk.index, table);
  return {
    chunkRows: [chunk.table.numRows],
    predicted: scored.predicted,
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
  if (partial.unseenLevels > 0) {
    warnings.add(
      `${partial.unseenLevels} row${partial.unseenLevels === 1 ? ' has' : 's have'} a factor level the model was not trained on: ${partial.unseenLevels === 1 ? 'its predictions are' : 'their predictions are'} missing`,
    );
  }
  if (
    state.body.responses.some((r) =>
      r.coefficients.some((c) => c.aliased && !isReference(state.body, c.term)),
    )
  ) {
    warnings.add('prediction from a rank-deficient fit: aliased coefficients are taken as 0');
  }
  const { tenant: _tenant, ...dataset } = meta;
  return {
    done: true,
    result: {
      dataset: { ...dataset, numVars: meta.variables.length },
      modelId: state.modelId,
      predictionVariables: state.outputs.slice(state.copied.length).map((v) => v.name),
      nRows: numRows,
      nPredicted: partial.predicted,
      nMissingObs: numRows - partial.predicted - partial.unseenLevels,
      nUnseenLevels: partial.unseenLevels,
      warnings: warnings.list(),
    },
  };
}

/** True when `term` is a dropped reference level (aliased by coding, not by collinearity). */
function isReference(body: LinearModelBody, term: string): boolean {
  return body.plan.columns.some((c) => c.label === term && c.dropped);
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
