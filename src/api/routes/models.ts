import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { CoefficientRowSchema, isLinearModelBody, type LinearModelBody } from '../../engine/models/body.ts';
import { type JsonRow, jsonRowsToTable } from '../../engine/models/jsonRows.ts';
import { isKmeansModelBody, type KmeansModelBody } from '../../engine/models/kmeansScore.ts';
import { isNaiveBayesModelBody, type NaiveBayesModelBody } from '../../engine/models/naiveBayesScore.ts';
import { scoredJsonValue } from '../../engine/models/scoredColumns.ts';
import {
  PredictOptionProperties,
  predictOptionsOf,
  scorerFor,
  unseenLevelsWarning,
} from '../../engine/models/scorers.ts';
import { treeModelView } from '../../engine/models/treeScorer.ts';
import { Warnings } from '../../engine/params.ts';
import { ModelStore, type StoredModel } from '../../storage/modelStore.ts';
import { ApiError } from '../errors.ts';
import { IdParams, PageQuery } from '../schemas.ts';

/**
 * Stored models: list, read, delete, and score a few JSON rows synchronously in the API process with
 * the same scorers as the `predict` job (engine/models/scorers.ts: every kind predict scores, the same
 * options, refused the same way when they do not apply to the model's kind). Models of another tenant are
 * 404 MODEL_NOT_FOUND, as if they did not exist.
 */

/** Most rows one synchronous predict request may send; larger data goes through a `predict` job. */
export const MAX_PREDICT_ROWS = 10_000;

const ModelSummarySchema = Type.Object(
  {
    id: Type.String({ examples: ['mdl_5f6cdf7de35887abcd3a'] }),
    type: Type.String({ description: 'The analysis that fitted it: linMod, logit, glm, ...' }),
    createdAt: Type.String({ format: 'date-time' }),
    jobId: Type.String({ description: 'The job that fitted it' }),
    dataset: Type.String({ description: 'The training dataset' }),
    formula: Type.Union([Type.String(), Type.Null()]),
  },
  { $id: 'ModelSummary' },
);

const ModelSchema = Type.Object(
  {
    ...ModelSummarySchema.properties,
    family: Type.Optional(Type.String({ description: 'gaussian for linMod' })),
    link: Type.Optional(Type.String({ description: 'identity for linMod' })),
    terms: Type.Array(Type.String(), { description: 'Model terms in formula order' }),
    responses: Type.Array(Type.String()),
    coefficients: Type.Array(CoefficientRowSchema, {
      description: 'Of the first (or only) response; Dropped and aliased ones with nulls',
    }),
    responseFits: Type.Optional(
      Type.Array(Type.Object({ response: Type.String(), coefficients: Type.Array(CoefficientRowSchema) }), {
        description: 'cbind models: the coefficients of every response',
      }),
    ),
    factorLevels: Type.Record(Type.String(), Type.Array(Type.String()), {
      description: 'Levels of every categorical term factor (factor variables, F()) as in training',
    }),
    variables: Type.Array(
      Type.Object({
        name: Type.String(),
        type: Type.String(),
        levels: Type.Optional(Type.Array(Type.String())),
      }),
      { description: 'The variables scoring needs (the responses only for residuals), with training types' },
    ),
    coefLabelStyle: Type.Optional(Type.String()),
    cube: Type.Optional(Type.Boolean()),
    nValidObs: Type.Optional(Type.Integer()),
    dfResidual: Type.Optional(Type.Number()),
    dispersion: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
    centers: Type.Optional(
      Type.Array(Type.Array(Type.Number()), {
        description: 'kmeans: one row per cluster, in cluster-number order',
      }),
    ),
    apriori: Type.Optional(
      Type.Array(Type.Number(), { description: 'naiveBayes: class priors, in response-level order' }),
    ),
    responseLevels: Type.Optional(Type.Array(Type.String(), { description: 'naiveBayes: the classes' })),
    tables: Type.Optional(
      Type.Array(Type.Unknown(), {
        description:
          'naiveBayes: per predictor, class x level probabilities (categorical) or per-class mean and sd (gaussian)',
      }),
    ),
    tree: Type.Optional(
      Type.Object(
        {
          kind: Type.String({ description: 'dTree, dForest or bTrees' }),
          method: Type.String({ description: "'class' or 'anova'; bTrees: the loss function" }),
          nTree: Type.Integer(),
          variablesUsed: Type.Array(Type.String(), { description: 'Predictors some split uses' }),
          nodes: Type.Optional(
            Type.Array(
              Type.Object({
                node: Type.Integer({ description: "rpart's node number" }),
                split: Type.Union([Type.String(), Type.Null()], {
                  description: 'The condition sending rows to the first child; null at a leaf',
                }),
                children: Type.Union([Type.Array(Type.Integer(), { minItems: 2, maxItems: 2 }), Type.Null()]),
                missing: Type.Union([Type.Literal('first'), Type.Literal('second'), Type.Null()], {
                  description: 'The child missing values go to',
                }),
                yval: Type.Union([Type.Number(), Type.String()], {
                  description: 'The class (class trees) or the mean (anova)',
                }),
                prob: Type.Optional(Type.Array(Type.Number(), { description: 'Class probabilities' })),
              }),
              { description: 'dTree: every node of the tree' },
            ),
          ),
        },
        { description: 'Tree models (dTree, dForest, bTrees): a compact description' },
      ),
    ),
  },
  { $id: 'Model' },
);

