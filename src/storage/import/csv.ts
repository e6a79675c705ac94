/**
 * CSV import.
 *
 * Design (bounded memory, dataset-wide types and factor levels): ONE optimistic pass, with the raw
 * upload spooled to disk on the side. Rows are parsed straight into the current chunk with the types
 * inferred so far, and each full chunk is written at once. Changes that lose nothing are fixed at the end
 * by rewriting only the chunks concerned: Integer to Numeric, Date to Timestamp, a column that was all
 * missing so far, and factor codes remapped to the final sorted level list (or a would-be factor that
 * ends with too many levels turned into strings). The one change that loses information, a typed column
 * (numbers, dates, logicals) meeting a word, cannot be repaired from the chunks (`1.50` was stored as
 * 1.5, `007` as 7), so the pass stops storing, still reads to the end to learn every such column, and a
 * second pass over the spool reads those columns as text from the first row.
 *
 * Why not always two passes (infer everything from the spool, then write)? Measured on a 200 MB CSV of
 * 10 numeric columns (bench/import.ts's data; 2 shared cores, so CPU seconds, user+system): one
 * optimistic pass took 2.1 s; the same file with a word in its second row, which makes this importer do
 * exactly what a two-pass design always does (an inference-only pass, then the writing pass over the
 * spool), took 2.5 s. The second read and parse cost ~20% even with the first pass storing nothing,
 * while the end-of-import rewrite of factor chunks runs near disk speed; so the common case gets the
 * single pass and only a real late change to text pays for two.
 *
 * Text rules: UTF-8 (a BOM is skipped; NUL bytes or invalid UTF-8 are INVALID_CSV); the first record is
 * the header (an empty name becomes `V<position>`, as rxImport names unnamed columns); blank lines are
 * skipped; `NA`, an empty field and a field of spaces are missing, quoted or not. A header with no rows
 * gives a dataset of zero rows whose columns are logical (R's type for a column without values).
 */
import { isUtf8 } from 'node:buffer';
import type { Readable } from 'node:stream';
import { ImportError, type ImportOptions, type ImportOutcome } from '../importTypes.ts';
import { checkColInfoColumns, validateColInfo } from './colInfo.ts';
import { type ColumnBuilder, Kind } from './columnBuilder.ts';
import { CsvRecordReader, detectDelimiter } from './csvTokenizer.ts';
import { DatasetBuilder } from './datasetBuilder.ts';
import { rowsPerChunkFor } from './rowsPerChunk.ts';
import { importInPasses, type PassResult, type TextPass } from './textPasses.ts';
import { rethrowWithLine } from './valueErrors.ts';

/** A record longer than this is refused rather than buffered: it is almost always a lost quote. */
const MAX_RECORD_BYTES = 64 << 20;
const LF = 10;
const CR = 13;
/** Powers of ten that are exact doubles (up to 10^22). */
const EXACT_POW10 = Array.from({ length: 23 }, (_, k) => 10 ** k);

export async function importCsv(input: Readable, options: ImportOptions): Promise<ImportOutcome> {
  validateColInfo(options.colInfo);
  return importInPasses(
    input,
    options,
    'upload.csv',
    (textColumns, rowsPerChunk) => new CsvPass(options, textColumns, rowsPerChunk),
  );
}

class CsvPass implements TextPass {
  private pending: Buffer | undefined;
  private buffer = Buffer.allocUnsafe(0);
  /** Leading bytes of `pending` already checked for UTF-8 and NUL. */
  private checkedBytes = 0;
  private sawBom = false;
  private started = false;
  /** Line number (1-based) of the next record's first byte. */
  private line = 1;
  private reader: CsvRecordReader | undefined;
  private builder: DatasetBuilder | undefined;
  private columns: ColumnBuilder[] = [];

  constructor(
    private readonly options: ImportOptions,
    private readonly textColumns: ReadonlySet<string> | undefined,
    private rowsPerChunk: number | undefined,
  ) {}

  get pendingBytes(): number {
    return this.pending?.length ?? 0;
  }

  async consume(blocks: Buffer[], atEnd: boolean): Promise<void> {
    let data = this.join(blocks);
    if (!this.started) {
      if (!this.sawBom && data.length >= 3 && data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) {
        data = data.subarray(3);
        this.sawBom = true;
      }
      data = this.skipLeadingBlankLines(data);
      if (data.length === 0) {
        if (atEnd)
          throw new ImportError('EMPTY_BODY', 'the upload is empty; send a CSV with a header row', 400);
        this.pending = undefined;
        return;
      }
      if (data.length < 3 && !atEnd) {
        this.pending = data;
        return;
      }
      this.started = true;
    }
    this.checkText(data, atEnd);
    let pos = 0;
    if (!this.builder) {
      pos = await this.readHeader(data, atEnd);
      if (pos === -1) {
        this.keepPending(data, 0);
        return;
      }
    }
    pos = await this.readRecords(data, pos, atEnd);
    this.keepPending(data, pos);
  }

