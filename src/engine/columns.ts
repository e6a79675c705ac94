import { type Data, DataType, type Table, TimeUnit } from 'apache-arrow';
import { EngineError } from './errors.ts';

/**
 * Column readers for `map`: each turns one chunk column into flat typed arrays ONCE per chunk, so the
 * analyses' hot loops run over typed arrays and never touch Arrow row objects.
 *
 * Arrow facts these readers rely on (apache-arrow v21, `Data._sliceBuffers`):
 * - a sliced `Data` has its value buffer already `subarray`-ed to the slice, EXCEPT for Bool, whose
 *   bit-packed values keep the parent buffer and are addressed at bit `data.offset + i`;
 * - the validity bitmap is never sliced: row i's bit is `data.offset + i`;
 * - a table (or a column) may hold several batches (`vector.data`), each with its own offset.
 */

/** A column as doubles. `valid` is one byte per row (1 = present) or null when no row is missing. */
export interface NumericColumn {
  /** Read-only: may be a zero-copy view of the Arrow buffer. */
  values: Float64Array;
  valid: Uint8Array | null;
}

/** Factor codes (0-based, into the dataset-wide level list). Codes of missing rows are meaningless. */
export interface FactorColumn {
  codes: Int32Array;
  valid: Uint8Array | null;
}

const MS_PER_DAY = 86_400_000;

function columnData(table: Table, name: string): readonly Data[] {
  const vector = table.getChild(name);
  if (vector === null) {
    // A chunk task loads exactly `columnsUsed(state)`, so this is a bug in a runner, not bad input.
    throw new Error(
      `column '${name}' is not in the chunk (columns: ${table.schema.fields.map((f) => f.name).join(', ')})`,
    );
  }
  return vector.data;
}

/** True when a batch has at least one missing row (a present-but-all-ones bitmap counts as none). */
function hasNulls(data: Data): boolean {
  if (DataType.isNull(data.type)) return data.length > 0;
  return data.nullCount > 0 && data.nullBitmap !== undefined && data.nullBitmap.length > 0;
}

/** Unpacks `length` validity bits starting at bit `bitOffset` into bytes `out[outOffset ...]` (1 = valid). */
function unpackBits(
  bits: Uint8Array,
  bitOffset: number,
  length: number,
  out: Uint8Array,
  outOffset: number,
): void {
  let i = 0;
  // Leading bits until the source is byte-aligned.
  while (i < length && ((bitOffset + i) & 7) !== 0) {
    const bit = bitOffset + i;
    out[outOffset + i] = ((bits[bit >> 3] ?? 0) >> (bit & 7)) & 1;
    i++;
  }
  let byteIndex = (bitOffset + i) >> 3;
  // Eight straight-line stores per bitmap byte: cheaper than a call (fill) or a branch per byte.
  for (; i + 8 <= length; i += 8, byteIndex++) {
    const byte = bits[byteIndex] ?? 0;
    const o = outOffset + i;
    out[o] = byte & 1;
    out[o + 1] = (byte >> 1) & 1;
    out[o + 2] = (byte >> 2) & 1;
    out[o + 3] = (byte >> 3) & 1;
    out[o + 4] = (byte >> 4) & 1;
    out[o + 5] = (byte >> 5) & 1;
    out[o + 6] = (byte >> 6) & 1;
    out[o + 7] = (byte >> 7) & 1;
  }
  for (; i < length; i++) {
    const bit = bitOffset + i;
    out[outOffset + i] = ((bits[bit >> 3] ?? 0) >> (bit & 7)) & 1;
  }
}

/** Validity of all batches of a column as one byte mask, or null when no row is missing. */
function validityOf(batches: readonly Data[], numRows: number): Uint8Array | null {
  if (!batches.some(hasNulls)) return null;
  const valid = new Uint8Array(numRows);
  let at = 0;
  for (const data of batches) {
    // An all-missing column may be stored as Arrow's Null type, which has no bitmap at all.
    if (DataType.isNull(data.type)) valid.fill(0, at, at + data.length);
    else if (hasNulls(data)) unpackBits(data.nullBitmap as Uint8Array, data.offset, data.length, valid, at);
    else valid.fill(1, at, at + data.length);
    at += data.length;
  }
  return valid;
}

