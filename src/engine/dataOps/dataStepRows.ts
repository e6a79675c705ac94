import {
  type Data,
  DataType,
  Field,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
} from 'apache-arrow';
import type { VarInfo, VarType } from '../../storage/datasetMeta.ts';
import {
  arrowTypeFor,
  boolData,
  dateDayData,
  dictionaryData,
  float64Data,
  int32Data,
  levelsVector,
  packValidity,
  utf8Data,
} from '../../storage/import/arrowChunk.ts';
import { readFactorCodes, readNumeric } from '../columns.ts';

/**
 * Row gathering for the data operations (rxDataStep, rxFactors, rxSplit): reads a chunk's columns once
 * into flat arrays and builds new single-batch chunks from chosen rows of one or more tables, in the
 * stored types of datasetMeta.ts (so exports and readers see exactly what an import writes).
 */

/** One column of one table as flat arrays; `valid` is one byte per row (1 = present), null when none is missing. */
export type ColumnValues =
  | { kind: 'number'; values: Float64Array; valid: Uint8Array | null }
  | { kind: 'codes'; codes: Int32Array; valid: Uint8Array | null }
  | {
      kind: 'text';
      /** Row r's UTF-8 bytes are bytes[offsets[r] .. offsets[r + 1]). */
      offsets: Int32Array;
      bytes: Uint8Array;
      valid: Uint8Array | null;
    };

/** Rows of `table` to copy, in output order. */
export interface RowSource {
  table: Table;
  /** Row indices into `table`; null = every row in order. */
  rows: Int32Array | null;
}

/** Validity of one batch, unpacked; null when the batch has no missing row. */
function batchValidity(data: Data): Uint8Array | null {
  if (DataType.isNull(data.type)) return new Uint8Array(data.length);
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return null;
  const bits = data.nullBitmap;
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const bit = data.offset + i;
    out[i] = ((bits[bit >> 3] ?? 0) >> (bit & 7)) & 1;
  }
  return out;
}

/** A string column's bytes and offsets (batches copied into one when there are several). */
function readText(table: Table, name: string): ColumnValues {
  const vector = table.getChild(name);
  if (vector === null) throw new Error(`column '${name}' is not in the chunk`);
  const batches = vector.data;
  const numRows = table.numRows;
  const first = batches[0];
  if (batches.length === 1 && first !== undefined && !DataType.isNull(first.type)) {
    // Offsets of a sliced batch are already cut to the slice and stay absolute into the whole byte buffer.
    return {
      kind: 'text',
      offsets: toInt32Offsets(first.valueOffsets, numRows + 1),
      bytes: first.values as Uint8Array,
      valid: batchValidity(first),
    };
  }
  let total = 0;
  for (const data of batches) {
    if (DataType.isNull(data.type)) continue;
    const o = toInt32Offsets(data.valueOffsets, data.length + 1);
    total += (o[data.length] ?? 0) - (o[0] ?? 0);
  }
  const offsets = new Int32Array(numRows + 1);
  const bytes = new Uint8Array(total);
  const valid = new Uint8Array(numRows);
  let row = 0;
  let at = 0;
  for (const data of batches) {
    const batchValid = batchValidity(data);
    if (DataType.isNull(data.type)) {
      for (let i = 0; i < data.length; i++) offsets[++row] = at;
      continue;
    }
    const o = toInt32Offsets(data.valueOffsets, data.length + 1);
    const source = data.values as Uint8Array;
    const start = o[0] ?? 0;
    const end = o[data.length] ?? 0;
    bytes.set(source.subarray(start, end), at);
    for (let i = 0; i < data.length; i++) {
      valid[row] = batchValid === null ? 1 : (batchValid[i] ?? 0);
      offsets[row + 1] = at + (o[i + 1] ?? 0) - start;
      row++;
    }
    at += end - start;
  }
  return { kind: 'text', offsets, bytes, valid: valid.includes(0) ? valid : null };
}

function toInt32Offsets(offsets: unknown, length: number): Int32Array {
  if (offsets instanceof Int32Array) return offsets.subarray(0, length);
  if (offsets instanceof BigInt64Array) {
    const out = new Int32Array(length);
    for (let i = 0; i < length; i++) out[i] = Number(offsets[i] ?? 0n);
    return out;
  }
  throw new Error('string column without value offsets');
}

/** Reads `variable` (by `source`, its column name in the table when it differs) as flat arrays. */
export function readColumn(table: Table, variable: VarInfo, source = variable.name): ColumnValues {
  switch (variable.type) {
    case 'factor': {
      const { codes, valid } = readFactorCodes(table, source, variable.levels);
      return { kind: 'codes', codes, valid };
    }
    case 'string':
      return readText(table, source);
    default: {
      const { values, valid } = readNumeric(table, source);
      return { kind: 'number', values, valid };
    }
  }
}

