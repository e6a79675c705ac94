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
 * Columns as flat arrays for the external sort and the merge (rxSort, rxMerge): what a sorted run file
 * holds, what a partition task merges, and what output chunks are gathered from. Three kinds cover
 * every stored type: numbers (numeric, integer, logical, date in days, timestamp in ms: all exact as
 * doubles), factor codes, and UTF-8 text.
 */
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

export type ColumnKind = ColumnValues['kind'];

export function kindOf(type: VarType): ColumnKind {
  return type === 'factor' ? 'codes' : type === 'string' ? 'text' : 'number';
}

/** Validity bytes of one Arrow batch (1 = present), or null when it has no missing row. */
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

function int32Offsets(offsets: unknown, length: number): Int32Array {
  if (offsets instanceof Int32Array) return offsets.subarray(0, length);
  if (offsets instanceof BigInt64Array) {
    const out = new Int32Array(length);
    for (let i = 0; i < length; i++) out[i] = Number(offsets[i] ?? 0n);
    return out;
  }
  throw new Error('string column without value offsets');
}

/** A string column as one offsets/bytes pair (batches copied together; offsets rebased to 0). */
function readText(table: Table, name: string): ColumnValues {
  const vector = table.getChild(name);
  if (vector === null) throw new Error(`column '${name}' is not in the chunk`);
  const numRows = table.numRows;
  let total = 0;
  for (const data of vector.data) {
    if (DataType.isNull(data.type)) continue;
    const o = int32Offsets(data.valueOffsets, data.length + 1);
    total += o[data.length]! - o[0]!;
  }
  const offsets = new Int32Array(numRows + 1);
  const bytes = new Uint8Array(total);
  const valid = new Uint8Array(numRows);
  let row = 0;
  let at = 0;
  for (const data of vector.data) {
    const present = batchValidity(data);
    if (DataType.isNull(data.type)) {
      for (let i = 0; i < data.length; i++) offsets[++row] = at;
      continue;
    }
    // Offsets of a sliced batch are cut to the slice but stay absolute into the whole byte buffer.
    const o = int32Offsets(data.valueOffsets, data.length + 1);
    const start = o[0]!;
    bytes.set((data.values as Uint8Array).subarray(start, o[data.length]!), at);
    for (let i = 0; i < data.length; i++) {
      valid[row] = present === null ? 1 : present[i]!;
      offsets[++row] = at + o[i + 1]! - start;
    }
    at += o[data.length]! - start;
  }
  return { kind: 'text', offsets, bytes, valid: valid.includes(0) ? valid : null };
}

/** Reads `variable` from `table` (column `source`, by default its own name) as flat arrays. */
export function readColumnValues(table: Table, variable: VarInfo, source = variable.name): ColumnValues {
  switch (kindOf(variable.type)) {
    case 'codes': {
      const { codes, valid } = readFactorCodes(table, source, variable.levels);
      return { kind: 'codes', codes, valid };
    }
    case 'text':
      return readText(table, source);
    default: {
      const { values, valid } = readNumeric(table, source);
      return { kind: 'number', values, valid };
    }
  }
}

/** True when row `i` of `column` has no value: missing, or NaN (RevoScaleR counts NaN as missing). */
export function isMissing(column: ColumnValues, i: number): boolean {
  if (column.valid !== null && column.valid[i] === 0) return true;
  return column.kind === 'number' && Number.isNaN(column.values[i]);
}

