/**
 * Parquet import with hyparquet (pure JS; hyparquet-compressors adds gzip, zstd, brotli and lz4 to its
 * built-in snappy). Parquet keeps its index in the footer, so the upload is spooled to the staging
 * folder first; then one row group at a time is decoded (memory: one decoded row group plus one chunk).
 *
 * Types: BOOLEAN to logical; INT32/INT64 to integer (numeric when a value falls outside int32); FLOAT,
 * DOUBLE, DECIMAL and FLOAT16 to numeric; DATE to date; TIMESTAMP (any unit, floored to ms) and INT96 to
 * timestamp; strings (BYTE_ARRAY, UTF8/STRING/ENUM, UUID) to factor or string by the CSV rule. Nested,
 * repeated, TIME, JSON, BSON, INTERVAL and geometry columns are UNSUPPORTED_PARQUET_TYPE.
 */
import { unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  type AsyncBuffer,
  asyncBufferFromFile,
  type ColumnData,
  type FileMetaData,
  type ParquetParsers,
  parquetMetadataAsync,
  parquetRead,
  parquetSchema,
  type SchemaTree,
} from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import { ImportError, type ImportOptions, type ImportOutcome } from '../importTypes.ts';
import { checkColInfoColumns, validateColInfo } from './colInfo.ts';
import type { ColumnBuilder } from './columnBuilder.ts';
import { DatasetBuilder } from './datasetBuilder.ts';
import { rowsPerChunkFor } from './rowsPerChunk.ts';
import { readBlocks, Spool } from './spool.ts';

type Role = 'logical' | 'integer' | 'numeric' | 'date' | 'timestamp' | 'text';

const ROLE_WIDTH: Record<Role, number> = {
  logical: 1,
  integer: 4,
  numeric: 8,
  date: 4,
  timestamp: 8,
  text: 24,
};

/** Dates as day numbers and timestamps as UTC milliseconds (floored), instead of Date objects. */
const PARSERS: Partial<ParquetParsers> = {
  timestampFromMilliseconds: (millis: bigint) => Number(millis),
  timestampFromMicroseconds: (micros: bigint) => Number(floorDivide(micros, 1000n)),
  timestampFromNanoseconds: (nanos: bigint) => Number(floorDivide(nanos, 1_000_000n)),
  dateFromDays: (days: number) => days,
};

function floorDivide(value: bigint, divisor: bigint): bigint {
  const quotient = value / divisor;
  return value % divisor < 0n ? quotient - 1n : quotient;
}

export async function importParquet(input: Readable, options: ImportOptions): Promise<ImportOutcome> {
  validateColInfo(options.colInfo);
  const spool = new Spool(path.join(options.stagingDir, 'upload.parquet'));
  try {
    for await (const _block of readBlocks(input, 1 << 20, spool)) {
      // Only copied to the spool.
    }
  } finally {
    await spool.close();
  }
  try {
    if (spool.bytes === 0)
      throw new ImportError('EMPTY_BODY', 'the upload is empty; send a Parquet file', 400);
    return await importParquetFile(await asyncBufferFromFile(spool.file), options);
  } finally {
    await unlink(spool.file);
  }
}

async function importParquetFile(file: AsyncBuffer, options: ImportOptions): Promise<ImportOutcome> {
  let metadata: FileMetaData;
  let schema: SchemaTree;
  try {
    metadata = await parquetMetadataAsync(file);
    schema = parquetSchema(metadata);
  } catch (error) {
    throw invalidParquet((error as Error).message);
  }
  const names = schema.children.map((child) => child.element.name);
  const roles = schema.children.map((child) => roleOf(child));
  checkColInfoColumns(options.colInfo, names);
  const builder = await DatasetBuilder.create({
    stagingDir: options.stagingDir,
    rowsPerChunk:
      options.rowsPerChunk ?? rowsPerChunkFor(roles.reduce((sum, role) => sum + ROLE_WIDTH[role], 0)),
    colInfo: options.colInfo,
  });
  const columns = names.map((name) => builder.addColumn(name));
  let groupStart = 0;
  for (const group of metadata.row_groups) {
    const groupRows = Number(group.num_rows);
    const groupEnd = groupStart + groupRows;
    const pieces = new Map<string, ColumnData[]>(names.map((name) => [name, []]));
    try {
      await parquetRead({
        file,
        metadata,
        rowStart: groupStart,
        rowEnd: groupEnd,
        compressors,
        parsers: PARSERS,
        onChunk: (chunk) => pieces.get(chunk.columnName)?.push(chunk),
      });
    } catch (error) {
      throw invalidParquet((error as Error).message);
    }
    const cursors = names.map(
      (name) => new PieceCursor(pieces.get(name)!.sort((a, b) => a.rowStart - b.rowStart)),
    );
    let done = groupStart;
    while (done < groupEnd) {
      const count = Math.min(groupEnd - done, builder.rowsPerChunk - builder.rowInChunk);
      const row = builder.rowInChunk;
      columns.forEach((column, j) => {
        const cursor = cursors[j]!;
        for (let k = 0; k < count; k++) pushValue(column, roles[j]!, cursor.at(done + k), row + k);
      });
      done += count;
      if (builder.endRows(count)) await builder.flushChunk();
    }
    groupStart = groupEnd;
  }
  return builder.finish();
}

