/**
 * NDJSON import: one JSON object per line, blank lines skipped. Columns are the union of the keys, in the
 * order they first appear; a key missing from a line is a missing value there. Values: numbers (integral
 * ones within int32 make an integer column; JSON does not keep `1.0` apart from `1`), strings (a string
 * that reads as a date or timestamp, as in CSV, makes a date/timestamp column), booleans (logical), and
 * null, "" and "NA" for missing. A column that mixes kinds becomes text, numbers and booleans written in
 * their JSON form. Nested objects and arrays are refused (UNSUPPORTED_JSON_VALUE).
 *
 * Same design as csv.ts: one optimistic pass while the upload is spooled, a second pass only when a
 * typed column turns to text.
 */
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { ImportError, type ImportOptions, type ImportOutcome } from '../importTypes.ts';
import { checkColInfoColumns, validateColInfo } from './colInfo.ts';
import type { ColumnBuilder } from './columnBuilder.ts';
import { DatasetBuilder } from './datasetBuilder.ts';
import { rowsPerChunkFor } from './rowsPerChunk.ts';
import { importInPasses, type PassResult, type TextPass } from './textPasses.ts';
import { rethrowWithLine } from './valueErrors.ts';
import { classifyJsonString } from './valueParse.ts';

const LF = 10;
const MAX_LINE_BYTES = 64 << 20;

export async function importNdjson(input: Readable, options: ImportOptions): Promise<ImportOutcome> {
  validateColInfo(options.colInfo);
  return importInPasses(
    input,
    options,
    'upload.ndjson',
    (textColumns, rowsPerChunk) => new NdjsonPass(options, textColumns, rowsPerChunk),
  );
}

class NdjsonPass implements TextPass {
  private pending: Buffer | undefined;
  private line = 1;
  private builder: DatasetBuilder | undefined;
  private readonly columnsByKey = new Map<string, ColumnBuilder>();
  /** Per column, the last row (counted over the dataset) that set it. */
  private lastSet: number[] = [];

  constructor(
    private readonly options: ImportOptions,
    private readonly textColumns: ReadonlySet<string> | undefined,
    private readonly rowsPerChunk: number | undefined,
  ) {}

  get pendingBytes(): number {
    return this.pending?.length ?? 0;
  }

  async consume(blocks: Buffer[], atEnd: boolean): Promise<void> {
    const parts = this.pending ? [this.pending, ...blocks] : blocks;
    const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    const upTo = atEnd ? data.length : data.lastIndexOf(LF) + 1;
    if (upTo > 0 && !isUtf8(data.subarray(0, upTo))) {
      throw new ImportError('INVALID_JSON', 'the upload is not valid UTF-8 text; NDJSON must be UTF-8', 400, {
        reason: 'invalid-utf8',
      });
    }
    if (!this.builder && upTo > 0) await this.start(data.subarray(0, upTo));
    let pos = 0;
    while (pos < upTo) {
      let end = data.indexOf(LF, pos);
      if (end === -1 || end >= upTo) end = upTo;
      await this.readLine(data, pos, end);
      this.line++;
      pos = end + 1;
    }
    this.pending = upTo < data.length ? data.subarray(upTo) : undefined;
    if (this.pending && this.pending.length > MAX_LINE_BYTES) {
      throw new ImportError('INVALID_JSON', `line ${this.line}: a line is longer than 64 MiB`, 400, {
        line: this.line,
      });
    }
  }

  private async start(sample: Buffer): Promise<void> {
    let lines = 0;
    for (let at = sample.indexOf(LF); at !== -1; at = sample.indexOf(LF, at + 1)) lines++;
    const bytesPerRow = sample.length / Math.max(1, lines);
    this.builder = await DatasetBuilder.create({
      stagingDir: this.options.stagingDir,
      rowsPerChunk: this.rowsPerChunk ?? rowsPerChunkFor(bytesPerRow),
      colInfo: this.options.colInfo,
      textColumns: this.textColumns,
    });
  }

  private async readLine(data: Buffer, start: number, end: number): Promise<void> {
    if (end > start && data[end - 1] === 13) end--;
    let first = start;
    while (first < end && (data[first] === 32 || data[first] === 9)) first++;
    if (first === end) return;
    const builder = this.builder!;
    let record: unknown;
    try {
      record = JSON.parse(data.toString('utf8', start, end));
    } catch (error) {
      throw new ImportError(
        'INVALID_JSON',
        `line ${this.line}: not valid JSON (${(error as Error).message}); each line must hold one JSON object`,
        400,
        { line: this.line },
      );
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record)) {
      throw new ImportError(
        'INVALID_JSON',
        `line ${this.line}: each line must hold one JSON object ({...})`,
        400,
        {
          line: this.line,
        },
      );
    }
    const row = builder.rowInChunk;
    const serial = builder.numRows;
    try {
      for (const [key, value] of Object.entries(record)) {
        let column = this.columnsByKey.get(key);
        if (!column) {
          column = builder.addColumn(key);
          this.columnsByKey.set(key, column);
        }
        if (this.lastSet[column.index] === serial) continue;
        this.lastSet[column.index] = serial;
        pushJsonValue(column, value, row, this.line, key);
      }
    } catch (error) {
      rethrowWithLine(error, this.line);
    }
    for (const column of builder.columns) {
      if (this.lastSet[column.index] !== serial) column.setMissing(row);
    }
    if (builder.endRow()) await builder.flushChunk();
  }

  async result(): Promise<PassResult> {
    const builder = this.builder;
    if (!builder || builder.numRows === 0) {
      throw new ImportError(
        'EMPTY_BODY',
        'the upload has no JSON objects; send one JSON object per line',
        400,
      );
    }
    if (builder.columns.length === 0) {
      throw new ImportError('EMPTY_BODY', 'the JSON objects have no fields; there is nothing to import', 400);
    }
    checkColInfoColumns(
      this.options.colInfo,
      builder.columns.map((column) => column.sourceName),
    );
    const lossyColumns = builder.lossyColumns();
    const rowsPerChunk = builder.rowsPerChunk;
    if (lossyColumns.length > 0) return { lossyColumns, rowsPerChunk };
    return { outcome: await builder.finish(), lossyColumns, rowsPerChunk };
  }
}

function pushJsonValue(column: ColumnBuilder, value: unknown, row: number, line: number, key: string): void {
  switch (typeof value) {
    case 'number':
      column.pushNumber(value, Number.isInteger(value), row);
      return;
    case 'string':
      column.pushJsonString(value, classifyJsonString, row);
      return;
    case 'boolean':
      column.pushLogical(value, row);
      return;
    default:
      if (value === null || value === undefined) {
        column.setMissing(row);
        return;
      }
      throw new ImportError(
        'UNSUPPORTED_JSON_VALUE',
        `line ${line}: field '${key}' holds a nested ${Array.isArray(value) ? 'array' : 'object'}; only numbers, strings, booleans and null can be imported`,
        422,
        { line, column: key },
      );
  }
}
