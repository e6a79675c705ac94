import { Type } from 'typebox';
import { VAR_TYPES } from '../storage/datasetMeta.ts';

/** Response and parameter schemas shared by several routes; each becomes a component in OpenAPI. */

export const VarInfoSchema = Type.Object(
  {
    name: Type.String(),
    type: Type.Union(
      VAR_TYPES.map((t) => Type.Literal(t)),
      { description: 'Storage type' },
    ),
    low: Type.Union([Type.Number(), Type.Null()], {
      description: 'Smallest value (dates: days since 1970-01-01, timestamps: ms; factors: 0)',
    }),
    high: Type.Union([Type.Number(), Type.Null()], { description: 'Largest value (factors: levels - 1)' }),
    missing: Type.Integer({ description: 'Missing values in the whole dataset' }),
    levels: Type.Optional(Type.Array(Type.String(), { description: 'Factor levels in code order' })),
  },
  { $id: 'VarInfo' },
);

export const DatasetInfoSchema = Type.Object(
  {
    id: Type.String({ examples: ['ds_4f1c2a9b0e7d6c5b4a39'] }),
    name: Type.String(),
    createdAt: Type.String({ format: 'date-time' }),
    numRows: Type.Integer(),
    numVars: Type.Integer(),
    numChunks: Type.Integer(),
    rowsPerChunk: Type.Integer(),
    chunkRows: Type.Array(Type.Integer(), { description: 'Rows in each chunk, in order' }),
    bytes: Type.Integer({ description: 'Bytes stored on disk' }),
    source: Type.String({ description: 'csv, arrow, parquet, ndjson, or the job type that wrote it' }),
    variables: Type.Array(Type.Ref('VarInfo')),
  },
  { $id: 'DatasetInfo' },
);

export const IdParams = Type.Object({ id: Type.String({ description: 'Resource id' }) });

export const PageQuery = {
  offset: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
};

export const sharedSchemas = [VarInfoSchema, DatasetInfoSchema];