function timestampScale(unit: TimeUnit): number {
  switch (unit) {
    case TimeUnit.SECOND:
      return 1000;
    case TimeUnit.MILLISECOND:
      return 1;
    case TimeUnit.MICROSECOND:
      return 1e-3;
    default:
      return 1e-6;
  }
}

/** Copies one batch's values as doubles into `out[at ...]`. */
function copyAsDoubles(data: Data, name: string, out: Float64Array, at: number): void {
  const { type, length } = data;
  const raw: unknown = data.values;
  if (DataType.isBool(type)) {
    // Bool values are bit-packed and NOT sliced: row i is bit offset + i.
    if (raw instanceof Uint8Array) {
      const bits = raw;
      const off = data.offset;
      for (let i = 0; i < length; i++) {
        const bit = off + i;
        out[at + i] = ((bits[bit >> 3] ?? 0) >> (bit & 7)) & 1;
      }
    }
    return;
  }
  if (DataType.isNull(type)) {
    out.fill(0, at, at + length);
    return;
  }
  let scale = 1;
  if (DataType.isTimestamp(type)) scale = timestampScale(type.unit);
  else if (DataType.isDate(type) && raw instanceof BigInt64Array)
    scale = 1 / MS_PER_DAY; // DateMillisecond -> days
  else if (!DataType.isFloat(type) && !DataType.isInt(type) && !DataType.isDate(type)) {
    throw new EngineError(
      'WRONG_VARIABLE_TYPE',
      `variable '${name}' is stored as ${String(type)}, which cannot be read as numbers`,
      422,
      { variable: name },
    );
  }
  if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) {
    for (let i = 0; i < length; i++) out[at + i] = Number(raw[i]) * scale;
    return;
  }
  if (
    raw instanceof Float64Array ||
    raw instanceof Float32Array ||
    raw instanceof Int32Array ||
    raw instanceof Int16Array ||
    raw instanceof Int8Array ||
    raw instanceof Uint32Array ||
    raw instanceof Uint16Array ||
    raw instanceof Uint8Array
  ) {
    if (DataType.isFloat(type) && raw instanceof Uint16Array) {
      throw new EngineError(
        'WRONG_VARIABLE_TYPE',
        `variable '${name}' is Float16, which is not supported`,
        422,
        {
          variable: name,
        },
      );
    }
    // Non-Bool value buffers are already sliced to the batch (subarray applied by Arrow).
    if (scale === 1) out.set(raw.subarray(0, length), at);
    else for (let i = 0; i < length; i++) out[at + i] = (raw[i] ?? 0) * scale;
    return;
  }
  throw new Error(`column '${name}': unexpected value buffer for ${String(type)}`);
}

/**
 * Reads a numeric, integer, logical (0/1), date (days since 1970-01-01) or timestamp (ms since the epoch)
 * column as doubles. A single Float64 batch is returned without copying, so callers must not write to
 * `values`. Values of missing rows are unspecified (whatever the buffer holds).
 */
export function readNumeric(table: Table, name: string): NumericColumn {
  const batches = columnData(table, name);
  const numRows = table.numRows;
  const first = batches[0];
  if (batches.length === 1 && first !== undefined && first.values instanceof Float64Array) {
    return { values: first.values.subarray(0, first.length), valid: validityOf(batches, numRows) };
  }
  const values = new Float64Array(numRows);
  let at = 0;
  for (const data of batches) {
    copyAsDoubles(data, name, values, at);
    at += data.length;
  }
  return { values, valid: validityOf(batches, numRows) };
}

/** Dictionary strings of one batch, or null when the batch carries no dictionary. */
function dictionaryStrings(data: Data): string[] | null {
  const dictionary = data.dictionary;
  if (dictionary === undefined) return null;
  const out: string[] = new Array(dictionary.length);
  for (let i = 0; i < dictionary.length; i++) out[i] = String(dictionary.get(i));
  return out;
}

/**
 * Maps a batch's dictionary onto the dataset's level list: null when they are identical (the storage
 * contract, and then codes are used as they are), else old code -> dataset code. A batch written with
 * a per-chunk dictionary is still read correctly; a value outside the dataset's levels is corruption.
 */
