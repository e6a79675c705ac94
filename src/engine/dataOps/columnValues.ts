import type { Data, Table } from 'apache-arrow';
import {
  arrowTypeFor,
  boolData,
  dateDayData,
  dictionaryData,
  float64Data,
  int32Data,
  levelsVector,
  packValidity,
  tableFromData,
  timestampData,
  utf8Data,
} from '../../arrowData.ts';
import type { VarInfo, VarType } from '../../storage/datasetMeta.ts';
import { andMasks, readFactorCodes, readNumeric, readUtf8, usableMask } from '../columns.ts';

/**
 * Columns as flat arrays for the data operations (rxDataStep, rxFactors, rxSplit, rxSort, rxMerge): what
 * they read from a chunk, what a sorted run file holds, and what output chunks are built from. Three
 * kinds cover every stored type: numbers (numeric, integer, logical, date in days, timestamp in ms: all
 * exact as doubles), factor codes (into the variable's levels) and UTF-8 text, never decoded. Output goes
 * back to Arrow in the stored types of datasetMeta.ts, so readers see exactly what an import writes.
 *
 * `valid` is one byte per row (1 = present), null when no row is missing. Columns read from a chunk may
 * be views of its buffers: nothing here writes to a column it was given.
 */
export type ColumnValues =
  | { kind: 'number'; values: Float64Array; valid: Uint8Array | null }
  | { kind: 'codes'; codes: Int32Array; valid: Uint8Array | null }
  | {
      kind: 'text';
      /** Row r's bytes are bytes[offsets[r] .. offsets[r + 1]); offsets need not start at 0. */
      offsets: Int32Array;
      bytes: Uint8Array;
      valid: Uint8Array | null;
    };

export type ColumnKind = ColumnValues['kind'];
export type TextValues = Extract<ColumnValues, { kind: 'text' }>;

export function kindOf(type: VarType): ColumnKind {
  return type === 'factor' ? 'codes' : type === 'string' ? 'text' : 'number';
}

/** Reads `variable` from `table` (column `source`, by default its own name). */
export function readColumn(table: Table, variable: VarInfo, source = variable.name): ColumnValues {
  switch (kindOf(variable.type)) {
    case 'codes':
      return { kind: 'codes', ...readFactorCodes(table, source, variable.levels) };
    case 'text':
      return { kind: 'text', ...readUtf8(table, source) };
    default:
      return { kind: 'number', ...readNumeric(table, source) };
  }
}

export function columnLength(column: ColumnValues): number {
  if (column.kind === 'number') return column.values.length;
  if (column.kind === 'codes') return column.codes.length;
  return column.offsets.length - 1;
}

/** True when row `i` of `column` has no value: missing, or NaN (RevoScaleR counts NaN as missing). */
export function isMissing(column: ColumnValues, i: number): boolean {
  if (column.valid !== null && column.valid[i] === 0) return true;
  return column.kind === 'number' && Number.isNaN(column.values[i]);
}

/**
 * removeMissings: 1 for the rows of `table` with a value in each of `variables` (NaN counts as missing),
 * null when every row has; with the columns read to find them, for selectRows to reuse.
 */
export function completeRows(
  table: Table,
  variables: readonly VarInfo[],
): { mask: Uint8Array | null; columns: ColumnValues[] } {
  const numRows = table.numRows;
  const columns = variables.map((variable) => readColumn(table, variable));
  const present = columns.map((c) => (c.kind === 'number' ? usableMask(c, numRows) : c.valid));
  return { mask: andMasks(numRows, present), columns };
}

/** Indices of the rows set in `mask`. */
export function rowsOf(mask: Uint8Array, numRows: number): Int32Array {
  let count = 0;
  for (let i = 0; i < numRows; i++) count += mask[i]!;
  const rows = new Int32Array(count);
  let at = 0;
  for (let i = 0; i < numRows; i++) if (mask[i] === 1) rows[at++] = i;
  return rows;
}

/** A column of `rows` rows, all missing, of the given kind. */
export function missingColumn(kind: ColumnKind, rows: number): ColumnValues {
  const valid = new Uint8Array(rows);
  if (kind === 'number') return { kind, values: new Float64Array(rows), valid };
  if (kind === 'codes') return { kind, codes: new Int32Array(rows), valid };
  return { kind, offsets: new Int32Array(rows + 1), bytes: new Uint8Array(0), valid };
}

