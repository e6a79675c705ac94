import type { Readable } from 'node:stream';
import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { DatasetMeta } from '../../storage/datasetMeta.ts';
import { exportArrow, exportCsv, rowsAsJson } from '../../storage/export.ts';
import { type ColInfo, IMPORT_FORMATS, type ImportFormat } from '../../storage/importTypes.ts';
import { uploadDataset, uploadTooLarge } from '../../storage/uploadDataset.ts';
import { parseColInfo } from '../colInfo.ts';
import { ApiError, notFound } from '../errors.ts';
import { IdParams, PageQuery } from '../schemas.ts';

/** Content types of the raw-body upload, and the format each means. */
const FORMAT_BY_TYPE: Record<string, ImportFormat> = {
  'text/csv': 'csv',
  'application/csv': 'csv',
  'text/tab-separated-values': 'csv',
  'application/vnd.apache.arrow.stream': 'arrow',
  'application/vnd.apache.arrow.file': 'arrow',
  'application/vnd.apache.parquet': 'parquet',
  'application/x-parquet': 'parquet',
  'application/x-ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
};

const FORMAT_BY_EXTENSION: Record<string, ImportFormat> = {
  csv: 'csv',
  tsv: 'csv',
  txt: 'csv',
  arrow: 'arrow',
  arrows: 'arrow',
  feather: 'arrow',
  ipc: 'arrow',
  parquet: 'parquet',
  ndjson: 'ndjson',
  jsonl: 'ndjson',
};

function baseType(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]!.trim().toLowerCase();
}

function formatOf(explicit: ImportFormat | undefined, contentType: string, filename?: string): ImportFormat {
  if (explicit) return explicit;
  const byType = FORMAT_BY_TYPE[contentType];
  if (byType) return byType;
  const extension = filename?.split('.').pop()?.toLowerCase();
  const byExtension = extension ? FORMAT_BY_EXTENSION[extension] : undefined;
  if (byExtension) return byExtension;
  throw new ApiError(
    415,
    'UNSUPPORTED_FORMAT',
    `cannot tell the format of '${contentType || 'no content type'}'${filename ? ` (file ${filename})` : ''}: ` +
      `send Content-Type text/csv, application/vnd.apache.arrow.stream, application/vnd.apache.parquet or ` +
      `application/x-ndjson, or add ?format=${IMPORT_FORMATS.join('|')}`,
  );
}

export function datasetInfo(meta: DatasetMeta) {
  const { tenant: _tenant, ...info } = meta;
  return { ...info, numVars: meta.variables.length };
}

const UploadQuery = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 200, description: 'Dataset name' }),
  format: Type.Optional(
    Type.Union(
      IMPORT_FORMATS.map((f) => Type.Literal(f)),
      { description: 'Overrides the format told by Content-Type' },
    ),
  ),
  rowsPerChunk: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
  colInfo: Type.Optional(
    Type.String({
      description:
        'JSON object, per input column: { "type", "levels", "newName" } as rxImport colInfo, e.g. {"g":{"type":"factor","levels":["b","a"]}}',
    }),
  ),
});

/**
 * The upload body is a stream checked by the importer, so it has no validation schema; this adds the
 * request body to the OpenAPI document only, one binary entry per accepted content type.
 */
function documentBinaryBody({ schema, url }: { schema: object; url: string }) {
  const consumes = (schema as { consumes?: string[] }).consumes ?? [];
  const content = Object.fromEntries(
    consumes.map((type) => [type, { schema: { type: 'string', format: 'binary' } }]),
  );
  return { schema: { ...schema, body: { content } }, url };
}

