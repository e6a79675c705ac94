/**
 * Reading a stored dataset back out: one chunk as an Arrow table, a page of rows as JSON, and the whole
 * dataset as a CSV or Arrow IPC stream. Everything works one chunk at a time, so memory stays bounded by
 * the chunk size whatever the dataset's size.
 */
import { Readable } from 'node:stream';
import { type Data, Field, Message, MessageHeader, Schema, Table, tableToIPC } from 'apache-arrow';
import { readChunkFile } from './chunkFiles.ts';
import type { DatasetMeta, VarInfo } from './datasetMeta.ts';
import { arrowTypeFor } from './import/arrowChunk.ts';

export type JsonValue = number | string | boolean | null;
export type JsonRow = Record<string, JsonValue>;

const MS_PER_DAY = 86_400_000;
/** Rows turned into one piece of CSV text: a few MB at most, whatever the chunk size. */
const CSV_ROWS_PER_PIECE = 8192;

/**
 * Rows [offset, offset + limit) as plain objects: numbers, strings, booleans, null for missing (and for
 * infinities, which JSON cannot hold), factors as their level, dates as `YYYY-MM-DD`, timestamps as ISO
 * 8601 UTC strings. Reads only the chunks that overlap the range.
 */
export async function rowsAsJson(
  datasetDir: string,
  meta: DatasetMeta,
  offset: number,
  limit: number,
): Promise<JsonRow[]> {
  const rows: JsonRow[] = [];
  offset = Math.max(0, offset);
  const end = Math.min(meta.numRows, offset + Math.max(0, limit));
  let chunkStart = 0;
  for (let index = 0; index < meta.numChunks && chunkStart < end; index++) {
    const chunkRows = meta.chunkRows[index]!;
    const chunkEnd = chunkStart + chunkRows;
    if (chunkEnd > offset) {
      const table = await readChunkFile(datasetDir, index);
      const readers = meta.variables.map((variable) => jsonReader(columnData(table, variable), variable));
      const from = Math.max(offset, chunkStart) - chunkStart;
      const to = Math.min(end, chunkEnd) - chunkStart;
      for (let r = from; r < to; r++) {
        const row: JsonRow = {};
        meta.variables.forEach((variable, j) => {
          row[variable.name] = readers[j]!(r);
        });
        rows.push(row);
      }
    }
    chunkStart = chunkEnd;
  }
  return rows;
}

/**
 * The dataset as CSV: a header, `NA` for missing, fields quoted when they hold a comma, a quote or a line
 * break, numbers in JavaScript's shortest round-trip form (`Inf`/`-Inf` for infinities, as R writes
 * them), logicals as TRUE/FALSE, dates and timestamps as rowsAsJson gives them. The importer reads this
 * back to the same values (a string that is exactly `NA` or empty comes back missing).
 */
export function exportCsv(datasetDir: string, meta: DatasetMeta): Readable {
  return Readable.from(csvPieces(datasetDir, meta), { objectMode: false });
}

async function* csvPieces(datasetDir: string, meta: DatasetMeta): AsyncGenerator<Buffer> {
  yield Buffer.from(`${meta.variables.map((variable) => csvText(variable.name)).join(',')}\n`, 'utf8');
  for (let index = 0; index < meta.numChunks; index++) {
    const table = await readChunkFile(datasetDir, index);
    const writers = meta.variables.map((variable) => csvWriter(columnData(table, variable), variable));
    const rows = table.numRows;
    for (let from = 0; from < rows; from += CSV_ROWS_PER_PIECE) {
      const to = Math.min(rows, from + CSV_ROWS_PER_PIECE);
      let text = '';
      for (let r = from; r < to; r++) {
        for (let j = 0; j < writers.length; j++) {
          if (j > 0) text += ',';
          text += writers[j]!(r);
        }
        text += '\n';
      }
      yield Buffer.from(text, 'utf8');
    }
  }
}

/**
 * The dataset as one Arrow IPC stream: the schema, each factor's dictionary once (every chunk has the
 * same one), then one record batch per chunk. Each chunk is serialised alone and its messages are
 * copied, skipping the schema and dictionaries after the first chunk, so only one chunk is in memory.
 */
export function exportArrow(datasetDir: string, meta: DatasetMeta): Readable {
  return Readable.from(arrowPieces(datasetDir, meta), { objectMode: false });
}