function remapFor(data: Data, levels: readonly string[] | undefined, name: string): Int32Array | null {
  if (levels === undefined) return null;
  const strings = dictionaryStrings(data);
  if (strings === null) return null;
  if (strings.length === levels.length && strings.every((s, i) => s === levels[i])) return null;
  const index = new Map<string, number>();
  for (let i = 0; i < levels.length; i++) index.set(levels[i] as string, i);
  const remap = new Int32Array(strings.length);
  strings.forEach((s, i) => {
    const code = index.get(s);
    if (code === undefined)
      throw new Error(`column '${name}': chunk level '${s}' is not one of the dataset's levels`);
    remap[i] = code;
  });
  return remap;
}

/**
 * Reads a factor (Arrow Dictionary) column as Int32 codes into the dataset-wide `levels` (when given,
 * each batch's dictionary is checked against them and remapped if it differs).
 */
export function readFactorCodes(table: Table, name: string, levels?: readonly string[]): FactorColumn {
  const batches = columnData(table, name);
  const numRows = table.numRows;
  const codes = new Int32Array(numRows);
  let at = 0;
  for (const data of batches) {
    if (DataType.isNull(data.type)) {
      at += data.length; // all missing; validityOf marks these rows
      continue;
    }
    if (!DataType.isDictionary(data.type)) {
      throw new EngineError('WRONG_VARIABLE_TYPE', `variable '${name}' is not stored as a factor`, 422, {
        variable: name,
      });
    }
    const raw: unknown = data.values;
    const length = data.length;
    if (raw instanceof BigInt64Array || raw instanceof BigUint64Array) {
      for (let i = 0; i < length; i++) codes[at + i] = Number(raw[i]);
    } else if (
      raw instanceof Int32Array ||
      raw instanceof Int16Array ||
      raw instanceof Int8Array ||
      raw instanceof Uint32Array ||
      raw instanceof Uint16Array ||
      raw instanceof Uint8Array
    ) {
      codes.set(raw.subarray(0, length), at);
    } else {
      throw new Error(`column '${name}': unexpected dictionary index buffer`);
    }
    const remap = remapFor(data, levels, name);
    if (remap !== null) {
      for (let i = at; i < at + length; i++) codes[i] = remap[codes[i] ?? 0] ?? -1;
    }
    at += length;
  }
  return { codes, valid: validityOf(batches, numRows) };
}

/** A string column as UTF-8: row r's bytes are bytes[offsets[r] .. offsets[r + 1]). */
export interface TextColumn {
  /** Need not start at 0: a column read without copying indexes its batch's whole byte buffer. */
  offsets: Int32Array;
  bytes: Uint8Array;
  valid: Uint8Array | null;
}

/** Utf8 offsets as Int32 (LargeUtf8's 64-bit ones converted: a chunk never holds 2 GB of text). */
function int32Offsets(data: Data, name: string): Int32Array {
  const offsets: unknown = data.valueOffsets;
  const length = data.length + 1;
  if (offsets instanceof Int32Array) return offsets.subarray(0, length);
  if (offsets instanceof BigInt64Array) {
    const out = new Int32Array(length);
    for (let i = 0; i < length; i++) out[i] = Number(offsets[i] ?? 0n);
    return out;
  }
  throw new EngineError('WRONG_VARIABLE_TYPE', `variable '${name}' is not stored as a string`, 422, {
    variable: name,
  });
}

/**
 * Reads a string column as its UTF-8 bytes, never decoded, for code that moves or compares text as
 * bytes (the data operations). One batch is returned without copying; several are copied into one.
 */