/** Reads the value of an absolute row from a column's decoded pieces, moving forward only. */
class PieceCursor {
  private index = 0;

  constructor(private readonly pieces: ColumnData[]) {}

  at(row: number): unknown {
    let piece = this.pieces[this.index];
    while (piece && row >= piece.rowEnd) piece = this.pieces[++this.index];
    if (!piece || row < piece.rowStart) return null;
    return piece.columnData[row - piece.rowStart];
  }
}

function pushValue(column: ColumnBuilder, role: Role, value: unknown, row: number): void {
  if (value === null || value === undefined) {
    column.setMissing(row);
    return;
  }
  switch (role) {
    case 'logical':
      column.pushLogical(value === true, row);
      return;
    case 'integer':
    case 'numeric':
      column.pushNumber(Number(value), role === 'integer', row);
      return;
    case 'date':
      column.pushDays(Number(value), row);
      return;
    case 'timestamp':
      column.pushMillis(Number(value), row);
      return;
    case 'text':
      column.pushString(String(value), row);
      return;
  }
}

function roleOf(tree: SchemaTree): Role {
  const { element } = tree;
  const logical = element.logical_type?.type;
  const converted = element.converted_type;
  const unsupported = (): never => {
    const kind = logical ?? converted ?? element.type ?? 'group';
    throw new ImportError(
      'UNSUPPORTED_PARQUET_TYPE',
      `column '${element.name}' has Parquet type ${kind}${tree.children.length > 0 || element.repetition_type === 'REPEATED' ? ' (nested or repeated)' : ''}, which cannot be imported; store it as a number, string, boolean, date or timestamp`,
      422,
      { column: element.name, parquetType: kind },
    );
  };
  if (tree.children.length > 0 || element.repetition_type === 'REPEATED') return unsupported();
  if (converted === 'DECIMAL' || logical === 'DECIMAL' || logical === 'FLOAT16') return 'numeric';
  if (logical === 'TIME' || converted === 'TIME_MILLIS' || converted === 'TIME_MICROS') return unsupported();
  switch (element.type) {
    case 'BOOLEAN':
      return 'logical';
    case 'INT32':
      return logical === 'DATE' || converted === 'DATE' ? 'date' : 'integer';
    case 'INT64':
      return logical === 'TIMESTAMP' || converted === 'TIMESTAMP_MILLIS' || converted === 'TIMESTAMP_MICROS'
        ? 'timestamp'
        : 'integer';
    case 'INT96':
      return 'timestamp';
    case 'FLOAT':
    case 'DOUBLE':
      return 'numeric';
    case 'BYTE_ARRAY':
      if (converted === 'JSON' || converted === 'BSON' || logical === 'JSON' || logical === 'BSON')
        return unsupported();
      if (logical === 'GEOMETRY' || logical === 'GEOGRAPHY' || logical === 'VARIANT') return unsupported();
      return 'text';
    case 'FIXED_LEN_BYTE_ARRAY':
      return logical === 'UUID' ? 'text' : unsupported();
    default:
      return unsupported();
  }
}

function invalidParquet(reason: string): ImportError {
  return new ImportError('INVALID_PARQUET', `the upload is not a readable Parquet file: ${reason}`, 400, {
    reason,
  });
}