/** 1 where the row has a value: present and, for numbers, not NaN (RevoScaleR counts NaN as missing). */
export function presentMask(column: ColumnValues, numRows: number): Uint8Array | null {
  if (column.kind !== 'number') return column.valid;
  const { values, valid } = column;
  let mask: Uint8Array | null = null;
  for (let i = 0; i < numRows; i++) {
    if ((valid === null || valid[i] === 1) && Number.isNaN(values[i])) {
      if (mask === null) mask = valid === null ? new Uint8Array(numRows).fill(1) : valid.slice(0, numRows);
      mask[i] = 0;
    }
  }
  return mask ?? valid;
}

/** Indices of the rows set in `mask`. */
export function rowsOf(mask: Uint8Array, numRows: number): Int32Array {
  let count = 0;
  for (let i = 0; i < numRows; i++) count += mask[i] ?? 0;
  const rows = new Int32Array(count);
  let at = 0;
  for (let i = 0; i < numRows; i++) if (mask[i] === 1) rows[at++] = i;
  return rows;
}

/** The indices start .. end - 1. */
export function rowRange(start: number, end: number): Int32Array {
  const rows = new Int32Array(Math.max(0, end - start));
  for (let i = 0; i < rows.length; i++) rows[i] = start + i;
  return rows;
}

function sourceLength(source: RowSource): number {
  return source.rows === null ? source.table.numRows : source.rows.length;
}

/** A column's values, one entry per output row, gathered from the sources in order. */
interface Gathered {
  rows: number;
  valid: Uint8Array;
}

function gatherValidity(columns: readonly ColumnValues[], sources: readonly RowSource[]): Gathered {
  const rows = sources.reduce((n, s) => n + sourceLength(s), 0);
  const valid = new Uint8Array(rows);
  let at = 0;
  sources.forEach((source, s) => {
    const v = columns[s]!.valid;
    const n = sourceLength(source);
    if (v === null) valid.fill(1, at, at + n);
    else if (source.rows === null) valid.set(v.subarray(0, n), at);
    else for (let i = 0; i < n; i++) valid[at + i] = v[source.rows[i]!]!;
    at += n;
  });
  return { rows, valid };
}

function gatherNumbers(columns: readonly ColumnValues[], sources: readonly RowSource[], rows: number) {
  const out = new Float64Array(rows);
  let at = 0;
  sources.forEach((source, s) => {
    const column = columns[s]!;
    if (column.kind !== 'number') throw new Error('gather: mixed column kinds');
    const n = sourceLength(source);
    if (source.rows === null) out.set(column.values.subarray(0, n), at);
    else for (let i = 0; i < n; i++) out[at + i] = column.values[source.rows[i]!]!;
    at += n;
  });
  return out;
}

function gatherCodes(columns: readonly ColumnValues[], sources: readonly RowSource[], rows: number) {
  const out = new Int32Array(rows);
  let at = 0;
  sources.forEach((source, s) => {
    const column = columns[s]!;
    if (column.kind !== 'codes') throw new Error('gather: mixed column kinds');
    const n = sourceLength(source);
    if (source.rows === null) out.set(column.codes.subarray(0, n), at);
    else for (let i = 0; i < n; i++) out[at + i] = column.codes[source.rows[i]!]!;
    at += n;
  });
  return out;
}

function gatherText(
  columns: readonly ColumnValues[],
  sources: readonly RowSource[],
  gathered: Gathered,
): { offsets: Int32Array; bytes: Uint8Array } {
  const offsets = new Int32Array(gathered.rows + 1);
  // First the offsets (lengths of present rows), then one copy per row into a buffer of the exact size.
  let at = 0;
  let total = 0;
  sources.forEach((source, s) => {
    const column = columns[s]!;
    if (column.kind !== 'text') throw new Error('gather: mixed column kinds');
    const n = sourceLength(source);
    for (let i = 0; i < n; i++) {
      const r = source.rows === null ? i : source.rows[i]!;
      if (gathered.valid[at + i] === 1) total += column.offsets[r + 1]! - column.offsets[r]!;
      offsets[at + i + 1] = total;
    }
    at += n;
  });
  const bytes = new Uint8Array(total);
  at = 0;
  sources.forEach((source, s) => {
    const column = columns[s] as Extract<ColumnValues, { kind: 'text' }>;
    const n = sourceLength(source);
    for (let i = 0; i < n; i++) {
      if (gathered.valid[at + i] !== 1) continue;
      const r = source.rows === null ? i : source.rows[i]!;
      bytes.set(column.bytes.subarray(column.offsets[r]!, column.offsets[r + 1]!), offsets[at + i]!);
    }
    at += n;
  });
  return { offsets, bytes };
}