  /**
   * The unfinished record followed by `blocks`, in one reused buffer: a fresh buffer per block costs
   * more in page faults and GC than the copy itself.
   */
  private join(blocks: Buffer[]): Buffer {
    const pending = this.pending;
    const pendingLength = pending?.length ?? 0;
    let total = pendingLength;
    for (const block of blocks) total += block.length;
    let buffer = this.buffer;
    // One byte more than the data, for the 0 that ends fastRecord's scans.
    if (buffer.length <= total) {
      buffer = Buffer.allocUnsafe(Math.max(total + 1, buffer.length * 2));
      if (pending) pending.copy(buffer, 0);
      this.buffer = buffer;
    } else if (pending && pending.byteOffset !== buffer.byteOffset) {
      buffer.copyWithin(
        0,
        pending.byteOffset - buffer.byteOffset,
        pending.byteOffset - buffer.byteOffset + pendingLength,
      );
    }
    let at = pendingLength;
    for (const block of blocks) {
      block.copy(buffer, at);
      at += block.length;
    }
    buffer[total] = 0;
    return buffer.subarray(0, total);
  }

  private skipLeadingBlankLines(data: Buffer): Buffer {
    let i = 0;
    while (i < data.length && (data[i] === LF || data[i] === CR)) {
      if (data[i] === LF || data[i + 1] !== LF) this.line++;
      i++;
    }
    return i === 0 ? data : data.subarray(i);
  }

  /** Rejects binary input: NUL bytes or invalid UTF-8, checked up to the last complete line. */
  private checkText(data: Buffer, atEnd: boolean): void {
    const upTo = atEnd ? data.length : data.lastIndexOf(LF) + 1;
    if (upTo <= this.checkedBytes) return;
    const region = data.subarray(this.checkedBytes, upTo);
    const nul = region.indexOf(0);
    if (nul !== -1 || !isUtf8(region)) {
      throw new ImportError(
        'INVALID_CSV',
        nul !== -1
          ? 'the upload contains NUL bytes: it is not CSV text (binary files are not accepted; was it compressed?)'
          : 'the upload is not valid UTF-8 text; save the CSV as UTF-8',
        400,
        { reason: nul !== -1 ? 'nul-byte' : 'invalid-utf8' },
      );
    }
    this.checkedBytes = upTo;
  }

  private keepPending(data: Buffer, pos: number): void {
    if (pos >= data.length) {
      this.pending = undefined;
      this.checkedBytes = 0;
      return;
    }
    this.pending = data.subarray(pos);
    this.checkedBytes = Math.max(0, this.checkedBytes - pos);
    if (this.pending.length > MAX_RECORD_BYTES) {
      const reader = this.reader;
      if (reader?.openQuote) {
        const line = this.line + reader.openQuoteLine;
        throw new ImportError(
          'UNTERMINATED_QUOTE',
          `line ${line}: a quoted field runs on for more than 64 MiB; check that every opening " has a closing "`,
          400,
          { line },
        );
      }
      throw new ImportError('INVALID_CSV', `line ${this.line}: a line is longer than 64 MiB`, 400, {
        line: this.line,
      });
    }
  }

  /** Parses the header record; returns the position after it, or -1 when it is not complete yet. */
  private async readHeader(data: Buffer, atEnd: boolean): Promise<number> {
    const firstBreak = data.indexOf(LF);
    if (firstBreak === -1 && !atEnd) return -1;
    const delimiter = detectDelimiter(data.subarray(0, Math.min(data.length, 1 << 16)));
    let reader = new CsvRecordReader(delimiter, countByte(data, delimiter, firstBreak) + 1);
    let end = reader.parseRecord(data, 0, data.length, atEnd, this.line);
    if (end === -1) return -1;
    if (reader.fieldCount > reader.capacity) {
      reader = new CsvRecordReader(delimiter, reader.fieldCount);
      end = reader.parseRecord(data, 0, data.length, atEnd, this.line);
    }
    const names: string[] = [];
    for (let j = 0; j < reader.fieldCount; j++) {
      let name = data.toString('utf8', reader.starts[j], reader.ends[j]);
      if (reader.quoting[j] === 2) name = name.replaceAll('""', '"');
      names.push(name.length === 0 ? `V${j + 1}` : name);
    }
    checkColInfoColumns(this.options.colInfo, names);
    this.line += reader.lines;
    this.reader = new CsvRecordReader(delimiter, names.length);
    if (this.rowsPerChunk === undefined) {
      this.rowsPerChunk = rowsPerChunkFor(estimateBytesPerRow(data, end, names.length));
    }
    const builder = await DatasetBuilder.create({
      stagingDir: this.options.stagingDir,
      rowsPerChunk: this.rowsPerChunk,
      colInfo: this.options.colInfo,
      textColumns: this.textColumns,
    });
    this.columns = names.map((name) => builder.addColumn(name));
    this.builder = builder;
    return end;
  }

