import { type Data, DataType, makeVector, Table, type Vector } from 'apache-arrow';
import {
  dictionaryData,
  float64Data,
  int32Data,
  levelsVector,
  packValidity,
  tableFromData,
  type Validity,
} from '../../arrowData.ts';
import type { VarInfo } from '../../storage/datasetMeta.ts';
import { readFactorCodes, readStrings } from '../columns.ts';

/**
 * What a model's scoring function gives for one chunk: output columns as typed arrays, ready to be
 * written as Arrow (`scoredVector`) next to any columns copied from the input. Shared by the scoring
 * functions of kmeans and naiveBayes (kmeansScore.ts, naiveBayesScore.ts), so a generic predict job
 * can write either without knowing the model.
 */
export interface ScoredColumn {
  name: string;
  type: 'integer' | 'numeric' | 'factor';
  /** integer: Int32Array; numeric: Float64Array; factor: Int32Array of codes into `levels`. */
  values: Int32Array | Float64Array;
  /** 1 = present; null = every row present. */
  valid: Uint8Array | null;
  /** Factor columns only. */
  levels?: string[];
}

export interface ScoredChunk {
  numRows: number;
  columns: ScoredColumn[];
  /** Rows that got a prediction. */
  scored: number;
  /**
   * Rows with a factor level the model never saw. kmeans reads no factors (0); naiveBayes skips that
   * predictor for the row, as a missing value, and still scores it.
   */
  unseenLevels: number;
}

function validityOf(valid: Uint8Array | null, rows: number): Validity {
  return valid === null ? { nullBitmap: undefined, nullCount: 0 } : packValidity(valid, rows);
}

/** The Arrow vector of a scored column (dictionary id 0 is fine: each chunk file holds its own). */
export function scoredVector(column: ScoredColumn, rows: number, dictionaryId = 0): Vector {
  const validity = validityOf(column.valid, rows);
  let data: Data;
  if (column.type === 'numeric') data = float64Data(column.values as Float64Array, validity, rows);
  else if (column.type === 'integer') data = int32Data(column.values, validity, rows);
  else data = dictionaryData(column.values, validity, rows, dictionaryId, levelsVector(column.levels ?? []));
  return makeVector(data);
}

/** A table of scored columns alone (tests, the synchronous predict of a few rows). */
export function scoredTable(scored: ScoredChunk): Table {
  return tableFromData(
    scored.columns.map((c) => c.name),
    scored.columns.map((c, j) => scoredVector(c, scored.numRows, j).data[0] as Data),
    scored.numRows,
  );
}

/** The VarInfo of a scored column, before its low/high/missing are known (dataOps/outputStats.ts fills them). */
export function scoredVarInfo(column: Pick<ScoredColumn, 'name' | 'type' | 'levels'>): VarInfo {
  return {
    name: column.name,
    type: column.type,
    low: null,
    high: null,
    missing: 0,
    ...(column.type === 'factor' ? { levels: column.levels ?? [] } : {}),
  };
}

/**
 * How a factor the model was trained on is read from new data: its codes in the data's own level list
 * mapped BY LABEL onto the training levels (-1: a level training never saw), or its text matched to
 * the training labels (data that hold the factor as strings, as a small CSV may).
 */
export type LevelMapping =
  | { kind: 'identical' }
  | { kind: 'codes'; dataLevels: string[]; map: number[] }
  | { kind: 'strings' };

/** Plans `LevelMapping` for a training factor; null when the data's variable is neither factor nor string. */
export function planLevelMapping(training: readonly string[], data: VarInfo): LevelMapping | null {
  if (data.type === 'string') return { kind: 'strings' };
  if (data.type !== 'factor') return null;
  const given = data.levels ?? [];
  const index = new Map(training.map((level, i) => [level, i]));
  const map = given.map((level) => index.get(level) ?? -1);
  if (given.length === training.length && map.every((code, i) => code === i)) return { kind: 'identical' };
  return { kind: 'codes', dataLevels: given, map };
}

/** A factor read through a `LevelMapping`: codes into the training levels; `unseen` marks unknown levels. */
export interface MappedFactor {
  codes: Int32Array;
  /** 1 = a known level. */
  valid: Uint8Array | null;
  /** 1 = present in the data but not a training level (null: none). */
  unseen: Uint8Array | null;
}

export function readMappedFactor(
  table: Table,
  name: string,
  training: readonly string[],
  mapping: LevelMapping,
): MappedFactor {
  const n = table.numRows;
  if (mapping.kind === 'identical') {
    const { codes, valid } = readFactorCodes(table, name, training);
    return { codes, valid, unseen: null };
  }
  const codes = new Int32Array(n);
  const valid = new Uint8Array(n);
  let unseen: Uint8Array | null = null;
  const place = (i: number, code: number): void => {
    if (code >= 0) {
      codes[i] = code;
      valid[i] = 1;
    } else {
      if (unseen === null) unseen = new Uint8Array(n);
      unseen[i] = 1;
    }
  };
  if (mapping.kind === 'codes') {
    const read = readFactorCodes(table, name, mapping.dataLevels);
    for (let i = 0; i < n; i++) {
      if (read.valid !== null && read.valid[i] === 0) continue;
      place(i, mapping.map[read.codes[i]!] ?? -1);
    }
  } else {
    const index = new Map(training.map((level, i) => [level, i]));
    const text = readStrings(table, name);
    for (let i = 0; i < n; i++) {
      const value = text[i];
      if (value === null || value === undefined) continue;
      place(i, index.get(value) ?? -1);
    }
  }
  return { codes, valid, unseen };
}

/**
 * An output chunk: `copied` input columns first, then the scored ones. Scored factor columns take
 * dictionary ids no copied factor uses (the IPC writer keys dictionaries by id within a table).
 */
export function outputTable(
  copied: ReadonlyArray<{ name: string; vector: Vector }>,
  scored: ScoredChunk,
): Table {
  let nextId = 0;
  for (const { vector } of copied)
    if (DataType.isDictionary(vector.type)) nextId = Math.max(nextId, vector.type.id + 1);
  const scoredVectors = scored.columns.map((column) =>
    scoredVector(column, scored.numRows, column.type === 'factor' ? nextId++ : 0),
  );
  // Chunks are one record batch; a table of several (never made today) goes through Arrow's re-slicing.
  if (copied.some(({ vector }) => vector.data.length !== 1)) {
    const record: Record<string, Vector> = {};
    for (const { name, vector } of copied) record[name] = vector;
    scored.columns.forEach((column, j) => {
      record[column.name] = scoredVectors[j] as Vector;
    });
    return new Table(record);
  }
  return tableFromData(
    [...copied.map((c) => c.name), ...scored.columns.map((c) => c.name)],
    [...copied.map((c) => c.vector.data[0] as Data), ...scoredVectors.map((v) => v.data[0] as Data)],
    scored.numRows,
  );
}

/** A value of a scored column as JSON: numbers, factor labels, null where missing (NaN included). */
export function scoredJsonValue(column: ScoredColumn, row: number): number | string | null {
  if (column.valid !== null && column.valid[row] === 0) return null;
  const value = column.values[row] as number;
  if (column.type === 'factor') return column.levels?.[value] ?? null;
  return Number.isFinite(value) ? value : null;
}
