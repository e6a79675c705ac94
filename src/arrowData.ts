import {
  Bool,
  type Data,
  DateDay,
  Dictionary,
  Field,
  Float64,
  Int32,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  TimestampMillisecond,
  Utf8,
  type Vector,
  vectorFromArray,
} from 'apache-arrow';
import type { VarType } from './storage/datasetMeta.ts';

/**
 * Arrow column data from typed arrays plus validity, in the types of the storage contract
 * (src/storage/datasetMeta.ts). Shared by the importer (chunks on disk) and the engine (columns that
 * transforms compute), which is why it sits beside neither.
 */

export function arrowTypeFor(type: VarType, dictionaryId: number) {
  switch (type) {
    case 'numeric':
      return new Float64();
    case 'integer':
      return new Int32();
    case 'logical':
      return new Bool();
    case 'factor':
      return new Dictionary(new Utf8(), new Int32(), dictionaryId);
    case 'string':
      return new Utf8();
    case 'date':
      return new DateDay();
    case 'timestamp':
      return new TimestampMillisecond('UTC');
  }
}

export function levelsVector(levels: readonly string[]): Vector<Utf8> {
  return vectorFromArray(levels as string[], new Utf8());
}

export interface Validity {
  nullBitmap: Uint8Array | undefined;
  nullCount: number;
}

/** Packs a byte-per-row validity into Arrow's bitmap; no bitmap at all when nothing is missing. */
export function packValidity(valid: Uint8Array, rows: number): Validity {
  let validCount = 0;
  for (let r = 0; r < rows; r++) validCount += valid[r]!;
  if (validCount === rows) return { nullBitmap: undefined, nullCount: 0 };
  const bitmap = new Uint8Array((rows + 7) >> 3);
  for (let r = 0; r < rows; r++) if (valid[r] === 1) bitmap[r >> 3]! |= 1 << (r & 7);
  return { nullBitmap: bitmap, nullCount: rows - validCount };
}

export function allNullValidity(rows: number): Validity {
  return { nullBitmap: new Uint8Array((rows + 7) >> 3), nullCount: rows };
}

export function float64Data(values: Float64Array, validity: Validity, rows: number): Data<Float64> {
  return makeData({
    type: new Float64(),
    length: rows,
    ...validity,
    data: values.length === rows ? values : values.subarray(0, rows),
  });
}

export function int32Data(values: ArrayLike<number>, validity: Validity, rows: number): Data<Int32> {
  return makeData({ type: new Int32(), length: rows, ...validity, data: toInt32(values, rows) });
}

export function dateDayData(days: ArrayLike<number>, validity: Validity, rows: number): Data<DateDay> {
  return makeData({ type: new DateDay(), length: rows, ...validity, data: toInt32(days, rows) });
}

export function timestampData(
  ms: ArrayLike<number>,
  validity: Validity,
  rows: number,
): Data<TimestampMillisecond> {
  const out = new BigInt64Array(rows);
  // Missing rows may hold anything, NaN included, which BigInt refuses: they are written as 0.
  for (let r = 0; r < rows; r++) {
    const v = ms[r]!;
    if (Number.isFinite(v)) out[r] = BigInt(Math.round(v));
  }
  return makeData({ type: new TimestampMillisecond('UTC'), length: rows, ...validity, data: out });
}

export function boolData(values: ArrayLike<number>, validity: Validity, rows: number): Data<Bool> {
  const bits = new Uint8Array((rows + 7) >> 3);
  for (let r = 0; r < rows; r++) if (values[r] === 1) bits[r >> 3]! |= 1 << (r & 7);
  return makeData({ type: new Bool(), length: rows, ...validity, data: bits });
}

export function dictionaryData(
  codes: ArrayLike<number>,
  validity: Validity,
  rows: number,
  dictionaryId: number,
  dictionary: Vector<Utf8>,
): Data<Dictionary<Utf8, Int32>> {
  return makeData({
    type: new Dictionary(new Utf8(), new Int32(), dictionaryId),
    length: rows,
    ...validity,
    data: toInt32(codes, rows),
    dictionary,
  });
}

export function utf8Data(
  offsets: Int32Array,
  bytes: Uint8Array,
  validity: Validity,
  rows: number,
): Data<Utf8> {
  return makeData({
    type: new Utf8(),
    length: rows,
    ...validity,
    valueOffsets: offsets.subarray(0, rows + 1),
    data: bytes,
  });
}

/** UTF-8 bytes and offsets of `codes` looked up in `levels` (null rows are empty). */
export function stringsFromCodes(
  codes: ArrayLike<number>,
  isValid: (row: number) => boolean,
  levels: readonly string[],
  rows: number,
): { offsets: Int32Array; bytes: Uint8Array } {
  const encoded = levels.map((level) => Buffer.from(level, 'utf8'));
  const offsets = new Int32Array(rows + 1);
  let total = 0;
  for (let r = 0; r < rows; r++) {
    if (isValid(r)) total += encoded[codes[r]!]!.length;
    offsets[r + 1] = total;
  }
  const bytes = new Uint8Array(total);
  for (let r = 0; r < rows; r++) if (isValid(r)) bytes.set(encoded[codes[r]!]!, offsets[r]!);
  return { offsets, bytes };
}

function toInt32(values: ArrayLike<number>, rows: number): Int32Array {
  if (values instanceof Int32Array) return values.length === rows ? values : values.subarray(0, rows);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) out[r] = values[r]!;
  return out;
}

/** A one-batch table of `columns` (each `rows` long) named `names`, without copying any buffer. */
export function tableFromData(names: readonly string[], columns: readonly Data[], rows: number): Table {
  const fields = columns.map((data, j) => new Field(names[j]!, data.type, true));
  const struct = makeData({ type: new Struct(fields), length: rows, nullCount: 0, children: [...columns] });
  return new Table(new RecordBatch(new Schema(fields), struct));
}
