import type { Table } from 'apache-arrow';
import { type Static, Type } from 'typebox';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { EngineError } from '../errors.ts';
import type { ModelVariable } from './jsonRows.ts';
import {
  isKmeansModelBody,
  type KmeansModelBody,
  type KmeansScoringPlan,
  kmeansScoringColumns,
  planKmeansScoring,
  scoreKmeansChunk,
} from './kmeansScore.ts';
import { linearScorer } from './linearScorer.ts';
import {
  isNaiveBayesModelBody,
  type NaiveBayesModelBody,
  type NaiveBayesScoringPlan,
  naiveBayesOutputColumns,
  naiveBayesScoringColumns,
  planNaiveBayesScoring,
  scoreNaiveBayesChunk,
} from './naiveBayesScore.ts';
import { type ScoredChunk, scoredVarInfo } from './scoredColumns.ts';
import { bTreesScorer, dForestScorer, dTreeScorer } from './treeScorer.ts';

/**
 * One way to score every stored model kind (rxPredict's methods), shared by the `predict` job and the
 * synchronous `POST /v1/models/{id}/predict`: a `Scorer` per kind, found by the model's `type` in
 * `SCORERS`. A new kind is one entry there.
 *
 * The options are RevoScaleR's rxPredict arguments; each kind reads some of them and refuses the rest
 * (400 INVALID_PARAMS naming the option) rather than ignoring them:
 *
 * | option           | linear (linMod, logit, glm) | kmeans         | naiveBayes                 | trees (dTree, dForest, bTrees) |
 * |------------------|-----------------------------|----------------|----------------------------|--------------------------------|
 * | computeResiduals | yes                         | -              | -                          | -                              |
 * | computeStdErrors | yes                         | -              | -                          | -                              |
 * | interval         | yes                         | -              | -                          | -                              |
 * | confLevel        | yes                         | -              | -                          | -                              |
 * | type             | 'response' (default), 'link'| -              | 'class' (default), 'prob'  | dTree 'response'='class', 'prob'; dForest also 'vote'; bTrees 'response', 'link' |
 * | prior            | -                           | -              | yes                        | -                              |
 * | predVarNames     | one per response            | one name       | class: one; prob: one per class | one per output column (treeScorer.ts) |
 */

/** The kind-dependent predict options, as schema properties (the job params and the sync body share them). */
export const PredictOptionProperties = {
  computeResiduals: Type.Optional(
    Type.Boolean({
      description: 'Linear models: `<y>_Resid` = y - prediction (needs y in the data). Default false.',
    }),
  ),
  computeStdErrors: Type.Optional(
    Type.Boolean({
      description: 'Linear models: `<y>_StdErr`, the standard error of the fit. Default false.',
    }),
  ),
  interval: Type.Optional(
    Type.Union([Type.Literal('none'), Type.Literal('confidence'), Type.Literal('prediction')], {
      description:
        "Linear models: `<y>_Lower` / `<y>_Upper` ('prediction' for gaussian identity models only). Default 'none'.",
    }),
  ),
  confLevel: Type.Optional(
    Type.Number({
      exclusiveMinimum: 0,
      exclusiveMaximum: 1,
      description: 'Linear models: interval level. Default 0.95.',
    }),
  ),
  type: Type.Optional(
    Type.Union(
      [
        Type.Literal('response'),
        Type.Literal('link'),
        Type.Literal('class'),
        Type.Literal('prob'),
        Type.Literal('vote'),
      ],
      {
        description:
          "Linear models: 'response' (default) or 'link' (the linear predictor). naiveBayes: 'class' (default, `<y>_Pred`) or 'prob' (`<level>_prob` per class). dTree/dForest: 'response' (default; 'class' the same: `<y>_Pred`), class trees also 'prob' (`<level>_prob` per class), dForest also 'vote' (`<level>_vote`, the share of trees). bTrees: 'response' (default; bernoulli `<y>_prob`, multinomial `<level>_prob` and `<y>_Pred`) or 'link' (the score). Not for kmeans.",
      },
    ),
  ),
  prior: Type.Optional(
    Type.Array(Type.Number({ minimum: 0 }), {
      minItems: 1,
      description: "naiveBayes: class priors replacing the model's, one per class (normalised to sum 1).",
    }),
  ),
  predVarNames: Type.Optional(
    Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      description:
        "Names of the prediction columns. Linear: one per response (default `<y>_Pred`); kmeans: one (default '.rxCluster'); naiveBayes 'class': one (default `<y>_Pred`), 'prob': one per class (default `<level>_prob`); trees: one per output column.",
    }),
  ),
};

