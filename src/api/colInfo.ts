import { Type } from 'typebox';
import { Value } from 'typebox/value';
import { VAR_TYPES } from '../storage/datasetMeta.ts';
import type { ColInfo } from '../storage/importTypes.ts';
import { ApiError } from './errors.ts';

const ColInfoSchema = Type.Record(
  Type.String(),
  Type.Object(
    {
      type: Type.Optional(Type.Union(VAR_TYPES.map((t) => Type.Literal(t)))),
      levels: Type.Optional(Type.Array(Type.String())),
      newName: Type.Optional(Type.String({ minLength: 1 })),
    },
    { additionalProperties: false },
  ),
);

/** Parses the `colInfo` query parameter or multipart field (JSON text) and checks its shape. */
export function parseColInfo(text: string): ColInfo {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ApiError(400, 'INVALID_COLINFO', `colInfo is not valid JSON: ${(error as Error).message}`);
  }
  if (!Value.Check(ColInfoSchema, value)) {
    const fields = Value.Errors(ColInfoSchema, value).map((e) => ({
      field: e.instancePath,
      message: e.message,
    }));
    throw new ApiError(
      400,
      'INVALID_COLINFO',
      'colInfo must be an object of column name -> { type?, levels?, newName? } with type one of ' +
        VAR_TYPES.join(', '),
      { fields },
    );
  }
  return value as ColInfo;
}
