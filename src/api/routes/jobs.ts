import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  BTreesResultSchema,
  CovCorResultSchema,
  DForestResultSchema,
  DTreeResultSchema,
  QuantileResultSchema,
  SummaryResultSchema,
} from '../../engine/index.ts';
import { JOB_STATUSES, type JobRecord } from '../../jobs/jobRecords.ts';
import { IdParams, PageQuery } from '../schemas.ts';

const JobSchema = Type.Object(
  {
    id: Type.String({ examples: ['job_0c9d8e7f6a5b4c3d2e1f'] }),
    type: Type.String({ description: 'Analysis type: summary, quantile, covCor, ...' }),
    dataset: Type.String(),
    params: Type.Record(Type.String(), Type.Unknown()),
    status: Type.Union(JOB_STATUSES.map((s) => Type.Literal(s))),
    progress: Type.Object({
      fraction: Type.Number({ description: 'Share of the current pass done, 0..1' }),
      chunksDone: Type.Integer(),
      chunksTotal: Type.Integer(),
      round: Type.Integer({ description: '0-based pass over the data' }),
      rowsProcessed: Type.Integer(),
      elapsedMs: Type.Integer(),
      etaMs: Type.Union([Type.Integer(), Type.Null()]),
      message: Type.String(),
    }),
    createdAt: Type.String({ format: 'date-time' }),
    startedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    finishedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    error: Type.Union([
      Type.Object({
        code: Type.String(),
        message: Type.String(),
        details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
      }),
      Type.Null(),
    ]),
    resultUrl: Type.Union([Type.String(), Type.Null()], {
      description: 'Where the result is, once completed',
    }),
  },
  { $id: 'Job' },
);

const SubmitBody = Type.Object(
  {
    type: Type.String({
      description: 'summary | quantile | covCor | dTree | dForest | bTrees (others: 501 until implemented)',
    }),
    dataset: Type.String({ description: 'Dataset id' }),
    params: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        description: 'The analysis params (RevoScaleR names), plus blocksPerRead and reportProgress',
      }),
    ),
  },
  { additionalProperties: false },
);

function view(record: JobRecord) {
  const { tenant: _tenant, ...job } = record;
  return { ...job, resultUrl: record.status === 'completed' ? `/v1/jobs/${record.id}/result` : null };
}

export const jobRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { jobs } = app.services;
  app.addSchema(JobSchema);
  // Result shapes, for the OpenAPI document and generated clients (results are sent as stored).
  app.addSchema({ ...SummaryResultSchema, $id: 'SummaryResult' });
  app.addSchema({ ...QuantileResultSchema, $id: 'QuantileResult' });
  app.addSchema({ ...CovCorResultSchema, $id: 'CovCorResult' });
  app.addSchema({ ...DTreeResultSchema, $id: 'DTreeResult' });
  app.addSchema({ ...DForestResultSchema, $id: 'DForestResult' });
  app.addSchema({ ...BTreesResultSchema, $id: 'BTreesResult' });
  const errors = {
    400: Type.Ref('Error'),
    404: Type.Ref('Error'),
    409: Type.Ref('Error'),
    422: Type.Ref('Error'),
    501: Type.Ref('Error'),
  };

  app.post(
    '',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Submit an analysis job; poll the Location it answers with',
        body: SubmitBody,
        response: { 202: Type.Ref('Job'), ...errors },
      },
    },
    async (request, reply) => {
      const { type, dataset, params } = request.body;
      const record = await jobs.submit(request.tenant, type, dataset, params ?? {});
      reply.header('location', `/v1/jobs/${record.id}`);
      return reply.status(202).send(view(record));
    },
  );

  app.get(
    '',
    {
      schema: {
        tags: ['jobs'],
        summary: 'List your jobs, newest first',
        querystring: Type.Object({
          status: Type.Optional(Type.Union(JOB_STATUSES.map((s) => Type.Literal(s)))),
          type: Type.Optional(Type.String()),
          ...PageQuery,
        }),
        response: {
          200: Type.Object({
            total: Type.Integer(),
            offset: Type.Integer(),
            limit: Type.Integer(),
            items: Type.Array(Type.Ref('Job')),
          }),
        },
      },
    },
    async (request) => {
      const { status, type } = request.query;
      const offset = request.query.offset ?? 0;
      const limit = request.query.limit ?? 100;
      const all = await jobs.list(request.tenant, { status, type });
      return { total: all.length, offset, limit, items: all.slice(offset, offset + limit).map(view) };
    },
  );

  app.get(
    '/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Job status and progress; waitSeconds long-polls until the job ends',
        params: IdParams,
        querystring: Type.Object({ waitSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 60 })) }),
        response: { 200: Type.Ref('Job'), 404: Type.Ref('Error') },
      },
    },
    async (request) =>
      view(await jobs.wait(request.tenant, request.params.id, request.query.waitSeconds ?? 0)),
  );

  app.get(
    '/:id/result',
    {
      schema: {
        tags: ['jobs'],
        summary: 'The result of a completed job (409 until then)',
        params: IdParams,
        response: {
          200: Type.Object({
            id: Type.String(),
            type: Type.String(),
            result: Type.Union(
              [Type.Ref('SummaryResult'), Type.Ref('QuantileResult'), Type.Ref('CovCorResult')],
              { description: 'The analysis result; its shape depends on the job type' },
            ),
          }),
          404: Type.Ref('Error'),
          409: Type.Ref('Error'),
        },
      },
    },
    async (request, reply) => {
      const { record, resultText } = await jobs.result(request.tenant, request.params.id);
      // The result is stored as JSON text; splice it in rather than parse and re-serialise it.
      reply.header('content-type', 'application/json; charset=utf-8');
      return reply.send(
        `{"id":${JSON.stringify(record.id)},"type":${JSON.stringify(record.type)},"result":${resultText}}`,
      );
    },
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags: ['jobs'],
        summary: 'Cancel a queued or running job',
        params: IdParams,
        response: { 200: Type.Ref('Job'), 404: Type.Ref('Error'), 409: Type.Ref('Error') },
      },
    },
    async (request) => view(await jobs.cancel(request.tenant, request.params.id)),
  );
};