const PredictOptionsSchema = Type.Object(PredictOptionProperties);
export type PredictOptions = Static<typeof PredictOptionsSchema>;
export type PredictOptionName = keyof PredictOptions;
export type PredictType = NonNullable<PredictOptions['type']>;

/** A scoring plan as it travels in a job state: plain JSON, read only by the scorer that made it. */
declare const scorerPlan: unique symbol;
export type ScorerPlan = { readonly [scorerPlan]: true };

/**
 * Scoring of one model kind. `plan` runs once (job init, or per request) and checks the data against
 * the model (422 MISSING_VARIABLES / WRONG_VARIABLE_TYPE naming the variables); the rest are pure
 * functions of the plan, so any worker can score any chunk.
 */
export interface Scorer<Body = unknown, Plan = ScorerPlan> {
  /** The options it reads; any other option given is refused. */
  readonly options: readonly PredictOptionName[];
  /** Values of `type` it accepts (when `options` has 'type'). */
  readonly types: readonly PredictType[];
  /**
   * True when a row with a factor level training never saw is still scored (naiveBayes skips that
   * predictor for the row); false when it gets no prediction.
   */
  readonly scoresUnseenLevels: boolean;
  isBody(body: unknown): body is Body;
  /** The training variables the model reads (responses too), typed as in training: JSON rows are read as these, writeModelVars copies them. */
  variables(body: Body): ModelVariable[];
  plan(body: Body, data: readonly VarInfo[], options: PredictOptions): Plan;
  /** Dataset variables `score` reads. */
  columns(plan: Plan): string[];
  /** The prediction columns `score` returns, in order (low/high/missing left to the writer). */
  outputs(plan: Plan): VarInfo[];
  score(plan: Plan, table: Table): ScoredChunk;
  /** Warnings about the model itself (a rank-deficient fit), given once per prediction. */
  warnings(plan: Plan): string[];
}

/** A kind's scorer with its body and plan types erased, for the registry. */
function erase<Body, Plan>(scorer: Scorer<Body, Plan>): Scorer {
  return scorer as unknown as Scorer;
}

/** The one `predVarNames` entry of a one-column kind, 400 when more are given. */
export function singleName(options: PredictOptions, what: string): string | undefined {
  const names = options.predVarNames;
  if (names === undefined) return undefined;
  if (names.length !== 1) {
    throw new EngineError(
      'INVALID_PARAMS',
      `predVarNames has ${names.length} names; ${what} writes one column`,
      400,
      { param: 'predVarNames' },
    );
  }
  return names[0];
}

const kmeansScorer: Scorer<KmeansModelBody, KmeansScoringPlan> = {
  options: ['predVarNames'],
  types: [],
  scoresUnseenLevels: false,
  isBody: isKmeansModelBody,
  variables: (body) => body.inputs,
  plan: (body, data, options) => {
    const outColName = singleName(options, 'a kmeans model');
    return planKmeansScoring(body, data, outColName === undefined ? {} : { outColName });
  },
  columns: kmeansScoringColumns,
  outputs: (plan) => [scoredVarInfo({ name: plan.outColName, type: 'integer' })],
  score: scoreKmeansChunk,
  warnings: () => [],
};

