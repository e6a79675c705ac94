/**
 * Arrow IPC import (stream or file format). Arrow's types map onto ours: floats and decimals-free
 * numbers to numeric; 8/16-bit and 32-bit signed ints to integer; unsigned 32-bit and 64-bit ints to
 * integer when every value fits int32, else numeric (exact up to 2^53); bool to logical; dictionary-
 * encoded strings to factor (levels unified over all batches and sorted); plain strings to factor or
 * string by the CSV rule; Date to date; Timestamp (any unit, floored to ms) to timestamp; the Null type
 * to an all-missing logical. Anything else (lists, structs, binary, decimals...) is UNSUPPORTED_ARROW_TYPE.
 *
 * The stream format is read as it arrives. The file format keeps its index at the end, so it is spooled
 * to the staging folder and read from there batch by batch.
 */
import { type FileHandle, open, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  type Data,
  type DataType,
  DataType as DataTypes,
  type Field,
  type RecordBatch,
  RecordBatchReader,
  TimeUnit,
} from 'apache-arrow';
import type { ColInfoEntry } from '../importTypes.ts';
import { ImportError, type ImportOptions, type ImportOutcome } from '../importTypes.ts';
import { checkColInfoColumns, validateColInfo } from './colInfo.ts';
import type { ColumnBuilder } from './columnBuilder.ts';
import { DatasetBuilder } from './datasetBuilder.ts';
import { rowsPerChunkFor } from './rowsPerChunk.ts';
import { readBlocks, Spool } from './spool.ts';

const MS_PER_DAY = 86_400_000;
const FILE_MAGIC = Buffer.from('ARROW1');

type ColumnPusher = (column: ColumnBuilder, data: Data, from: number, count: number, row: number) => void;

interface SourceColumn {
  name: string;
  push: ColumnPusher;
  /** Stored bytes per value, for the default chunk size. */
  width: number;
  /** Dictionary-encoded strings are factors unless colInfo says otherwise. */
  defaults?: ColInfoEntry;
}

export async function importArrow(input: Readable, options: ImportOptions): Promise<ImportOutcome> {
  validateColInfo(options.colInfo);
  const { head, rest } = await peek(input, 8);
  if (head.length === 0)
    throw new ImportError('EMPTY_BODY', 'the upload is empty; send an Arrow IPC stream or file', 400);
  const isFile = head.subarray(0, 6).equals(FILE_MAGIC);
  if (
    !isFile &&
    !(head.readUInt32LE(0) === 0xffffffff && head.length >= 8 && head.readInt32LE(4) < 1 << 26)
  ) {
    throw invalidArrow('it does not start like an Arrow IPC stream or file');
  }
  if (!isFile) return readBatches(rest, options);
  const spool = new Spool(path.join(options.stagingDir, 'upload.arrow'));
  try {
    for await (const _block of readBlocks(rest, 1 << 20, spool)) {
      // Only copied to the spool.
    }
  } finally {
    await spool.close();
  }
  const handle = await open(spool.file, 'r');
  try {
    return await readBatches(handle, options);
  } finally {
    await handle.close();
    await unlink(spool.file);
  }
}

async function readBatches(
  source: AsyncIterable<Buffer> | FileHandle,
  options: ImportOptions,
): Promise<ImportOutcome> {
  let reader: RecordBatchReader;
  try {
    reader = isFileHandle(source)
      ? await RecordBatchReader.from(source)
      : await RecordBatchReader.from(source);
    await reader.open();
  } catch (error) {
    throw invalidArrow((error as Error).message);
  }
  const schema = reader.schema;
  if (!schema) throw new ImportError('EMPTY_BODY', 'the Arrow upload holds no schema', 400);
  const sources = schema.fields.map((field) => sourceColumn(field));
  checkColInfoColumns(
    options.colInfo,
    sources.map((source) => source.name),
  );
  const bytesPerRow = sources.reduce((sum, source) => sum + source.width, 0);
  const builder = await DatasetBuilder.create({
    stagingDir: options.stagingDir,
    rowsPerChunk: options.rowsPerChunk ?? rowsPerChunkFor(bytesPerRow),
    colInfo: options.colInfo,
  });
  const columns = sources.map((source) => builder.addColumn(source.name, source.defaults));
  const batches = reader[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<RecordBatch>;
    try {
      next = await batches.next();
    } catch (error) {
      throw invalidArrow((error as Error).message);
    }
    if (next.done) break;
    await appendBatch(builder, columns, sources, next.value);
  }
  return builder.finish();
}