export function readUtf8(table: Table, name: string): TextColumn {
  const batches = columnData(table, name);
  const numRows = table.numRows;
  const valid = validityOf(batches, numRows);
  const first = batches[0];
  if (batches.length === 1 && numRows > 0 && first !== undefined && !DataType.isNull(first.type)) {
    // A sliced batch's offsets are cut to the slice but stay absolute into the whole byte buffer.
    return { offsets: int32Offsets(first, name), bytes: first.values as Uint8Array, valid };
  }
  const parts = batches.map((data) => (DataType.isNull(data.type) ? null : int32Offsets(data, name)));
  let total = 0;
  parts.forEach((o, b) => {
    if (o !== null) total += o[batches[b]!.length]! - o[0]!;
  });
  const offsets = new Int32Array(numRows + 1);
  const bytes = new Uint8Array(total);
  let row = 0;
  let at = 0;
  batches.forEach((data, b) => {
    const o = parts[b] ?? null;
    const n = data.length;
    if (o === null)
      offsets.fill(at, row + 1, row + 1 + n); // all missing: empty strings
    else {
      const start = o[0]!;
      bytes.set((data.values as Uint8Array).subarray(start, o[n]!), at);
      for (let i = 1; i <= n; i++) offsets[row + i] = at + o[i]! - start;
      at += o[n]! - start;
    }
    row += n;
  });
  return { offsets, bytes, valid };
}

/**
 * Reads a string (Arrow Utf8) column as JS strings, null for missing rows. Costs a decode per row, so
 * it is meant for the few expressions that work on text (equality, %in%), not for hot numeric loops.
 */
export function readStrings(table: Table, name: string): (string | null)[] {
  const batches = columnData(table, name);
  const out = new Array<string | null>(table.numRows).fill(null);
  let at = 0;
  for (const data of batches) {
    const length = data.length;
    if (DataType.isNull(data.type)) {
      at += length;
      continue;
    }
    if (!DataType.isUtf8(data.type)) {
      throw new EngineError('WRONG_VARIABLE_TYPE', `variable '${name}' is not stored as a string`, 422, {
        variable: name,
      });
    }
    // Utf8 offsets are sliced to the batch but index the batch's whole value buffer.
    const offsets = data.valueOffsets as Int32Array;
    const bytes = data.values as Uint8Array;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const valid = hasNulls(data) ? (data.nullBitmap as Uint8Array) : null;
    for (let i = 0; i < length; i++) {
      if (valid !== null) {
        const bit = data.offset + i;
        if ((((valid[bit >> 3] ?? 0) >> (bit & 7)) & 1) === 0) continue;
      }
      out[at + i] = text.toString('utf8', offsets[i] as number, offsets[i + 1] as number);
    }
    at += length;
  }
  return out;
}

/** Number of missing rows in a validity mask. */
export function countMissing(valid: Uint8Array | null, numRows: number): number {
  if (valid === null) return 0;
  let present = 0;
  for (let i = 0; i < numRows; i++) present += valid[i] ?? 0;
  return numRows - present;
}

/**
 * 1 where `valid` says present AND the value is not NaN (rxserve, like RevoScaleR, treats NaN as
 * missing); null when every row is usable. Costs one scan when the column has no null mask.
 */
export function usableMask(column: NumericColumn, numRows: number): Uint8Array | null {
  const { values, valid } = column;
  if (valid === null) {
    let i = 0;
    while (i < numRows && !Number.isNaN(values[i])) i++;
    if (i === numRows) return null;
    const mask = new Uint8Array(numRows).fill(1);
    for (; i < numRows; i++) if (Number.isNaN(values[i])) mask[i] = 0;
    return mask;
  }
  let mask: Uint8Array | null = null;
  for (let i = 0; i < numRows; i++) {
    if (valid[i] === 1 && Number.isNaN(values[i])) {
      if (mask === null) mask = valid.slice();
      mask[i] = 0;
    }
  }
  return mask ?? valid;
}

/**
 * Row-wise AND of masks (null = all ones); null when every mask is null. With a single mask it is
 * returned as is (masks are never written after they are made).
 */
export function andMasks(numRows: number, masks: ReadonlyArray<Uint8Array | null>): Uint8Array | null {
  const present = masks.filter((m): m is Uint8Array => m !== null);
  const first = present[0];
  if (first === undefined) return null;
  if (present.length === 1) return first.length === numRows ? first : first.subarray(0, numRows);
  const out = first.slice(0, numRows);
  // Four rows per step where the buffers allow it (all masks are fresh, aligned Uint8Arrays in practice).
  const words = numRows >> 2;
  const aligned = present.every((m) => m.byteOffset % 4 === 0);
  const outWords = aligned ? new Uint32Array(out.buffer, out.byteOffset, words) : null;
  for (let m = 1; m < present.length; m++) {
    const mask = present[m] as Uint8Array;
    let i = 0;
    if (outWords !== null) {
      const maskWords = new Uint32Array(mask.buffer, mask.byteOffset, words);
      for (let w = 0; w < words; w++) outWords[w] = (outWords[w] as number) & (maskWords[w] as number);
      i = words << 2;
    }
    for (; i < numRows; i++) out[i] = (out[i] as number) & (mask[i] as number);
  }
  return out;
}