  private async readRecords(data: Buffer, pos: number, atEnd: boolean): Promise<number> {
    const reader = this.reader!;
    const builder = this.builder!;
    const columns = this.columns;
    const columnCount = columns.length;
    const { starts, ends, quoting } = reader;
    const length = data.length;
    this.refreshFastKinds();
    // fastRecord reads the whole reused buffer, whose byte after the data is the 0 that stops it.
    const whole = this.buffer;
    const base = data.byteOffset - whole.byteOffset;
    while (pos < length) {
      const fastNext = this.fastRecord(whole, base + pos, builder.rowInChunk);
      if (fastNext !== -1) {
        this.line++;
        pos = fastNext - base;
        if (builder.endRow()) {
          await builder.flushChunk();
          this.refreshFastKinds();
        }
        continue;
      }
      const next = reader.parseRecord(data, pos, length, atEnd, this.line);
      if (next === -1) break;
      if (reader.fieldCount === 0) {
        this.line += reader.lines;
        pos = next;
        continue;
      }
      if (reader.fieldCount !== columnCount) {
        throw new ImportError(
          'RAGGED_ROW',
          `line ${this.line}: expected ${columnCount} fields like the header, found ${reader.fieldCount}; check for a missing or extra delimiter or an unquoted delimiter inside a value`,
          400,
          { line: this.line, expected: columnCount, found: reader.fieldCount },
        );
      }
      const row = builder.rowInChunk;
      try {
        for (let j = 0; j < columnCount; j++) {
          columns[j]!.pushBytes(data, starts[j]!, ends[j]!, quoting[j]!, row);
        }
      } catch (error) {
        rethrowWithLine(error, this.line);
      }
      this.line += reader.lines;
      pos = next;
      if (builder.endRow()) await builder.flushChunk();
      this.refreshFastKinds();
    }
    return pos;
  }

  /** Per column: 1 integer, 2 numeric (parsed inline by fastRecord), 0 anything else. */
  private fastKinds = new Uint8Array(0);
  /** Columns whose field fastRecord leaves to pushBytes once the record is complete. */
  private deferred = new Int32Array(0);

  /** The columns' current value and validity arrays (they change at every chunk). */
  private fastValues: Float64Array[] = [];
  private fastValid: Uint8Array[] = [];

  private refreshFastKinds(): void {
    const columns = this.columns;
    if (this.fastKinds.length !== columns.length) {
      this.fastKinds = new Uint8Array(columns.length);
      this.deferred = new Int32Array(columns.length);
    }
    for (let j = 0; j < columns.length; j++) {
      const column = columns[j]!;
      this.fastValues[j] = column.values;
      this.fastValid[j] = column.valid;
      const inferred = column.forcedType === undefined;
      this.fastKinds[j] =
        inferred && column.kind === Kind.Integer ? 1 : inferred && column.kind === Kind.Numeric ? 2 : 0;
    }
  }