const PredictRowsBody = Type.Object(
  {
    rows: Type.Array(Type.Record(Type.String(), Type.Unknown()), {
      description: `Rows to score, as { variable: value } (at most ${MAX_PREDICT_ROWS}; null = missing; factors as level labels)`,
    }),
    // No schema defaults: which options apply (and their defaults) depends on the model's kind.
    ...PredictOptionProperties,
  },
  { additionalProperties: false },
);

const PredictRowsResponse = Type.Object({
  modelId: Type.String(),
  predictions: Type.Array(
    Type.Record(Type.String(), Type.Union([Type.Number(), Type.String(), Type.Null()])),
    {
      description:
        "One object per row, in order, with the predict job's columns: linear models `<y>_Pred` and the requested `_Resid`, `_StdErr`, `_Lower`, `_Upper`; kmeans `.rxCluster`; naiveBayes `<y>_Pred` (the class label) or `<level>_prob`; trees `<y>_Pred`, `<level>_prob`, `<level>_vote` or bTrees bernoulli `<y>_prob`",
    },
  ),
  nPredicted: Type.Integer(),
  nMissingObs: Type.Integer({ description: 'Rows without a prediction because a value is missing' }),
  nUnseenLevels: Type.Integer({
    description:
      'Rows with a factor level unseen in training (linear models: no prediction; naiveBayes: that predictor left out)',
  }),
  warnings: Type.Array(Type.String()),
});

function summary(model: StoredModel) {
  return {
    id: model.id,
    type: model.type,
    createdAt: model.createdAt,
    jobId: model.jobId,
    dataset: model.dataset,
    formula: model.formula,
  };
}

function linearView(body: LinearModelBody) {
  const factorLevels: Record<string, string[]> = {};
  for (const term of body.plan.terms)
    for (const source of term.sources)
      if (source.role === 'factor') factorLevels[source.label] = source.levels;
  const first = body.responses[0];
  return {
    family: body.family,
    link: body.link,
    terms: body.plan.terms.map((t) => t.label),
    responses: body.responses.map((r) => r.response),
    coefficients: first?.coefficients ?? [],
    ...(body.responses.length > 1
      ? { responseFits: body.responses.map((r) => ({ response: r.response, coefficients: r.coefficients })) }
      : {}),
    factorLevels,
    variables: body.variables.map((v) => ({
      name: v.name,
      type: v.type,
      ...(v.levels ? { levels: v.levels } : {}),
    })),
    coefLabelStyle: body.plan.coefLabelStyle,
    cube: body.cube,
    nValidObs: body.nValidObs,
    dfResidual: first?.dfResidual ?? 0,
    dispersion: first?.dispersion ?? null,
  };
}

/** Levels of the factor variables among a model's training inputs. */
function inputLevels(inputs: ReadonlyArray<{ name: string; levels?: string[] | undefined }>) {
  const levels: Record<string, string[]> = {};
  for (const input of inputs) if (input.levels) levels[input.name] = input.levels;
  return levels;
}

function kmeansView(body: KmeansModelBody) {
  return {
    terms: body.variables,
    responses: [],
    coefficients: [],
    factorLevels: {},
    variables: body.inputs.map((v) => ({ name: v.name, type: v.type })),
    centers: body.centers,
  };
}

function naiveBayesView(body: NaiveBayesModelBody) {
  return {
    terms: body.predictors.map((p) => p.source.label),
    responses: [body.response.label],
    coefficients: [],
    factorLevels: inputLevels(body.inputs),
    variables: body.inputs.map((v) => ({
      name: v.name,
      type: v.type,
      ...(v.levels ? { levels: v.levels } : {}),
    })),
    apriori: body.apriori,
    responseLevels: body.response.levels,
    tables: body.predictors.map((p) =>
      p.kind === 'categorical'
        ? { variable: p.source.label, type: p.kind, probabilities: p.probabilities }
        : { variable: p.source.label, type: p.kind, mean: p.mean, sd: p.sd },
    ),
  };
}

