/**
 * Import: an upload stream in, chunk files and variable info out.
 *
 * Errors are ImportError with a stable code; the message says what to fix, `details` carries the line
 * (1-based, as an editor counts them) or column where it applies. 400 is malformed input or options;
 * 422 is well-formed input that cannot be stored as asked; 415 an unknown format.
 *
 * | code                    | status | meaning                                                            |
 * |-------------------------|--------|--------------------------------------------------------------------|
 * | EMPTY_BODY              | 400    | no data at all (a CSV header alone is fine: a 0-row dataset)       |
 * | INVALID_CSV             | 400    | not UTF-8 text (NUL bytes, invalid UTF-8), text after a closing quote, a line over 64 MiB |
 * | RAGGED_ROW              | 400    | a CSV record with another field count than the header (`line`, `expected`, `found`) |
 * | UNTERMINATED_QUOTE      | 400    | a quoted CSV field that never closes (`line` where it opens)       |
 * | DUPLICATE_COLUMN        | 400    | two columns with one name, also after colInfo newName              |
 * | UNKNOWN_COLINFO_COLUMN  | 400    | colInfo names a column the data does not have                      |
 * | INVALID_COLINFO         | 400    | colInfo that cannot apply: unknown type, levels on a non-factor, repeated levels, empty newName |
 * | INVALID_ROWS_PER_CHUNK  | 400    | rowsPerChunk is not a whole number >= 1                            |
 * | INVALID_JSON            | 400    | an NDJSON line that is not a JSON object, or not UTF-8 (`line`)    |
 * | INVALID_ARROW           | 400    | not a readable Arrow IPC stream or file                            |
 * | INVALID_PARQUET         | 400    | not a readable Parquet file                                        |
 * | COLINFO_TYPE_MISMATCH   | 422    | a value that does not parse as the colInfo type (`line`, `column`, `value`) |
 * | TOO_MANY_LEVELS         | 422    | a forced factor with over 100 000 distinct values                  |
 * | UNSUPPORTED_JSON_VALUE  | 422    | a nested object or array in NDJSON                                 |
 * | UNSUPPORTED_ARROW_TYPE  | 422    | an Arrow column type we cannot store (lists, structs, binary...)   |
 * | UNSUPPORTED_PARQUET_TYPE| 422    | a Parquet column we cannot store (nested, repeated, TIME, JSON...) |
 * | UNSUPPORTED_FORMAT      | 415    | a format other than csv, ndjson, arrow, parquet                    |
 */
import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { IMPORT_FORMATS, ImportError, type ImportOptions, type ImportOutcome } from '../importTypes.ts';
import { importArrow } from './arrow.ts';
import { importCsv } from './csv.ts';
import { importNdjson } from './ndjson.ts';
import { importParquet } from './parquet.ts';

/**
 * Reads a whole upload and writes it as chunks `options.stagingDir/chunks/000000.arrow`, ... (Arrow IPC
 * file format, one record batch each, uncompressed; every chunk but the last holds rowsPerChunk rows).
 * Bad input throws ImportError; the caller removes the staging folder on failure and renames it on
 * success. Temporary files (the spooled upload) are removed on success.
 */
export async function importDataset(input: Readable, options: ImportOptions): Promise<ImportOutcome> {
  if (
    options.rowsPerChunk !== undefined &&
    (!Number.isInteger(options.rowsPerChunk) || options.rowsPerChunk < 1)
  ) {
    throw new ImportError(
      'INVALID_ROWS_PER_CHUNK',
      'rowsPerChunk must be a whole number of at least 1',
      400,
      {
        rowsPerChunk: options.rowsPerChunk,
      },
    );
  }
  await mkdir(options.stagingDir, { recursive: true });
  switch (options.format) {
    case 'csv':
      return importCsv(input, options);
    case 'ndjson':
      return importNdjson(input, options);
    case 'arrow':
      return importArrow(input, options);
    case 'parquet':
      return importParquet(input, options);
    default:
      throw new ImportError(
        'UNSUPPORTED_FORMAT',
        `cannot import format '${String(options.format)}'; use one of ${IMPORT_FORMATS.join(', ')}`,
        415,
        { format: options.format },
      );
  }
}