/** Rows set in a mask (numRows for null). */
export function countSet(mask: Uint8Array | null, numRows: number): number {
  return numRows - countMissing(mask, numRows);
}

/**
 * Cell index of each row for factors crossed in order, the FIRST factor varying fastest (R's
 * `expand.grid` / rxCube order): cell = c1 + K1 * (c2 + K2 * (c3 + ...)). -1 when any factor is missing
 * or `rowMask` excludes the row.
 */
export function cellIndex(
  factors: readonly FactorColumn[],
  sizes: readonly number[],
  numRows: number,
  rowMask: Uint8Array | null,
): Int32Array {
  const cells = new Int32Array(numRows);
  if (rowMask !== null) for (let i = 0; i < numRows; i++) if (rowMask[i] === 0) cells[i] = -1;
  let stride = 1;
  factors.forEach((factor, f) => {
    const size = sizes[f] as number;
    const { codes, valid } = factor;
    for (let i = 0; i < numRows; i++) {
      const current = cells[i] as number;
      if (current < 0) continue;
      const code = codes[i] as number;
      if ((valid !== null && valid[i] === 0) || code < 0 || code >= size) cells[i] = -1;
      else cells[i] = current + code * stride;
    }
    stride *= size;
  });
  return cells;
}

/** Reads each column of a chunk at most once, whichever analysis term asks first. */
export class ChunkColumns {
  private readonly numericColumns = new Map<string, NumericColumn>();
  private readonly usable = new Map<string, Uint8Array | null>();
  private readonly factorColumns = new Map<string, FactorColumn>();
  private readonly stringColumns = new Map<string, (string | null)[]>();

  constructor(readonly table: Table) {}

  get numRows(): number {
    return this.table.numRows;
  }

  numeric(name: string): NumericColumn {
    let column = this.numericColumns.get(name);
    if (column === undefined) {
      column = readNumeric(this.table, name);
      this.numericColumns.set(name, column);
    }
    return column;
  }

  /** Record that a column has no NaN among its present values: its usable mask is its validity. */
  markNoNaN(name: string): void {
    if (!this.usable.has(name)) this.usable.set(name, this.numeric(name).valid);
  }

  /** `usableMask` of a numeric column, computed once. */
  usableMask(name: string): Uint8Array | null {
    if (this.usable.has(name)) return this.usable.get(name) ?? null;
    const mask = usableMask(this.numeric(name), this.numRows);
    this.usable.set(name, mask);
    return mask;
  }

  factor(name: string, levels?: readonly string[]): FactorColumn {
    let column = this.factorColumns.get(name);
    if (column === undefined) {
      column = readFactorCodes(this.table, name, levels);
      this.factorColumns.set(name, column);
    }
    return column;
  }

  strings(name: string): (string | null)[] {
    let column = this.stringColumns.get(name);
    if (column === undefined) {
      column = readStrings(this.table, name);
      this.stringColumns.set(name, column);
    }
    return column;
  }
}

/** Grow-only buffer behind `gatherValid`: a fresh multi-MB array per column costs more in page faults than the copy. */
let gatherScratch = new Float64Array(0);

/**
 * The values of the rows set in `mask`, packed densely. The result is a view of a shared scratch
 * buffer, valid only until the next call: use it and drop it within the same synchronous step
 * (`map` is synchronous, and the kernels fed with it keep no reference).
 */
export function gatherValid(values: Float64Array, mask: Uint8Array, numRows: number): Float64Array {
  if (gatherScratch.length < numRows)
    gatherScratch = new Float64Array(Math.max(numRows, gatherScratch.length * 2));
  const out = gatherScratch;
  let at = 0;
  for (let i = 0; i < numRows; i++) {
    // Branch-free: always write, advance only past kept rows.
    out[at] = values[i] as number;
    at += mask[i] as number;
  }
  return out.subarray(0, at);
}