/** Rows [from, to) of `column` as a view, without copying (text keeps its bytes; offsets stay absolute). */
export function sliceRows(column: ColumnValues, from: number, to: number): ColumnValues {
  const valid = column.valid?.subarray(from, to) ?? null;
  if (column.kind === 'number') return { kind: 'number', values: column.values.subarray(from, to), valid };
  if (column.kind === 'codes') return { kind: 'codes', codes: column.codes.subarray(from, to), valid };
  return { kind: 'text', offsets: column.offsets.subarray(from, to + 1), bytes: column.bytes, valid };
}

/**
 * Rows `rows[from .. to)` of `column` (a negative index gives a missing row), as a new column. With
 * `other`, a negative index in `rows` takes row `otherRows[i]` of `other` instead: the one copy of the
 * match variables a join writes comes from whichever side the output row has.
 */
export function gatherRows(
  column: ColumnValues,
  rows: Int32Array,
  from: number,
  to: number,
  other?: { column: ColumnValues; rows: Int32Array },
): ColumnValues {
  const n = to - from;
  // Where each output row comes from: 0 = `column`, 1 = `other`, 2 = nowhere (missing). Resolved once
  // per column, so the loops below are one typed-array read per row.
  const side = new Uint8Array(n);
  const at = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = rows[from + i]!;
    if (r >= 0) at[i] = r;
    else if (other !== undefined && other.rows[from + i]! >= 0) {
      side[i] = 1;
      at[i] = other.rows[from + i]!;
    } else side[i] = 2;
  }
  const sources = [column, other?.column ?? column];
  const valid = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    if (side[i] === 2) continue;
    const v = sources[side[i]!]!.valid;
    valid[i] = v === null ? 1 : v[at[i]!]!;
  }
  if (column.kind === 'number') {
    const a = column.values;
    const b = (sources[1] as typeof column).values;
    const values = new Float64Array(n);
    for (let i = 0; i < n; i++) if (side[i] !== 2) values[i] = (side[i] === 0 ? a : b)[at[i]!]!;
    return { kind: 'number', values, valid };
  }
  if (column.kind === 'codes') {
    const a = column.codes;
    const b = (sources[1] as typeof column).codes;
    const codes = new Int32Array(n);
    for (let i = 0; i < n; i++) if (side[i] !== 2) codes[i] = (side[i] === 0 ? a : b)[at[i]!]!;
    return { kind: 'codes', codes, valid };
  }
  // Text: lengths first, then one copy per row into a buffer of the exact size.
  const texts = sources as TextValues[];
  const offsets = new Int32Array(n + 1);
  let total = 0;
  for (let i = 0; i < n; i++) {
    if (valid[i] === 1) {
      const t = texts[side[i]!]!;
      total += t.offsets[at[i]! + 1]! - t.offsets[at[i]!]!;
    }
    offsets[i + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let i = 0; i < n; i++) {
    if (valid[i] !== 1) continue;
    const t = texts[side[i]!]!;
    bytes.set(t.bytes.subarray(t.offsets[at[i]!]!, t.offsets[at[i]! + 1]!), offsets[i]!);
  }
  return { kind: 'text', offsets, bytes, valid };
}

/** The columns one after another (all of `kind`), as one column; a single column is returned as it is. */
export function concatColumns(kind: ColumnKind, parts: readonly ColumnValues[]): ColumnValues {
  if (parts.length === 1) return parts[0]!;
  const rows = parts.reduce((n, part) => n + columnLength(part), 0);
  const valid = parts.some((part) => part.valid !== null) ? new Uint8Array(rows) : null;
  let at = 0;
  const copyValid = (part: ColumnValues, n: number) => {
    if (valid === null) return;
    if (part.valid === null) valid.fill(1, at, at + n);
    else valid.set(part.valid.subarray(0, n), at);
  };
  if (kind === 'number') {
    const values = new Float64Array(rows);
    for (const part of parts) {
      if (part.kind !== 'number') throw new Error('concatColumns: mixed kinds');
      values.set(part.values, at);
      copyValid(part, part.values.length);
      at += part.values.length;
    }
    return { kind, values, valid };
  }
  if (kind === 'codes') {
    const codes = new Int32Array(rows);
    for (const part of parts) {
      if (part.kind !== 'codes') throw new Error('concatColumns: mixed kinds');
      codes.set(part.codes, at);
      copyValid(part, part.codes.length);
      at += part.codes.length;
    }
    return { kind, codes, valid };
  }
  let total = 0;
  for (const part of parts) if (part.kind === 'text') total += part.offsets.at(-1)! - part.offsets[0]!;
  const offsets = new Int32Array(rows + 1);
  const bytes = new Uint8Array(total);
  let byteAt = 0;
  for (const part of parts) {
    if (part.kind !== 'text') throw new Error('concatColumns: mixed kinds');
    const n = part.offsets.length - 1;
    const base = part.offsets[0]!;
    const end = part.offsets[n]!;
    bytes.set(part.bytes.subarray(base, end), byteAt);
    for (let i = 1; i <= n; i++) offsets[at + i] = byteAt + part.offsets[i]! - base;
    copyValid(part, n);
    byteAt += end - base;
    at += n;
  }
  return { kind, offsets, bytes, valid };
}