const naiveBayesScorer: Scorer<NaiveBayesModelBody, NaiveBayesScoringPlan> = {
  options: ['type', 'prior', 'predVarNames'],
  types: ['class', 'prob'],
  scoresUnseenLevels: true,
  isBody: isNaiveBayesModelBody,
  variables: (body) => body.inputs,
  plan: (body, data, options) => {
    const type = options.type === 'prob' ? 'prob' : 'class';
    const classes = body.response.levels;
    const names = options.predVarNames;
    if (type === 'prob' && names !== undefined && names.length !== classes.length) {
      throw new EngineError(
        'INVALID_PARAMS',
        `predVarNames has ${names.length} names; type 'prob' writes one column per class (${classes.join(', ')})`,
        400,
        { param: 'predVarNames', classes },
      );
    }
    const predVarName =
      type === 'class' ? singleName(options, "a naiveBayes model with type 'class'") : undefined;
    const plan = planNaiveBayesScoring(body, data, {
      type,
      ...(options.prior === undefined ? {} : { prior: options.prior }),
      ...(predVarName === undefined ? {} : { predVarName }),
    });
    return type === 'prob' && names !== undefined ? { ...plan, probVarNames: [...names] } : plan;
  },
  columns: naiveBayesScoringColumns,
  outputs: (plan) => naiveBayesOutputColumns(plan).map(scoredVarInfo),
  score: scoreNaiveBayesChunk,
  warnings: () => [],
};

/** Scorers by the stored model's `type` (the analysis that fitted it). */
const SCORERS: Readonly<Record<string, Scorer>> = {
  linMod: erase(linearScorer),
  logit: erase(linearScorer),
  glm: erase(linearScorer),
  kmeans: erase(kmeansScorer),
  naiveBayes: erase(naiveBayesScorer),
  dTree: erase(dTreeScorer),
  dForest: erase(dForestScorer),
  bTrees: erase(bTreesScorer),
};

/** Model types predict scores. */
export const SCORED_MODEL_TYPES: readonly string[] = Object.keys(SCORERS);

/** The scorer of a model type (one that `scorerFor` accepted), for workers that only hold the plan. */
export function scorerOfType(type: string): Scorer {
  const scorer = SCORERS[type];
  if (scorer === undefined) throw new Error(`no scorer for model type '${type}'`);
  return scorer;
}

/**
 * The scorer of a stored model, after checking the options against its kind: 422 MODEL_NOT_SUPPORTED
 * for a kind predict cannot score, 400 INVALID_PARAMS naming an option the kind does not take.
 */
export function scorerFor(
  model: { id: string; type: string; body: unknown },
  options: PredictOptions,
): Scorer {
  const scorer = SCORERS[model.type];
  if (scorer === undefined || !scorer.isBody(model.body)) {
    throw new EngineError(
      'MODEL_NOT_SUPPORTED',
      `model '${model.id}' is a ${model.type} model, which predict does not score (it scores ${SCORED_MODEL_TYPES.join(', ')})`,
      422,
      { modelId: model.id, type: model.type },
    );
  }
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (!(scorer.options as readonly string[]).includes(name)) {
      throw new EngineError(
        'INVALID_PARAMS',
        `'${name}' does not apply to a ${model.type} model; it takes ${scorer.options.length === 0 ? 'no prediction options' : scorer.options.map((o) => `'${o}'`).join(', ')}`,
        400,
        { param: name, modelType: model.type },
      );
    }
  }
  if (options.type !== undefined && !scorer.types.includes(options.type)) {
    throw new EngineError(
      'INVALID_PARAMS',
      `type '${options.type}' does not apply to a ${model.type} model; use ${scorer.types.map((t) => `'${t}'`).join(' or ')}`,
      400,
      { param: 'type', modelType: model.type },
    );
  }
  return scorer;
}

/** The warning about rows with factor levels the model was not trained on. */
export function unseenLevelsWarning(rows: number, scored: boolean): string {
  const subject = `${rows} row${rows === 1 ? ' has' : 's have'} a factor level the model was not trained on`;
  return scored
    ? `${subject}: that predictor is left out of ${rows === 1 ? 'its prediction' : 'their predictions'}`
    : `${subject}: ${rows === 1 ? 'its predictions are' : 'their predictions are'} missing`;
}

/** The kind-dependent options among `params` (the rest are the job's or the request's own). */
export function predictOptionsOf(params: PredictOptions): PredictOptions {
  const options: Record<string, unknown> = {};
  for (const name of Object.keys(PredictOptionProperties)) {
    const value = (params as Record<string, unknown>)[name];
    if (value !== undefined) options[name] = value;
  }
  return options as PredictOptions;
}