  /**
   * The hot path: one record of unquoted fields ending in LF or CRLF. Scans each byte once; plain
   * decimals of numeric columns (at most 15 digits, exact as in parseNumberBytes) are parsed as it goes
   * and stored straight into the chunk (statistics are taken per chunk, so a record given up halfway
   * leaves nothing to undo). Other fields (text, NA, exponents...) go to pushBytes once the record has
   * proved whole. A quoted field, a short record or the end of the buffer returns -1, and the general
   * path reads the record again, overwriting what was stored. `buf` is the whole reused buffer: the 0
   * written after the data stops every scan, so no loop needs a bounds check (an `undefined` read past
   * the end would also make every comparison polymorphic and the loop much slower).
   */
  private fastRecord(buf: Buffer, pos: number, row: number): number {
    const columns = this.columns;
    const columnCount = columns.length;
    const last = columnCount - 1;
    const delimiter = this.reader!.delimiter;
    const kinds = this.fastKinds;
    const deferred = this.deferred;
    const valuesOf = this.fastValues;
    const validOf = this.fastValid;
    const { starts, ends } = this.reader!;
    let deferredCount = 0;
    let kindMayChange = false;
    let k = pos;
    let c = buf[k]!;
    if (c === LF || c === CR || c === 0) return -1;
    for (let j = 0; j < columnCount; j++) {
      const kind = kinds[j];
      const fieldStart = k;
      let deferField = kind === 0;
      if (kind !== 0) {
        let negative = false;
        if (c === 45) {
          negative = true;
          c = buf[++k]!;
        }
        let mantissa = 0;
        let digits = 0;
        while (c >= 48 && c <= 57) {
          mantissa = mantissa * 10 + (c - 48);
          digits++;
          c = buf[++k]!;
        }
        if (c === 46 && kind === 2) {
          c = buf[++k]!;
          let fractionDigits = 0;
          while (c >= 48 && c <= 57) {
            mantissa = mantissa * 10 + (c - 48);
            fractionDigits++;
            c = buf[++k]!;
          }
          digits += fractionDigits;
          if (digits === 0 || digits > 15) {
            deferField = true;
          } else {
            const magnitude = mantissa / EXACT_POW10[fractionDigits]!;
            valuesOf[j]![row] = negative ? -magnitude : magnitude;
            validOf[j]![row] = 1;
          }
        } else if (digits === 0) {
          if (k !== fieldStart || c === 34) {
            deferField = true;
          } else {
            valuesOf[j]![row] = 0;
            validOf[j]![row] = 0;
          }
        } else if (
          digits > 15 ||
          (kind === 1 && (digits > 10 || mantissa > (negative ? 2147483648 : 2147483647)))
        ) {
          deferField = true;
        } else {
          // Integer syntax "-0" is 0, as in parseNumberBytes (Int32 has no -0).
          valuesOf[j]![row] = negative && mantissa !== 0 ? -mantissa : mantissa;
          validOf[j]![row] = 1;
        }
        if (deferField) kindMayChange = true;
      }
      if (deferField) {
        // Anything but a plain decimal (NA, exponents, a word...) goes to pushBytes once the record is
        // whole; a quote at the field's start sends the record to the general path.
        if (k === fieldStart && c === 34) return -1;
        while (c !== delimiter && c !== LF && c !== CR && c !== 0) c = buf[++k]!;
        starts[j] = fieldStart;
        ends[j] = k;
        deferred[deferredCount++] = j;
      }
      if (j === last) {
        if (c === LF) {
          k++;
        } else if (c === CR && buf[k + 1] === LF) {
          k += 2;
        } else {
          return -1;
        }
      } else {
        if (c !== delimiter) return -1;
        c = buf[++k]!;
      }
    }
    for (let d = 0; d < deferredCount; d++) {
      const j = deferred[d]!;
      try {
        columns[j]!.pushBytes(buf, starts[j]!, ends[j]!, 0, row);
      } catch (error) {
        rethrowWithLine(error, this.line);
      }
    }
    if (kindMayChange) this.refreshFastKinds();
    return k;
  }

  async result(): Promise<PassResult> {
    const builder = this.builder;
    if (!builder)
      throw new ImportError('EMPTY_BODY', 'the upload is empty; send a CSV with a header row', 400);
    const lossyColumns = builder.lossyColumns();
    const rowsPerChunk = builder.rowsPerChunk;
    if (lossyColumns.length > 0) return { lossyColumns, rowsPerChunk };
    return { outcome: await builder.finish(), lossyColumns, rowsPerChunk };
  }
}

function countByte(data: Buffer, byte: number, end: number): number {
  let count = 0;
  const stop = end === -1 ? data.length : end;
  for (let i = 0; i < stop; i++) if (data[i] === byte) count++;
  return count;
}

/** Bytes per row of the first block's rows, and at least 8 per column (a float64 each once stored). */
function estimateBytesPerRow(data: Buffer, headerEnd: number, columnCount: number): number {
  let rows = 0;
  for (let at = data.indexOf(LF, headerEnd); at !== -1; at = data.indexOf(LF, at + 1)) rows++;
  const textBytes = rows > 0 ? (data.length - headerEnd) / rows : 0;
  return Math.max(textBytes, 8 * columnCount);
}