function timestampMsData(ms: Float64Array, valid: Uint8Array, rows: number): Data<TimestampMillisecond> {
  const out = new BigInt64Array(rows);
  // Missing rows may hold anything (even NaN, which BigInt refuses): they are written as 0.
  for (let r = 0; r < rows; r++) if (valid[r] === 1) out[r] = BigInt(Math.round(ms[r]!));
  return makeData({
    type: new TimestampMillisecond('UTC'),
    length: rows,
    ...packValidity(valid, rows),
    data: out,
  });
}

/**
 * One output column in `variable`'s stored type from `columns[s]` (read from `sources[s].table`) at the
 * rows `sources[s].rows`. `dictionaryId` must differ between the factor columns of one table.
 */
export function gatherColumn(
  variable: VarInfo,
  columns: readonly ColumnValues[],
  sources: readonly RowSource[],
  dictionaryId: number,
): Data {
  const gathered = gatherValidity(columns, sources);
  const { rows, valid } = gathered;
  const type: VarType = variable.type;
  switch (type) {
    case 'numeric':
      return float64Data(gatherNumbers(columns, sources, rows), packValidity(valid, rows), rows);
    case 'integer':
      return int32Data(gatherNumbers(columns, sources, rows), packValidity(valid, rows), rows);
    case 'logical':
      return boolData(gatherNumbers(columns, sources, rows), packValidity(valid, rows), rows);
    case 'date':
      return dateDayData(gatherNumbers(columns, sources, rows), packValidity(valid, rows), rows);
    case 'timestamp':
      return timestampMsData(gatherNumbers(columns, sources, rows), valid, rows);
    case 'factor':
      return factorData(
        gatherCodes(columns, sources, rows),
        valid,
        rows,
        variable.levels ?? [],
        dictionaryId,
      );
    case 'string': {
      const { offsets, bytes } = gatherText(columns, sources, gathered);
      return utf8Data(offsets, bytes, packValidity(valid, rows), rows);
    }
  }
}

/** A factor column with the dataset-wide `levels` as its dictionary; codes of missing rows are set to 0. */
export function factorData(
  codes: Int32Array,
  valid: Uint8Array,
  rows: number,
  levels: readonly string[],
  dictionaryId: number,
): Data {
  for (let r = 0; r < rows; r++) if (valid[r] !== 1) codes[r] = 0;
  return dictionaryData(codes, packValidity(valid, rows), rows, dictionaryId, levelsVector(levels));
}

/**
 * The stored column as it is, when it can be written again untouched: one batch, unsliced, of exactly
 * the stored Arrow type (factors never, since their dictionary id must be the output column's).
 */
export function reusableColumn(table: Table, variable: VarInfo, source = variable.name): Data | null {
  if (variable.type === 'factor') return null;
  const batches = table.getChild(source)?.data;
  const data = batches?.[0];
  if (batches === undefined || batches.length !== 1 || data === undefined || data.offset !== 0) return null;
  return String(data.type) === String(arrowTypeFor(variable.type, 0)) ? data : null;
}

/**
 * Rows `rows` (null: all) of `table` as a new table of `variables`; `values` are the columns already
 * read with readColumn (same order), when the caller has them. Untouched columns are reused as stored.
 */
export function selectRows(
  table: Table,
  variables: readonly VarInfo[],
  rows: Int32Array | null,
  values?: readonly ColumnValues[],
): Table {
  const source: RowSource = { table, rows };
  const columns = variables.map((variable, j) => {
    const reused = rows === null ? reusableColumn(table, variable) : null;
    if (reused !== null) return reused;
    return gatherColumn(variable, [values?.[j] ?? readColumn(table, variable)], [source], j);
  });
  return tableOf(
    variables.map((v) => v.name),
    columns,
    rows === null ? table.numRows : rows.length,
  );
}

/**
 * Copies `variables` from the sources into one new table (one record batch, columns in the given
 * order). Columns are read from each source table once.
 */
export function gatherTable(variables: readonly VarInfo[], sources: readonly RowSource[]): Table {
  const columns = variables.map((variable, j) => {
    const only = sources[0];
    if (sources.length === 1 && only !== undefined && only.rows === null) {
      const reused = reusableColumn(only.table, variable);
      if (reused !== null) return reused;
    }
    const values = sources.map((source) => readColumn(source.table, variable));
    return gatherColumn(variable, values, sources, j);
  });
  const rows = sources.reduce((n, s) => n + sourceLength(s), 0);
  return tableOf(
    variables.map((v) => v.name),
    columns,
    rows,
  );
}

/** A one-batch table of `columns` named `names`. */
export function tableOf(names: readonly string[], columns: readonly Data[], rows: number): Table {
  const fields = columns.map((data, j) => new Field(names[j]!, data.type, true));
  const struct = makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: [...columns] });
  return new Table(new RecordBatch(new Schema(fields), struct));
}