/**
 * Factor codes to store: as they are, or a copy with the codes of missing rows set to 0 when one is not
 * (a missing row's code may be -1 or stale, and a stored index must stay inside the dictionary).
 */
function storedCodes(codes: Int32Array, valid: Uint8Array | null, rows: number): Int32Array {
  if (valid === null) return codes;
  let r = 0;
  while (r < rows && (valid[r] === 1 || codes[r] === 0)) r++;
  if (r === rows) return codes;
  const out = codes.slice(0, rows);
  for (; r < rows; r++) if (valid[r] !== 1) out[r] = 0;
  return out;
}

/**
 * `column` (its first `rows` rows) as Arrow data of `variable`'s stored type. Factor codes must be codes
 * into `variable.levels`. `dictionaryId` must differ between the factors of one table.
 */
export function arrowData(variable: VarInfo, column: ColumnValues, rows: number, dictionaryId: number): Data {
  const { valid } = column;
  const validity = valid === null ? { nullBitmap: undefined, nullCount: 0 } : packValidity(valid, rows);
  if (column.kind !== kindOf(variable.type))
    throw new Error(`'${variable.name}' (${variable.type}) cannot be written from ${column.kind}`);
  if (column.kind === 'codes') {
    const codes = storedCodes(column.codes, valid, rows);
    return dictionaryData(codes, validity, rows, dictionaryId, levelsVector(variable.levels ?? []));
  }
  if (column.kind === 'text') return utf8Data(column.offsets, column.bytes, validity, rows);
  const { values } = column;
  switch (variable.type) {
    case 'integer':
      return int32Data(values, validity, rows);
    case 'logical':
      return boolData(values, validity, rows);
    case 'date':
      return dateDayData(values, validity, rows);
    case 'timestamp':
      return timestampData(values, validity, rows);
    default:
      return float64Data(values, validity, rows);
  }
}

/** A one-batch table of `variables` from `columns` (same order, `rows` rows), as every stored chunk is. */
export function tableOf(
  variables: readonly VarInfo[],
  columns: readonly ColumnValues[],
  rows: number,
): Table {
  return tableFromData(
    variables.map((v) => v.name),
    variables.map((variable, j) => arrowData(variable, columns[j]!, rows, j)),
    rows,
  );
}

/**
 * All of `variable`'s column in `table` as output data: the stored column itself when it can be written
 * again untouched (one unsliced batch of exactly the stored type; never a factor, whose dictionary id
 * must be the output column's), else rebuilt from `column` (read here when not given).
 */
export function wholeColumn(
  table: Table,
  variable: VarInfo,
  dictionaryId: number,
  column?: ColumnValues,
): Data {
  const batches = table.getChild(variable.name)?.data;
  const data = batches?.[0];
  if (
    variable.type !== 'factor' &&
    batches?.length === 1 &&
    data !== undefined &&
    data.offset === 0 &&
    String(data.type) === String(arrowTypeFor(variable.type, 0))
  )
    return data;
  return arrowData(variable, column ?? readColumn(table, variable), table.numRows, dictionaryId);
}

/**
 * Rows `rows` (null: all, in order) of `variables` of `table` as a new table. `columns` are the
 * variables already read (same order), when the caller has them; whole columns are reused as stored.
 */
export function selectRows(
  table: Table,
  variables: readonly VarInfo[],
  rows: Int32Array | null,
  columns?: readonly ColumnValues[],
): Table {
  const n = rows === null ? table.numRows : rows.length;
  const data = variables.map((variable, j) => {
    if (rows === null) return wholeColumn(table, variable, j, columns?.[j]);
    const column = columns?.[j] ?? readColumn(table, variable);
    return arrowData(variable, gatherRows(column, rows, 0, n), n, j);
  });
  return tableFromData(
    variables.map((v) => v.name),
    data,
    n,
  );
}
