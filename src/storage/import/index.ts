import { mkdir } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { IMPORT_FORMATS, ImportError, type ImportOptions, type ImportOutcome } from '../importTypes.ts';
import { importArrow } from './arrow.ts';
import { importCsv } from './csv.ts';
import { importNdjson } from './ndjson.ts';
import { importParquet } from './parquet.ts';

/**
 * Reads a whole upload and writes it as chunks `options.stagingDir/chunks/000000.arrow`, ... (Arrow IPC
 * file format, one record batch each). Bad input throws ImportError; the caller removes the staging
 * folder on failure and renames it on success.
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