async function* arrowPieces(datasetDir: string, meta: DatasetMeta): AsyncGenerator<Uint8Array> {
  if (meta.numChunks === 0) {
    const fields = meta.variables.map(
      (variable, j) => new Field(variable.name, arrowTypeFor(variable.type, j), true),
    );
    yield tableToIPC(new Table(new Schema(fields)), 'stream');
    return;
  }
  for (let index = 0; index < meta.numChunks; index++) {
    const table = await readChunkFile(datasetDir, index);
    const bytes = tableToIPC(table, 'stream');
    for (const message of ipcMessages(bytes)) {
      if (message.type === MessageHeader.RecordBatch || index === 0) {
        if (message.type !== null) yield message.bytes;
      }
    }
  }
  yield END_OF_STREAM;
}

/** The end-of-stream marker: a continuation token and a zero metadata length. */
const END_OF_STREAM = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/** Splits IPC stream bytes into messages (the end marker has type null). */
function* ipcMessages(bytes: Uint8Array): Generator<{ type: MessageHeader | null; bytes: Uint8Array }> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  while (at + 8 <= bytes.length) {
    const metadataLength = view.getInt32(at + 4, true);
    if (metadataLength === 0) {
      yield { type: null, bytes: bytes.subarray(at, at + 8) };
      return;
    }
    const message = Message.decode(bytes.subarray(at + 8, at + 8 + metadataLength));
    const end = at + 8 + metadataLength + Number(message.bodyLength);
    yield { type: message.headerType, bytes: bytes.subarray(at, end) };
    at = end;
  }
}

function columnData(table: Table, variable: VarInfo): Data {
  const data = table.getChild(variable.name)?.data[0];
  if (!data) throw new Error(`chunk has no column '${variable.name}'`);
  return data;
}

function validityReader(data: Data): (row: number) => boolean {
  if (data.nullCount === 0) return () => true;
  const bitmap = data.nullBitmap!;
  const offset = data.offset;
  return (row) => (bitmap[(row + offset) >> 3]! & (1 << ((row + offset) & 7))) !== 0;
}

type ValueReader = (row: number) => JsonValue;

/** Reads one column's values straight from the Arrow buffers. */
function valueReader(data: Data, variable: VarInfo): ValueReader {
  const offset = data.offset;
  switch (variable.type) {
    case 'numeric':
    case 'integer': {
      const values = data.values as Float64Array | Int32Array;
      return (row) => values[row + offset]!;
    }
    case 'logical': {
      const bits = data.values as Uint8Array;
      return (row) => (bits[(row + offset) >> 3]! & (1 << ((row + offset) & 7))) !== 0;
    }
    case 'factor': {
      const codes = data.values as Int32Array;
      const levels = variable.levels ?? [];
      return (row) => levels[codes[row + offset]!] ?? null;
    }
    case 'string': {
      const offsets = data.valueOffsets as Int32Array;
      const bytes = data.values as Uint8Array;
      const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      return (row) => text.toString('utf8', offsets[row + offset], offsets[row + offset + 1]);
    }
    case 'date': {
      const days = data.values as Int32Array;
      return (row) => new Date(days[row + offset]! * MS_PER_DAY).toISOString().slice(0, 10);
    }
    case 'timestamp': {
      const ms = data.values as BigInt64Array;
      return (row) => new Date(Number(ms[row + offset]!)).toISOString();
    }
  }
}

function jsonReader(data: Data, variable: VarInfo): ValueReader {
  const isValid = validityReader(data);
  const read = valueReader(data, variable);
  const numeric = variable.type === 'numeric';
  return (row) => {
    if (!isValid(row)) return null;
    const value = read(row);
    return numeric && !Number.isFinite(value as number) ? null : value;
  };
}

function csvWriter(data: Data, variable: VarInfo): (row: number) => string {
  const isValid = validityReader(data);
  const read = valueReader(data, variable);
  switch (variable.type) {
    case 'numeric':
      return (row) => (isValid(row) ? csvNumber(read(row) as number) : 'NA');
    case 'logical':
      return (row) => (isValid(row) ? (read(row) ? 'TRUE' : 'FALSE') : 'NA');
    case 'factor':
    case 'string':
      return (row) => (isValid(row) ? csvText(read(row) as string) : 'NA');
    default:
      return (row) => (isValid(row) ? String(read(row)) : 'NA');
  }
}

function csvNumber(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return 'Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

const NEEDS_QUOTES = /[",\r\n]/;

function csvText(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
