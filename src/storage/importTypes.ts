import { UserError } from '../userError.ts';
import type { VarInfo, VarType } from './datasetMeta.ts';

/** Upload formats the importer reads. */
export const IMPORT_FORMATS = ['csv', 'arrow', 'parquet', 'ndjson'] as const;
export type ImportFormat = (typeof IMPORT_FORMATS)[number];

/** Per-column overrides, as rxImport's colInfo: keyed by the column's name in the input. */
export interface ColInfoEntry {
  /** Force the stored type. */
  type?: VarType;
  /** Factor levels in this order; values outside them become missing. */
  levels?: string[];
  /** Store the column under this name. */
  newName?: string;
}
export type ColInfo = Record<string, ColInfoEntry>;

export interface ImportOptions {
  format: ImportFormat;
  /** Folder to write `chunks/<6-digit index>.arrow` into; the caller renames it when the import succeeds. */
  stagingDir: string;
  /** Rows per chunk; when absent, chosen so a chunk is around 16 MB. */
  rowsPerChunk?: number;
  colInfo?: ColInfo;
}

export interface ImportOutcome {
  numRows: number;
  rowsPerChunk: number;
  chunkRows: number[];
  /** Bytes of the chunk files written. */
  bytes: number;
  variables: VarInfo[];
}

/**
 * Bad input found while importing (empty body, ragged rows, garbage, unknown colInfo column...).
 * `code` is stable and documented; the API answers with `status` and this message.
 */
export class ImportError extends UserError {
  declare readonly status: 400 | 413 | 415 | 422;

  constructor(
    code: string,
    message: string,
    status: 400 | 413 | 415 | 422 = 400,
    details?: Record<string, unknown>,
  ) {
    super(status, code, message, details);
    this.name = 'ImportError';
  }
}