/** Copies a batch into the builder, a chunk's worth at a time. */
async function appendBatch(
  builder: DatasetBuilder,
  columns: ColumnBuilder[],
  sources: SourceColumn[],
  batch: RecordBatch,
): Promise<void> {
  const rows = batch.numRows;
  const data = columns.map((_, j) => batch.getChildAt(j)!.data);
  const position = data.map(() => ({ piece: 0, offset: 0 }));
  let done = 0;
  while (done < rows) {
    const count = Math.min(rows - done, builder.rowsPerChunk - builder.rowInChunk);
    const row = builder.rowInChunk;
    columns.forEach((column, j) => {
      // A column's data may come in several pieces; walk them in step with the rows.
      const pieces = data[j]!;
      const at = position[j]!;
      let left = count;
      let target = row;
      while (left > 0) {
        const piece = pieces[at.piece]!;
        const take = Math.min(left, piece.length - at.offset);
        sources[j]!.push(column, piece, at.offset, take, target);
        at.offset += take;
        target += take;
        left -= take;
        if (at.offset === piece.length) {
          at.piece++;
          at.offset = 0;
        }
      }
    });
    done += count;
    if (builder.endRows(count)) await builder.flushChunk();
  }
}

function isFileHandle(source: AsyncIterable<Buffer> | FileHandle): source is FileHandle {
  return typeof (source as FileHandle).fd === 'number';
}

function invalidArrow(reason: string): ImportError {
  return new ImportError(
    'INVALID_ARROW',
    `the upload is not a readable Arrow IPC stream or file: ${reason}`,
    400,
    {
      reason,
    },
  );
}

function validity(data: Data): (index: number) => boolean {
  if (data.nullCount === 0 || !data.nullBitmap || data.nullBitmap.length === 0) return () => true;
  const bitmap = data.nullBitmap;
  const offset = data.offset;
  return (index) => (bitmap[(index + offset) >> 3]! & (1 << ((index + offset) & 7))) !== 0;
}

function sourceColumn(field: Field): SourceColumn {
  const type: DataType = field.type;
  const unsupported = (): never => {
    throw new ImportError(
      'UNSUPPORTED_ARROW_TYPE',
      `column '${field.name}' has Arrow type ${String(type)}, which cannot be imported; convert it to a number, string, bool, date or timestamp`,
      422,
      { column: field.name, arrowType: String(type) },
    );
  };
  if (DataTypes.isFloat(type)) return { name: field.name, push: pushNumbers(false), width: 8 };
  if (DataTypes.isInt(type)) {
    const fitsInt32 = type.bitWidth < 32 || (type.bitWidth === 32 && type.isSigned);
    return { name: field.name, push: pushNumbers(true), width: fitsInt32 ? 4 : 8 };
  }
  if (DataTypes.isBool(type)) return { name: field.name, push: pushBools, width: 1 };
  if (DataTypes.isUtf8(type) || DataTypes.isLargeUtf8(type))
    return { name: field.name, push: pushStrings, width: 24 };
  if (DataTypes.isDictionary(type)) {
    if (!DataTypes.isUtf8(type.dictionary) && !DataTypes.isLargeUtf8(type.dictionary)) unsupported();
    return { name: field.name, push: pushDictionary, width: 4, defaults: { type: 'factor' } };
  }
  if (DataTypes.isDate(type)) return { name: field.name, push: pushDates, width: 4 };
  if (DataTypes.isTimestamp(type)) return { name: field.name, push: pushTimestamps(type.unit), width: 8 };
  if (DataTypes.isNull(type)) return { name: field.name, push: pushNulls, width: 1 };
  return unsupported();
}

function pushNumbers(integral: boolean): ColumnPusher {
  return (column, data, from, count, row) => {
    const values = data.values as ArrayLike<number | bigint>;
    // Float16 also sits in a Uint16Array, hence the type checks.
    if (
      (DataTypes.isFloat(data.type) && (values instanceof Float64Array || values instanceof Float32Array)) ||
      (DataTypes.isInt(data.type) &&
        (values instanceof Int32Array ||
          values instanceof Int16Array ||
          values instanceof Int8Array ||
          values instanceof Uint16Array ||
          values instanceof Uint8Array))
    ) {
      const bitmap = data.nullCount > 0 && data.nullBitmap?.length ? data.nullBitmap : undefined;
      const run = values.subarray(data.offset);
      if (column.setNumberRun(run, from, count, row, bitmap, data.offset)) return;
    }
    const isValid = validity(data);
    const offset = data.offset;
    const isFloat16 = DataTypes.isFloat(data.type) && data.type.precision === 0;
    for (let k = 0; k < count; k++) {
      const index = from + k;
      if (!isValid(index)) {
        column.setMissing(row + k);
        continue;
      }
      const raw = values[index + offset]!;
      const value = isFloat16 ? float16(raw as number) : Number(raw);
      column.pushNumber(value, integral, row + k);
    }
  };
}