function view(model: StoredModel) {
  if (isLinearModelBody(model.body)) return { ...summary(model), ...linearView(model.body) };
  if (isKmeansModelBody(model.body)) return { ...summary(model), ...kmeansView(model.body) };
  if (isNaiveBayesModelBody(model.body)) return { ...summary(model), ...naiveBayesView(model.body) };
  const tree = treeModelView(model.body);
  if (tree !== null) return { ...summary(model), coefficients: [], ...tree };
  return { ...summary(model), terms: [], responses: [], coefficients: [], factorLevels: {}, variables: [] };
}

export const modelRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const models = new ModelStore(app.services.config.dataDir);
  app.addSchema(ModelSummarySchema);
  app.addSchema(ModelSchema);

  async function owned(request: FastifyRequest, id: string): Promise<StoredModel> {
    const model = await models.get(request.tenant, id);
    if (!model)
      throw new ApiError(
        404,
        'MODEL_NOT_FOUND',
        `model '${id}' does not exist (or belongs to another tenant)`,
      );
    return model;
  }

  app.get(
    '',
    {
      schema: {
        tags: ['models'],
        summary: 'List your fitted models, newest first',
        querystring: Type.Object({
          type: Type.Optional(Type.String({ description: 'Only models of this type (linMod, glm, ...)' })),
          ...PageQuery,
        }),
        response: {
          200: Type.Object({
            total: Type.Integer(),
            offset: Type.Integer(),
            limit: Type.Integer(),
            items: Type.Array(Type.Ref('ModelSummary')),
          }),
        },
      },
    },
    async (request) => {
      const offset = request.query.offset ?? 0;
      const limit = request.query.limit ?? 100;
      const { type } = request.query;
      const all = (await models.list(request.tenant)).filter((m) => type === undefined || m.type === type);
      return { total: all.length, offset, limit, items: all.slice(offset, offset + limit).map(summary) };
    },
  );

  app.get(
    '/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'A model: formula, terms, coefficients, factor levels, training dataset',
        params: IdParams,
        response: { 200: Type.Ref('Model'), 404: Type.Ref('Error') },
      },
    },
    async (request) => view(await owned(request, request.params.id)),
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags: ['models'],
        summary: 'Delete a model',
        params: IdParams,
        response: { 204: Type.Null(), 404: Type.Ref('Error') },
      },
    },
    async (request, reply) => {
      const model = await owned(request, request.params.id);
      await models.delete(request.tenant, model.id);
      return reply.status(204).send(null);
    },
  );

  app.post(
    '/:id/predict',
    {
      schema: {
        tags: ['models'],
        summary: `Score up to ${MAX_PREDICT_ROWS} JSON rows now (larger data: a predict job)`,
        params: IdParams,
        body: PredictRowsBody,
        response: {
          200: PredictRowsResponse,
          400: Type.Ref('Error'),
          404: Type.Ref('Error'),
          413: Type.Ref('Error'),
          422: Type.Ref('Error'),
        },
      },
    },
    async (request) => {
      const { rows, ...params } = request.body;
      if (rows.length > MAX_PREDICT_ROWS) {
        throw new ApiError(
          413,
          'TOO_MANY_ROWS',
          `${rows.length} rows sent; at most ${MAX_PREDICT_ROWS} are scored synchronously: upload the data and run a predict job`,
          { rows: rows.length, limit: MAX_PREDICT_ROWS },
        );
      }
      const model = await owned(request, request.params.id);
      const options = predictOptionsOf(params);
      const scorer = scorerFor(model, options);
      const { table, variables } = jsonRowsToTable(scorer.variables(model.body), rows as JsonRow[]);
      const plan = scorer.plan(model.body, variables, options);
      const scored = scorer.score(plan, table);
      const predictions = rows.map((_, r) => {
        const out: Record<string, number | string | null> = {};
        for (const column of scored.columns) out[column.name] = scoredJsonValue(column, r);
        return out;
      });
      const warnings = new Warnings();
      if (scored.unseenLevels > 0)
        warnings.add(unseenLevelsWarning(scored.unseenLevels, scorer.scoresUnseenLevels));
      for (const warning of scorer.warnings(plan)) warnings.add(warning);
      return {
        modelId: model.id,
        predictions,
        nPredicted: scored.scored,
        nMissingObs: rows.length - scored.scored - (scorer.scoresUnseenLevels ? 0 : scored.unseenLevels),
        nUnseenLevels: scored.unseenLevels,
        warnings: warnings.list(),
      };
    },
  );
};