/** A column of `rows` rows, all missing, of the given kind. */
export function missingColumn(kind: ColumnKind, rows: number): ColumnValues {
  const valid = new Uint8Array(rows);
  if (kind === 'number') return { kind, values: new Float64Array(rows), valid };
  if (kind === 'codes') return { kind, codes: new Int32Array(rows), valid };
  return { kind, offsets: new Int32Array(rows + 1), bytes: new Uint8Array(0), valid };
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
  // Where each output row comes from: 0 = `column`, 1 = `other`, 2 = nowhere (missing).
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
  const texts = sources as Array<Extract<ColumnValues, { kind: 'text' }>>;
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

/** The columns one after another (all of one kind), as one column. */
export function concatColumns(kind: ColumnKind, parts: readonly ColumnValues[]): ColumnValues {
  let rows = 0;
  for (const part of parts) rows += part.kind === 'text' ? part.offsets.length - 1 : lengthOf(part);
  const anyMissing = parts.some((part) => part.valid !== null);
  const valid = anyMissing ? new Uint8Array(rows) : null;
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
      const n = part.values.length;
      values.set(part.values, at);
      copyValid(part, n);
      at += n;
    }
    return { kind, values, valid };
  }
  if (kind === 'codes') {
    const codes = new Int32Array(rows);
    for (const part of parts) {
      if (part.kind !== 'codes') throw new Error('concatColumns: mixed kinds');
      const n = part.codes.length;
      codes.set(part.codes, at);
      copyValid(part, n);
      at += n;
    }
    return { kind, codes, valid };
  }
  let total = 0;
  for (const part of parts) if (part.kind === 'text') total += part.offsets[part.offsets.length - 1]!;
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

function lengthOf(column: ColumnValues): number {
  if (column.kind === 'number') return column.values.length;
  if (column.kind === 'codes') return column.codes.length;
  return column.offsets.length - 1;
}

function allPresent(rows: number): Uint8Array {
  return new Uint8Array(rows).fill(1);
}

function timestampMsData(ms: Float64Array, valid: Uint8Array, rows: number): Data<TimestampMillisecond> {
  const out = new BigInt64Array(rows);
  // Missing rows may hold anything (NaN included, which BigInt refuses): they are written as 0.
  for (let r = 0; r < rows; r++) if (valid[r] === 1) out[r] = BigInt(Math.round(ms[r]!));
  return makeData({
    type: new TimestampMillisecond('UTC'),
    length: rows,
    ...packValidity(valid, rows),
    data: out,
  });
}

/**
 * `column` (of `rows` rows) as Arrow data of `variable`'s stored type (datasetMeta.ts). Factor codes
 * must already be codes into `variable.levels`. `dictionaryId` differs between the factors of a table.
 */
export function arrowData(variable: VarInfo, column: ColumnValues, rows: number, dictionaryId: number): Data {
  const valid = column.valid === null ? allPresent(rows) : column.valid.subarray(0, rows);
  const validity = packValidity(valid, rows);
  switch (variable.type) {
    case 'factor': {
      if (column.kind !== 'codes') throw new Error(`factor '${variable.name}' needs codes`);
      const codes = column.codes.slice(0, rows);
      for (let r = 0; r < rows; r++) if (valid[r] !== 1) codes[r] = 0;
      return dictionaryData(codes, validity, rows, dictionaryId, levelsVector(variable.levels ?? []));
    }
    case 'string': {
      if (column.kind !== 'text') throw new Error(`string '${variable.name}' needs text`);
      return utf8Data(column.offsets, column.bytes, validity, rows);
    }
    default: {
      if (column.kind !== 'number') throw new Error(`'${variable.name}' needs numbers`);
      const values = column.values.subarray(0, rows);
      switch (variable.type) {
        case 'numeric':
          return float64Data(values, validity, rows);
        case 'integer': {
          const ints = new Int32Array(rows);
          for (let r = 0; r < rows; r++) if (valid[r] === 1) ints[r] = values[r]!;
          return int32Data(ints, validity, rows);
        }
        case 'logical':
          return boolData(values, validity, rows);
        case 'date': {
          const days = new Int32Array(rows);
          for (let r = 0; r < rows; r++) if (valid[r] === 1) days[r] = values[r]!;
          return dateDayData(days, validity, rows);
        }
        default:
          return timestampMsData(values, valid, rows);
      }
    }
  }
}

/** A one-batch table of `variables` from `columns` (same order), as every stored chunk is. */
export function tableOf(
  variables: readonly VarInfo[],
  columns: readonly ColumnValues[],
  rows: number,
): Table {
  const data = variables.map((variable, j) => arrowData(variable, columns[j]!, rows, j));
  const fields = data.map((d, j) => new Field(variables[j]!.name, d.type, true));
  const struct = makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: data });
  return new Table(new RecordBatch(new Schema(fields), struct));
}