export const datasetRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const { store, config } = app.services;

  // Raw uploads stream straight into the importer: the body is never buffered whole.
  app.addContentTypeParser(Object.keys(FORMAT_BY_TYPE), (_request, payload, done) => done(null, payload));
  // Any other type reaches the handler too, so it can say which formats exist instead of a bare 415.
  app.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
  await app.register(multipart, { limits: { fileSize: config.maxUploadBytes, files: 1, fields: 10 } });

  async function owned(request: FastifyRequest, id: string): Promise<DatasetMeta> {
    const meta = await store.get(id);
    if (!meta || meta.tenant !== request.tenant) throw notFound('dataset', id);
    return meta;
  }

  app.post(
    '',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Upload a dataset (CSV, Arrow IPC, Parquet, NDJSON; raw body or multipart field "file")',
        querystring: UploadQuery,
        // Documented only: the body is a stream, checked by the importer rather than by a schema.
        consumes: [...Object.keys(FORMAT_BY_TYPE), 'application/octet-stream', 'multipart/form-data'],
        response: {
          201: Type.Ref('DatasetInfo'),
          400: Type.Ref('Error'),
          413: Type.Ref('Error'),
          415: Type.Ref('Error'),
          422: Type.Ref('Error'),
        },
      },
      config: { swaggerTransform: documentBinaryBody },
    },
    async (request, reply) => {
      const declared = Number(request.headers['content-length']);
      if (Number.isFinite(declared) && declared > config.maxUploadBytes) {
        throw uploadTooLarge(config.maxUploadBytes);
      }
      const contentType = baseType(request.headers['content-type']);
      let body: Readable;
      let format: ImportFormat;
      let colInfoText = request.query.colInfo;
      if (contentType === 'multipart/form-data') {
        const upload = await readMultipart(request);
        body = upload.file;
        format = formatOf(request.query.format, upload.mimetype, upload.filename);
        colInfoText = upload.colInfo ?? colInfoText;
      } else {
        if (!request.body)
          throw new ApiError(400, 'EMPTY_BODY', 'the request has no body: send the file as the body');
        body = request.body as Readable;
        format = formatOf(request.query.format, contentType);
      }
      const colInfo: ColInfo | undefined = colInfoText === undefined ? undefined : parseColInfo(colInfoText);
      const meta = await uploadDataset(store, body, {
        tenant: request.tenant,
        name: request.query.name,
        format,
        rowsPerChunk: request.query.rowsPerChunk,
        colInfo,
        maxBytes: config.maxUploadBytes,
      });
      reply.header('location', `/v1/datasets/${meta.id}`);
      return reply.status(201).send(datasetInfo(meta));
    },
  );

  app.get(
    '',
    {
      schema: {
        tags: ['datasets'],
        summary: 'List your datasets, newest first',
        querystring: Type.Object(PageQuery),
        response: {
          200: Type.Object({
            total: Type.Integer(),
            offset: Type.Integer(),
            limit: Type.Integer(),
            items: Type.Array(Type.Ref('DatasetInfo')),
          }),
        },
      },
    },
    async (request) => {
      const offset = request.query.offset ?? 0;
      const limit = request.query.limit ?? 100;
      const all = await store.list(request.tenant);
      return { total: all.length, offset, limit, items: all.slice(offset, offset + limit).map(datasetInfo) };
    },
  );

  app.get(
    '/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Dataset info and variable info (rxGetInfo, rxGetVarInfo)',
        params: IdParams,
        response: { 200: Type.Ref('DatasetInfo'), 404: Type.Ref('Error') },
      },
    },
    async (request) => datasetInfo(await owned(request, request.params.id)),
  );

  app.get(
    '/:id/rows',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Rows as JSON objects (factors as labels, dates as YYYY-MM-DD, missing as null)',
        params: IdParams,
        querystring: Type.Object(PageQuery),
        response: {
          200: Type.Object({
            offset: Type.Integer(),
            limit: Type.Integer(),
            numRows: Type.Integer(),
            rows: Type.Array(Type.Record(Type.String(), Type.Unknown())),
          }),
          404: Type.Ref('Error'),
        },
      },
    },
    async (request) => {
      const meta = await owned(request, request.params.id);
      const offset = request.query.offset ?? 0;
      const limit = request.query.limit ?? 100;
      const rows = await rowsAsJson(store.dir(meta.id), meta, offset, limit);
      return { offset, limit, numRows: meta.numRows, rows };
    },
  );

  app.get(
    '/:id/export',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Download the whole dataset, streamed',
        params: IdParams,
        querystring: Type.Object({
          format: Type.Optional(Type.Union([Type.Literal('csv'), Type.Literal('arrow')], { default: 'csv' })),
        }),
        produces: ['text/csv', 'application/vnd.apache.arrow.stream'],
        response: { 404: Type.Ref('Error') },
      },
    },
    async (request, reply) => {
      const meta = await owned(request, request.params.id);
      const safeName = meta.name.replace(/[^A-Za-z0-9_.-]+/g, '_');
      if (request.query.format === 'arrow') {
        reply.header('content-type', 'application/vnd.apache.arrow.stream');
        reply.header('content-disposition', `attachment; filename="${safeName}.arrows"`);
        return reply.send(exportArrow(store.dir(meta.id), meta));
      }
      reply.header('content-type', 'text/csv; charset=utf-8');
      reply.header('content-disposition', `attachment; filename="${safeName}.csv"`);
      return reply.send(exportCsv(store.dir(meta.id), meta));
    },
  );

  app.delete(
    '/:id',
    {
      schema: {
        tags: ['datasets'],
        summary: 'Delete a dataset',
        params: IdParams,
        response: { 204: Type.Null(), 404: Type.Ref('Error') },
      },
    },
    async (request, reply) => {
      const meta = await owned(request, request.params.id);
      await store.delete(meta.id);
      return reply.status(204).send(null);
    },
  );
};

interface MultipartUpload {
  file: Readable;
  mimetype: string;
  filename: string;
  colInfo: string | undefined;
}

/** The `file` part of a multipart upload; `colInfo` must come before the file (it is needed to import it). */
async function readMultipart(request: FastifyRequest): Promise<MultipartUpload> {
  const part = await request.file();
  if (!part)
    throw new ApiError(400, 'EMPTY_BODY', 'the multipart body has no file: add the data as field "file"');
  if (part.fieldname !== 'file') {
    throw new ApiError(
      400,
      'UNEXPECTED_FILE_FIELD',
      `the multipart file field must be named "file", not "${part.fieldname}"`,
    );
  }
  const field = part.fields['colInfo'];
  const colInfo = field && !Array.isArray(field) && field.type === 'field' ? String(field.value) : undefined;
  return { file: part.file, mimetype: baseType(part.mimetype), filename: part.filename, colInfo };
}