function float16(bits: number): number {
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  const sign = bits & 0x8000 ? -1 : 1;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

const pushBools: ColumnPusher = (column, data, from, count, row) => {
  const bits = data.values as Uint8Array;
  const isValid = validity(data);
  const offset = data.offset;
  for (let k = 0; k < count; k++) {
    const index = from + k;
    if (!isValid(index)) column.setMissing(row + k);
    else column.pushLogical((bits[(index + offset) >> 3]! & (1 << ((index + offset) & 7))) !== 0, row + k);
  }
};

const pushStrings: ColumnPusher = (column, data, from, count, row) => {
  const offsets = data.valueOffsets as ArrayLike<number | bigint>;
  const bytes = data.values as Uint8Array;
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isValid = validity(data);
  const offset = data.offset;
  for (let k = 0; k < count; k++) {
    const index = from + k;
    if (!isValid(index)) column.setMissing(row + k);
    else {
      const start = Number(offsets[index + offset]!);
      const end = Number(offsets[index + offset + 1]!);
      column.pushString(text.toString('utf8', start, end), row + k);
    }
  }
};

const pushDictionary: ColumnPusher = (column, data, from, count, row) => {
  const levels = data.dictionary ? (data.dictionary.toArray() as (string | null)[]) : [];
  const codes = data.values as ArrayLike<number | bigint>;
  const isValid = validity(data);
  const offset = data.offset;
  for (let k = 0; k < count; k++) {
    const index = from + k;
    const level = isValid(index) ? levels[Number(codes[index + offset]!)] : null;
    if (level === null || level === undefined) column.setMissing(row + k);
    else column.pushString(level, row + k);
  }
};

const pushDates: ColumnPusher = (column, data, from, count, row) => {
  const values = data.values as ArrayLike<number | bigint>;
  const inMilliseconds = values instanceof BigInt64Array;
  const isValid = validity(data);
  const offset = data.offset;
  for (let k = 0; k < count; k++) {
    const index = from + k;
    if (!isValid(index)) column.setMissing(row + k);
    else {
      const raw = Number(values[index + offset]!);
      column.pushDays(inMilliseconds ? Math.floor(raw / MS_PER_DAY) : raw, row + k);
    }
  }
};

function pushTimestamps(unit: TimeUnit): ColumnPusher {
  return (column, data, from, count, row) => {
    const values = data.values as BigInt64Array;
    const isValid = validity(data);
    const offset = data.offset;
    for (let k = 0; k < count; k++) {
      const index = from + k;
      if (!isValid(index)) column.setMissing(row + k);
      else column.pushMillis(toMillis(values[index + offset]!, unit), row + k);
    }
  };
}

/** Milliseconds of a timestamp in `unit`, floored (so instants before 1970 round down like after). */
function toMillis(value: bigint, unit: TimeUnit): number {
  switch (unit) {
    case TimeUnit.SECOND:
      return Number(value) * 1000;
    case TimeUnit.MILLISECOND:
      return Number(value);
    case TimeUnit.MICROSECOND:
      return Number(floorDivide(value, 1000n));
    case TimeUnit.NANOSECOND:
      return Number(floorDivide(value, 1_000_000n));
  }
}

function floorDivide(value: bigint, divisor: bigint): bigint {
  const quotient = value / divisor;
  return value % divisor < 0n ? quotient - 1n : quotient;
}

const pushNulls: ColumnPusher = (column, _data, _from, count, row) => {
  for (let k = 0; k < count; k++) column.setMissing(row + k);
};

/** The first `bytes` bytes of a stream, and the whole stream again (those bytes included). */
async function peek(input: Readable, bytes: number): Promise<{ head: Buffer; rest: AsyncIterable<Buffer> }> {
  const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const seen: Buffer[] = [];
  let length = 0;
  let finished = false;
  while (length < bytes) {
    const next = await iterator.next();
    if (next.done) {
      finished = true;
      break;
    }
    const chunk = Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    seen.push(chunk);
    length += chunk.length;
  }
  const head = Buffer.concat(seen);
  async function* rest(): AsyncGenerator<Buffer> {
    for (const chunk of seen) yield chunk;
    if (finished) return;
    for (;;) {
      const next = await iterator.next();
      if (next.done) return;
      yield Buffer.isBuffer(next.value) ? next.value : Buffer.from(next.value);
    }
  }
  return { head, rest: rest() };
}
